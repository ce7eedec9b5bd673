"""The cheaper wins: BM25, hybrid fusion, and reranking, as rankings you can score.

Every retriever here returns, per query, a ranked list of document ids, so that
:func:`helpers.evaluation.score_rankings` measures BM25, dense, fused and reranked search on
the same test set with the same metrics and CIs.

>>> rrf([["a", "b", "c"], ["c", "a"]], k=60)
['a', 'c', 'b']
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from helpers.evaluation import EmbeddingCache, dense_search, lift, score_rankings
from helpers.io import write_json
from helpers.models import model_fingerprint

# bm25s is imported inside BM25Index: it costs ~0.7 s at import, and fusion and reranking need none of it;
# pandas inside cheaper_wins (~1 s), which alone makes a table.


class BM25Index:
    """BM25 (``bm25s``, Lucene variant) over a corpus dict; English stop words, no stemming."""

    def __init__(self, corpus: dict[str, str], k1: float = 1.5, b: float = 0.75):
        import bm25s

        if not corpus:
            raise ValueError("BM25Index needs a non-empty corpus")
        self.doc_ids = list(corpus)
        self.retriever = bm25s.BM25(k1=k1, b=b)
        self.retriever.index(bm25s.tokenize([corpus[d] for d in self.doc_ids], stopwords="en", show_progress=False),
                             show_progress=False)

    def search(self, queries: list[str], k: int = 100) -> tuple[list[list[str]], list[list[float]]]:
        """Ranked ids and scores per query. Documents sharing no term with the query (score 0) are
        left out rather than ranked arbitrarily, so a query of unknown words returns an empty list."""
        import bm25s

        k = min(k, len(self.doc_ids))
        # tokens as strings: they are looked up in the corpus vocabulary (fresh ids would not match)
        tokens = bm25s.tokenize(queries, stopwords="en", return_ids=False, show_progress=False)
        ids_out, scores_out = [], []
        for toks in tokens:
            if not toks:
                ids_out.append([]), scores_out.append([])
                continue
            idx, scores = self.retriever.retrieve([toks], k=k, show_progress=False)
            keep = scores[0] > 0
            ids_out.append([self.doc_ids[i] for i in idx[0][keep]])
            scores_out.append(scores[0][keep].tolist())
        return ids_out, scores_out


def rrf(rankings: list[list[str]], k: int = 60) -> list[str]:
    """Reciprocal rank fusion of several rankings of one query: score(d) = sum 1 / (k + rank)."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] += 1.0 / (k + rank)
    return sorted(scores, key=lambda d: (-scores[d], d))


def weighted_fusion(dense: tuple[list[str], list[float]], sparse: tuple[list[str], list[float]],
                    alpha: float = 0.5) -> list[str]:
    """Convex combination of min-max normalised scores: alpha * dense + (1 - alpha) * BM25.

    A document missing from one list gets 0 from it (it ranked below that list's cut-off).
    """
    fused: dict[str, float] = defaultdict(float)
    for (ids, scores), weight in ((dense, alpha), (sparse, 1 - alpha)):
        if not ids:
            continue
        s = np.asarray(scores, dtype=float)
        span = s.max() - s.min()
        norm = (s - s.min()) / span if span > 0 else np.ones_like(s)
        for d, v in zip(ids, norm):
            fused[d] += weight * v
    return sorted(fused, key=lambda d: (-fused[d], d))


def rerank(model, split, candidates: list[list[str]], top_k: int = 20, cache=None) -> list[list[str]]:
    """Re-order each query's first ``top_k`` candidates by ``model``'s cosine score (a stronger
    bi-encoder such as mpnet here; a trained cross-encoder slots in the same way). Candidates
    beyond ``top_k`` keep their order below the reranked head. Only the candidates are encoded,
    never the whole corpus: the reranker's cost grows with queries x ``top_k``."""
    cache = cache or EmbeddingCache()
    fp = model_fingerprint(model)
    heads = [cands[:top_k] for cands in candidates]
    docs = list(dict.fromkeys(d for head in heads for d in head))
    doc_emb = cache.encode(model, [split.corpus[d] for d in docs], "document", model_fp=fp)
    q_emb = cache.encode(model, list(split.queries.values()), "query", model_fp=fp)
    position = {d: i for i, d in enumerate(docs)}
    out = []
    for qi, (head, cands) in enumerate(zip(heads, candidates)):
        scores = doc_emb[[position[d] for d in head]] @ q_emb[qi] if head else np.array([])
        out.append([head[i] for i in np.argsort(-scores, kind="stable")] + cands[top_k:])
    return out


def with_heads(heads: list[list[str]], candidates: list[list[str]]) -> list[list[str]]:
    """Each query's ``head`` (reranked earlier), then its other ``candidates`` in their order: a saved
    rerank (:func:`save_rankings`) applied to candidate lists ranked again here.

    >>> with_heads([["b", "a"]], [["a", "b", "c"]])
    [['b', 'a', 'c']]
    """
    out = []
    for head, cands in zip(heads, candidates):
        seen = set(head)
        out.append(head + [d for d in cands if d not in seen])
    return out


def save_rankings(path: str | Path, split, rankings: dict[str, list[list[str]]], provenance: dict) -> None:
    """Write ``rankings`` (name -> one ranked id list per query, in ``split.queries`` order) with the
    split's fingerprint and ``provenance``, atomically: a costly reranking computed once is read back by
    :func:`load_rankings` for this very split."""
    write_json(path, {**provenance, "split": split.fingerprint(), "query_ids": list(split.queries),
                      "rankings": rankings}, indent=None)  # one line: ids one per line would triple the file


def load_rankings(path: str | Path, split) -> tuple[dict[str, list[list[str]]], dict] | None:
    """``(rankings, provenance)`` saved by :func:`save_rankings` for this very split (the same query ids,
    texts and corpus), or ``None`` when there is no file or it was written for other data."""
    path = Path(path)
    if not path.exists():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    if saved.get("split") != split.fingerprint() or saved.get("query_ids") != list(split.queries):
        return None
    rankings = saved.pop("rankings")
    return rankings, {k: v for k, v in saved.items() if k not in ("split", "query_ids")}


def cheaper_wins(split, dense_model, reranker=None, cache=None, dense_name: str = "dense (minilm)",
                 reranker_name: str = "mpnet", top_k: int = 20, saved_heads: dict[str, list[list[str]]] | None = None):
    """Lesson 1's comparison: dense, BM25, two hybrids and, with a ``reranker``, dense and RRF each
    reranked in their top ``top_k``. Returns ``(results, table)``: an :class:`~helpers.evaluation.EvalResult`
    per method (every retriever ranks the queries in ``split.queries`` order, so they pair) and a table
    of recall@10, nDCG@10 and the paired lift against dense.

    ``saved_heads``: reranked heads from an earlier run on this very split (:func:`load_rankings`),
    used instead of encoding the candidates with the reranker again; the candidates below each head
    are this run's.
    """
    import pandas as pd

    queries = list(split.queries.values())
    d_ids, d_scores = dense_search(dense_model, split, cache)
    b_ids, b_scores = BM25Index(split.corpus).search(queries)
    runs = {
        dense_name: d_ids,
        "BM25": b_ids,
        "hybrid: RRF": [rrf([a, b]) for a, b in zip(d_ids, b_ids)],
        "hybrid: 0.5 dense + 0.5 BM25": [weighted_fusion((a, sa), (b, sb))
                                         for a, sa, b, sb in zip(d_ids, d_scores, b_ids, b_scores)],
    }
    if reranker is not None or saved_heads is not None:
        for first, candidates in (("dense", d_ids), ("RRF", runs["hybrid: RRF"])):
            name = f"{first} -> {reranker_name} rerank top {top_k}"
            runs[name] = (with_heads(saved_heads[name], candidates) if saved_heads is not None
                          else rerank(reranker, split, candidates, top_k, cache))
    results = {name: score_rankings(r, split, name) for name, r in runs.items()}
    rows = []
    for name, res in results.items():
        gain = lift(res, results[dense_name])
        rows.append({"method": name, "recall@10": round(100 * res.mean(), 1),
                     "nDCG@10": round(100 * res.mean("ndcg@10"), 1),
                     "vs dense": f"{100 * gain.delta:+.1f} [{100 * gain.ci_low:+.1f}, {100 * gain.ci_high:+.1f}]"})
    return results, pd.DataFrame(rows).set_index("method")
