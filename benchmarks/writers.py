"""What a query costs with each local writer, on this machine's llama.cpp build.

Each writer writes one query for each of the first ``--docs`` documents of a dataset (styles rotating as
Lesson 4 plans them, the project's prompts; instruct models through their chat template), after one
warm-up query, with no cache. Prints seconds per query and per 1,000 documents, and the kernels llama.cpp
was built with (``llama_print_system_info``), so that two builds can be compared on one machine: run it
once as installed (the Makefile's portable build), once with another build first on ``PYTHONPATH``.

    python benchmarks/writers.py --writers gemma3-270m qwen2.5-coder-1.5b
    PYTHONPATH=/tmp/llama-native/site python benchmarks/writers.py --writers gemma3-270m
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common  # noqa: F401  (the offline environment)

from helpers.data import load_dataset
from helpers.synthetic import STYLES, LlamaCppBackend, plan_jobs
from helpers.writers import WRITERS, cpu_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", nargs="+", default=list(WRITERS), choices=list(WRITERS))
    parser.add_argument("--dataset", default="icd10cm")
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every core)")
    args = parser.parse_args()

    import llama_cpp

    print(f"llama-cpp-python {llama_cpp.__version__}; CPU features: {', '.join(cpu_features())}")
    print(f"kernels: {llama_cpp.llama_print_system_info().decode().strip()}")
    ds = load_dataset(args.dataset)
    docs = dict(sorted(ds.corpus.items())[: args.docs])
    jobs = plan_jobs(docs, tuple(s for s in STYLES if s != "expert"), rotate_styles=True)
    print(f"{len(jobs)} documents of {args.dataset}, mean {statistics.mean(len(t.split()) for t in docs.values()):.1f} "
          f"words\n\n| writer | prompted | s per query (median) | s per 1,000 documents | example |\n|---|---|---|---|---|")
    for name in args.writers:
        backend = LlamaCppBackend(name, n_threads=args.threads)
        first = jobs[0]
        backend.complete(first.prompt.render(first.document), messages=first.prompt.messages(first.document))
        seconds, example = [], ""
        for job in jobs:
            t0 = time.perf_counter()
            out = backend.complete(job.prompt.render(job.document), messages=job.prompt.messages(job.document))
            seconds.append(time.perf_counter() - t0)
            example = example or f"{job.document[:40]!r} -> {out.text.strip()!r}"
        median = statistics.median(seconds)
        print(f"| {name} | {'chat' if backend.chat else 'completion'} | {median:.2f} | {1000 * statistics.mean(seconds):,.0f} "
              f"| {example} |", flush=True)


if __name__ == "__main__":
    main()
