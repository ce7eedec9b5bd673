"""Mining at scale: 10k queries over a 100k-document corpus, helpers vs the library, time and peak memory.

    apt-get install wordnet-base               # the corpus (real text, see below)
    python benchmarks/mining_scale.py          # ~15 min on 2 cores; prints a table
    python benchmarks/mining_scale.py --docs 20000 --queries 2000    # a quicker look

The shipped corpora hold ~3.5k documents, so this builds a bigger one from real text: every
WordNet 3.0 noun/verb/adjective definition (~114k, Debian ``wordnet-base``), the first
``--docs`` of them in id order with duplicate texts dropped; queries are one lemma each of
``--queries`` random synsets among those (seed 0, distinct lemmas), the positive being its definition.
(WordNet is the generic tier, not the ICD data of Lesson 3: what is measured is the mining
machinery, whose cost depends on sizes, not on the domain.)

Encoding (minilm, the same for every path) runs once and is reported apart; each path then
runs in a fresh process that reads those embeddings from disk, so the figures compare search,
selection and output building, and ``ru_maxrss`` is that path's own peak memory:

- ``helpers``: :func:`helpers.mining.dense_candidates` streaming corpus chunks of 16,384 from the
  embedding cache, then :func:`~helpers.mining.select_negatives` and a triplet ``Dataset``
- ``library faiss``: ``sentence_transformers.util.mine_hard_negatives(use_faiss=True)``
- ``library torch``: the same with ``use_faiss=False`` (its default), which scores
  ``faiss_batch_size`` (16,384) queries against the whole corpus at once

All three: 3 negatives per query from ranks 0-50, 95%-of-positive margin, triplets out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # scripts/ is no package: build_datasets.wordnet_synsets comes from there

WORK = ROOT / "runs" / "mining_scale"
OPTIONS = dict(range_max=50, num_negatives=3, relative_margin=0.05)
CHUNK = 16_384


def build(n_docs: int, n_queries: int) -> dict:
    import random

    from build_datasets import wordnet_synsets

    corpus, lemmas = {}, {}
    seen = set()
    for sid, words, definition in wordnet_synsets():
        if definition not in seen:
            seen.add(definition)
            corpus[sid], lemmas[sid] = definition, words
        if len(corpus) == n_docs:
            break
    if len(corpus) < n_docs:
        print(f"WordNet has {len(corpus)} distinct definitions; using all of them")
    rng = random.Random(0)
    queries, relevant, used = {}, {}, set()
    for sid in rng.sample(sorted(corpus), len(corpus)):
        lemma = rng.choice(lemmas[sid])
        if lemma not in used:  # unique query texts: the library would merge duplicates
            qid = f"q{len(queries)}"
            queries[qid], relevant[qid] = lemma, [sid]
            used.add(lemma)
        if len(queries) == n_queries:
            break
    return {"corpus": corpus, "queries": queries, "relevant": relevant}


def load_split():
    from types import SimpleNamespace

    data = json.loads((WORK / "data.json").read_text())
    return SimpleNamespace(corpus=data["corpus"], queries=data["queries"],
                           relevant={q: set(d) for q, d in data["relevant"].items()})


def library_cache_names(model, queries: list[str], corpus: list[str]) -> tuple[str, str]:
    """The file names ``mine_hard_negatives(cache_folder=...)`` looks for (its own hashing, copied)."""
    name = model.model_card_data.base_model or ""
    qh = hashlib.sha256(repr((name, None, None, queries)).encode(), usedforsecurity=False).hexdigest()
    ch = hashlib.sha256(repr((name, None, None, corpus)).encode(), usedforsecurity=False).hexdigest()
    return f"query_embeddings_{qh}.npy", f"corpus_embeddings_{ch}.npy"


def library_inputs(split):
    """The library's view: (query, positive text) rows and the corpus as texts, deduplicated as it does."""
    from datasets import Dataset

    rows = [(split.queries[q], split.corpus[d]) for q in split.queries for d in sorted(split.relevant[q])]
    dataset = Dataset.from_dict({"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows]})
    corpus = list(dict.fromkeys(list(split.corpus.values()) + [r[1] for r in rows]))
    return dataset, corpus


def prepare() -> float:
    """Encode once (timed), and lay the embeddings out where every path will find them."""
    import numpy as np

    from helpers.evaluation import EmbeddingCache
    from helpers.mining import dense_candidates
    from helpers.models import load_model_cached

    split, model = load_split(), load_model_cached("minilm")
    cache = EmbeddingCache(WORK / "emb", memory=False)
    t0 = time.perf_counter()
    dense_candidates(model, split.queries, split.corpus, split.relevant, depth=OPTIONS["range_max"] + 1,
                     chunk_size=CHUNK, cache=cache, show_progress_bar=True)
    seconds = time.perf_counter() - t0
    dataset, corpus = library_inputs(split)
    queries = list(dict.fromkeys(dataset["anchor"]))
    q_name, c_name = library_cache_names(model, queries, corpus)
    lib = WORK / "library_cache"
    lib.mkdir(exist_ok=True)
    # corpus order equals split.corpus order (positives are in it already), so chunks concatenate
    assert corpus == list(split.corpus.values())
    doc_ids = list(split.corpus)
    chunks = [cache.encode(model, [split.corpus[d] for d in doc_ids[a:a + CHUNK]], "document")
              for a in range(0, len(doc_ids), CHUNK)]
    np.save(lib / c_name, np.concatenate(chunks))
    np.save(lib / q_name, cache.encode(model, queries, "query"))
    return seconds


def run_path(path: str) -> dict:
    """One path, in this (fresh) process: wall time of the mining call and peak RSS."""
    from helpers.models import load_model_cached

    split, model = load_split(), load_model_cached("minilm")
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if path == "helpers":
        from helpers.evaluation import EmbeddingCache
        from helpers.mining import dense_candidates, select_negatives

        cands = dense_candidates(model, split.queries, split.corpus, split.relevant,
                                 depth=OPTIONS["range_max"] + 1, chunk_size=CHUNK,
                                 cache=EmbeddingCache(WORK / "emb", memory=False), show_progress_bar=False)
        mined = select_negatives(cands, split.relevant, queries=split.queries, corpus=split.corpus,
                                 num_negatives=OPTIONS["num_negatives"], range_max=OPTIONS["range_max"],
                                 relative_margin=OPTIONS["relative_margin"])
        out = mined.to_dataset("triplet")
    else:
        from sentence_transformers.util import mine_hard_negatives

        dataset, corpus = library_inputs(split)
        out = mine_hard_negatives(dataset, model, corpus=corpus, use_faiss=path == "library faiss",
                                  cache_folder=str(WORK / "library_cache"), verbose=False, **OPTIONS)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"path": path, "seconds": round(seconds, 1), "peak_rss_mb": round(peak / 1024),
            "before_mining_rss_mb": round(base_rss / 1024), "triplets": len(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--path", help=argparse.SUPPRESS)  # internal: run one path in this process
    args = ap.parse_args()
    if args.path:
        print(json.dumps(run_path(args.path)))
        return

    WORK.mkdir(parents=True, exist_ok=True)
    data = build(args.docs, args.queries)
    (WORK / "data.json").write_text(json.dumps(data))
    print(f"corpus {len(data['corpus']):,} WordNet definitions, {len(data['queries']):,} lemma queries", flush=True)
    print(f"encoding (minilm, once, shared by all paths): {prepare():.0f} s", flush=True)
    rows = []
    for path in ("helpers", "library faiss", "library torch"):
        proc = subprocess.run([sys.executable, __file__, "--path", path], capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append({"path": path, "error": proc.stderr.strip().splitlines()[-1]})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print(f"\n{'path':15s} {'seconds':>8s} {'peak RSS MB':>12s} {'of which before mining':>23s} {'triplets':>9s}")
    for r in rows:
        if "error" in r:
            print(f"{r['path']:15s} failed: {r['error']}")
        else:
            print(f"{r['path']:15s} {r['seconds']:8.1f} {r['peak_rss_mb']:12,d} {r['before_mining_rss_mb']:23,d} "
                  f"{r['triplets']:9,d}")


if __name__ == "__main__":
    main()
