"""The cheaper wins: BM25, hybrid fusion, and reranking, as rankings you can score.

Every retriever here returns, per query, a ranked list of document ids, so that
:func:`helpers.evaluation.score_rankings` measures BM25, dense, fused and reranked search on
the same test set with the same metrics and CIs.

>>> rrf([["a", "b", "c"], ["c", "a"]], k=60)
['a', 'c', 'b']
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from helpers.evaluation import encode_split

# bm25s is imported inside BM25Index: it costs ~0.7 s at import, and fusion and reranking need none of it.


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
    beyond ``top_k`` keep their order below the reranked head."""
    doc_ids, doc_emb, q_emb = encode_split(model, split, cache)
    position = {d: i for i, d in enumerate(doc_ids)}
    out = []
    for qi, cands in enumerate(candidates):
        head = cands[:top_k]
        scores = doc_emb[[position[d] for d in head]] @ q_emb[qi] if head else np.array([])
        out.append([head[i] for i in np.argsort(-scores, kind="stable")] + cands[top_k:])
    return out
