"""Queries that mining leaves without a negative: drop them, or train them with a random negative? On dev.

    python benchmarks/mining_fill.py                       # the six shipped datasets (~50 min on 2 cores)
    python benchmarks/mining_fill.py --datasets icd10cm

The ladder's hard-negatives rung mines one negative per training query (dense top-50 rescored by mpnet,
kept only below 95% of the positive's score). Where every candidate falls to that margin, a query has no
negative and no triplet: clinical abbreviations train on 1,601 of their 2,666 pairs. This trains the same
rung twice on the same queries -- 1 epoch, the ladder's settings -- once without those queries (``drop``,
the library's way) and once with a random corpus document as their negative (``random``: the query then
trains as a plain in-batch pair would), and scores both on the **dev** split (200 queries) with a paired
cluster-bootstrap CI. The test split is never read: the choice this makes is
``python -m helpers finetune --without-negative`` 's default.

Writes ``results/mining_fill.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _common  # noqa: F401  (the offline environment; before any Hugging Face import)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results"
DATASETS = ("wordnet", "aws_docs", "aws_examples", "icd10cm", "licences", "clinical_abbrev")
#: the rule, written before any row was measured: random filling becomes the default unless dev prefers
#: dropping on a majority of the datasets where the two differ by a CI that excludes zero
RULE = ("fill with a random negative unless dropping wins on dev (paired 95% CI above zero) on more datasets "
        "than filling does")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "mining_fill")
    args = parser.parse_args()

    from helpers.data import load_dataset
    from helpers.evaluation import course_cache, evaluate, lift
    from helpers.ladder import LadderSettings, splits_for, training_split
    from helpers.mining import mine
    from helpers.models import load_model, load_model_cached
    from helpers.training import fine_tune

    settings, cache, rows = LadderSettings(), course_cache(), []
    for name in args.datasets:
        ds = load_dataset(name)
        splits = splits_for(ds)
        train = training_split(splits["train"], settings.max_pairs)
        base = load_model_cached(settings.student)
        t0 = time.perf_counter()
        mined = mine(train, base, settings.mining, cache=cache)
        mining_seconds = time.perf_counter() - t0
        base_dev = evaluate(base, splits["dev"], cache, "off-the-shelf", name)
        dev, pairs, seconds = {}, {}, {}
        for fill in ("drop", "random"):
            examples = mined.examples("triplet", fill=None if fill == "drop" else "random", seed=settings.seed)
            model, info = fine_tune(load_model(settings.student), examples, args.runs / name / fill,
                                    config=settings.train_config("hard negatives"), show_progress_bar=False,
                                    dataset_name=f"{name}/known_corpus/train", reuse=True)
            dev[fill] = evaluate(model, splits["dev"], cache, fill, name)
            pairs[fill], seconds[fill] = len(examples), info.seconds
        diff = lift(dev["random"], dev["drop"])
        row = {"dataset": name, "labelled pairs": len(train.pairs()), "pairs trained (drop)": pairs["drop"],
               "pairs trained (random)": pairs["random"], "queries without a negative": mined.stats["empty_queries"],
               "dev recall@10 off-the-shelf": round(100 * base_dev.mean(), 1),
               "dev recall@10 drop": round(100 * dev["drop"].mean(), 1),
               "dev recall@10 random": round(100 * dev["random"].mean(), 1),
               "random - drop": round(100 * diff.delta, 1), "ci": [round(100 * diff.ci_low, 1), round(100 * diff.ci_high, 1)],
               "train seconds": seconds, "mining seconds": round(mining_seconds, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    wins = {"random": sum(r["ci"][0] > 0 for r in rows), "drop": sum(r["ci"][1] < 0 for r in rows)}
    chosen = "drop" if wins["drop"] > wins["random"] else "random"
    made = {"command": "python benchmarks/mining_fill.py " + ("" if tuple(args.datasets) == DATASETS else
                                                              "--datasets " + " ".join(args.datasets)),
            "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split": "dev (test never read)",
            "rule": RULE, "wins": wins, "chosen": chosen, "settings": settings.key()}
    OUT.mkdir(exist_ok=True)
    (OUT / "mining_fill.json").write_text(json.dumps({"made": made, "rows": rows}, indent=2) + "\n")
    lines = ["| dataset | labelled pairs | queries without a negative | trained: drop / random | dev R@10 base "
             "| drop | random | random - drop [95% CI] |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['labelled pairs']:,} | {r['queries without a negative']:,} | "
              f"{r['pairs trained (drop)']:,} / {r['pairs trained (random)']:,} | {r['dev recall@10 off-the-shelf']} | "
              f"{r['dev recall@10 drop']} | {r['dev recall@10 random']} | {r['random - drop']:+.1f} "
              f"[{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}] |" for r in rows]
    (OUT / "mining_fill.md").write_text("\n".join(lines) + f"\n\nRule (fixed before the rows): {RULE}. "
                                        f"Chosen: **{chosen}** ({made['written']}).\n")
    print("\n".join(lines), f"\nchosen: {chosen}", sep="\n")


if __name__ == "__main__":
    main()
