"""``python -m videoperf``: the ``videoperf`` command line."""

import sys

from videoperf.cli import main

sys.exit(main())
