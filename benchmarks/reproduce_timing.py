"""Wall time of the lift table (``python -m helpers reproduce``), cold and then warm, per stage.

    python benchmarks/reproduce_timing.py            # cold + warm runs of `make lift` (~15 min on 2 cores)
    python benchmarks/reproduce_timing.py --quick    # the same on small slices (~3 min)
    python benchmarks/reproduce_timing.py --from results/timings.json   # print a past run's figures

Targets (issue #14), on a 2-core CPU machine: a cold run -- no embedding cache, no trained model,
only the shipped ``results/ladder/*.json`` -- within 20 minutes, and a second run within 3 minutes
(embeddings read from the disk cache, trained models reused under their training keys). Both runs
write into a scratch folder with copies of the shipped ladder files, as ``make lift`` on a fresh
clone would. Stages per dataset: ladder (the rungs recomputed -- by default off-the-shelf and the
1-epoch in-batch rung -- with their training, evaluation and forgetting check), evaluate_mpnet
(near zero when the ladder file holds mpnet's scores for this data and these weights), and the
training seconds inside the ladder stage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)

ROOT = Path(__file__).resolve().parent.parent
TARGETS_MIN = {"cold": 20, "warm": 3}


def print_timings(timings: dict, total: float | None = None) -> None:
    stages = list(dict.fromkeys(s for t in timings.values() for s in t))
    print(f"{'dataset':16s}" + "".join(f"{s:>22s}" for s in stages))
    for name, t in timings.items():
        print(f"{name:16s}" + "".join(f"{t[s]:>22.1f}" if s in t else f"{'-':>22s}" for s in stages))
    if total is not None:
        print(f"\nwall time, start to finish (model loads included): {total:.0f} s = {total / 60:.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--from", dest="from_file", help="print the stage timings saved by an earlier run")
    args = ap.parse_args()
    if args.from_file:
        data = json.loads(Path(args.from_file).read_text())
        print_timings(data["stages_seconds"], data.get("total_seconds"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["EMBEDDING_CACHE_DIR"] = str(tmp / "embeddings")  # cold: nothing encoded yet
        if not args.quick:
            shutil.copytree(ROOT / "results" / "ladder", tmp / "results" / "ladder")
        from helpers.reproduce import reproduce

        for run in ("cold", "warm"):
            t0 = time.perf_counter()
            reproduce(quick=args.quick, out_dir=tmp / "results", runs_dir=tmp / "runs")
            total = time.perf_counter() - t0
            timings = json.loads((tmp / "results" / "timings.json").read_text())["stages_seconds"]
            print(f"\n== {run} run: {os.cpu_count()} CPU cores; quick={args.quick}; target {TARGETS_MIN[run]} min\n")
            print_timings(timings, total)


if __name__ == "__main__":
    main()
