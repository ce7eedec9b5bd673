"""Lesson 4's measurements: which local LLM writes usable queries, and what synthetic data is worth.

    python scripts/generate_synthetic.py icd10cm        # first: the synthetic set (~40 min, cached)
    python benchmarks/synthetic_training.py              # ~15 min on 2 cores; writes data/lesson4/
    python benchmarks/synthetic_training.py --only llm   # the LLM comparison only (~3 min)

``llm``: both packaged LLMs write one query for each of the first 120 ICD-10-CM documents (styles
rotating, same prompts, same sampling); the table gives seconds per query and how many queries
survive each filter (round trip with minilm, top 10). Cached in ``data/lesson4/llm_choice/``.

``training``: the student fine-tuned (MNRL, 1 epoch, lr 5e-5, batch 32, seed 12) on
(a) every parsed synthetic query, unfiltered; (b) the filtered synthetic queries;
(c) as many *gold* training queries as (b) has; (d) (b) plus one mined hard negative each
(dense, 95%-of-positive margin). Evaluated on the 500 gold test queries over the full corpus,
recall@10 with the paired-bootstrap 95% CI of the lift over no fine-tuning. No test query is
ever used; the synthetic queries were written from documents alone (no labelled example).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _common  # (sets the offline environment; before any Hugging Face import)

OUT = Path(__file__).resolve().parent.parent / "data" / "lesson4"
DATASET = "icd10cm"
LLMS = ("gemma3-270m", "smollm2-135m")
N_LLM_DOCS = 120


def llm_choice(args) -> None:
    import numpy as np

    from helpers.data import load_dataset
    from helpers.experiments import save_rows
    from helpers.models import load_model_cached
    from helpers.synthetic import LlamaCppBackend, filter_queries, generate_queries, plan_jobs

    ds = load_dataset(args.dataset)
    corpus = dict(list(ds.corpus.items())[:N_LLM_DOCS])
    rows = []
    for name in LLMS:
        backend = LlamaCppBackend(name)
        jobs = plan_jobs(corpus, styles=("keyword", "question", "colloquial", "expert"), rotate_styles=True)
        recs = generate_queries(jobs, backend, args.out / "llm_choice" / f"{name}.jsonl", max_tokens=32, temperature=0.7)
        kept, full = filter_queries(recs, ds.corpus, model=load_model_cached("minilm"), top_k=10)
        rows.append({"name": name, "queries": len(recs), "seconds_per_query": round(float(np.mean([r.seconds for r in recs])), 2),
                     **{f"dropped_{k.replace(' ', '_').replace('-', '_')}": v for k, v in full.dropped.items()},
                     "kept": len(kept), "kept_pct": round(100 * len(kept) / len(recs), 1)})
        print(rows[-1], flush=True)
    save_rows(rows, args.out / "llm_choice.csv", {
        "dataset": ds.name, "documents": N_LLM_DOCS,
        "command": _common.command_line("synthetic_training.py", args, DATASET, "--only llm"),
        "sampling": {"max_tokens": 32, "temperature": 0.7, "seed": 0}, "round_trip": "minilm, top 10, full corpus"})


def training(args) -> None:
    from transformers.utils import logging as hf_logging

    from helpers.experiments import Experiment
    from helpers.mining import mine
    from helpers.models import load_model_cached
    from helpers.synthetic import QueryCache, as_split, filter_queries
    from helpers.training import TrainConfig

    hf_logging.disable_progress_bar()
    config = TrainConfig(epochs=1, learning_rate=5e-5, batch_size=32)
    exp = Experiment(args.dataset, runs_dir="runs/lesson4")
    cache_file = exp.dataset.path / "synthetic" / "queries.jsonl"
    if not cache_file.exists():
        raise SystemExit(f"{cache_file} is missing: run python scripts/generate_synthetic.py {args.dataset}")
    records = list(QueryCache(cache_file).records.values())
    parsed = [r for r in records if r.query is not None]
    kept, report = filter_queries(records, exp.dataset.corpus, model=load_model_cached("minilm"), cache=exp.cache)
    print(report, flush=True)
    synthetic = as_split(kept, exp.dataset.corpus)
    n = len(synthetic.queries)
    exp.run("synthetic, unfiltered", as_split(parsed, exp.dataset.corpus).pairs(), config, data="synthetic")
    exp.run("synthetic, filtered", synthetic.pairs(), config, data="synthetic")
    gold = exp.dataset.split("train", exp.protocol, limit=n)
    exp.run("gold training queries (same count)", gold.pairs(), config, data="gold")
    mined = mine(synthetic, load_model_cached("minilm"), relative_margin=0.05, cache=exp.cache)
    print(mined.report(), flush=True)
    exp.run("synthetic, filtered + mined hard negatives", mined.examples("triplet"), config, data="synthetic")
    exp.save(args.out / "comparison.csv", _common.command_line("synthetic_training.py", args, DATASET, "--only training"),
             config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["llm", "training"], action="append")
    _common.dataset_arguments(ap, DATASET, OUT)
    args = ap.parse_args()
    for part in args.only or ["llm", "training"]:
        {"llm": llm_choice, "training": training}[part](args)


if __name__ == "__main__":
    main()
