"""Command line: ``python -m helpers <command>``.

    python -m helpers reproduce            # the lift table on the shipped data (~15 min on 2 cores)
    python -m helpers reproduce --quick    # the same path on small slices (~2 min; numbers mean nothing)
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # one progress bar: ours
    ap = argparse.ArgumentParser(prog="python -m helpers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    from helpers.data import PROTOCOLS
    from helpers.reproduce import DATASETS

    rp = sub.add_parser("reproduce", help="fine-tune on every shipped tier and write the lift table")
    rp.add_argument("--quick", action="store_true", help="small slices and 4 training steps: checks the path only")
    rp.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"default: {' '.join(DATASETS)}")
    rp.add_argument("--protocol", choices=PROTOCOLS, default="known_corpus",
                    help="known_corpus: test queries unseen, documents may have training queries (default); "
                         "unseen_documents: test queries' documents have no training queries")
    rp.add_argument("--out", default=None,
                    help="folder for lift_table.md/.csv/.png (default: results/, or results/<protocol>/ for "
                         "unseen_documents, so the shipped known-corpus table is not overwritten)")
    rp.add_argument("--runs", default="runs/reproduce", help="folder for the fine-tuned models")
    rp.add_argument("--max-pairs", type=int, default=3000, help="training pairs per dataset (default 3000)")
    rp.add_argument("--epochs", type=float, default=1.0)
    rp.add_argument("--lr", type=float, default=5e-5)
    rp.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)

    if args.command == "reproduce":
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        from helpers.data import DataError, available_datasets
        from helpers.reproduce import reproduce
        from helpers.training import TrainConfig

        unknown = sorted(set(args.datasets) - set(available_datasets()))
        if unknown:
            print(f"error: unknown dataset(s) {unknown}; shipped: {available_datasets()}", file=sys.stderr)
            return 2
        try:
            out = args.out or ("results" if args.protocol == "known_corpus" else f"results/{args.protocol}")
            reproduce(args.datasets, protocol=args.protocol, out_dir=out, runs_dir=args.runs,
                      max_pairs=args.max_pairs, quick=args.quick,
                      config=TrainConfig(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size))
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
