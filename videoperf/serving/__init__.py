"""Serving: predictions from a saved bundle, for the Python API, the command line and REST.

Owns the bundle loaded once per process (``bundle``; its large batches in chunks, ``batches``), the request model
(``request``, its rules in ``rules``, the same rules over a table in ``batch_checks``), requests in and results out
(``predictions``), the Python prediction API (``predict``), calibrating a saved bundle (``calibrate``), a channel's
typical performance (``typical``), the lifecycle curve of a family's prediction (``family_curve``) and the FastAPI
service (``service``, its response bodies in ``service_schemas``). It may import every layer up to
``videoperf.evaluation``, but at import time none of the training modules: predicting never loads training code.
"""
