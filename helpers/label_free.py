"""Training examples without labelled queries, besides an LLM's: crops of the documents themselves,
and a teacher's margins over (query, positive, negative) triplets (GPL).

Lesson 4's LLM writes one query per document; these are the other label-free sources the lesson
compares on gold queries (``benchmarks/label_free.py``):

- :func:`crops` (:func:`crop_pairs`) -- a random span of a document's words as the query, the whole document as its
  positive (Contriever's cropping: no LLM, no labels, made in milliseconds);
- :func:`heading_queries` -- the documents' own structure: each heading (a section title, an option
  name, an FAQ's question), prefixed with its document's title, is the query of the chunk it heads;
- :func:`teacher_margins` -- GPL's pseudo-labels: a stronger model's score margin
  ``sim(q, pos) - sim(q, neg)`` for each triplet, the target of ``MarginMSELoss``. Noisy queries
  then cost less: a query the teacher finds no closer to its document than to the negative teaches
  a margin near zero instead of a wrong "this one, not that one".

>>> pairs = crop_pairs({"d1": "Rheumatic aortic stenosis with insufficiency", "d2": "Cholera"}, seed=0)
>>> [doc for _, doc in pairs]          # one-word documents have no proper span: left out
['Rheumatic aortic stenosis with insufficiency']
>>> pairs[0][0] in pairs[0][1]
True
"""

from __future__ import annotations

import random
import re

import numpy as np

from helpers.evaluation import EmbeddingCache


def crops(corpus: dict[str, str], n: int | None = None, min_fraction: float = 0.3, max_fraction: float = 0.7,
          seed: int = 0) -> dict[str, str]:
    """``{document id: span}`` for up to ``n`` documents (all by default; a seeded sample otherwise): the span
    is a random run of ``min_fraction``-``max_fraction`` of the document's words (at least one word, never
    all of them). Documents of one word are skipped.

    >>> crops({"d": "a b c d e f g h i j", "e": "one"}, seed=1)
    {'d': 'g h i j'}
    """
    if not 0 < min_fraction <= max_fraction < 1:
        raise ValueError(f"need 0 < min_fraction <= max_fraction < 1, got {min_fraction}, {max_fraction}")
    rng = random.Random(seed)
    ids = [i for i, text in corpus.items() if len(text.split()) > 1]
    if n is not None and n < len(ids):
        ids = sorted(rng.sample(ids, n), key=ids.index)  # a sample, kept in corpus order
    spans = {}
    for doc_id in ids:
        words = corpus[doc_id].split()
        length = min(len(words) - 1, max(1, round(rng.uniform(min_fraction, max_fraction) * len(words))))
        start = rng.randrange(len(words) - length + 1)
        spans[doc_id] = " ".join(words[start:start + length])
    return spans


def crop_pairs(corpus: dict[str, str], n: int | None = None, min_fraction: float = 0.3, max_fraction: float = 0.7,
               seed: int = 0) -> list[tuple[str, str]]:
    """:func:`crops` as ``(span, document text)`` training pairs.

    >>> crop_pairs({"d": "a b c d e f g h i j"}, seed=1)
    [('g h i j', 'a b c d e f g h i j')]
    >>> crop_pairs({}, n=3)
    []
    """
    return [(span, corpus[i]) for i, span in crops(corpus, n, min_fraction, max_fraction, seed).items()]


#: An underline of at least three of one character: the line above it is a heading (reStructuredText, AsciiDoc).
_UNDERLINE = re.compile(r"^([=\-~^+*#])\1{2,}\s*$")
_MARKDOWN = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_ANCHOR = re.compile(r"^\[\[[^\]]*\]\]$")  # AsciiDoc's [[id]] line above a heading or term
#: a line standing alone as a heading: at most this many words, no sentence punctuation at its end
MAX_HEADING_WORDS = 8


def headings(text: str) -> list[tuple[int, str]]:
    """``(offset, heading)`` for each heading line of a document's text, in order: a Markdown ``#``
    line, a line underlined with ``=``, ``-``, ``~``... (reStructuredText, AsciiDoc), an AsciiDoc term
    ending in ``::``, and a short line standing alone between blank lines (at most
    :data:`MAX_HEADING_WORDS` words, no sentence punctuation at its end), which is how headings,
    option names and terms come out of HTML (:func:`helpers.corpus.html_to_text`: one block a line).

    >>> headings("Intro\\n=====\\n\\nSome text here.\\n\\n## Usage ##\\n\\n-n, --dry-run\\n\\nShow what would be done.")
    [(0, 'Intro'), (30, 'Usage'), (43, '-n, --dry-run')]
    >>> headings("How do I undo a commit?::\\n\\tUse git revert.")
    [(0, 'How do I undo a commit?')]
    """
    lines = text.split("\n")
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line) + 1
    found = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        above = lines[i - 1].strip() if i else ""
        below = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not stripped or _UNDERLINE.match(stripped) or _ANCHOR.match(stripped):
            continue
        if m := _MARKDOWN.match(stripped):
            title = m.group(1)
        elif _UNDERLINE.match(below) and abs(len(below) - len(stripped)) <= 2:
            title = stripped
        elif stripped.endswith("::") and len(stripped) > 2:
            title = stripped[:-2].strip()
        elif ((not above or _ANCHOR.match(above)) and not below and len(stripped.split()) <= MAX_HEADING_WORDS
              and re.search(r"[^\W\d_]", stripped) and not stripped.endswith((".", ",", ";", ":", "!"))):
            title = stripped
        else:
            continue
        found.append((offsets[i] + line.index(stripped[0]), title))
    return found


def _text_below(text: str, offset: int) -> int:
    """Where the text a heading (at ``offset``) introduces starts: the next line that is neither blank
    nor the heading's underline (``len(text)`` when there is none)."""
    at = text.find("\n", offset)
    while at >= 0:
        end = text.find("\n", at + 1)
        line = text[at + 1:len(text) if end < 0 else end].strip()
        if line and not _UNDERLINE.match(line):
            return at + 1
        at = end
    return len(text)


def heading_queries(documents: dict[str, str], chunks) -> list[tuple[str, str]]:
    """``(chunk id, query)`` pairs from the documents' structure: each heading of a document (see
    :func:`headings`) after its first, prefixed with that first one (the document's title, so that
    "OPTIONS" or "-d" says whose), is the query of the chunk holding the text just below it. A chunk
    can get several queries; a document without headings gives none. ``chunks``: the corpus's
    :class:`~helpers.corpus.Chunk` s (id, source document, start and end offsets).

    >>> from helpers.corpus import chunk_documents
    >>> docs = {"git-clean": "git-clean\\n=========\\n\\n-n, --dry-run\\n\\nShow what would be done."}
    >>> heading_queries(docs, chunk_documents(docs))
    [('git-clean', 'git-clean: -n, --dry-run')]
    """
    by_doc: dict[str, list] = {}
    for c in chunks:
        by_doc.setdefault(c.source, []).append(c)
    pairs = []
    for source, doc_chunks in by_doc.items():
        found = headings(documents[source])
        if len(found) < 2:
            continue
        text, title = documents[source], found[0][1]
        for offset, heading in found[1:]:
            below = _text_below(text, offset)
            chunk = next((c for c in doc_chunks if c.start <= below < c.end), None) or next(
                (c for c in doc_chunks if c.start >= below), None)
            if chunk is not None:
                pairs.append((chunk.id, f"{title}: {heading}"))
    return pairs


def teacher_margins(triplets: list[tuple[str, str, str]], teacher, cache: EmbeddingCache | None = None,
                    batch_size: int = 64) -> list[tuple[str, str, str, float]]:
    """``(query, positive, negative, margin)`` with ``margin = teacher(q, pos) - teacher(q, neg)``, the
    teacher's similarity (cosine for the course's normalised bi-encoders), for ``MarginMSELoss``.

    ``teacher``: a loaded ``SentenceTransformer`` (queries and documents are encoded with its query and
    document prompts, through ``cache``).
    """
    cache = cache or EmbeddingCache()
    queries = sorted({q for q, _, _ in triplets})
    docs = sorted({d for _, p, n in triplets for d in (p, n)})
    q_emb = dict(zip(queries, cache.encode(teacher, queries, kind="query", batch_size=batch_size)))
    d_emb = dict(zip(docs, cache.encode(teacher, docs, kind="document", batch_size=batch_size)))
    return [(q, p, n, float(np.dot(q_emb[q], d_emb[p]) - np.dot(q_emb[q], d_emb[n]))) for q, p, n in triplets]


def plot_sources(tables: dict, reference: str = "gold", axes=None):
    """One panel per dataset: each source's recall@10 lift with its 95% CI (a source that used some labels
    says how many), the dashed line at the ``reference`` row's lift (gold pairs, same count), the dotted
    one at half of it (the mark a label-free source should reach). ``tables``: dataset name -> the rows
    of ``benchmarks/label_free.py`` (:func:`helpers.experiments.load_rows`)."""
    import matplotlib.pyplot as plt

    if axes is None:  # one panel under another: the rows' labels are long, the panels share the width
        heights = [len(t) * 0.32 + 1.0 for t in tables.values()]
        axes = plt.subplots(len(tables), 1, figsize=(10, sum(heights)), dpi=100, squeeze=False,
                            gridspec_kw={"height_ratios": heights})[1][:, 0]
    for ax, (name, df) in zip(axes, tables.items()):
        rows = df[df["pairs"] > 0]
        sources = rows.drop(index=reference, errors="ignore")
        ys = list(range(len(sources)))
        ax.errorbar(sources["lift"], ys, xerr=[sources["lift"] - sources["ci_low"], sources["ci_high"] - sources["lift"]],
                    fmt="o", color="tab:blue", ecolor="0.4", capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        right = max(sources["ci_high"].max(), 0)
        if reference in rows.index:
            gold = rows.loc[reference, "lift"]
            right = max(right, gold)
            ax.axvline(gold, color="tab:green", ls="--", label=f"{reference} pairs: {gold:+.1f}")
            ax.axvline(gold / 2, color="tab:green", ls=":", label=f"half of it: {gold / 2:+.1f}")
            ax.legend(loc="center right", fontsize=8, framealpha=1)
        left = min(sources["ci_low"].min(), 0)
        ax.set_xlim(left - 1, right + 0.6 * (right - left) + 1)  # room for the legend right of every point
        labels = sources["data"] if "data" in sources else ["label-free"] * len(sources)  # rows that used some labels say so
        n = int(rows["pairs"].iloc[0])
        ax.set_yticks(ys, [f"{s}{'' if d == 'label-free' else f', {d}'}{'' if k == n else f', {k:,} examples'} ({t:.0f} s)"
                           for s, d, k, t in zip(sources.index, labels, sources["pairs"],
                                                 sources["source_s"] + sources["train_s"])])
        ax.invert_yaxis()
        ax.set_xlabel("recall@10 lift over no fine-tuning (points, 95% CI)")
        ax.set_title(f"{name}: {n:,} examples a row unless said")
    axes[0].figure.tight_layout()
    return axes
