"""Your own labelled queries: a search log of clicks, or training qrels, read, checked and split.

Gold *test* queries come with the corpus (:func:`helpers.corpus.load_corpus`). This module reads what
a team has for *training*, and holds out test and dev queries when one file is all there is:

- :func:`read_query_log` -- a CSV, TSV or JSONL file of rows (query text, document id[, clicks]):
  repeated rows are summed as they stream past (memory grows with the distinct pairs, never with
  the rows), one query is one *normalised* text (case and spacing aside, see
  :func:`~helpers.data.normalise_query`), and pairs with fewer than ``min_clicks`` clicks are
  dropped and counted;
- :func:`read_train_qrels` -- separate training queries (JSONL ``{"_id", "text"}``) and judgments
  (TSV ``query-id, corpus-id, score``), the gold queries' formats;
- :func:`read_beir_qrels` -- a BEIR folder's ``qrels/train.tsv``, ``dev.tsv`` and ``test.tsv`` (or
  ``qrels.tsv`` for test, as :func:`~helpers.corpus.load_corpus` finds it);
- :func:`split_labelled` -- train / dev / test from one :class:`LabelledPairs`, by query or by
  document (the unseen-documents protocol of :func:`helpers.data.make_splits`);
- :func:`drop_leaks` -- no training query, labelled or LLM-written, may have the text of a test or
  dev query; :func:`count_shared_documents` counts training queries that share a relevant document
  with a test query (allowed under the known-corpus protocol, but worth a line in the report).

Ids may name documents or chunks of the corpus (all of one kind), as gold qrels may. Reading is
strict, like the rest of :mod:`helpers.corpus`: every problem is collected, named by file and line,
and raised at once as :class:`LabelledPairsError` (a :class:`~helpers.corpus.CorpusError`) before
any model loads. What is left out without stopping -- pairs below ``min_clicks``, unjudged queries,
leaks -- is counted in :attr:`LabelledPairs.dropped` and said in :attr:`LabelledPairs.notes`.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     log = Path(folder) / "clicks.csv"
...     _ = log.write_text("query,doc_id,clicks\\nReset  Password,d1,1\\nreset password,d1,2\\n"
...                        "reset password,d2,1\\nvpn setup,d2,5\\n")
...     pairs = read_query_log(log, {"d1", "d2"}, min_clicks=2)
>>> {pairs.queries[q]: sorted(ids) for q, ids in pairs.relevant.items()}
{'Reset  Password': ['d1'], 'vpn setup': ['d2']}
>>> pairs.dropped
Counter({'pairs below min_clicks': 1})
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from helpers.corpus import Corpus, CorpusError, GoldQueries
from helpers.data import (
    TEXT_ENCODING,
    checked_lines,
    has_undecodable_bytes,
    normalise_query,
    raise_if_problems,
    read_jsonl_rows,
    read_jsonl_texts,
    read_qrels,
)

#: The click column's default name: a log without it counts each row as one click (and says so in the
#: notes); a log without a column the caller named otherwise is an error, as a misspelt name would be.
DEFAULT_CLICKS_COLUMN = "clicks"

#: Reading stops after this many problems: a million-line log read against the wrong corpus would
#: otherwise hold a million messages, and the first hundred say what is wrong as well.
MAX_PROBLEMS = 100

LOG_SUFFIXES = (".csv", ".tsv", ".jsonl")

_SURROGATE = re.compile("[\ud800-\udfff]")  # a JSON "\\ud800" escape: not a character, cannot be written back


class LabelledPairsError(CorpusError):
    """Labelled queries (a query log, training qrels) cannot be used as given; the message names each file and line."""


# ----------------------------------------------------------------------------- the result


@dataclass
class LabelledPairs:
    """Queries and the documents (or chunks) relevant to each: read from a log or qrels, or one split of them.

    ``scores`` holds the aggregated clicks of a query log, or a qrels file's scores; ``origin`` the
    ``file:line`` where each query was first seen (error messages and the report name it).
    """

    queries: dict[str, str]
    relevant: dict[str, set[str]]
    level: str  # "document" or "chunk": what the ids in ``relevant`` name
    source: str
    dropped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.dropped = Counter(self.dropped)  # a plain dict given: drops add up all the same

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def n_pairs(self) -> int:
        return sum(len(ids) for ids in self.relevant.values())

    @classmethod
    def from_gold(cls, gold: GoldQueries) -> "LabelledPairs":
        """The gold test queries of a :class:`~helpers.corpus.Corpus`, to check and count against."""
        return cls(dict(gold.queries), {q: set(ids) for q, ids in gold.relevant.items()}, gold.level, gold.source,
                   origin=dict(gold.origin))

    def subset(self, query_ids: Iterable[str], source: str | None = None) -> "LabelledPairs":
        """These queries only (in this object's order), with their scores and origins; no drops or notes."""
        keep = set(query_ids)
        qids = [q for q in self.queries if q in keep]
        return LabelledPairs({q: self.queries[q] for q in qids}, {q: set(self.relevant[q]) for q in qids}, self.level,
                             source or self.source, scores={q: self.scores[q] for q in qids if q in self.scores},
                             origin={q: self.origin[q] for q in qids if q in self.origin})

    def rows(self) -> Iterable[dict]:
        """One JSON-ready row per query, in the layout of the pipeline's ``eval_queries.jsonl``."""
        for q, text in self.queries.items():
            yield {"_id": q, "text": text, "relevant": sorted(self.relevant[q]), "level": self.level}

    def describe(self) -> dict:
        """Counts for the run report: queries, pairs, distinct relevant ids, what was dropped and why."""
        return {"source": self.source, "level": self.level, "queries": len(self.queries), "pairs": self.n_pairs,
                "relevant ids": len(set().union(*self.relevant.values())) if self.relevant else 0,
                "dropped": dict(self.dropped), "notes": list(self.notes)}


# ----------------------------------------------------------------------------- what ids may name


class _Ids:
    """The ids a judgment may name: a corpus's documents and chunks, or a plain collection of document ids."""

    def __init__(self, documents: Corpus | Collection[str]):
        if isinstance(documents, Corpus):
            self.documents, self.chunks = set(documents.documents), {c.id for c in documents.chunks}
        else:
            self.documents, self.chunks = set(documents), set()
        self.known = self.documents | self.chunks  # one lookup a row: a log may have millions

    def __contains__(self, i: str) -> bool:
        return i in self.known

    def level(self, relevant: dict[str, set[str]], path, problems: list[str]) -> str:
        """"document" or "chunk", as :func:`helpers.corpus._read_gold` decides it; mixing both is a problem."""
        ids = set().union(*relevant.values()) if relevant else set()
        # a document that is one chunk has the same id at both levels: it decides nothing
        document_only = any(i in self.documents and i not in self.chunks for i in ids)
        chunk_only = any(i in self.chunks and i not in self.documents for i in ids)
        if document_only and chunk_only:
            problems.append(f"{path}: mixes document ids and chunk ids; use one or the other")
        return "document" if document_only else "chunk" if self.chunks else "document"


# ----------------------------------------------------------------------------- query logs


def query_id(text: str) -> str:
    """The id of a query-log query: a hash of its normalised text, so that the same query keeps its id when
    the log grows or is reordered (64 bits: no clash among even a billion queries, in all likelihood).

    >>> query_id("Reset  Password") == query_id("reset password")
    True
    """
    return "log-" + hashlib.blake2b(normalise_query(text).encode(), digest_size=8).hexdigest()


class _LogAggregate:
    """(query, document) clicks summed as rows stream past: one entry per distinct normalised query, never per row."""

    def __init__(self, path: Path, ids: _Ids, problems: list[str]):
        self.path, self.ids, self.problems = path, ids, problems
        self.by_text: dict[str, list] = {}  # normalised text -> [first spelling, first line, {doc id: clicks}, respelt]
        self.rows = 0
        self.stopped_at: int | None = None  # the line where reading stopped, after MAX_PROBLEMS problems

    def add(self, lineno: int, text, doc_id, clicks) -> None:
        """Count one row, or report what is wrong with it (by line: the message is made only then)."""
        problem = None
        if not isinstance(text, str):
            problem = f"the query must be a string, got {type(text).__name__} ({_preview(text)})"
        elif isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
            problem = (f"the document id must be a string or an integer, got {type(doc_id).__name__} "
                       f"({_preview(doc_id)})")
        else:
            doc_id = str(doc_id)
            key = normalise_query(text)
            if not key:
                problem = "empty query text"
            elif _SURROGATE.search(text):
                problem = "the query has an unpaired surrogate (a \\ud800-\\udfff escape), which is not a character"
            elif not doc_id:
                problem = "no document id"
            elif doc_id not in self.ids.known:
                problem = f"{doc_id!r} is neither a document nor a chunk of the corpus"
            else:
                count, problem = _click_count(clicks)
        if problem:
            self.problems.append(f"{self.path}:{lineno}: {problem}")
            return
        self.rows += 1
        entry = self.by_text.get(key)
        if entry is None:
            self.by_text[key] = [text.strip(), lineno, {doc_id: count}, False]
        else:
            entry[2][doc_id] = entry[2].get(doc_id, 0) + count
            if not entry[3] and text.strip() != entry[0]:
                entry[3] = True


def _click_count(value) -> tuple[float, str | None]:
    """(a row's clicks, None), or (0, what is wrong with them): 1 when there is no click column, else a finite
    number of at least 0.

    >>> _click_count("2"), _click_count(None), _click_count("-1")
    ((2, None), (1, None), (0, "click count '-1' is negative"))
    """
    if value is None:
        return 1, None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0, f"click count {_preview(value)} is not a number"
    try:
        count = float(value)
    except ValueError:
        return 0, f"click count {value!r} is not a number"
    if not math.isfinite(count):
        return 0, f"click count {value!r} is not a finite number"
    if count < 0:
        return 0, f"click count {value!r} is negative"
    return (int(count) if count.is_integer() else count), None


def read_query_log(path: str | Path, documents: Corpus | Collection[str], query_column: str = "query",
                   doc_column: str = "doc_id", clicks_column: str | None = DEFAULT_CLICKS_COLUMN,
                   min_clicks: float = 1) -> LabelledPairs:
    """Read a search log -- rows of (query text, document id[, clicks or score]) in a ``.csv``, ``.tsv`` or
    ``.jsonl`` file -- into :class:`LabelledPairs`.

    Rows of the same (normalised query, document) are summed (without a click column, or in a JSONL row
    without the key, each row counts 1); a query's text is its first spelling in the file; pairs whose
    sum is below ``min_clicks`` are dropped and counted, and so are the queries left without a pair.
    ``documents`` is a :class:`~helpers.corpus.Corpus` (its document and chunk ids are both accepted,
    one kind per file) or a collection of document ids. Every bad row (unknown document, empty query,
    a click count that is negative or not a number, malformed JSON, bytes that are not UTF-8) is named
    by line and raised at once as :class:`LabelledPairsError`; so is a table without the named columns.
    """
    path = Path(path)
    if min_clicks < 0:
        raise ValueError(f"min_clicks must be at least 0, got {min_clicks}")
    suffix = path.suffix.lower()
    if suffix not in LOG_SUFFIXES:
        raise LabelledPairsError(f"query log {path}: not a {', '.join(LOG_SUFFIXES)} file")
    if not path.is_file():
        raise LabelledPairsError(f"query log {path}: no such file")
    problems: list[str] = []
    notes: list[str] = []
    log = _LogAggregate(path, _Ids(documents), problems)
    try:
        f = open(path, newline="", **TEXT_ENCODING)
    except OSError as e:
        raise LabelledPairsError(f"query log {path}: unreadable ({e.strerror or e})") from None
    with f:
        lines = _bounded(f, log)
        if suffix == ".jsonl":
            rows_with_clicks = _read_jsonl_log(lines, log, query_column, doc_column, clicks_column)
        else:
            rows_with_clicks = _read_table_log(lines, log, suffix, query_column, doc_column, clicks_column)
    if rows_with_clicks == 0 and clicks_column and log.rows:
        notes.append(f"no {clicks_column!r} {'key' if suffix == '.jsonl' else 'column'}: each row counts as one click")
    if not log.by_text and not problems:
        problems.append(f"{path}: no (query, document) rows in it")
    stopped = (f"{path}: stopped reading at line {log.stopped_at:,} after {MAX_PROBLEMS} problems; fix these first "
               "(the rest of the file may have more)") if log.stopped_at else ""
    raise_if_problems(problems, f"query log {path}", error=LabelledPairsError, hint=stopped)
    return _finish_log(log, min_clicks, notes)


def _bounded(lines, log: _LogAggregate):
    """``lines`` until :data:`MAX_PROBLEMS` problems are found (``log.stopped_at`` then says where)."""
    for lineno, line in enumerate(lines, start=1):
        if len(log.problems) >= MAX_PROBLEMS:
            log.stopped_at = lineno
            return
        yield line


def _read_table_log(lines, log: _LogAggregate, suffix: str, query_column: str, doc_column: str,
                    clicks_column: str | None) -> int:
    """Feed a CSV/TSV log's rows to ``log``; the number of rows that had a click column."""
    path, problems = log.path, log.problems
    csv.field_size_limit(2**31 - 1)  # the default (128 KiB) would reject a long query as an error
    lines = checked_lines(lines, path, problems)
    ci = None
    # TSV: tabs separate, and quotes are text (a query may start with one)
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE) if suffix == ".tsv" else csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None:
            problems.append(f"{path}: empty file: no header line")
            return 0
        missing = [repr(c) for c in (query_column, doc_column) if c not in header]
        if clicks_column and clicks_column not in header and clicks_column != DEFAULT_CLICKS_COLUMN:
            missing.append(repr(clicks_column))  # named on purpose: a misspelt name must not count rows instead
        if missing:
            problems.append(f"{path}:1: no column {' and no column '.join(missing)}; the header has {header} "
                            "(choose with --query-column / --doc-column / --clicks-column)")
            return 0
        qi, di = header.index(query_column), header.index(doc_column)
        ci = header.index(clicks_column) if clicks_column in header else None
        width = len(header)
        for row in reader:
            if not row:
                continue  # a blank line
            lineno = reader.line_num
            if len(row) != width:
                problems.append(f"{path}:{lineno}: {len(row)} field(s), the header has {width}"
                                + ("; quote a text that holds a comma" if suffix == ".csv" else ""))
            else:
                text, doc_id, clicks = row[qi], row[di], None if ci is None else row[ci]
                # a row with a byte that is not UTF-8 is reported by checked_lines already
                if not (has_undecodable_bytes(text) or has_undecodable_bytes(doc_id)
                        or (clicks is not None and has_undecodable_bytes(clicks))):
                    log.add(lineno, text, doc_id, clicks)
    except csv.Error as e:
        problems.append(f"{path}:{reader.line_num}: unreadable {suffix[1:].upper()} ({e})")
    return log.rows if ci is not None else 0


def _read_jsonl_log(lines, log: _LogAggregate, query_column: str, doc_column: str, clicks_column: str | None) -> int:
    """Feed a JSONL log's objects to ``log``; the number of rows that had a click count."""
    path, problems = log.path, log.problems
    with_clicks = 0
    for lineno, obj in read_jsonl_rows(lines, path, problems):
        missing = [repr(c) for c in (query_column, doc_column) if c not in obj]
        if missing:
            problems.append(f"{path}:{lineno}: no {' and no '.join(missing)}; the object has {sorted(obj)}")
        else:
            clicks = obj.get(clicks_column) if clicks_column else None
            if clicks_column and clicks_column in obj:
                with_clicks += 1
                if clicks is None:
                    clicks = "null"  # reported as not a number, rather than counted as one click
            log.add(lineno, obj[query_column], obj[doc_column], clicks)
    return with_clicks


def _finish_log(log: _LogAggregate, min_clicks: float, notes: list[str]) -> LabelledPairs:
    queries, relevant, scores, origin = {}, {}, {}, {}
    dropped: Counter = Counter()
    n_pairs, respelt = 0, []
    for key, (text, lineno, clicks, was_respelt) in log.by_text.items():
        n_pairs += len(clicks)
        if was_respelt:
            respelt.append(text)
        kept = {d: c for d, c in clicks.items() if c >= min_clicks}
        dropped["pairs below min_clicks"] += len(clicks) - len(kept)
        if not kept:
            dropped["queries below min_clicks"] += 1
            continue
        qid = query_id(key)
        queries[qid], relevant[qid], scores[qid], origin[qid] = text, set(kept), kept, f"{log.path}:{lineno}"
    dropped = +dropped  # no zero counts
    notes.insert(0, f"{log.rows:,} row(s): {len(log.by_text):,} distinct queries (case and spacing aside), "
                    f"{n_pairs:,} (query, document) pairs")
    if respelt:
        notes.append(f"{len(respelt):,} query(ies) written more than one way (case, spacing) are one query each, "
                     f"under their first spelling, e.g. {respelt[:3]}")
    if dropped:
        notes.append(f"left out below min_clicks={min_clicks:g}: {dropped['pairs below min_clicks']:,} pair(s), "
                     f"{dropped['queries below min_clicks']:,} query(ies) with no pair left")
    problems: list[str] = []
    if not relevant:
        problems.append(f"{log.path}: no (query, document) pair has {min_clicks:g} click(s) or more")
    level = log.ids.level(relevant, log.path, problems)
    raise_if_problems(problems, f"query log {log.path}", error=LabelledPairsError)
    return LabelledPairs(queries, relevant, level, log.path.name, dropped, notes, scores, origin)


def _preview(value, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# ----------------------------------------------------------------------------- qrels


def _read_judgments(queries: dict[str, str], queries_path: Path, qrels_path: Path, ids: _Ids,
                    problems: list[str]) -> tuple[dict[str, set[str]], dict[str, dict[str, float]], dict[str, str], set[str]]:
    """(relevant ids, scores, first positive judgment's "file:line") per query of a qrels file, and the queries
    judged only *not* relevant (every score 0 or less: :func:`~helpers.data.read_qrels`' rule); a judgment of a
    query or an id that does not exist goes to ``problems`` by line."""
    relevant: dict[str, set[str]] = {}
    scores: dict[str, dict[str, float]] = {}
    origin: dict[str, str] = {}
    rejected: set[str] = set()
    for lineno, qid, did, score in read_qrels(qrels_path, problems):
        if qid not in queries:
            problems.append(f"{qrels_path}:{lineno}: query id {qid!r} is not in {queries_path.name}")
        elif did not in ids:
            problems.append(f"{qrels_path}:{lineno}: {did!r} is neither a document nor a chunk of the corpus")
        elif score > 0:
            relevant.setdefault(qid, set()).add(did)
            scores.setdefault(qid, {})[did] = score
            origin.setdefault(qid, f"{qrels_path}:{lineno}")
        else:
            rejected.add(qid)
    if not relevant and not problems:
        problems.append(f"{qrels_path}: no query has a judgment (a positive score) here")
    return relevant, scores, origin, rejected - relevant.keys()


def _pairs_from_judgments(queries: dict[str, str], judged, level: str, source: str) -> LabelledPairs:
    relevant, scores, origin, rejected = judged
    pairs = LabelledPairs({q: queries[q] for q in relevant}, relevant, level, source, scores=scores, origin=origin)
    if rejected:
        pairs.dropped["queries judged only not relevant (score 0 or less)"] = len(rejected)
        pairs.notes.append(f"{len(rejected)} query(ies) of {source} have only judgments of 0 or less (not relevant): "
                           f"nothing to train or score them on, left out, e.g. {sorted(rejected)[:3]}")
    return pairs


def read_train_qrels(queries_path: str | Path, qrels_path: str | Path,
                     documents: Corpus | Collection[str]) -> LabelledPairs:
    """Training queries (JSONL ``{"_id", "text"}``) and their judgments (TSV ``query-id, corpus-id, score``,
    a header line optional), checked as gold queries are: every unknown query or id is named by line, and
    document and chunk ids may not be mixed. Queries without a positive judgment are left out, with a note.
    """
    queries_path, qrels_path = Path(queries_path), Path(qrels_path)
    problems = [f"{p}: no such file" for p in (queries_path, qrels_path) if not p.is_file()]
    raise_if_problems(problems, "training queries", error=LabelledPairsError)
    ids = _Ids(documents)
    queries = read_jsonl_texts(queries_path, "query", problems)
    judged = _read_judgments(queries, queries_path, qrels_path, ids, problems)
    level = ids.level(judged[0], qrels_path, problems)
    raise_if_problems(problems, "training queries", error=LabelledPairsError)
    pairs = _pairs_from_judgments(queries, judged, level, f"{queries_path.name} + {qrels_path.name}")
    unjudged = len(queries) - len(pairs.queries) - len(judged[3])
    if unjudged:
        pairs.dropped["queries without a judgment"] = unjudged
        pairs.notes.append(f"{unjudged} query(ies) of {queries_path.name} without a positive judgment in "
                           f"{qrels_path.name} left out")
    return pairs


def beir_qrels_files(root: str | Path) -> dict[str, Path]:
    """{split: qrels file} of a BEIR folder: ``qrels/train.tsv``, ``qrels/dev.tsv``, and for test
    ``qrels/test.tsv`` or else ``qrels.tsv`` (where :func:`~helpers.corpus.load_corpus` finds gold queries)."""
    root = Path(root)
    found = {split: root / "qrels" / f"{split}.tsv" for split in ("train", "dev", "test")}
    if not found["test"].exists():
        found["test"] = root / "qrels.tsv"
    return {split: p for split, p in found.items() if p.is_file()}


def read_beir_qrels(root: str | Path, documents: Corpus | Collection[str]) -> dict[str, LabelledPairs]:
    """{split: :class:`LabelledPairs`} for each of a BEIR folder's split files (:func:`beir_qrels_files`), its
    queries from ``queries.jsonl``. A query judged in two split files is an error naming both files and lines
    (its text in one split would be scored on after training on it in the other); so is every judgment of an
    unknown query or id, and a file that mixes document and chunk ids.

    Train or dev queries whose *text* is also a test (or, for train, a dev) query's are not dropped here:
    :func:`drop_leaks` does that, counted, for labelled and generated queries alike.
    """
    root = Path(root)
    queries_path = root / "queries.jsonl"
    files = beir_qrels_files(root)
    if not queries_path.is_file() or not files:
        raise LabelledPairsError(f"BEIR folder {root}: needs queries.jsonl and at least one of qrels/train.tsv, "
                                 "qrels/dev.tsv, qrels/test.tsv (or qrels.tsv)")
    problems: list[str] = []
    ids = _Ids(documents)
    queries = read_jsonl_texts(queries_path, "query", problems)
    splits, rejected = {}, []
    for split, path in files.items():
        judged = _read_judgments(queries, queries_path, path, ids, problems)
        rejected.append(judged[3])
        level = ids.level(judged[0], path, problems)
        splits[split] = _pairs_from_judgments(queries, judged, level, f"{queries_path.name} + {path.name} ({split})")
    problems += _shared_query_problems(splits)
    raise_if_problems(problems, f"BEIR folder {root}", error=LabelledPairsError)
    judged_anywhere = set().union(*(s.queries for s in splits.values()), *rejected)
    unjudged = sum(q not in judged_anywhere for q in queries)
    if unjudged:  # said once, with the split that is read for training when there is one
        said = splits.get("train") or next(iter(splits.values()))
        said.dropped["queries without a judgment"] = unjudged
        said.notes.append(f"{unjudged} query(ies) of {queries_path.name} are judged in none of "
                           f"{', '.join(p.name for p in files.values())} and are left out")
    return splits


def _shared_query_problems(splits: Mapping[str, LabelledPairs]) -> list[str]:
    problems = []
    names = list(splits)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = splits[first], splits[second]
            for q in a.queries.keys() & b.queries.keys():
                if a.queries[q] != b.queries[q]:
                    continue  # two files' ids for different texts: two queries, whatever they are called
                problems.append(f"query {q!r} is in {first} ({a.origin.get(q, a.source)}) and in {second} "
                                f"({b.origin.get(q, b.source)}): a query belongs to one split")
    return sorted(problems)


def check_disjoint(splits: Mapping[str, LabelledPairs]) -> None:
    """Raise :class:`LabelledPairsError` when a query id is in two of ``splits`` (e.g. ``--train-qrels`` and
    ``--qrels`` both judge it), naming both files and lines."""
    raise_if_problems(_shared_query_problems(splits), "labelled queries", error=LabelledPairsError)


# ----------------------------------------------------------------------------- splits


@dataclass
class LabelledSplits:
    """Train, dev and test queries split from one :class:`LabelledPairs` by :func:`split_labelled`.
    ``dropped`` and ``notes`` hold the reading's and the split's."""

    train: LabelledPairs
    dev: LabelledPairs
    test: LabelledPairs
    by: str
    seed: int
    source: str
    dropped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter((self.train, self.dev, self.test))

    def describe(self, source_of: Mapping[str, str] | None = None) -> dict:
        """Counts per split and every drop, for the run report (``source_of`` as in :func:`count_shared_documents`)."""
        counts = {}
        for name, part in (("train", self.train), ("dev", self.dev), ("test", self.test)):
            described = part.describe()
            counts[name] = {k: described[k] for k in ("queries", "pairs", "relevant ids")}
        shared = count_shared_documents(self.train, self.test, source_of)
        return {"source": self.source, "level": self.train.level, "split by": self.by, "seed": self.seed, **counts,
                "dropped": dict(self.dropped), "notes": list(self.notes),
                "training queries sharing a document with a test query": shared}


def split_labelled(pairs: LabelledPairs, by: str = "query", test_fraction: float = 0.2, dev_fraction: float = 0.1,
                   max_test: int = 500, max_dev: int | None = None, seed: int = 0,
                   source_of: Mapping[str, str] | None = None) -> LabelledSplits:
    """Hold out test and dev queries from ``pairs`` (when a team has one labelled file and nothing else).

    ``by="query"`` (the known-corpus protocol): queries are held out at random, about ``test_fraction`` of
    them for test (at most ``max_test``) and ``dev_fraction`` for dev (at most ``max_dev``); the documents
    stay in the index and may have training queries. ``by="document"`` (the unseen-documents protocol):
    whole documents are held out, so that no document relevant to a test or dev query is relevant to a
    training query; a query relevant both to held-out documents and to others (or to test and dev ones)
    belongs nowhere, and is dropped and counted. ``source_of`` maps a chunk id to what is held out as one
    (e.g. :attr:`Corpus.source_of <helpers.corpus.Corpus.source_of>`, when chunks overlap and share text).

    Either way queries with the same normalised text are one group and never cross splits, and the result
    depends only on ``pairs`` and ``seed``.

    >>> relevant = {f"q{i}": {f"d{i // 2}"} for i in range(12)} | {"q11": {"d5", "d0"}}  # two per document
    >>> pairs = LabelledPairs({q: f"query {q}" for q in relevant}, relevant, "document", "log")
    >>> split = split_labelled(pairs, by="document", test_fraction=0.3, dev_fraction=0.2)
    >>> [len(part) for part in split]  # train, dev, test
    [5, 2, 4]
    >>> held = set().union(*split.test.relevant.values(), *split.dev.relevant.values())
    >>> any(ids & held for ids in split.train.relevant.values())
    False
    >>> split.dropped  # q11: d0 is a test document, d5 a training one
    Counter({'queries straddling held-out and training documents': 1})
    """
    if by not in ("query", "document"):
        raise ValueError(f"by must be 'query' or 'document', got {by!r}")
    if not (0 <= test_fraction < 1 and 0 <= dev_fraction < 1 and test_fraction + dev_fraction < 1):
        raise ValueError(f"test_fraction and dev_fraction must be in [0, 1) with a sum below 1, got "
                         f"{test_fraction} and {dev_fraction}")
    groups: dict[str, list[str]] = {}  # normalised text -> its query ids: they share a split
    for q, text in pairs.queries.items():
        groups.setdefault(normalise_query(text), []).append(q)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    n = len(pairs.queries)
    n_test = min(max_test, round(n * test_fraction))
    n_dev = round(n * dev_fraction) if max_dev is None else min(max_dev, round(n * dev_fraction))
    sizes = {k: len(qids) for k, qids in groups.items()}
    if by == "query":
        test_keys = take_groups(order, sizes, n_test)
        dev_keys = take_groups([k for k in order if k not in test_keys], sizes, n_dev)
        train_keys, straddling = [k for k in order if k not in test_keys and k not in dev_keys], []
    else:
        unit = (lambda i: source_of.get(i, i)) if source_of else (lambda i: i)
        units = {k: {unit(i) for q in qids for i in pairs.relevant[q]} for k, qids in groups.items()}
        test_units = _take_units(order, sizes, units, n_test, blocked=set())
        dev_units = _take_units(order, sizes, units, n_dev, blocked=test_units)
        test_keys = {k for k in order if units[k] <= test_units}
        dev_keys = {k for k in order if units[k] <= dev_units}
        held = test_units | dev_units
        train_keys = [k for k in order if not units[k] & held]
        straddling = [k for k in order if units[k] & held and k not in test_keys and k not in dev_keys]

    def part(keys, name: str) -> LabelledPairs:
        return pairs.subset((q for k in keys for q in groups[k]), f"{pairs.source} ({name}, split by {by})")

    train, dev, test = part(train_keys, "train"), part(dev_keys, "dev"), part(test_keys, "test")
    dropped, notes = Counter(pairs.dropped), list(pairs.notes)
    if dev_fraction > 0 and not dev:
        notes.append(f"no dev queries: {dev_fraction:g} of {n} query(ies) rounds to none")
    if straddling:
        n_straddling = sum(sizes[k] for k in straddling)
        dropped["queries straddling held-out and training documents"] += n_straddling
        notes.append(f"{n_straddling} query(ies) relevant both to held-out documents and to others left out "
                     f"(split by document), e.g. {[pairs.queries[groups[k][0]] for k in straddling[:3]]}")
    empty = [name for name, part, wanted in (("train", train, True), ("test", test, test_fraction > 0))
             if wanted and not part]
    if empty:
        raise LabelledPairsError(f"{pairs.source}: too few queries to split: {n} query(ies) give {len(train)} "
                                 f"training, {len(dev)} dev and {len(test)} test ones; none left for "
                                 f"{' and '.join(empty)}")
    return LabelledSplits(train, dev, test, by, seed, pairs.source, dropped, notes)


def take_groups(order: list[str], sizes: Mapping[str, int], target: int) -> set[str]:
    """Groups (of queries) in ``order`` until they hold ``target`` queries; ``sizes``: queries per group."""
    taken, count = set(), 0
    for k in order:
        if count >= target:
            break
        taken.add(k)
        count += sizes[k]
    return taken


def _take_units(order: list[str], sizes: dict[str, int], units: dict[str, set[str]], target: int,
                blocked: set[str]) -> set[str]:
    """Documents (units) to hold out: those of groups taken in ``order``, until the groups whose documents are
    all held out hold ``target`` queries. A group touching a ``blocked`` unit is never taken.

    Taking a group's documents completes other groups too (those whose documents are all among them): they are
    counted as they complete, so that a popular document does not overshoot the target unseen.
    """
    eligible = [k for k in order if not units[k] & blocked]
    groups_of_unit: dict[str, list[str]] = {}
    for k in eligible:
        for u in units[k]:
            groups_of_unit.setdefault(u, []).append(k)
    missing = {k: len(units[k]) for k in eligible}
    held: set[str] = set()
    count = 0
    for k in eligible:
        if count >= target:
            break
        if missing[k] == 0:
            continue  # completed by documents taken for earlier groups
        for u in sorted(units[k] - held):
            held.add(u)
            for other in groups_of_unit[u]:
                missing[other] -= 1
                if missing[other] == 0:
                    count += sizes[other]
    return held


# ----------------------------------------------------------------------------- leaks


#: Two queries whose word sets overlap this much (Jaccard) are one query for the leak guard
NEAR_DUPLICATE = 0.9
_PUNCTUATION = re.compile(r"[^\w\s]")


def leak_key(text: str) -> str:
    """A query as the leak guard compares it: case, whitespace and punctuation folded.

    >>> leak_key("How do I undo a commit?") == leak_key("how do i  undo a commit")
    True
    """
    return " ".join(_PUNCTUATION.sub(" ", text.casefold()).split())


class LeakGuard:
    """Which texts are a held-out (test or dev) query: the same after :func:`leak_key`, or a near duplicate
    (word sets with a Jaccard overlap of :data:`NEAR_DUPLICATE` or more: "undo last commit" and "last commit
    undo"). Near duplicates are found by prefix filtering: a set within the threshold of another must share
    one of its rarest words, so each text is compared with a few held-out queries, not all of them.

    >>> guard = LeakGuard(["How do I undo a commit?", "vpn setup on linux"])
    >>> [guard.leaks(t) for t in ("how do i undo a commit", "linux vpn setup on", "vpn setup")]
    [True, True, False]
    """

    def __init__(self, held_out_texts: Iterable[str]):
        self.keys = {leak_key(t) for t in held_out_texts}
        self.sets = [frozenset(k.split()) for k in self.keys]
        self.index: dict[str, list[int]] = {}
        for i, words in enumerate(self.sets):
            for w in words:
                self.index.setdefault(w, []).append(i)

    def leaks(self, text: str) -> bool:
        key = leak_key(text)
        if key in self.keys:
            return True
        words = frozenset(key.split())
        if not words:
            return False
        rare = sorted(words, key=lambda w: len(self.index.get(w, ())))
        prefix = len(words) - math.ceil(NEAR_DUPLICATE * len(words)) + 1
        seen = {i for w in rare[:prefix] for i in self.index.get(w, ())}
        return any(len(words & self.sets[i]) >= NEAR_DUPLICATE * len(words | self.sets[i]) for i in seen)


def drop_leaks(train, held_out_texts: Iterable[str], text_of: Callable | None = None):
    """``(train without its leaks, how many were dropped)``: a training query that is a held-out (test or dev)
    query -- the same text after folding case, spacing and punctuation, or a near duplicate (:class:`LeakGuard`)
    -- is dropped, as a model must never train on a text it is scored on.

    ``train`` is :class:`LabelledPairs` (the count is added to its ``dropped``), or a list of any records
    whose query text is ``text_of(record)`` -- e.g. LLM-written ones, ``text_of=lambda r: r.query`` -- or
    of strings (the default ``text_of`` is the record itself).

    >>> kept, n = drop_leaks(["Reset password!", "vpn setup"], ["reset  PASSWORD"])
    >>> kept, n
    (['vpn setup'], 1)
    """
    guard = LeakGuard(held_out_texts)
    if isinstance(train, LabelledPairs):
        leaked = [q for q, t in train.queries.items() if guard.leaks(t)]
        if not leaked:
            return train, 0
        kept = train.subset(set(train.queries) - set(leaked))
        kept.dropped = train.dropped + Counter({"queries with a held-out query's text": len(leaked)})
        kept.notes = train.notes + [f"{len(leaked)} training query(ies) left out: their text (case, spacing and "
                                    f"punctuation aside, or nearly word for word) is a test or dev query's, e.g. "
                                    f"{[train.queries[q] for q in leaked[:3]]}"]
        return kept, len(leaked)
    text_of = text_of or (lambda record: record)
    kept = [r for r in train if not guard.leaks(text_of(r))]
    return kept, len(train) - len(kept)


def count_shared_documents(train: LabelledPairs, test: LabelledPairs,
                           source_of: Mapping[str, str] | None = None) -> int:
    """How many training queries have a relevant document that is also relevant to a test query: allowed when
    only test *queries* are unseen (the known-corpus protocol), zero when split by document. ``source_of`` maps
    chunk ids to document ids, to compare chunk-level labels with document-level ones (ids not in it stand for
    themselves).

    >>> train = LabelledPairs({"a": "x", "b": "y"}, {"a": {"d1"}, "b": {"d2"}}, "document", "train")
    >>> count_shared_documents(train, LabelledPairs({"t": "z"}, {"t": {"d1"}}, "document", "test"))
    1
    """
    doc = (lambda i: source_of.get(i, i)) if source_of else (lambda i: i)
    tested = {doc(i) for ids in test.relevant.values() for i in ids}
    return sum(any(doc(i) in tested for i in ids) for ids in train.relevant.values())
