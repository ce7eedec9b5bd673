"""Wall time per stage of the lift table (``python -m helpers reproduce``), per dataset.

    python benchmarks/reproduce_timing.py            # the full run (~13 min on 2 cores)
    python benchmarks/reproduce_timing.py --quick    # small slices (~2 min)
    python benchmarks/reproduce_timing.py --from results/timings.json   # print a past run's figures

Target: the full run under 15 minutes on a 2-core CPU machine. Stages: load (read and
validate), evaluate_minilm / evaluate_mpnet (encode corpus + test queries, exact search),
train (fine-tune), evaluate_finetuned, forgetting_check (the fine-tuned model on WordNet).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)


def print_timings(timings: dict, total: float | None = None) -> None:
    stages = list(next(iter(timings.values())))
    print(f"{'dataset':16s}" + "".join(f"{s:>20s}" for s in stages) + f"{'sum':>10s}")
    for name, t in timings.items():
        print(f"{name:16s}" + "".join(f"{t[s]:>20.1f}" for s in stages) + f"{sum(t.values()):>10.1f}")
    col = {s: sum(t[s] for t in timings.values()) for s in stages}
    print(f"{'all':16s}" + "".join(f"{col[s]:>20.1f}" for s in stages) + f"{sum(col.values()):>10.1f}")
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
    from helpers.reproduce import reproduce

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        reproduce(quick=args.quick, out_dir=Path(tmp) / "results", runs_dir=Path(tmp) / "runs")
        total = time.perf_counter() - t0
        timings = json.loads((Path(tmp) / "results" / "timings.json").read_text())["stages_seconds"]
    print(f"\n{os.cpu_count()} CPU cores; quick={args.quick}\n")
    print_timings(timings, total)


if __name__ == "__main__":
    main()
