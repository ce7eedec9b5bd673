"""Lesson 5's measurements: what each mitigation of forgetting costs and saves.

    python benchmarks/forgetting.py                    # ~15 min on 2 cores; writes data/lesson5/
    python benchmarks/forgetting.py --domain icd10cm   # another domain

Every row fine-tunes minilm on the domain's known-corpus training split (MNRL, batch 32, seed 12)
and reports two paired lifts over minilm, each with its bootstrap 95% CI: recall@10 on the
domain's 500 test queries, and on the held-out general set ``gcide`` (500 test queries, never
trained on). Rows:

- reference: 1 epoch at lr 5e-5 (the lift table's recipe)
- lower learning rate: 1 epoch at lr 1e-5
- fewer steps: half an epoch at lr 5e-5
- replay: the domain pairs plus half as many general pairs (WordNet's training split -- another
  dictionary than the held-out GCIDE), shuffled together, 1 epoch at lr 5e-5
- interpolation: the reference model's weights averaged with minilm's (alpha 0.5), no training
"""

from __future__ import annotations

import argparse
import random
from dataclasses import asdict, replace
from pathlib import Path

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)

OUT = Path(__file__).resolve().parent.parent / "data" / "lesson5"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domain", "--dataset", default="clinical_abbrev",
                    help="the domain: a shipped dataset's name or a BEIR folder (default: %(default)s)")
    ap.add_argument("--general", default="gcide")
    ap.add_argument("--replay-from", default="wordnet")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the CSV (default: %(default)s)")
    args = ap.parse_args()

    from transformers.utils import logging as hf_logging

    from helpers.data import load_dataset
    from helpers.deployment import forgetting_check, interpolate
    from helpers.evaluation import EmbeddingCache, bootstrap_name, split_clusters
    from helpers.experiments import save_rows
    from helpers.models import load_model, load_model_cached
    from helpers.training import TrainConfig, fine_tune

    hf_logging.disable_progress_bar()
    domain, general = load_dataset(args.domain), load_dataset(args.general)
    d_test, g_test = domain.split("test"), general.split("test")
    pairs = domain.split("train").pairs()
    replay = load_dataset(args.replay_from).split("train").pairs()
    mixed = pairs + random.Random(0).sample(replay, len(pairs) // 2)
    random.Random(1).shuffle(mixed)
    base, cache = load_model_cached("minilm"), EmbeddingCache()
    ref = TrainConfig(epochs=1, learning_rate=5e-5, batch_size=32)
    recipes = {
        "reference (1 epoch, lr 5e-5)": (pairs, ref),
        "lower learning rate (lr 1e-5)": (pairs, replace(ref, learning_rate=1e-5)),
        "fewer steps (half an epoch)": (pairs, replace(ref, epochs=0.5)),
        f"replay (+{len(pairs) // 2} {args.replay_from} pairs)": (mixed, ref),
    }
    rows, models = [], {}

    def add(name, model, n_pairs, seconds):
        rep = forgetting_check(model, base, d_test, g_test, cache, args.domain, args.general)
        rows.append({"name": name, "pairs": n_pairs, "train_s": seconds,
                     "domain_R@10": round(100 * rep.domain.after, 1), "domain_lift": round(100 * rep.domain.delta, 1),
                     "domain_ci_low": round(100 * rep.domain.ci_low, 1), "domain_ci_high": round(100 * rep.domain.ci_high, 1),
                     "general_R@10": round(100 * rep.general.after, 1), "general_change": round(100 * rep.general.delta, 1),
                     "general_ci_low": round(100 * rep.general.ci_low, 1),
                     "general_ci_high": round(100 * rep.general.ci_high, 1)})
        print(rows[-1], flush=True)

    for i, (name, (data, cfg)) in enumerate(recipes.items()):
        model, info = fine_tune(load_model("minilm"), data, f"runs/lesson5/{args.domain}-{i}", config=cfg,
                                dataset_name=f"{args.domain}/known_corpus/train", show_progress_bar=False)
        models[name] = model
        add(name, model, len(data), info.seconds)
    reference = models["reference (1 epoch, lr 5e-5)"]
    add("interpolation (alpha 0.5 of reference)", interpolate(base, reference, 0.5), 0, 0.0)
    save_rows(rows, args.out / f"mitigations_{domain.name}.csv", {
        "dataset": domain.name, "domain": args.domain, "general": args.general, "replay_from": args.replay_from,
        "test_queries": {"domain": len(d_test.queries), "general": len(g_test.queries)},
        "command": f"python benchmarks/forgetting.py --domain {args.domain}", "config": asdict(ref),
        # each row is its own measurement on test; none was picked from the others by its score
        "scored_on": "test", "chosen_on": None,
        "bootstrap": {"domain": bootstrap_name(split_clusters(d_test)), "general": bootstrap_name(split_clusters(g_test))}})


if __name__ == "__main__":
    main()
