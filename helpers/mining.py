"""Hard-negative mining with false-negative control, memory-bounded on any corpus size.

A hard negative is a document the model ranks high for a query although it is not relevant.
Training on them teaches the distinctions in-batch negatives rarely show (a sibling ICD code,
the same AWS call on another service). The risk is the *false* negative: a document that is
in fact relevant but unlabelled, which training then pushes away. Mining is three steps:

1. **Candidates** -- per query, the top ``depth`` documents of a retriever:
   :func:`dense_candidates` (any sentence-transformers model, streamed over the corpus in
   chunks with faiss, so memory is bounded by the chunk size and never by queries x corpus),
   :func:`bm25_candidates`, or both fused with RRF (:func:`fused_candidates`).
2. **Scores** -- the similarities the filters compare: the dense model's own cosine, or a
   stronger judge's (:func:`rescore`: a bigger bi-encoder such as mpnet, or a cross-encoder).
   Positives are scored by the same judge, so margins compare like with like.
3. **Selection** (:func:`select_negatives`) -- drop every labelled positive; keep the rank
   window ``[range_min, range_max)`` of what is left; drop candidates within an absolute or
   relative (positive-aware) margin of the query's *weakest* positive, or above ``max_score``;
   take the ``num_negatives`` best (``"top"``) or a seeded random sample (``"random"``).

:func:`mine` runs the three steps; :class:`MinedNegatives` turns the result into the
trainer's formats (triplets, n-tuples, labelled pairs) and :meth:`MinedNegatives.audit` lists
the negatives most likely to be false, side by side with the positive, before you train.

The selection follows :func:`sentence_transformers.util.mine_hard_negatives` (a test checks
that both pick the same negatives where their options overlap), with two differences: the
library mines with one dense model over texts, so it has no BM25 or fused candidates, no
bi-encoder judge, and treats identical texts as one document; and it applies ``range_min``
*after* its margin filters, while here the window is a fixed band of ranks (positives
removed) and the filters act inside it, so a margin never pushes negatives deeper than the
window says. (The library also retrieves ``range_max + max_positives`` candidates and only masks
positives it retrieved, so for a query whose positive is not among them its window reaches one
rank deeper; with filters that can add a negative here and there.)

Why not call the library for the dense case? It returns triplets, not candidates, so nothing could
be fused with BM25, rescored by a judge, audited or selected again under another setting; and it
names negatives by text, which cannot say which of several documents with that text it mined
(68 of 3,350 ICD-10-CM training queries get such a negative). It is not faster either:
``benchmarks/mining_variants.py`` mines Lesson 3's three dense settings in 1-2 s either way once
the texts are encoded, and ``benchmarks/mining_scale.py`` finds the same time and memory at 100k
documents. So the search stays here and the library is the reference a test compares with.

>>> import numpy as np
>>> c = Candidates(["q1"], ["a", "b", "c", "d"], np.array([[0, 1, 2, 3]]),
...                np.array([[0.9, 0.8, 0.7, 0.2]], dtype=np.float32), [np.array([0.82])], "toy")
>>> mined = select_negatives(c, {"q1": {"a"}}, num_negatives=1, relative_margin=0.05)
>>> mined.negatives["q1"]                       # "b" (0.80) is within 5% of the positive (0.82)
['c']
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Iterator, Literal

import numpy as np
from tqdm.auto import tqdm

from helpers.data import RetrievalSplit
from helpers.evaluation import EmbeddingCache
from helpers.models import load_model_cached, model_fingerprint
from helpers.retrieval import BM25Index, rrf

# faiss, sentence-transformers, datasets and pandas are imported inside the functions that use them:
# together they cost seconds at import, and selection on given candidates needs none of them.

logger = logging.getLogger(__name__)

Source = Literal["dense", "bm25", "fused"]
Format = Literal["triplet", "n-tuple", "labeled-pair"]
_NEG_INF = np.float32(-np.inf)


class MiningError(ValueError):
    """Mining cannot run as asked (empty input, a positive missing from the corpus, a corpus too
    small for the number of negatives). The message says what to change."""


# ----------------------------------------------------------------------------- candidates


@dataclass
class Candidates:
    """Per-query candidate documents, best first.

    ``indices[i, r]`` is the corpus position (in ``doc_ids``) of query ``i``'s rank-``r``
    candidate, ``-1`` where a query has fewer candidates (BM25 finds nothing for a query of
    unknown words); ``scores`` holds the matching similarities (``-inf`` in the padding).
    ``positive_scores[i]`` are the same scorer's similarities of query ``i``'s positives (in
    sorted id order), or ``None`` when the scores are not comparable (BM25, RRF) and no judge
    has rescored them.
    """

    query_ids: list[str]
    doc_ids: list[str]
    indices: np.ndarray
    scores: np.ndarray
    positive_scores: list[np.ndarray] | None
    source: str

    @property
    def depth(self) -> int:
        return int(self.indices.shape[1])

    def ranked_ids(self) -> list[list[str]]:
        return [[self.doc_ids[j] for j in row if j >= 0] for row in self.indices]


def _check_inputs(queries: dict[str, str], corpus: dict[str, str], relevant: dict[str, set[str]]) -> None:
    if not corpus:
        raise MiningError("the corpus is empty: there is nothing to mine negatives from")
    if not queries:
        raise MiningError("no queries: mining needs (query, positive) pairs")
    problems = [q for q in queries if not relevant.get(q)]
    if problems:
        raise MiningError(f"{len(problems)} queries have no positive document, e.g. {problems[:5]}")
    missing = sorted({(q, d) for q in queries for d in relevant[q] if d not in corpus})
    if missing:
        raise MiningError(f"{len(missing)} positives are not in the corpus, e.g. (query, document) {missing[:5]}")


def _depth(range_max: int, relevant: dict[str, set[str]], queries: Iterable[str], n_docs: int) -> int:
    """Candidates to retrieve: the window plus room for each query's positives, capped at the corpus."""
    max_pos = max(len(relevant[q]) for q in queries)
    wanted = range_max + max_pos
    if wanted > n_docs:
        logger.info("corpus has %d documents, fewer than the %d candidates asked for: taking all of them",
                    n_docs, wanted)
    return min(wanted, n_docs)


def stream_top_k(query_emb: np.ndarray, doc_chunks: Iterable[np.ndarray], k: int,
                 on_chunk=None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products of every query over a corpus given chunk by chunk.

    Each chunk is searched with a faiss ``IndexFlatIP`` and merged into the running top ``k``,
    so memory is ``O(queries x k + chunk x dim)`` whatever the corpus size. ``on_chunk(offset,
    chunk)`` is called with each chunk (to score positives that fall in it). Returns
    ``(scores, indices)`` of shape ``(n_queries, k)``, best first, padded with ``-inf``/``-1``
    when the corpus holds fewer than ``k`` documents.

    >>> rng = np.random.default_rng(0)
    >>> q, d = rng.normal(size=(3, 8)).astype("f4"), rng.normal(size=(10, 8)).astype("f4")
    >>> s, i = stream_top_k(q, [d[:4], d[4:]], k=5)
    >>> bool((i == np.argsort(-(q @ d.T), axis=1)[:, :5]).all())
    True
    """
    import faiss

    query_emb = np.ascontiguousarray(query_emb, dtype=np.float32)
    n_q = len(query_emb)
    best_s = np.full((n_q, k), _NEG_INF, dtype=np.float32)
    best_i = np.full((n_q, k), -1, dtype=np.int64)
    offset = 0
    for chunk in doc_chunks:
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        if on_chunk is not None:
            on_chunk(offset, chunk)
        index = faiss.IndexFlatIP(chunk.shape[1])
        index.add(chunk)
        s, i = index.search(query_emb, min(k, len(chunk)))
        i = np.where(i >= 0, i + offset, -1)
        all_s, all_i = np.hstack([best_s, s]), np.hstack([best_i, i])
        # stable: on equal scores the earlier document (lower index) stays ahead, as in one search
        order = np.argsort(-all_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(all_s, order, 1), np.take_along_axis(all_i, order, 1)
        offset += len(chunk)
    return best_s, best_i


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def dense_candidates(model, queries: dict[str, str], corpus: dict[str, str], relevant: dict[str, set[str]],
                     depth: int, chunk_size: int = 16_384, cache=None, batch_size: int = 64,
                     show_progress_bar: bool | None = None) -> Candidates:
    """Top-``depth`` documents per query by ``model``'s cosine similarity, streamed over the corpus.

    The corpus is encoded and searched ``chunk_size`` documents at a time; pass an
    :class:`~helpers.evaluation.EmbeddingCache` with a ``folder`` (and ``memory=False``) to keep
    chunk embeddings on disk, so that a second mining run (or one that was interrupted) does not
    encode again. Positives are scored on the way past, so no second pass is needed.
    """

    _check_inputs(queries, corpus, relevant)
    cache = cache if cache is not None else EmbeddingCache(memory=False)
    fp = model_fingerprint(model)
    qids, doc_ids = list(queries), list(corpus)
    q_emb = cache.encode(model, [queries[q] for q in qids], "query", batch_size, model_fp=fp,
                         show_progress_bar=False)
    position = {d: j for j, d in enumerate(doc_ids)}
    # positives by corpus position: (query row, slot in that query's sorted positives)
    pos_of_doc: dict[int, list[tuple[int, int]]] = {}
    sorted_pos = [sorted(relevant[q]) for q in qids]
    for qi, docs in enumerate(sorted_pos):
        for slot, d in enumerate(docs):
            pos_of_doc.setdefault(position[d], []).append((qi, slot))
    pos_scores = [np.zeros(len(docs), dtype=np.float32) for docs in sorted_pos]

    def score_positives(offset: int, chunk: np.ndarray) -> None:
        for j in range(offset, offset + len(chunk)):
            for qi, slot in pos_of_doc.get(j, ()):
                pos_scores[qi][slot] = float(chunk[j - offset] @ q_emb[qi])

    if show_progress_bar is None:
        show_progress_bar = len(doc_ids) > chunk_size
    bar = tqdm(total=len(doc_ids), desc="mining: encode + search corpus", unit="doc",
               disable=not show_progress_bar)

    def chunks() -> Iterator[np.ndarray]:
        for sl in _chunks(len(doc_ids), chunk_size):
            emb = cache.encode(model, [corpus[d] for d in doc_ids[sl]], "document", batch_size, model_fp=fp,
                               show_progress_bar=False)
            yield emb
            bar.update(sl.stop - sl.start)

    scores, indices = stream_top_k(q_emb, chunks(), depth, on_chunk=score_positives)
    bar.close()
    return Candidates(qids, doc_ids, indices, scores, pos_scores, f"dense:{fp[:8]}")


def _pad(rows_ids: list[list[int]], rows_scores: list[list[float]], depth: int) -> tuple[np.ndarray, np.ndarray]:
    indices = np.full((len(rows_ids), depth), -1, dtype=np.int64)
    scores = np.full((len(rows_ids), depth), _NEG_INF, dtype=np.float32)
    for i, (ids, sc) in enumerate(zip(rows_ids, rows_scores)):
        indices[i, : len(ids[:depth])] = ids[:depth]
        scores[i, : len(sc[:depth])] = sc[:depth]
    return indices, scores


def bm25_candidates(queries: dict[str, str], corpus: dict[str, str], relevant: dict[str, set[str]],
                    depth: int, index=None) -> Candidates:
    """Top-``depth`` documents per query by BM25 (:class:`~helpers.retrieval.BM25Index`).

    Documents sharing no term with a query are not candidates, so a query may get fewer than
    ``depth`` (or none: it is then reported by :func:`select_negatives`, not dropped silently).
    Pass a built ``index`` to reuse it across runs.
    """

    _check_inputs(queries, corpus, relevant)
    index = index or BM25Index(corpus)
    qids, doc_ids = list(queries), list(corpus)
    if index.doc_ids != doc_ids:
        raise MiningError("the BM25 index was built over another corpus (or another document order)")
    position = {d: j for j, d in enumerate(doc_ids)}
    ranked, scored = index.search([queries[q] for q in qids], k=depth)
    indices, scores = _pad([[position[d] for d in r] for r in ranked], scored, depth)
    return Candidates(qids, doc_ids, indices, scores, None, "bm25")


def fused_candidates(a: Candidates, b: Candidates, depth: int | None = None, k: int = 60) -> Candidates:
    """Reciprocal-rank fusion of two candidate lists (e.g. dense and BM25) over the same queries.

    Scores become RRF scores, which are not similarities: margins then need a judge
    (:func:`rescore`), which :func:`mine` supplies.
    """

    if a.query_ids != b.query_ids or a.doc_ids != b.doc_ids:
        raise MiningError("fused candidates need the same queries and corpus in the same order")
    depth = depth or max(a.depth, b.depth)
    ra, rb = a.ranked_ids(), b.ranked_ids()
    position = {d: j for j, d in enumerate(a.doc_ids)}
    rows_ids, rows_scores = [], []
    for x, y in zip(ra, rb):
        fused = rrf([x, y], k=k)[:depth]
        rank = {d: r for r, d in enumerate(x, 1)}, {d: r for r, d in enumerate(y, 1)}
        rows_ids.append([position[d] for d in fused])
        rows_scores.append([sum(1.0 / (k + rk[d]) for rk in rank if d in rk) for d in fused])
    indices, scores = _pad(rows_ids, rows_scores, depth)
    return Candidates(a.query_ids, a.doc_ids, indices, scores, None, f"rrf({a.source},{b.source})")


def rescore(candidates: Candidates, judge, queries: dict[str, str], corpus: dict[str, str],
            relevant: dict[str, set[str]], cache=None, batch_size: int = 64) -> Candidates:
    """The same candidates, scored by ``judge``: a stronger bi-encoder (cosine) or a ``CrossEncoder``.

    Positives are scored by the same judge, so the margins of :func:`select_negatives` compare a
    candidate with the positive on one scale. Candidates are re-sorted by the judge's scores.
    """
    from sentence_transformers import CrossEncoder

    qids, doc_ids = candidates.query_ids, candidates.doc_ids
    pos_ids = [sorted(relevant[q]) for q in qids]
    scores = np.full_like(candidates.scores, _NEG_INF)
    if isinstance(judge, CrossEncoder):
        pairs = [(queries[q], corpus[doc_ids[j]]) for q, row in zip(qids, candidates.indices) for j in row if j >= 0]
        pairs += [(queries[q], corpus[d]) for q, docs in zip(qids, pos_ids) for d in docs]
        flat = np.asarray(judge.predict(pairs, batch_size=batch_size, show_progress_bar=False), dtype=np.float32)
        valid = candidates.indices >= 0
        n_cand = int(valid.sum())
        scores[valid] = flat[:n_cand]
        splits = np.cumsum([len(p) for p in pos_ids])[:-1]
        pos_scores = np.split(flat[n_cand:], splits)
    else:
        cache = cache or EmbeddingCache()
        position = {d: j for j, d in enumerate(doc_ids)}
        used = sorted({int(j) for j in candidates.indices.ravel() if j >= 0}
                      | {position[d] for docs in pos_ids for d in docs})  # encode each document once
        emb = cache.encode(judge, [corpus[doc_ids[j]] for j in used], "document", batch_size)
        row_of = {j: r for r, j in enumerate(used)}
        q_emb = cache.encode(judge, [queries[q] for q in qids], "query", batch_size)
        for i, row in enumerate(candidates.indices):
            valid = row >= 0
            scores[i, valid] = emb[[row_of[int(j)] for j in row[valid]]] @ q_emb[i]
        pos_scores = [emb[[row_of[position[d]] for d in docs]] @ q_emb[i] for i, docs in enumerate(pos_ids)]
    order = np.argsort(-scores, axis=1, kind="stable")
    return Candidates(qids, doc_ids, np.take_along_axis(candidates.indices, order, 1),
                      np.take_along_axis(scores, order, 1), [np.asarray(p, np.float32) for p in pos_scores],
                      f"{candidates.source}>judge")


# ----------------------------------------------------------------------------- selection


@dataclass
class MinedNegatives:
    """Negatives per query, with the scores and ranks they were chosen by, and what was skipped."""

    queries: dict[str, str] = field(repr=False)
    corpus: dict[str, str] = field(repr=False)
    positives: dict[str, list[str]] = field(repr=False)
    negatives: dict[str, list[str]] = field(repr=False)
    negative_scores: dict[str, list[float]] = field(repr=False)
    negative_ranks: dict[str, list[int]] = field(repr=False)
    positive_scores: dict[str, list[float]] | None = field(repr=False)
    num_negatives: int = 1
    stats: dict = field(default_factory=dict)

    def examples(self, format: Format = "triplet", fill: Literal["random"] | None = None,
                 exclude: dict[str, Iterable[str]] | None = None, seed: int = 0) -> list[tuple]:
        """Training examples as tuples, in query order.

        - ``"triplet"``: (query, positive, negative), one row per positive and negative
        - ``"n-tuple"``: (query, positive, negative_1, ..., negative_n), one row per positive;
          queries with fewer than ``num_negatives`` negatives are left out (counted in ``stats``)
        - ``"labeled-pair"``: (query, document, 1 or 0) for every positive and negative

        A query whose candidates all fell to the filters has no negative, and so no triplet: it is left
        out of training, as the library's ``mine_hard_negatives`` does. With ``fill="random"`` it trains
        all the same, its missing negatives drawn at random (seeded per query) from the corpus outside
        its positives and ``exclude[query]``: a random document is as easy as an in-batch negative, so the
        query trains as a plain pair would, and no labelled pair is lost for want of a hard negative.
        """
        if fill not in (None, "random"):
            raise ValueError(f"fill must be None or 'random', got {fill!r}")
        doc_ids = sorted(self.corpus) if fill else []
        out: list[tuple] = []
        for q, text in self.queries.items():
            negs, pos = self.negatives[q], self.positives[q]
            if fill and len(negs) < self.num_negatives:
                taken = set(pos) | set(negs) | set((exclude or {}).get(q, ()))
                rng = random.Random(f"{seed}:{q}")
                while len(negs) < self.num_negatives and len(taken) < len(doc_ids):
                    d = doc_ids[rng.randrange(len(doc_ids))]
                    if d not in taken:
                        negs, taken = [*negs, d], taken | {d}
            if format == "triplet":
                out += [(text, self.corpus[p], self.corpus[n]) for p in pos for n in negs]
            elif format == "n-tuple":
                if len(negs) == self.num_negatives:
                    out += [(text, self.corpus[p], *[self.corpus[n] for n in negs]) for p in pos]
            elif format == "labeled-pair":
                out += [(text, self.corpus[p], 1) for p in pos] + [(text, self.corpus[n], 0) for n in negs]
            else:
                raise ValueError(f"unknown format {format!r}: use 'triplet', 'n-tuple' or 'labeled-pair'")
        return out

    def to_dataset(self, format: Format = "triplet"):
        """A ``datasets.Dataset`` with the column names the sentence-transformers losses expect."""
        from datasets import Dataset

        rows = self.examples(format)
        if format == "labeled-pair":
            names = ["anchor", "document", "label"]
        else:
            width = 3 if format == "triplet" else 2 + self.num_negatives
            names = ["anchor", "positive"] + (["negative"] if format == "triplet" else
                                              [f"negative_{i}" for i in range(1, width - 1)])
        return Dataset.from_dict({c: [r[i] for r in rows] for i, c in enumerate(names)})

    def audit(self, n: int = 10):
        """The ``n`` mined negatives most likely to be false negatives: smallest gap between the
        query's weakest positive and the negative (negative gaps: the scorer prefers the negative).
        Read them before training; if many are really relevant, widen the margin or skip ranks."""
        import pandas as pd

        if self.positive_scores is None:
            raise ValueError("these negatives carry no comparable scores (BM25 or RRF without a judge)")
        rows = []
        for q, negs in self.negatives.items():
            weakest = int(np.argmin(self.positive_scores[q]))
            for n_id, s, r in zip(negs, self.negative_scores[q], self.negative_ranks[q]):
                p_id = self.positives[q][weakest]
                rows.append({"query": self.queries[q], "positive": self.corpus[p_id],
                             "mined negative": self.corpus[n_id], "rank": r,
                             "positive score": round(float(self.positive_scores[q][weakest]), 3),
                             "negative score": round(float(s), 3),
                             "gap": round(float(self.positive_scores[q][weakest] - s), 3),
                             "query id": q, "positive id": p_id, "negative id": n_id})
        columns = ["query", "positive", "mined negative", "rank", "positive score", "negative score", "gap",
                   "query id", "positive id", "negative id"]
        if not rows:
            return pd.DataFrame(columns=columns)
        return pd.DataFrame(rows, columns=columns).sort_values(["gap", "query id"]).head(n).reset_index(drop=True)

    def summary(self) -> dict:
        """One row for a comparison table: counts, skips by reason, and how hard the negatives are."""
        scores = [s for v in self.negative_scores.values() for s in v]
        row = {"negatives": self.stats["negatives"], "queries without one": self.stats["empty_queries"],
               **{f"skipped: {k.replace('_', ' ')}": v for k, v in self.stats["skipped"].items() if v},
               "mean negative score": round(float(np.mean(scores)), 3) if scores else None}
        if self.positive_scores is not None:
            above = sum(s > min(self.positive_scores[q]) for q, v in self.negative_scores.items() for s in v)
            row["scored above the positive"] = f"{100 * above / max(len(scores), 1):.1f}%"
        return row

    def report(self) -> str:
        s = self.stats
        lines = [f"{s['queries']} queries, {s['negatives']} negatives mined from {s['source']} candidates "
                 f"(window {s['range_min']}-{s['range_max']}, {s['sampling']})"]
        for reason, count in s["skipped"].items():
            if count:
                what = "the text of a positive under another id" if reason == "positive_text" else reason.replace("_", " ")
                lines.append(f"  skipped {count:,} candidates: {what}")
        if s["short_queries"]:
            lines.append(f"  {s['short_queries']} queries got fewer than {self.num_negatives} negatives "
                         f"({s['empty_queries']} got none)")
        return "\n".join(lines)


def select_negatives(candidates: Candidates, relevant: dict[str, set[str]], num_negatives: int = 1,
                     range_min: int = 0, range_max: int | None = None,
                     sampling: Literal["top", "random"] = "top", absolute_margin: float | None = None,
                     relative_margin: float | None = None, max_score: float | None = None,
                     min_score: float | None = None, seed: int = 0, queries: dict[str, str] | None = None,
                     corpus: dict[str, str] | None = None) -> MinedNegatives:
    """Pick negatives from ``candidates`` (see the module docstring for the order of the steps).

    Margins compare with the query's *weakest* positive (with several positives, the strictest
    choice) and need comparable scores: ``absolute_margin=0.1`` drops candidates scoring above
    ``positive - 0.1``; ``relative_margin=0.05`` drops those above ``positive - 0.05 * |positive|``
    (NV-Retriever's "95% of the positive"). A query left with fewer negatives than asked keeps
    what it has; :attr:`MinedNegatives.stats` counts those, and every skipped candidate by reason.

    Given ``corpus`` (id -> text), a candidate whose text equals one of the query's positives is
    skipped as well (``"positive_text"``): a copy of the positive under another id is the one
    negative that is certainly false (several ICD-10-CM codes share a description).
    """
    if num_negatives < 1:
        raise MiningError(f"num_negatives must be at least 1, got {num_negatives}")
    range_max = candidates.depth if range_max is None else range_max
    if not 0 <= range_min < range_max:
        raise MiningError(f"need 0 <= range_min < range_max, got range_min={range_min}, range_max={range_max}")
    if range_min >= candidates.depth:
        raise MiningError(f"range_min={range_min} skips every candidate: only {candidates.depth} were retrieved "
                          f"(the corpus has {len(candidates.doc_ids)} documents)")
    if num_negatives > range_max - range_min:
        raise MiningError(f"cannot take {num_negatives} negatives from a window of {range_max - range_min} "
                          f"ranks ({range_min}-{range_max}): widen the window or ask for fewer")
    filters = {"absolute_margin": absolute_margin, "relative_margin": relative_margin,
               "max_score": max_score, "min_score": min_score}
    needs_scores = any(v is not None for v in filters.values())
    if needs_scores and candidates.positive_scores is None:
        raise MiningError(f"{candidates.source} scores are not similarities: rescore the candidates with a "
                          "model (rescore) before using margins or score thresholds")
    if sampling not in ("top", "random"):
        raise MiningError(f"sampling must be 'top' or 'random', got {sampling!r}")
    n_docs = len(candidates.doc_ids)
    if n_docs < 2:
        raise MiningError(f"the corpus has {n_docs} document: there is nothing to mine besides the positive")

    rng = np.random.default_rng(seed)
    position = {d: j for j, d in enumerate(candidates.doc_ids)}
    skipped = {k: 0 for k in ("positive", "positive_text", *filters)}
    out_neg, out_scores, out_ranks, pos_out, pos_scores_out = {}, {}, {}, {}, {}
    short = empty = 0
    for i, q in enumerate(candidates.query_ids):
        pos_ids = sorted(relevant[q])
        positions = {position[d] for d in pos_ids if d in position}
        row_idx, row_sc = candidates.indices[i], candidates.scores[i]
        valid = row_idx >= 0
        is_pos = np.isin(row_idx, list(positions)) & valid
        skipped["positive"] += int(is_pos.sum())
        if corpus:
            pos_texts = {corpus[d] for d in pos_ids if d in corpus}
            is_copy = valid & ~is_pos & np.array([j >= 0 and corpus.get(candidates.doc_ids[j]) in pos_texts
                                                  for j in row_idx])
            skipped["positive_text"] += int(is_copy.sum())
            is_pos |= is_copy
        keep = np.flatnonzero(valid & ~is_pos)[range_min:range_max]  # the window, in ranks without positives
        ranks = np.arange(range_min, range_min + len(keep))
        sc = row_sc[keep].astype(np.float32)  # float32 like the library, so thresholds cut alike
        ok = np.ones(len(keep), dtype=bool)
        if needs_scores:
            weakest = np.float32(np.min(candidates.positive_scores[i]))
            tests = {"absolute_margin": lambda s: s + np.float32(absolute_margin) > weakest,
                     "relative_margin": lambda s: s > weakest - abs(weakest) * np.float32(relative_margin),
                     "max_score": lambda s: s > np.float32(max_score), "min_score": lambda s: s < np.float32(min_score)}
            for name, value in filters.items():
                if value is not None:
                    drop = ok & tests[name](sc)
                    skipped[name] += int(drop.sum())
                    ok &= ~drop
        keep, sc, ranks = keep[ok], sc[ok], ranks[ok]
        if sampling == "random" and len(keep) > num_negatives:
            pick = np.sort(rng.choice(len(keep), size=num_negatives, replace=False))
        else:
            pick = np.arange(min(num_negatives, len(keep)))
        keep, sc, ranks = keep[pick], sc[pick], ranks[pick]
        short += len(keep) < num_negatives
        empty += len(keep) == 0
        out_neg[q] = [candidates.doc_ids[row_idx[j]] for j in keep]
        out_scores[q] = [float(s) for s in sc]
        out_ranks[q] = [int(r) for r in ranks]
        pos_out[q] = pos_ids
        if candidates.positive_scores is not None:
            pos_scores_out[q] = [float(s) for s in candidates.positive_scores[i]]
    stats = {"source": candidates.source, "queries": len(candidates.query_ids),
             "negatives": sum(len(v) for v in out_neg.values()), "candidates": int((candidates.indices >= 0).sum()),
             "skipped": skipped, "short_queries": int(short), "empty_queries": int(empty),
             "range_min": range_min, "range_max": range_max, "sampling": sampling, "seed": seed, **filters}
    if short:
        logger.info("%d of %d queries got fewer than %d negatives (%d none)", short,
                       len(candidates.query_ids), num_negatives, empty)
    return MinedNegatives(queries or {}, corpus or {}, pos_out, out_neg, out_scores, out_ranks,
                          pos_scores_out if candidates.positive_scores is not None else None, num_negatives, stats)


def dedupe_documents(split):
    """A copy of ``split`` whose corpus keeps one document per distinct text (a positive when one
    shares the text). Needed to compare with tools that key documents by their text, as the
    library's ``mine_hard_negatives`` does; duplicate texts are otherwise unavoidable false
    negatives (several ICD-10-CM codes share a description)."""

    positives = {d for docs in split.relevant.values() for d in docs}
    first: dict[str, str] = {}
    for d in sorted(split.corpus, key=lambda d: (d not in positives, d)):
        first.setdefault(split.corpus[d], d)
    corpus = {d: split.corpus[d] for d in split.corpus if first[split.corpus[d]] == d}
    relevant = {q: {first[split.corpus[d]] for d in docs} for q, docs in split.relevant.items()}
    return RetrievalSplit(split.name, split.protocol, dict(split.queries), corpus, relevant)


# ----------------------------------------------------------------------------- one call


@dataclass
class MiningConfig:
    """Every choice of a mining run (the rows of Lesson 3's ablation differ only in these)."""

    source: Source = "dense"
    num_negatives: int = 1
    range_min: int = 0
    range_max: int = 50
    sampling: Literal["top", "random"] = "top"
    absolute_margin: float | None = None
    relative_margin: float | None = None
    max_score: float | None = None
    min_score: float | None = None
    judge: str | None = None  # a stronger model that rescores candidates before the filters
    seed: int = 0

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self).items() if v is not None)


def mine(split, model, config: MiningConfig | None = None, cache=None, chunk_size: int = 16_384,
         bm25_index=None, **overrides) -> MinedNegatives:
    """Mine negatives for every query of ``split`` (a :class:`~helpers.data.RetrievalSplit`, or
    anything with ``queries``, ``corpus`` and ``relevant``) over its full corpus.

    ``model`` retrieves dense candidates and, without a ``judge``, scores them; for BM25 or fused
    candidates with margins it is the judge. ``judge`` rescores the candidates and positives before
    the filters: a short model name or folder (loaded as a bi-encoder), or a loaded
    ``SentenceTransformer`` or ``CrossEncoder``.

    >>> from helpers.data import load_dataset                                  # doctest: +SKIP
    >>> train = load_dataset("icd10cm").split("train")                          # doctest: +SKIP
    >>> mined = mine(train, "minilm", relative_margin=0.05, range_max=50)      # doctest: +SKIP
    >>> print(mined.report()); mined.audit(5)                                   # doctest: +SKIP
    """

    cfg = replace(config or MiningConfig(), **overrides)
    if cfg.source not in ("dense", "bm25", "fused"):
        raise MiningError(f"unknown candidate source {cfg.source!r}: use 'dense', 'bm25' or 'fused'")
    queries, corpus, relevant = split.queries, split.corpus, split.relevant
    _check_inputs(queries, corpus, relevant)
    model = load_model_cached(model) if isinstance(model, str) else model
    depth = _depth(cfg.range_max, relevant, queries, len(corpus))
    if cfg.source in ("dense", "fused"):
        dense = dense_candidates(model, queries, corpus, relevant, depth, chunk_size=chunk_size, cache=cache)
    if cfg.source in ("bm25", "fused"):
        sparse = bm25_candidates(queries, corpus, relevant, depth, index=bm25_index)
    cands = dense if cfg.source == "dense" else sparse if cfg.source == "bm25" else fused_candidates(dense, sparse, depth)
    filtering = any(v is not None for v in (cfg.absolute_margin, cfg.relative_margin, cfg.max_score, cfg.min_score))
    if cfg.judge is not None or (filtering and cands.positive_scores is None):
        judge = cfg.judge if cfg.judge is not None else model
        judge = load_model_cached(judge) if isinstance(judge, str) else judge
        cands = rescore(cands, judge, queries, corpus, relevant, cache=cache)
    mined = select_negatives(cands, relevant, cfg.num_negatives, cfg.range_min, cfg.range_max, cfg.sampling,
                             cfg.absolute_margin, cfg.relative_margin, cfg.max_score, cfg.min_score, cfg.seed,
                             queries, corpus)
    judge_name = cfg.judge if cfg.judge is None or isinstance(cfg.judge, str) else type(cfg.judge).__name__
    mined.stats["config"] = {**{k: v for k, v in asdict(replace(cfg, judge=None)).items()}, "judge": judge_name}
    return mined
