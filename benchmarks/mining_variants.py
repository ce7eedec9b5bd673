"""What the helpers' own dense mining path buys over ``sentence_transformers.util.mine_hard_negatives``.

    python benchmarks/mining_variants.py            # ~2 min on 2 cores; prints two tables

``mining_scale.py`` shows both paths mining one setting in the same time and memory. This
measures Lesson 3's actual use, on its data (ICD-10-CM, the 3,350 training queries of the
known-corpus protocol, over the whole corpus), with the three dense settings of its
ablation (top-1; a random pick from ranks 10-50; top-1 outside a 95%-of-positive margin):

1. **Time for the three settings.** The helpers search once (:func:`helpers.mining.dense_candidates`)
   and select three times (:func:`helpers.mining.select_negatives`); the library is called three
   times, each call searching again. Both encode once: the library's second and third calls read
   its own embedding cache (``cache_folder``). Encoding is timed apart.
2. **Documents by id.** The library keys documents and queries by text, and takes one positive per
   row: it gets each query's first positive (2 of the 3,350 queries have a second one; the query
   texts are all distinct). For each setting: how many queries get a negative from each, and the
   same negative text from both; how many of the library's negatives name a text that several
   documents share (its output cannot say which document it mined); and, with the
   copy-of-a-positive check of ``select_negatives`` switched off, how many negatives the helpers'
   id-based selection would have taken from the positive's own text.

The judge, BM25 and fused sources, and the audit are not in the library at all, so they are not
compared here: they are why ``helpers.mining`` exists beside it.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)

SETTINGS = {
    "top-1": dict(range_min=0, range_max=50, num_negatives=1, sampling="top"),
    "window 10-50, random": dict(range_min=10, range_max=50, num_negatives=1, sampling="random"),
    "95% margin, top-1": dict(range_min=0, range_max=50, num_negatives=1, sampling="top", relative_margin=0.05),
}


def main() -> None:
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from helpers.data import load_dataset
    from helpers.evaluation import EmbeddingCache
    from helpers.mining import dense_candidates, select_negatives
    from helpers.models import load_model_cached

    split = load_dataset("icd10cm").split("train")
    model = load_model_cached("minilm")
    copies = Counter(split.corpus.values())
    print(f"ICD-10-CM train: {len(split.queries):,} queries, {len(split.corpus):,} documents "
          f"({sum(n - 1 for n in copies.values() if n > 1)} share their text with another)", flush=True)

    cache = EmbeddingCache(progress=False)
    t0 = time.perf_counter()
    cache.encode(model, list(split.corpus.values()), "document")
    cache.encode(model, list(split.queries.values()), "query")
    encode_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    depth = 50 + max(len(split.relevant[q]) for q in split.queries)  # the window plus room for positives
    cands = dense_candidates(model, split.queries, split.corpus, split.relevant, depth, cache=cache)
    ours = {name: select_negatives(cands, split.relevant, **opts, corpus=split.corpus)
            for name, opts in SETTINGS.items()}
    ours_s = time.perf_counter() - t0
    by_id = {name: select_negatives(cands, split.relevant, **opts) for name, opts in SETTINGS.items()}

    qids = list(split.queries)
    dataset = Dataset.from_dict({"anchor": [split.queries[q] for q in qids],
                                 "positive": [split.corpus[min(split.relevant[q])] for q in qids]})
    library, lib_s = {}, 0.0
    with tempfile.TemporaryDirectory() as folder:
        # the library's first call encodes into its cache: warm it outside the timing, as ours is
        mine_hard_negatives(dataset, model, corpus=list(split.corpus.values()), num_negatives=1, range_max=50,
                            use_faiss=True, cache_folder=folder, verbose=False, batch_size=64)
        for name, opts in SETTINGS.items():
            lib_opts = {k: v for k, v in opts.items() if k != "sampling"}
            t0 = time.perf_counter()
            out = mine_hard_negatives(dataset, model, corpus=list(split.corpus.values()), use_faiss=True,
                                      sampling_strategy=opts["sampling"], cache_folder=folder, verbose=False,
                                      batch_size=64, output_format="triplet", **lib_opts)
            lib_s += time.perf_counter() - t0
            library[name] = dict(zip(out["anchor"], out["negative"]))

    print(f"\nencoding (once, either path): {encode_s:.1f} s")
    print(f"{'path':48s} {'seconds':>8s}")
    print(f"{'helpers: search once, select 3 times':48s} {ours_s:8.1f}")
    print(f"{'library: 3 calls (embeddings from its cache)':48s} {lib_s:8.1f}")

    print(f"\n{'setting':22s} {'helpers':>8s} {'library':>8s} {'same negative':>14s} {'library negative is a shared text':>34s} "
          f"{'id-only copy of the positive':>29s}")
    for name in SETTINGS:
        mined = ours[name]
        text_of = {split.queries[q]: split.corpus[n[0]] for q, n in mined.negatives.items() if n}
        lib = library[name]
        same = sum(text_of.get(a) == neg for a, neg in lib.items())
        shared = sum(copies[neg] > 1 for neg in lib.values())
        own_copy = sum(1 for q, n in by_id[name].negatives.items()
                       if n and split.corpus[n[0]] in {split.corpus[d] for d in split.relevant[q]})
        n_ours = sum(1 for n in mined.negatives.values() if n)
        print(f"{name:22s} {n_ours:8,d} {len(lib):8,d} {same:14,d} {shared:34,d} {own_copy:29,d}")


if __name__ == "__main__":
    main()
