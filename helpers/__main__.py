"""Command line: ``python -m helpers <command>``.

    python -m helpers reproduce            # the lift table on the shipped data (~15 min on 2 cores)
    python -m helpers reproduce --quick    # the same path on small slices (~2 min; numbers mean nothing)
    python -m helpers gate --report forgetting.json                  # pass/fail a measured candidate
    python -m helpers gate --candidate runs/x/final --domain icd10cm  # measure it first, then gate

``gate`` exits 0 on pass, 1 on fail, 2 on bad input: a CI step can block a release with it.
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
    gp = sub.add_parser("gate", help="release gate: domain gain vs general-domain forgetting; exit 1 on fail")
    src = gp.add_mutually_exclusive_group(required=True)
    src.add_argument("--report", help="a forgetting report JSON (ForgettingReport.to_dict) to judge")
    src.add_argument("--candidate", help="a fine-tuned model folder to measure against --base first")
    gp.add_argument("--base", default="minilm", help="the model it would replace (default minilm)")
    gp.add_argument("--domain", help="the domain dataset whose test split measures the gain (with --candidate)")
    gp.add_argument("--general", default="gcide", help="held-out general dataset (default gcide)")
    gp.add_argument("--write-report", help="save the measured report here (with --candidate)")
    gp.add_argument("--min-lift", type=float, default=2.0, help="domain recall@10 points required (default 2)")
    gp.add_argument("--max-general-drop", type=float, default=1.0, help="general recall@10 points allowed to fall (default 1)")
    gp.add_argument("--allow-ci-zero", action="store_true", help="do not require the domain CI to exclude zero")
    args = ap.parse_args(argv)

    if args.command == "gate":
        return _gate(args)

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


def _gate(args) -> int:
    import json

    from helpers.deployment import ForgettingReport, GateConfig, forgetting_check, release_gate

    try:
        if args.report:
            report = ForgettingReport.from_dict(json.loads(open(args.report, encoding="utf-8").read()))
        else:
            from helpers.data import load_dataset
            from helpers.models import load_model

            if not args.domain:
                print("error: --candidate needs --domain (the dataset it was fine-tuned for)", file=sys.stderr)
                return 2
            report = forgetting_check(load_model(args.candidate), load_model(args.base),
                                      load_dataset(args.domain).split("test"), load_dataset(args.general).split("test"),
                                      domain_name=args.domain, general_name=args.general)
            if args.write_report:
                from helpers.io import write_json

                write_json(args.write_report, report.to_dict())
    except (OSError, ValueError, KeyError, LookupError, TypeError, AttributeError) as e:  # incl. bad JSON
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.table().to_string())
    gate = release_gate(report, GateConfig(args.min_lift, not args.allow_ci_zero, args.max_general_drop))
    print(gate)
    return 0 if gate.passed else 1


if __name__ == "__main__":
    sys.exit(main())
