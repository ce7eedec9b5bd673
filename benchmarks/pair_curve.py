"""How the recipe's lift grows with training pairs, on **dev**, for the datasets below their targets.

    python benchmarks/pair_curve.py                          # icd10cm and clinical_abbrev (~15 min on 2 cores)
    python benchmarks/pair_curve.py --datasets licences --sizes 180 360

The lift table's recipe rung (``helpers.ladder``) trains on up to 3,000 pairs. This trains the same
rung -- one mined negative per query, up to 3 epochs, the best epoch kept on dev -- on the first
375, 750 and 1,500 pairs of the same training queries, scores each on the 200 dev queries only, and
adds the full rung from its cached dev curve (``results/ladder/<dataset>.json``). The test split is
never read here.

The line through dev lift against log2(training pairs) says how much each doubling of the data buys;
at that rate, the doublings the test lift still needs to reach the target set for the table (heavy
>= +15, exotic >= +20 points: issue #14) give a rough count of the pairs it would take. A straight
line in log pairs is an assumption, not a law: read the figure as "within reach" or "far away".

Writes ``results/pair_curve.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results"
TARGETS = {"heavy": 15.0, "exotic": 20.0}  # test recall@10 lift, points (issue #14)


def full_rung(ds, settings) -> tuple[dict, float]:
    """The ladder's cached recipe rung as a curve row, and its test lift (points). Only a rung made
    from this data under these settings: anything else stops the benchmark (run `make lift` first)."""
    from helpers.data import load_dataset
    from helpers.ladder import best_epoch_row, data_key
    from helpers.reproduce import GENERAL_SET, read_cached_rungs

    path = OUT / "ladder" / f"{ds.name}.json"
    rungs = read_cached_rungs(path, data_key(ds, "known_corpus", settings, load_dataset(GENERAL_SET).split("test")))
    if "recipe" not in rungs:
        raise SystemExit(f"{path}: no recipe rung made from this data and these settings; run `make lift` first")
    recipe, base = rungs["recipe"], rungs["off-the-shelf"]
    curve = recipe.dev_curve
    best = best_epoch_row(curve)
    row = {"dataset": ds.name, "max_pairs": settings.max_pairs, "train_queries": None,
           "train_pairs": recipe.train_pairs, "dev_curve": curve, "best_epoch": best[0],
           "dev_recall10": round(100 * best[2], 1), "dev_lift": round(100 * best[2] - 100 * curve[0][2], 1),
           "train_seconds": recipe.train_seconds, "reused_model": True, "source": "results/ladder (cached)"}
    return row, round(recipe.recall10 - base.recall10, 1)


def extrapolate(rows: list[dict], test_lift: float, target: float) -> dict:
    """Dev lift per doubling of pairs -- over the whole curve (least squares) and over its last step --
    and the pairs the test target would take at each rate."""
    x = np.log2([r["train_pairs"] for r in rows])
    y = np.array([r["dev_lift"] for r in rows])
    full = max(r["train_pairs"] for r in rows)

    def pairs_for(slope: float) -> int | None:
        if test_lift >= target:
            return full
        return round(full * 2 ** ((target - test_lift) / slope)) if slope > 0 else None

    whole = float(np.polyfit(x, y, 1)[0]) if len(rows) > 1 else float("nan")
    last = float((y[-1] - y[-2]) / (x[-1] - x[-2])) if len(rows) > 1 else float("nan")
    return {"test_lift": test_lift, "target": target, "pairs_now": full,
            "dev_lift_per_doubling": round(whole, 2), "pairs_for_target_at_this_rate": pairs_for(whole),
            "dev_lift_per_doubling_last_step": round(last, 2), "pairs_for_target_at_last_rate": pairs_for(last)}


def markdown(results: dict) -> str:
    lines = ["# The recipe's lift against training pairs, on dev", "",
             "Each row is the lift table's recipe rung trained on the first N pairs of the same training "
             "queries (one mined negative per query, up to 3 epochs, the best epoch kept on dev), scored on "
             "the 200 **dev** queries only; the largest is the ladder's cached rung. Dev lift = best-epoch "
             "dev recall@10 minus the off-the-shelf model's, in points. The test split is not read here.", ""]
    for name, res in results.items():
        lines += [f"## {name}", "", "| training pairs | dev R@10 | dev lift | best epoch | dev curve (epoch: R@10) | train s |",
                  "|---|---|---|---|---|---|"]
        for r in res["rows"]:
            curve = ", ".join(f"{e:g}: {100 * s:.1f}" for e, _, s in r["dev_curve"])
            lines.append(f"| {r['train_pairs']:,} | {r['dev_recall10']:.1f} | {r['dev_lift']:+.1f} | {r['best_epoch']:g} "
                         f"| {curve} | {r['train_seconds']:.0f} |")
        e = res["extrapolation"]
        if e is None:
            lines += ["", f"No target is set for the {res['tier']} tier: no extrapolation.", ""]
            continue

        def at(rate: float, needed: int | None) -> str:
            return (f"{rate:+.1f} dev points per doubling -> about {needed:,} pairs ({needed / e['pairs_now']:.1f}x "
                    f"today's {e['pairs_now']:,})" if needed else f"{rate:+.1f} per doubling: no rise, no estimate")

        lines += ["", f"The test lift is {e['test_lift']:+.1f} against a target of {e['target']:+.0f}. At the whole "
                      f"curve's rate (least squares over log2 pairs) {at(e['dev_lift_per_doubling'], e['pairs_for_target_at_this_rate'])}; "
                      f"at its last step's rate {at(e['dev_lift_per_doubling_last_step'], e['pairs_for_target_at_last_rate'])}. "
                      "Both are extrapolations from one seed.", ""]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.io import atomic_write

    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=110)
    for name, res in results.items():
        rows = res["rows"]
        ax.plot([r["train_pairs"] for r in rows], [r["dev_lift"] for r in rows], marker="o", label=f"{name} (dev)")
        if res["extrapolation"]:
            ax.axhline(res["extrapolation"]["target"], ls="--", lw=0.8, color=ax.lines[-1].get_color(),
                       label=f"{name}: target on test")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training pairs (log scale)")
    ax.set_ylabel("dev recall@10 lift (points)")
    ax.set_title("The recipe's lift against training data")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["icd10cm", "clinical_abbrev"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[375, 750, 1500])
    args = ap.parse_args()

    from helpers.data import load_dataset
    from helpers.evaluation import course_cache
    from helpers.io import atomic_write, write_json
    from helpers.ladder import LadderSettings, dev_pair_curve

    settings, cache, results = LadderSettings(), course_cache(), {}
    for name in args.datasets:
        ds = load_dataset(name)
        t0 = time.perf_counter()
        rows = dev_pair_curve(ds, settings, cache, sizes=[s for s in args.sizes if s < settings.max_pairs])
        full, test_lift = full_rung(ds, settings)
        rows = [*rows, full]
        # the table sets targets for the heavy and exotic tiers only
        target = TARGETS.get(ds.tier)
        results[name] = {"tier": ds.tier, "rows": rows,
                         "extrapolation": extrapolate(rows, test_lift, target) if target is not None else None}
        print(f"{name}: {[(r['train_pairs'], r['dev_lift']) for r in rows]} -> {results[name]['extrapolation']} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    write_json(OUT / "pair_curve.json", {
        "command": "python benchmarks/pair_curve.py " + " ".join(["--datasets", *args.datasets, "--sizes", *map(str, args.sizes)]),
        "chosen_on": None, "scored_on": "dev", "settings": settings.key(),
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results})
    with atomic_write(OUT / "pair_curve.md") as f:
        f.write(markdown(results) + "\n")
    plot(results, OUT / "pair_curve.png")
    print(markdown(results))


if __name__ == "__main__":
    main()
