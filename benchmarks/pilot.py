"""How well does Lesson 1's pilot predict the full recipe? The pilot on each shipped dataset, beside its lift.

    python benchmarks/pilot.py                      # the six shipped datasets (~5 min on 2 cores)

Runs :func:`helpers.pilot.run_pilot` (512 pairs, 1 epoch, scored on 200 dev queries over 1,500
documents; the rule fixed in ``helpers/pilot.py`` before any pilot ran) on each dataset, and sets it
beside the full recipe's test lift from ``results/lift_table.csv`` (mined negatives, up to 3,000 pairs,
epochs chosen on dev). Reports Spearman's rho between the two (exact permutation p over the six), how
often the pilot's verdict matches whether the full recipe cleared the release gate's 2 points with a CI
above zero, and the course's tier bands beside them for reference (not used by the rule).

Writes ``results/pilot.{csv,json,md,png}``; the JSON records what the figures were computed from
(:func:`helpers.pilot.pilot_inputs`: each slice's fingerprint, the student's weights, the pilot's
settings and code, the lift table), and ``tests/test_pilot.py`` fails when any of them changed since.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import _common  # noqa: F401  (the offline environment; before any Hugging Face import)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results"
DATASETS = ("wordnet", "aws_docs", "aws_examples", "icd10cm", "licences", "clinical_abbrev")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from helpers.claims import rank_correlation
    from helpers.data import load_dataset
    from helpers.evaluation import course_cache
    from helpers.io import atomic_write, write_between, write_json
    from helpers.pilot import MIN_LIFT, README_END, README_START, pilot_inputs, run_pilot

    full = {r["dataset"]: r for r in csv.DictReader(open(OUT / "lift_table.csv", encoding="utf-8"))}
    rows = []
    for name in args.datasets:
        pilot = run_pilot(load_dataset(name), cache=course_cache())
        f = full[name]
        lift, lo = float(f["lift"]), float(f["lift_ci_low"])
        rows.append({**pilot.row(), "tier": f["tier"], "full_pairs": int(f["train_pairs"]), "full_lift": lift,
                     "full_ci_low": lo, "full_ci_high": float(f["lift_ci_high"]),
                     "full_cleared_gate": lo > 0 and lift >= MIN_LIFT, "course_band": f["course_claim"],
                     "course_rule": "fine-tune" if int(f["train_pairs"]) >= 1000 and float(f["course_claim"].split("-")[0]) >= 10
                     else "not yet"})
        print(f"{name}: pilot {rows[-1]['pilot_lift']:+.1f} [{rows[-1]['pilot_ci_low']:+.1f}, "
              f"{rows[-1]['pilot_ci_high']:+.1f}] in {pilot.seconds:.0f} s; full recipe {lift:+.1f}", flush=True)

    rho, p = rank_correlation([r["pilot_lift"] for r in rows], [r["full_lift"] for r in rows])
    agree = sum((r["verdict"] == "fine-tune") == r["full_cleared_gate"] for r in rows)
    course_agree = sum((r["course_rule"] == "fine-tune") == r["full_cleared_gate"] for r in rows)
    ratio = sum(r["full_lift"] for r in rows) / max(1e-9, sum(r["pilot_lift"] for r in rows))
    summary = {"spearman_rho": rho, "exact_p": p, "datasets": len(rows), "verdict_agrees": agree,
               "course_rule_agrees": course_agree, "full_over_pilot": round(ratio, 2)}
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "pilot.csv") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_json(args.out / "pilot.json", {
        "command": "python benchmarks/pilot.py", "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "summary": summary, "inputs": pilot_inputs(args.datasets)})
    _plot(rows, summary, args.out / "pilot.png")
    header = ("| dataset | tier | pilot lift (dev, 95% CI) | pilot verdict | full recipe lift (test, 95% CI) | "
              "cleared the gate | course's band | course's rule |\n|---|---|---|---|---|---|---|---|\n")
    table = "".join(
        f"| {r['dataset']} | {r['tier']} | {r['pilot_lift']:+.1f} [{r['pilot_ci_low']:+.1f}, {r['pilot_ci_high']:+.1f}] "
        f"| {r['verdict']} | {r['full_lift']:+.1f} [{r['full_ci_low']:+.1f}, {r['full_ci_high']:+.1f}] | "
        f"{'yes' if r['full_cleared_gate'] else 'no'} | {r['course_band']} | {r['course_rule']} |\n" for r in rows)
    with atomic_write(args.out / "pilot.md") as fh:
        fh.write(f"# Lesson 1's pilot against the full recipe\n\nWritten by `python benchmarks/pilot.py`. Pilot: "
                 f"{rows[0]['pairs']} pairs, 1 epoch, dev recall@10 over {rows[0]['documents']:,} documents; full "
                 "recipe: `results/lift_table.csv` (test).\n\n" + header + table +
                 f"\nSpearman's rho {rho:+.2f} (exact p = {p:.2f}, {len(rows)} datasets); the pilot's verdict matches "
                 f"the full run's gate on {agree} of {len(rows)}, the course's rule (1,000+ pairs and a band from "
                 f"10 points) on {course_agree}; the full recipe gained {ratio:.1f}x the pilot's lift in total.\n")
    if args.out == OUT:  # the shipped results: the README shows their table
        write_between(ROOT / "README.md", README_START, README_END, header + table)
    print(summary)


def _plot(rows: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.io import atomic_write

    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=110)
    for r in rows:
        ax.errorbar(r["pilot_lift"], r["full_lift"],
                    xerr=[[r["pilot_lift"] - r["pilot_ci_low"]], [r["pilot_ci_high"] - r["pilot_lift"]]],
                    yerr=[[r["full_lift"] - r["full_ci_low"]], [r["full_ci_high"] - r["full_lift"]]],
                    fmt="o", capsize=3, color="tab:blue" if r["verdict"] == "fine-tune" else "tab:red")
        ax.annotate(r["dataset"], (r["pilot_lift"], r["full_lift"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.axvline(2.0, color="grey", ls=":", lw=0.8)
    ax.axhline(2.0, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("pilot: dev recall@10 lift (512 pairs, 1 epoch)")
    ax.set_ylabel("full recipe: test recall@10 lift")
    ax.set_title(f"Pilot vs full recipe (rho {summary['spearman_rho']:+.2f}, p {summary['exact_p']:.2f})", fontsize=10)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


if __name__ == "__main__":
    main()
