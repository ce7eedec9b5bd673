"""What Lesson 4's filters do to the gold lift (issue #15): the LLM's queries, trained on after each
filter, scored on gold queries no filter saw -- a filter judged by the lift it leaves, not by how
much it drops.

    python benchmarks/llm_filters.py                          # ICD-10-CM: four fine-tunes, ~4 min on 2 cores
    python benchmarks/llm_filters.py --dataset clinical_abbrev
    python benchmarks/llm_filters.py --writer qwen2.5-coder-1.5b        # another writer's set

The queries are the dataset's shipped synthetic set (Gemma 3 270M, ``data/<dataset>/synthetic/``; with
``--writer``, ``synthetic-<writer>/``), less any that is a dev or test query (:class:`helpers.labelled.LeakGuard`).
Every row fine-tunes the student from the same start with Lesson 4's settings, fixed in advance
(MNRL, 1 epoch, lr 5e-5, batch 32, seed 12), and is scored on the **dev** split (what a choice of
filter may read) and once on the **test** split, with the paired (cluster) bootstrap CI:

- ``cheap rules only``: every query that passes the model-free rules (malformed, empty, too long,
  copied from its document, duplicate);
- ``round trip, minilm`` (Lesson 4's and the command's filter): those whose document the student
  itself ranks in its top 10 over the whole corpus;
- ``round trip, mpnet``: the same test with mpnet, the 5x larger model, as the judge;
- ``cheap rules, sampled``: a seeded random sample of the first row, as many queries as the
  default filter keeps: the round trip's choice against chance at the same size.

Writes ``llm_filters_<dataset>.csv`` (``llm_filters_<dataset>-<writer>.csv`` for another writer; + ``.json``
provenance, ``.per_query.npz``) to ``--out``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import _common  # (sets the offline environment; before any Hugging Face import)

OUT = Path(__file__).resolve().parent.parent / "data" / "lesson4"
DATASET = "icd10cm"
SEED = 0  # the sample of the last row
WRITER = "gemma3-270m"  # whose set is data/<dataset>/synthetic/


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.dataset_arguments(ap, DATASET, OUT)
    ap.add_argument("--writer", default=WRITER, help="whose synthetic set (default: %(default)s)")
    args = ap.parse_args()

    from transformers.utils import logging as hf_logging

    from helpers.evaluation import course_cache, evaluate
    from helpers.labelled import drop_leaks
    from helpers.experiments import Experiment
    from helpers.models import load_model_cached
    from helpers.synthetic import QueryCache, as_split, filter_queries
    from helpers.training import TrainConfig

    hf_logging.disable_progress_bar()
    config = TrainConfig(epochs=1, learning_rate=5e-5, batch_size=32)
    exp = Experiment(args.dataset, runs_dir="runs/llm_filters", cache=course_cache())
    ds, dev = exp.dataset, exp.dataset.split("dev", exp.protocol)
    suffix = "" if args.writer == WRITER else f"-{args.writer}"
    cache_file = ds.path / f"synthetic{suffix}" / "queries.jsonl"
    if not cache_file.exists():
        raise SystemExit(f"{cache_file} is missing: run python scripts/generate_synthetic.py {args.dataset}"
                         + (f" --llm {args.writer}" if suffix else ""))
    held_out = [t for split in ("dev", "test") for t in ds.split(split, exp.protocol).queries.values()]
    records, leaks = drop_leaks(list(QueryCache(cache_file).records.values()), held_out,
                                text_of=lambda r: r.query or "")
    print(f"{leaks} queries that are dev or test queries dropped", flush=True)
    student = load_model_cached(exp.student)
    cheap, _ = filter_queries(records, ds.corpus)
    by_student, report = filter_queries(records, ds.corpus, model=student, cache=exp.cache)
    by_mpnet, _ = filter_queries(records, ds.corpus, model=load_model_cached("mpnet"), cache=exp.cache)
    print(report, flush=True)
    position = {r.key: i for i, r in enumerate(cheap)}
    sample = sorted(random.Random(SEED).sample(cheap, len(by_student)), key=lambda r: position[r.key])  # kept in order
    rows = {"cheap rules only": cheap, "round trip, minilm": by_student, "round trip, mpnet": by_mpnet,
            "cheap rules, sampled": sample}
    for name, kept in rows.items():
        row = exp.run(name, as_split(kept, ds.corpus).pairs(), config, data="label-free", queries=len(kept),
                      of_generated=len(records))
        row["dev_recall@10"] = round(100 * evaluate(exp.last_model, dev, exp.cache, name, ds.name).mean(), 1)
        print(f"{'':40s} dev recall@10 {row['dev_recall@10']:5.1f}", flush=True)
    exp.rows[0]["dev_recall@10"] = round(100 * evaluate(student, dev, exp.cache, exp.student, ds.name).mean(), 1)
    extra = [f"--writer {args.writer}"] if suffix else []
    exp.save(args.out / f"llm_filters_{ds.name}{suffix}.csv", _common.command_line("llm_filters.py", args, DATASET, *extra),
             config, writer=args.writer, leaks_dropped=leaks)


if __name__ == "__main__":
    main()
