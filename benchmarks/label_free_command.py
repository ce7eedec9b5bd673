"""``python -m helpers finetune``'s label-free sources (``--label-free``) on the raw folder, scored on its
hand-written gold questions: dev to choose, test once.

    python benchmarks/label_free_command.py            # Git's manual pages: eight runs, about 70 min on 2 cores
    python benchmarks/label_free_command.py --sources promptagator   # one row again; the others are kept

The corpus is ``data/raw/git-docs/docs`` (23 pages, 633 chunks of at most 100 words) with the gold questions
of ``data/raw/git-docs/gold`` (105 test, 26 dev; written by hand before any model saw them). The command
runs once per source, everything else at its defaults (one mined hard negative, mpnet-judged, 95% margin;
one epoch):

* ``crops``: a random 30-70% span of each chunk's words is that chunk's query (no LLM);
* ``llm``: Gemma 3 270M's query for each chunk, after the model-free filters (the answers ship with the data
  in ``data/raw/git-docs/llm_queries.jsonl``: a copy is the runs' shared ``--llm-cache``, so no query is written);
* ``crops+llm``: both;
* ``headings``: each heading of a page (a section title, an option name, an FAQ's question), after the
  page's title, as the query of the chunk it heads (no LLM);
* ``crops+headings``: both;
* ``llm (round trip)``, ``crops+llm (round trip)``: the same with ``--round-trip always`` (an LLM query trains
  only if the base model finds its chunk in its top 10), the command's behaviour before 2026-12-03 evening;
* ``promptagator``: ``--label-free llm --llm-examples data/raw/git-docs/llm_examples.jsonl``: Gemma shown
  eight questions written by hand for eight random chunks (not the gold ones) writes every chunk's query in
  their style, and the round trip is skipped (its answers are not shipped: about 5 min to write).

Each row scores the base model and the run's model on the gold **dev** questions (what chooses the
default; recall@10 is near its ceiling on 23 pages, so recall@1 and MRR@10 are shown too) and on the
gold **test** questions (the run's own evaluation: the lift with its paired 95% CI, and the gate).
Stages are cached in ``runs/label_free_command/``; rows go to ``data/lesson6/label_free_command.{csv,json}``.
With ``--sources``, the rows of the other sources are kept as the file has them, and the ``.json`` says
when each row was measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "data" / "raw" / "git-docs"
OUT = ROOT / "data" / "lesson6"
SOURCES = ("crops", "llm", "crops+llm", "headings", "crops+headings", "llm (round trip)", "crops+llm (round trip)",
           "promptagator")
EXTRA = {"llm (round trip)": ["--label-free", "llm", "--round-trip", "always"],
         "crops+llm (round trip)": ["--label-free", "crops+llm", "--round-trip", "always"],
         "promptagator": ["--label-free", "llm", "--llm-examples", str(RAW / "llm_examples.jsonl")]}
METRICS = ("recall@1", "mrr@10", "recall@10")


def run_command(source: str, out: Path, llm_cache: Path) -> tuple[int, float]:
    argv = [sys.executable, "-m", "helpers", "finetune", "--corpus", str(RAW / "docs"),
            "--queries", str(RAW / "gold" / "queries.jsonl"), "--qrels", str(RAW / "gold" / "qrels" / "test.tsv"),
            "--out", str(out), *EXTRA.get(source, ["--label-free", source]), "--llm-cache", str(llm_cache), "--quiet"]
    print("$", " ".join(argv[1:]), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(argv, cwd=ROOT).returncode
    if rc not in (0, 1):  # 1: the run finished and the gate said no
        raise SystemExit(f"the command failed (exit {rc}): {' '.join(argv)}")
    return rc, time.perf_counter() - t0


def main() -> None:
    from helpers.corpus import load_corpus
    from helpers.data import RetrievalSplit
    from helpers.evaluation import course_cache, lift
    from helpers.experiments import save_rows
    from helpers.models import load_model, load_model_cached
    from helpers.pipeline import evaluate_domain

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    args = ap.parse_args()
    runs = ROOT / "runs" / "label_free_command"
    runs.mkdir(parents=True, exist_ok=True)
    llm_cache = runs / "llm_queries.jsonl"
    if not llm_cache.exists():
        shutil.copyfile(RAW / "llm_queries.jsonl", llm_cache)  # the shipped answers stay untouched
    corpus = load_corpus(RAW / "docs", queries=RAW / "gold" / "queries.jsonl", qrels=RAW / "gold" / "qrels" / "test.tsv")
    splits = {name: RetrievalSplit(name, "gold", g.queries, corpus.texts, g.relevant)
              for name, g in (("dev", corpus.gold_dev), ("test", corpus.gold))}
    cache, base = course_cache(), load_model_cached("minilm")

    def scores(model, name):
        return {s: evaluate_domain(model, split, corpus.source_of, cache, name, "document") for s, split in splits.items()}

    path = OUT / "label_free_command.csv"
    kept, measured = {}, {}
    if set(args.sources) != set(SOURCES) and path.exists():  # re-measure the named rows, keep the others
        with open(path, newline="", encoding="utf-8") as f:
            kept = {r["name"]: r for r in csv.DictReader(f)}
        made = json.loads(path.with_suffix(".json").read_text())
        measured = made.get("measured", {name: made["written"] for name in kept})
    before = scores(base, "base")
    rows = [{"name": "no fine-tuning", **{f"dev_{m}": round(float(100 * before["dev"].per_query[m].mean()), 1) for m in METRICS},
             **{f"test_{m}": round(float(100 * before["test"].per_query[m].mean()), 1) for m in METRICS}}]
    for source in SOURCES:
        if source not in args.sources:
            if source in kept:
                rows.append(kept[source])
            continue
        out = runs / re.sub(r"[^a-z]+", "-", source).strip("-")  # crops+llm (round trip) -> crops-llm-round-trip
        rc, seconds = run_command(source, out, llm_cache)
        stages = {p.stem: json.loads(p.read_text()) for p in (out / "stages").glob("*.json")}
        split = stages["split"]["info"]
        after = scores(load_model(out / "model"), source)
        reported = stages["evaluate"]["info"]["report"]["domain"]["after"]
        if abs(after["test"].per_query["recall@10"].mean() - reported) > 1e-3:
            raise SystemExit(f"{source}: the run reported test recall@10 {reported:.4f}; its model scores "
                             f"{after['test'].per_query['recall@10'].mean():.4f} here: not the same test")
        row = {"name": source, "training queries": split["training queries"],
               "crops": split.get("crop training queries", 0), "llm queries": split.get("synthetic training queries", 0),
               "headings": split.get("heading training queries", 0)}
        for m in METRICS:
            row[f"dev_{m}"] = round(float(100 * after["dev"].per_query[m].mean()), 1)
        for m in METRICS:
            lf = lift(after["test"], before["test"], m)
            row.update({f"test_{m}": round(100 * lf.after, 1), f"test_{m}_lift": round(100 * lf.delta, 1),
                        f"test_{m}_ci": f"[{100 * lf.ci_low:+.1f}, {100 * lf.ci_high:+.1f}]"})
        general = stages["evaluate"]["info"]["report"]["general"]
        gate = json.loads((out / "gate.json").read_text())
        row.update({"general_change": round(100 * general["delta"], 1), "gate": "PASS" if gate["passed"] else "FAIL",
                    "exit_code": rc, "seconds": round(sum(r["seconds"] for r in stages.values())),
                    "stage_seconds": json.dumps({s: round(r["seconds"]) for s, r in stages.items()})})
        rows.append(row)
        measured[source] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print({k: v for k, v in row.items() if k != "stage_seconds"}, flush=True)
    # the default must train on any corpus: promptagator needs eight hand-written queries, and headings alone
    # give nothing where documents have none (one-line documents: ICD-10-CM, clinical abbreviations)
    label_free = [r for r in rows[1:] if r["name"] not in ("promptagator", "headings")]
    chosen = max(label_free, key=lambda r: (float(r["dev_mrr@10"]), float(r["dev_recall@10"]))) if label_free else None
    save_rows(rows, path, {
        "corpus": "data/raw/git-docs/docs", "gold": "data/raw/git-docs/gold (test 105, dev 26)",
        "command": "python benchmarks/label_free_command.py", "student": "minilm",
        "scored_on": "dev and test",
        "chosen_on": "dev (MRR@10, then recall@10), among the sources that train on any corpus",
        "chosen": None if chosen is None else chosen["name"],
        "measured": {r["name"]: measured[r["name"]] for r in rows[1:]},
    })
    print("dev chose:", None if chosen is None else chosen["name"], "; written to", OUT)


if __name__ == "__main__":
    main()
