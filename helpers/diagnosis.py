"""Diagnosis: where does the off-the-shelf embedder fail on a domain, and is fine-tuning worth it?

Three failure modes, each measured rather than named:

- **lookalike collapse** -- :func:`separation`: how much closer the model puts terms of one
  family (sibling codes, sibling licences) than unrelated terms, and which pairs collapse most;
  :func:`plot_term_map` draws the family in 2-D (UMAP).
- **query/document style mismatch** -- :func:`style_gap`: how far queries sit from their own
  documents compared with how close documents sit to each other; :func:`rewrite_lift`: what
  recall does when the queries are rewritten.
- **out-of-vocabulary jargon** -- :func:`fragmentation`: word pieces per word; recall by
  fragmentation in :func:`error_clusters`.

Then :func:`error_clusters` tests whether failures cluster (by length, abbreviations, codes,
fragmentation, corpus section), and :func:`fine_tuning_verdict` weighs the course's three
preconditions plus the lift to expect.

>>> fragmentation(_WordPieceStub(), ["renal failure", "CABG"])["pieces_per_word"]
2.0
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from helpers.data import RetrievalSplit
from helpers.evaluation import EvalResult, encode_split, evaluate, lift, paired_bootstrap, search

# pandas, scipy, matplotlib and umap are imported inside functions: together they cost seconds at
# import (umap alone ~10 s), and `python -m helpers reproduce`, which imports this module for
# COURSE_LIFT_BANDS, needs none of them.

#: the course's claimed recall@10 lift by tier, in points
COURSE_LIFT_BANDS = {"generic": (0, 3), "moderate": (3, 8), "heavy": (10, 25), "exotic": (15, 30)}


class _WordPieceStub:
    """A two-line tokenizer for the doctest: splits words of 4+ capitals into letters."""

    def tokenize(self, word):
        return list(word) if word.isupper() and len(word) >= 4 else [word]


# ----------------------------------------------------------------------------- lookalikes


@dataclass
class SeparationReport:
    within: np.ndarray  # cosine of every pair inside a group
    unrelated: np.ndarray  # cosine of random pairs from different groups
    pairs: list[tuple[str, str, str, float]] = field(repr=False)  # (group, a, b, cosine), within pairs

    @property
    def score(self) -> float:
        """How many standard deviations of unrelated-pair similarity the groups' members sit closer
        together. Near 0: the model does not see the family at all. Large: members are near
        duplicates to the model -- lookalikes it will confuse."""
        return float((self.within.mean() - self.unrelated.mean()) / self.unrelated.std())

    def most_collapsed(self, n: int = 10):
        import pandas as pd

        top = sorted(self.pairs, key=lambda p: -p[3])[:n]
        return pd.DataFrame(top, columns=["group", "term a", "term b", "cosine"]).round({"cosine": 3})

    def summary(self) -> dict:
        return {"within-group cosine": round(float(self.within.mean()), 3),
                "unrelated cosine": round(float(self.unrelated.mean()), 3),
                "separation score": round(self.score, 2), "within pairs": len(self.within)}


def _check_groups(groups: dict[str, list[str]]) -> None:
    small = [g for g, terms in groups.items() if len(set(terms)) < 2]
    if small:
        raise ValueError(f"every group needs at least two distinct terms; these do not: {small[:10]}")
    if len(groups) < 2:
        raise ValueError("need at least two groups to compare within-group and unrelated pairs")


def separation(model, groups: dict[str, list[str]], n_unrelated: int = 5000, seed: int = 0) -> SeparationReport:
    """Cosine similarity within groups of lookalike terms versus between unrelated terms."""
    _check_groups(groups)
    terms = [(g, t) for g, ts in groups.items() for t in dict.fromkeys(ts)]
    emb = model.encode([t for _, t in terms], normalize_embeddings=True, convert_to_numpy=True)
    index: dict[str, list[int]] = {}
    for i, (g, _) in enumerate(terms):
        index.setdefault(g, []).append(i)
    pairs, within = [], []
    for g, idx in index.items():
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                s = float(emb[idx[a]] @ emb[idx[b]])
                within.append(s)
                pairs.append((g, terms[idx[a]][1], terms[idx[b]][1], round(s, 4)))
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(terms), (2, n_unrelated * 2))
    different = np.array([terms[a][0] != terms[b][0] for a, b in zip(i, j)])
    i, j = i[different][:n_unrelated], j[different][:n_unrelated]
    unrelated = (emb[i] * emb[j]).sum(axis=1)
    return SeparationReport(np.array(within), unrelated, pairs)


def plot_term_map(model, groups: dict[str, list[str]], ax=None, title: str = "", seed: int = 0):
    """UMAP of the terms, one colour per group (keep to ~10 groups to stay legible)."""
    import matplotlib.pyplot as plt
    import umap

    _check_groups(groups)
    labels = [g for g, ts in groups.items() for _ in dict.fromkeys(ts)]
    texts = [t for ts in groups.values() for t in dict.fromkeys(ts)]
    emb = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    xy = umap.UMAP(n_neighbors=min(15, len(texts) - 1), metric="cosine", random_state=seed, n_jobs=1).fit_transform(emb)
    ax = ax or plt.subplots(figsize=(6, 5))[1]
    for k, g in enumerate(groups):
        pts = xy[[i for i, lab in enumerate(labels) if lab == g]]
        ax.scatter(pts[:, 0], pts[:, 1], s=18, color=plt.cm.tab10(k % 10), label=g)
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(fontsize=7, loc="best", markerscale=0.8)
    ax.set_title(title or "terms by family (UMAP of the embeddings)")
    return ax


# ----------------------------------------------------------------------------- style mismatch


@dataclass
class StyleGap:
    query_to_own_doc: np.ndarray  # cosine(query, its relevant document), per query
    doc_to_nearest_doc: np.ndarray  # cosine(document, its nearest other document), per document

    def summary(self) -> dict:
        return {"query -> own document": round(float(self.query_to_own_doc.mean()), 3),
                "document -> nearest other document": round(float(self.doc_to_nearest_doc.mean()), 3),
                "share of queries closer to own doc than a typical doc neighbour":
                    round(float((self.query_to_own_doc > np.median(self.doc_to_nearest_doc)).mean()), 3)}


def style_gap(model, split, cache=None) -> StyleGap:
    """How close queries sit to their own documents, against how close documents sit to each other.

    If documents are much closer to their neighbours than queries are to the documents they should
    find, the query side lives in another region of the space: a style gap.
    """
    doc_ids, d_emb, q_emb = encode_split(model, split, cache)
    pos = {d: i for i, d in enumerate(doc_ids)}
    own = np.array([max(float(q_emb[i] @ d_emb[pos[d]]) for d in split.relevant[q])
                    for i, q in enumerate(split.queries)])
    rel_docs = sorted({d for q in split.queries for d in split.relevant[q]})
    scores, _ = search(d_emb[[pos[d] for d in rel_docs]], d_emb, k=2)
    return StyleGap(own, scores[:, 1])  # column 0 is the document itself


def rewrite_lift(model, split, rewrite: Callable[[str], str], before: EvalResult, cache=None, name: str = "rewritten"):
    """Evaluate with every query passed through ``rewrite``; returns (result, Lift over ``before``)."""
    rewritten = RetrievalSplit(split.name, split.protocol, {q: rewrite(t) for q, t in split.queries.items()},
                               split.corpus, split.relevant)
    result = evaluate(model, rewritten, cache, name)
    return result, lift(result, before)


# ----------------------------------------------------------------------------- jargon


_WORD = re.compile(r"[\w'-]+")


def word_pieces(tokenizer, text: str) -> list[int]:
    """Number of tokenizer pieces for each word of ``text``."""
    return [len(tokenizer.tokenize(w)) for w in _WORD.findall(text)]


def fragmentation(tokenizer, texts: list[str]) -> dict:
    """Word pieces per word, and the share of words split into 3+ pieces."""
    counts = [n for t in texts for n in word_pieces(tokenizer, t)]
    if not counts:
        raise ValueError("no words to measure")
    counts = np.array(counts)
    return {"pieces_per_word": round(float(counts.mean()), 3), "share_3plus": round(float((counts >= 3).mean()), 3),
            "words": int(len(counts))}


# ----------------------------------------------------------------------------- error clusters


def default_query_features(tokenizer) -> dict[str, Callable[[str], str]]:
    """Query properties that separate domain jargon from ordinary phrasing."""
    def length(q):
        n = len(_WORD.findall(q))
        return "1 word" if n <= 1 else "2-3 words" if n <= 3 else "4+ words"

    def abbreviation(q):
        return "has abbreviation" if re.search(r"\b[A-Z][A-Z0-9]{1,}\b", q) else "none"

    def code_like(q):
        return "has code/number" if re.search(r"\d", q) else "none"

    def fragmented(q):
        pieces = word_pieces(tokenizer, q)
        return "a word in 3+ pieces" if pieces and max(pieces) >= 3 else "all words in 1-2 pieces"

    return {"length": length, "abbreviation": abbreviation, "code-like": code_like, "fragmentation": fragmented}


@dataclass
class ClusterReport:
    tables: dict  # feature -> DataFrame(value, queries, failure rate, recall@10)
    p_values: dict[str, float]
    spread: dict[str, float]  # max - min failure rate over values with enough queries

    def clustered(self, alpha: float = 0.01, min_spread: float = 0.15) -> list[str]:
        """Features whose failure rate differs significantly and substantially between values."""
        return [f for f in self.tables if self.p_values[f] < alpha and self.spread[f] >= min_spread]


def error_clusters(result: EvalResult, split, features: dict[str, Callable], min_queries: int = 20) -> ClusterReport:
    """Do failures (no relevant document in the top 10) cluster by query type or corpus section?

    ``features`` maps a name to a function of the query text, or -- for names starting with
    ``"doc:"`` -- of the first relevant document's id (e.g. the chapter of an ICD-10 code).
    A chi-square test per feature says whether failure rates differ more than chance.
    """
    import pandas as pd
    from scipy.stats import chi2_contingency

    qids = result.query_ids
    if not qids:
        raise ValueError("no queries to cluster")
    failed = result.per_query["recall@10"] == 0
    tables, p_values, spread = {}, {}, {}
    for name, fn in features.items():
        if name.startswith("doc:"):
            values = [fn(sorted(split.relevant[q])[0]) for q in qids]
        else:
            values = [fn(split.queries[q]) for q in qids]
        df = pd.DataFrame({"value": values, "failed": failed, "recall@10": result.per_query["recall@10"]})
        t = df.groupby("value").agg(queries=("failed", "size"), failure_rate=("failed", "mean"),
                                    recall_at_10=("recall@10", "mean")).sort_values("failure_rate", ascending=False)
        tables[name] = t.round(3)
        big = t[t["queries"] >= min_queries]
        counts = df[df["value"].isin(big.index)].groupby("value")["failed"].agg(["sum", "size"])
        if len(big) >= 2 and 0 < counts["sum"].sum() < counts["size"].sum():
            p_values[name] = float(chi2_contingency(np.c_[counts["sum"], counts["size"] - counts["sum"]])[1])
            spread[name] = float(big["failure_rate"].max() - big["failure_rate"].min())
        else:
            p_values[name], spread[name] = 1.0, 0.0
    return ClusterReport(tables, p_values, spread)


# ----------------------------------------------------------------------------- verdict


@dataclass
class Verdict:
    fine_tune: bool
    reasons: dict[str, tuple[bool, str]]  # precondition -> (met, why)
    expected_lift: str

    def __str__(self) -> str:
        head = "FINE-TUNE" if self.fine_tune else "DO NOT FINE-TUNE (yet)"
        lines = [f"{head} -- expected recall@10 lift: {self.expected_lift}"]
        lines += [f"  [{'x' if ok else ' '}] {name}: {why}" for name, (ok, why) in self.reasons.items()]
        return "\n".join(lines)


def fine_tuning_verdict(dense: EvalResult, cheaper: dict[str, EvalResult], n_pairs: int, clusters: ClusterReport,
                        tier: str, target_recall: float = 0.9, min_pairs: int = 1000,
                        min_worthwhile_lift: float = 10.0, measured_lift: float | None = None) -> Verdict:
    """The course's three preconditions, measured, plus the lift worth paying for.

    1. cheaper wins exhausted: the best of ``cheaper`` (BM25, hybrid, reranking...) still leaves
       recall@10 below ``target_recall``;
    2. at least ``min_pairs`` (query, document) training pairs;
    3. errors cluster rather than spread uniformly (:meth:`ClusterReport.clustered`) -- read
       *which* features they cluster by: terminology and corpus sections are what fine-tuning fixes;
    and the expected lift reaches ``min_worthwhile_lift`` points (the operational cost of a
    fine-tuned model -- pipeline, re-embedding, versioning -- pays back on large lifts; the default
    of 10 is the course's "double digits"). The expected lift is the course's band for ``tier``
    (its low end is compared), or ``measured_lift`` (points) when a *pilot* fine-tune has measured
    one: a decision made before fine-tuning cannot read the lift of the fine-tune it decides on.
    """
    best_name, best = max(cheaper.items(), key=lambda kv: kv[1].mean())
    lo, hi = paired_bootstrap(best.per_query["recall@10"], dense.per_query["recall@10"], clusters=dense.clusters)[1:]
    gap = best.mean() < target_recall
    adopt = f"; adopt {best_name} first (CI of its gain over dense: [{100 * lo:+.1f}, {100 * hi:+.1f}])" if lo > 0 else ""
    clustered = clusters.clustered()
    band = COURSE_LIFT_BANDS.get(tier)
    reasons: dict[str, tuple[bool, str]] = {
        "cheaper wins exhausted": (gap, f"best cheaper option {best_name} reaches recall@10 {100 * best.mean():.1f} "
                                        f"({'below' if gap else 'at or above'} the {100 * target_recall:.0f} target){adopt}"),
        f"{min_pairs:,}+ training pairs": (n_pairs >= min_pairs, f"{n_pairs:,} available"),
        "errors cluster (not uniform)": (bool(clustered), f"failure rates differ by {', '.join(clustered)}" if clustered
                                         else "failure rates do not differ significantly by query type"),
    }
    if measured_lift is not None:
        expected = f"{measured_lift:+.1f} points (measured)"
        reasons["lift worth its cost"] = (measured_lift >= min_worthwhile_lift,
                                          f"measured {measured_lift:+.1f} points vs {min_worthwhile_lift:g} worth paying for")
    elif band is not None:
        expected = f"{band[0]}-{band[1]} points (course's band for {tier})"
        reasons["lift worth its cost"] = (band[0] >= min_worthwhile_lift,  # the band's low end: be conservative
                                          f"the course expects {band[0]}-{band[1]} points for '{tier}' content")
    else:
        expected = "unknown"
        reasons["lift worth its cost"] = (False, f"no measured lift and unknown tier {tier!r}")
    return Verdict(all(ok for ok, _ in reasons.values()), reasons, expected)
