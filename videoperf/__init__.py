"""Video performance prediction: the supporting package of the notebook, ``model_update.py`` and ``predict.py``."""

import os

# torch's OpenMP runtime busy-waits by default. On a shared 2-core machine a second busy process then stalls
# every parallel region (measured: a small MLP step 12 ms -> 800 ms, one MiniLM text 15 ms -> 800 ms).
# Passive waiting costs nothing measurable alone; it must be set before torch is first imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
