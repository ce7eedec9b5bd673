"""Lesson 1's cheaper wins with the mpnet reranker, computed once: the reranked top 20 of each test
query, saved for the lesson to read instead of encoding with mpnet again (about 2 min on 2 cores
here, 4 min inside the test suite).

    python benchmarks/cheaper_wins.py                       # ICD-10-CM, the lesson's dataset
    python benchmarks/cheaper_wins.py --dataset aws_docs    # another one; the lesson reads the file of its DATASET

Everything else in the lesson's table (dense, BM25, the two hybrids, the lifts and their CIs) is computed
live from these saved heads. The file is keyed to the test split (query ids, texts and corpus): for other
data the lesson reranks live.
"""

from __future__ import annotations

import argparse
import time

import _common

from helpers.data import DATA_DIR

OUT = DATA_DIR / "lesson1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.dataset_arguments(ap, "icd10cm", OUT)
    ap.add_argument("--top-k", type=int, default=20, help="candidates reranked per query (default: %(default)s)")
    args = ap.parse_args()

    import os
    import platform

    from helpers.data import load_dataset
    from helpers.evaluation import course_cache
    from helpers.models import load_model_cached, model_fingerprint
    from helpers.retrieval import cheaper_wins, save_rankings

    ds = load_dataset(args.dataset)
    test = ds.split("test")
    dense, reranker = load_model_cached("minilm"), load_model_cached("mpnet")
    t0 = time.perf_counter()
    results, table = cheaper_wins(test, dense, reranker, course_cache(), top_k=args.top_k)
    seconds = time.perf_counter() - t0
    reranked = {name: [r[:args.top_k] for r in results[name].rankings] for name in results if "rerank" in name}
    save_rankings(args.out / f"reranked_{ds.name}.json", test, reranked, {
        "what": f"each test query's top {args.top_k} after reranking by mpnet (all-mpnet-base-v2)",
        "command": _common.command_line("cheaper_wins.py", args, "icd10cm"),
        "dataset": f"{ds.name} (test)", "dense": f"minilm {model_fingerprint(dense)}",
        "reranker": f"mpnet {model_fingerprint(reranker)}", "seconds": round(seconds),
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"})
    print(table.to_string())
    print(f"{seconds:.0f} s; written to {args.out / f'reranked_{ds.name}.json'}")


if __name__ == "__main__":
    main()
