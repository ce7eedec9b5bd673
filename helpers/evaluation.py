"""Evaluation: exact search, retrieval metrics, paired bootstrap, and an embedding cache.

Search is exact (faiss ``IndexFlatIP`` over L2-normalised vectors, i.e. cosine similarity)
over the *whole* corpus. Metrics use the same definitions as sentence-transformers'
``InformationRetrievalEvaluator`` (a test checks that they agree):

- recall@k = |relevant in top k| / |relevant|, averaged over queries
- MRR@10   = 1 / rank of the first relevant document in the top 10 (0 if none)
- nDCG@10  = binary-relevance DCG@10 divided by the ideal DCG@10

Every lift is reported with a paired bootstrap 95% confidence interval over test queries. Queries
that share a relevant document (directly or through other queries) are not independent -- ten
phrasings of one ICD-10-CM code succeed or fail together -- so the bootstrap resamples such groups
whole (a cluster bootstrap, :func:`query_clusters`); where no two queries share a document the
groups are single queries and it is the plain per-query bootstrap.

>>> import numpy as np
>>> m = retrieval_metrics([["d1", "d2"], ["d3", "d1"]], [{"d2"}, {"d9"}], ks=(1, 2))
>>> m["recall@1"].tolist(), m["recall@2"].tolist(), m["mrr@10"].tolist()
([0.0, 0.0], [1.0, 0.0], [0.5, 0.0])
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from helpers.io import COURSE_CACHE, atomic_write
from helpers.models import model_fingerprint

# faiss is imported inside `search`: it costs ~0.3 s at import, and the release gate and the
# reports, which import this module for its dataclasses, search nothing.

KS = (1, 3, 5, 10, 100)


# ----------------------------------------------------------------------------- metrics


def retrieval_metrics(ranked: list[list[str]], relevant: list[set[str]], ks=KS) -> dict[str, np.ndarray]:
    """Per-query metric arrays from ranked document ids and the sets of relevant ids."""
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} rankings but {len(relevant)} relevance sets")
    out = {f"recall@{k}": np.zeros(len(ranked)) for k in ks}
    out["mrr@10"] = np.zeros(len(ranked))
    out["ndcg@10"] = np.zeros(len(ranked))
    discounts = 1.0 / np.log2(np.arange(2, 12))
    for i, (ids, rel) in enumerate(zip(ranked, relevant)):
        if not rel:
            raise ValueError(f"query #{i} has no relevant document: it cannot be scored")
        hits = np.array([d in rel for d in ids], dtype=float)
        for k in ks:
            out[f"recall@{k}"][i] = hits[:k].sum() / len(rel)
        first = np.flatnonzero(hits[:10])
        out["mrr@10"][i] = 1.0 / (first[0] + 1) if len(first) else 0.0
        dcg = float((hits[:10] * discounts[: len(hits[:10])]).sum())
        idcg = float(discounts[: min(len(rel), 10)].sum())
        out["ndcg@10"][i] = dcg / idcg
    return out


def query_clusters(relevant: list[set[str]]) -> np.ndarray:
    """One label per query: queries that share a relevant document, directly or through other
    queries, get the same label. Labels count up in order of first appearance, so a split in which
    no two queries share a document gets ``0, 1, ..., n-1``.

    >>> query_clusters([{"a"}, {"b"}, {"a", "c"}, {"c"}, {"d"}]).tolist()
    [0, 1, 0, 0, 2]
    """
    parent: dict[str, str] = {}

    def root(d: str) -> str:
        while parent.setdefault(d, d) != d:
            parent[d] = d = parent[parent[d]]
        return d

    for rel in relevant:
        first, *rest = sorted(rel) or [None]
        for d in rest:
            parent[root(d)] = root(first)
    labels: dict = {}
    out = np.empty(len(relevant), dtype=np.int64)
    for i, rel in enumerate(relevant):
        key = root(min(rel)) if rel else ("no relevant document", i)
        out[i] = labels.setdefault(key, len(labels))
    return out


def split_clusters(split) -> np.ndarray:
    """:func:`query_clusters` of a split's queries, in ``split.queries`` order."""
    return query_clusters([split.relevant[q] for q in split.queries])


def paired_bootstrap(after: np.ndarray, before: np.ndarray, n_resamples: int = 10_000, seed: int = 0,
                     confidence: float = 0.95, clusters: np.ndarray | None = None) -> tuple[float, float, float]:
    """Mean of ``after - before`` and its bootstrap CI, resampling queries (paired).

    ``clusters`` (one label per query, e.g. from :func:`query_clusters`) resamples whole groups of
    queries instead: each resample draws as many groups as there are, with replacement, and takes
    the mean over all their queries. With every query in its own group the result is the same as
    without ``clusters``, bit for bit.

    >>> a = np.array([1, 1, 1, 0.]); b = np.array([0, 0, 1, 0.])
    >>> d, lo, hi = paired_bootstrap(a, b)
    >>> round(d, 2), lo <= d <= hi
    (0.5, True)
    >>> paired_bootstrap(a, b, clusters=np.arange(4)) == (d, lo, hi)
    True
    """
    after, before = np.asarray(after, float), np.asarray(before, float)
    if after.shape != before.shape or after.ndim != 1 or len(after) == 0:
        raise ValueError(f"need two equal-length, non-empty per-query arrays; got {after.shape} and {before.shape}")
    diff = after - before
    rng = np.random.default_rng(seed)
    group = None
    if clusters is not None:
        if np.shape(clusters) != diff.shape:
            raise ValueError(f"need one cluster label per query; got {np.shape(clusters)} for {diff.shape} queries")
        _, group = np.unique(clusters, return_inverse=True)
    if group is None or group.max() + 1 == len(diff):  # every query alone: the per-query bootstrap
        idx = rng.integers(0, len(diff), size=(n_resamples, len(diff)))
        means = diff[idx].mean(axis=1)
    else:
        sums, sizes = np.bincount(group, weights=diff), np.bincount(group)
        idx = rng.integers(0, len(sums), size=(n_resamples, len(sums)))
        means = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(diff.mean()), float(lo), float(hi)


def bootstrap_name(clusters: np.ndarray | None) -> str:
    """How a CI over these queries is resampled, for tables.

    >>> bootstrap_name(None), bootstrap_name(np.array([0, 1, 0]))
    ('per query', 'cluster (2 groups of 3 queries)')
    """
    if clusters is None or len(np.unique(clusters)) == len(clusters):
        return "per query"
    return f"cluster ({len(np.unique(clusters)):,} groups of {len(clusters):,} queries)"


# ----------------------------------------------------------------------------- encoding


class EmbeddingCache:
    """Embeddings keyed by (model fingerprint, kind, text): a text cached once is never encoded again.

    In memory by default, so that one run never encodes a text twice with the same model, whatever
    list it comes in (the corpus, a mining candidate set, a reranker's top 20). A list with nothing
    cached is encoded as given, duplicates included, so its vectors are bit for bit those of an
    uncached run; only the texts still missing from a partly cached list are encoded.

    Pass ``folder`` to keep them on disk between runs and processes as well: one ``.npz`` shard per
    call that had new texts, under ``folder/<model fingerprint>-<library versions>/``, written
    atomically; a shard that cannot be read is skipped with a warning and its texts are encoded
    again. ``memory=False`` keeps nothing in memory (streaming over a large corpus chunk by chunk).
    ``devices`` (e.g. ``["cuda:0", "cuda:1"]``, or ``["cpu", "cpu"]``) encodes with
    sentence-transformers' multi-process pool, one process per entry. ``progress`` shows (or hides)
    a progress bar for every encoding; by default only for 2,000 texts or more. ``hits`` and
    ``misses`` count calls: a hit needed no encoding at all.

    The fingerprint hashes the weights, so a fine-tuned model never reads its base's vectors, and
    the folder names the versions of torch, transformers and sentence-transformers, so an upgrade
    starts a new one. A text's vector can differ in the last bits with the batch it was encoded in
    (padding changes the kernels' shapes): the cache hands out whichever copy it stored.
    """

    def __init__(self, folder: str | Path | None = None, memory: bool = True, devices: list[str] | None = None,
                 progress: bool | None = None):
        self.folder = Path(folder) if folder else None
        self.memory = memory
        self.devices = list(devices) if devices else None
        self.progress = progress
        self._mem: dict[str, dict[str, np.ndarray]] = {}  # model fingerprint -> text key -> vector
        self._shards: dict[str, dict[str, Path]] = {}  # model fingerprint -> text key -> shard on disk
        self._indexed: set[Path] = set()
        self.hits = 0
        self.misses = 0

    def encode(self, model, texts: list[str], kind: str = "document", batch_size: int = 64,
               show_progress_bar: bool | None = None, model_fp: str | None = None) -> np.ndarray:
        model_fp = model_fp or model_fingerprint(model)
        keys = [_text_key(kind, t) for t in texts]
        found = {k: v for k, v in ((k, self._mem.get(model_fp, {}).get(k)) for k in keys) if v is not None}
        if self.folder is not None and len(found) < len(set(keys)):
            found.update(self._read(model_fp, {k for k in keys if k not in found}))
        todo = {k: t for k, t in zip(keys, texts) if k not in found}  # unique, in order
        whole = bool(todo) and not found  # nothing cached: encode the list as given, as without a cache
        if todo:
            self.misses += 1
            batch = texts if whole else list(todo.values())
            if show_progress_bar is None:
                show_progress_bar = self.progress if self.progress is not None else len(batch) >= 2000
            encode = model.encode_query if kind == "query" else model.encode_document
            devices = {"device": self.devices} if self.devices and len(batch) > batch_size else {}
            emb = encode(list(batch), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                         show_progress_bar=show_progress_bar, **devices).astype(np.float32)
            if whole:  # a text listed twice is stored (and later looked up) as its first row
                first: dict[str, int] = {}
                for i, k in enumerate(keys):
                    first.setdefault(k, i)
                new = {k: emb[i] for k, i in first.items()}
            else:
                new = dict(zip(todo, emb))
            found.update(new)
            if self.folder is not None:
                self._write(model_fp, list(new), np.stack(list(new.values())))
        else:
            self.hits += 1
        if self.memory:
            self._mem.setdefault(model_fp, {}).update(found)
        if not keys:
            return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
        return emb if whole else np.stack([found[k] for k in keys])

    def _folder(self, model_fp: str) -> Path:
        return self.folder / f"{model_fp}-{library_versions()}"

    def _read(self, model_fp: str, wanted: set[str]) -> dict[str, np.ndarray]:
        where = self._shards.setdefault(model_fp, {})
        for path in sorted(self._folder(model_fp).glob("*.npz")):
            if path not in self._indexed:
                self._indexed.add(path)
                try:
                    with np.load(path) as shard:
                        for key in shard["keys"].tolist():
                            where.setdefault(key, path)
                except Exception as e:  # a torn or foreign file: encode its texts again
                    warnings.warn(f"embedding cache: skipping unreadable {path} ({e}); its texts are encoded again")
        out = {}
        for path in {where[k] for k in wanted if k in where}:
            try:
                with np.load(path) as shard:
                    keys, emb = shard["keys"].tolist(), shard["emb"]
                    if emb.ndim != 2 or len(emb) != len(keys):
                        raise ValueError(f"{len(keys)} keys but embeddings of shape {emb.shape}")
                    rows = [i for i, k in enumerate(keys) if k in wanted]
                    out.update(zip((keys[i] for i in rows), np.array(emb[rows], dtype=np.float32)))
            except Exception as e:
                warnings.warn(f"embedding cache: skipping unreadable {path} ({e}); its texts are encoded again")
                for key in [k for k, p in where.items() if p == path]:
                    del where[key]
        return out

    def _write(self, model_fp: str, keys: list[str], emb: np.ndarray) -> None:
        path = self._folder(model_fp) / f"{hashlib.blake2b(''.join(keys).encode(), digest_size=12).hexdigest()}.npz"
        with atomic_write(path, "wb") as f:
            np.savez(f, keys=np.array(keys, dtype="<U32"), emb=emb)
        self._indexed.add(path)
        self._shards.setdefault(model_fp, {}).update(dict.fromkeys(keys, path))


@lru_cache(maxsize=1)
def library_versions() -> str:
    """A short hash of the torch, transformers and sentence-transformers versions: results made under
    other versions are kept apart (their kernels and defaults may differ)."""
    stack = ",".join(f"{p}={importlib.metadata.version(p)}" for p in ("torch", "transformers", "sentence-transformers"))
    return hashlib.blake2b(stack.encode(), digest_size=4).hexdigest()


def _text_key(kind: str, text: str) -> str:
    return hashlib.blake2b(f"{kind}\x00{text}".encode(), digest_size=16).hexdigest()


def course_cache(**kwargs) -> EmbeddingCache:
    """The lessons' shared embedding cache on disk: ``$EMBEDDING_CACHE_DIR``, else ``.cache/embeddings``
    in the project folder. A lesson run again, or the next lesson on the same data, encodes nothing
    twice; delete the folder to start cold (``make test`` uses a fresh one per run)."""
    folder = os.environ.get("EMBEDDING_CACHE_DIR") or COURSE_CACHE / "embeddings"
    return EmbeddingCache(folder, **kwargs)


def search(query_emb: np.ndarray, doc_emb: np.ndarray, k: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product search (cosine on normalised vectors). Returns (scores, indices)."""
    import faiss

    k = min(k, len(doc_emb))
    index = faiss.IndexFlatIP(doc_emb.shape[1])
    index.add(np.ascontiguousarray(doc_emb, dtype=np.float32))
    return index.search(np.ascontiguousarray(query_emb, dtype=np.float32), k)


# ----------------------------------------------------------------------------- evaluate


@dataclass
class EvalResult:
    """Per-query metrics of one model on one split (keep them: lifts need them paired)."""

    model: str
    dataset: str
    split: str
    protocol: str
    query_ids: list[str]
    per_query: dict[str, np.ndarray]
    rankings: list[list[str]] = field(repr=False, default_factory=list)
    clusters: np.ndarray | None = field(repr=False, default=None)  # see query_clusters

    @property
    def n(self) -> int:
        return len(self.query_ids)

    def mean(self, metric: str = "recall@10") -> float:
        return float(self.per_query[metric].mean())

    def summary(self) -> dict[str, float]:
        return {m: round(100 * float(v.mean()), 2) for m, v in self.per_query.items()}


def encode_split(model, split, cache: EmbeddingCache | None = None,
                 batch_size: int = 64) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(document ids, document embeddings, query embeddings in ``split.queries`` order), cached."""
    cache = cache or EmbeddingCache()
    fp = model_fingerprint(model)
    doc_ids = list(split.corpus)
    doc_emb = cache.encode(model, [split.corpus[d] for d in doc_ids], "document", batch_size, model_fp=fp)
    q_emb = cache.encode(model, list(split.queries.values()), "query", batch_size, model_fp=fp)
    return doc_ids, doc_emb, q_emb


def dense_search(model, split, cache: EmbeddingCache | None = None, k: int = 100,
                 batch_size: int = 64) -> tuple[list[list[str]], list[list[float]]]:
    """Exact dense search of ``split``'s queries over its full corpus: ranked ids and cosine scores
    per query, in ``split.queries`` order."""
    doc_ids, doc_emb, q_emb = encode_split(model, split, cache, batch_size)
    scores, idx = search(q_emb, doc_emb, k)
    return [[doc_ids[j] for j in row if j >= 0] for row in idx], scores.tolist()


def evaluate(model, split, cache: EmbeddingCache | None = None, name: str = "", dataset: str = "",
             k: int = 100, batch_size: int = 64) -> EvalResult:
    """Dense retrieval over the full corpus, every query scored (see :func:`dense_search`)."""
    rankings, _ = dense_search(model, split, cache, k, batch_size)
    return score_rankings(rankings, split, name or str(getattr(model.model_card_data, "model_name", "model")), dataset)


def score_rankings(rankings: list[list[str]], split, name: str, dataset: str = "") -> EvalResult:
    """Score ranked document ids (one list per query, in ``split.queries`` order) -- from any
    retriever: dense, BM25, fused, reranked."""
    qids = list(split.queries)
    if len(rankings) != len(qids):
        raise ValueError(f"{len(rankings)} rankings for {len(qids)} queries")
    relevant = [split.relevant[q] for q in qids]
    return EvalResult(name, dataset, split.name, split.protocol, qids, retrieval_metrics(rankings, relevant),
                      rankings, query_clusters(relevant))


@dataclass
class Lift:
    metric: str
    before: float
    after: float
    delta: float
    ci_low: float
    ci_high: float
    n: int
    clusters: int = 0  # groups the bootstrap resampled; 0 = every query alone

    def __str__(self) -> str:
        groups = f" in {self.clusters} clusters" if self.clusters else ""
        return (f"{self.metric}: {100 * self.before:.1f} -> {100 * self.after:.1f} "
                f"({100 * self.delta:+.1f} pts, 95% CI [{100 * self.ci_low:+.1f}, {100 * self.ci_high:+.1f}], "
                f"n={self.n}{groups})")


def lift(after: EvalResult, before: EvalResult, metric: str = "recall@10", seed: int = 0) -> Lift:
    """Paired lift of ``after`` over ``before`` on the same queries, with a 95% bootstrap CI
    (a cluster bootstrap where queries share relevant documents: see :func:`paired_bootstrap`)."""
    if after.query_ids != before.query_ids:
        raise ValueError("lift needs both results on the same queries in the same order")
    a, b = after.per_query[metric], before.per_query[metric]
    clusters = after.clusters if after.clusters is not None else before.clusters
    d, lo, hi = paired_bootstrap(a, b, seed=seed, clusters=clusters)
    groups = len(np.unique(clusters)) if clusters is not None else 0
    return Lift(metric, float(b.mean()), float(a.mean()), d, lo, hi, len(a), groups if groups < len(a) else 0)


def recall_ci(result: EvalResult, metric: str = "recall@10", seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95% CI of one model's mean metric (a lift against zero)."""
    _, lo, hi = paired_bootstrap(result.per_query[metric], np.zeros(result.n), seed=seed, clusters=result.clusters)
    return lo, hi

