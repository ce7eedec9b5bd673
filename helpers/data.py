"""Retrieval datasets: one layout, strict loading, and the two split protocols.

Every dataset in ``data/<name>/`` has the same files (BEIR-like, so readers can drop in
their own):

- ``corpus.jsonl``  -- ``{"_id": ..., "text": ..., "title": ...?}`` one document per line
- ``queries.jsonl`` -- ``{"_id": ..., "text": ...}`` one query per line
- ``qrels.tsv``     -- ``query-id <TAB> corpus-id <TAB> score`` with a header line
- ``splits.json``   -- ``{protocol: {"train": [qid...], "dev": [...], "test": [...]}}``
- ``meta.json``     -- name, tier, description, counts
- ``SOURCE.md``     -- provenance and licence

Two split protocols are stored for every dataset, and every result names the one it used:

``known_corpus`` (default)
    As in deployment: every document is in the index at training time and may have
    training queries; only the *test queries* are never trained on.
``unseen_documents``
    Generalisation: the relevant documents of test queries have no training query at all.

Loading is strict. A malformed line, a duplicate id, a qrel pointing at a missing
document or query, an empty corpus, or a query without any relevant document raises
:class:`DataError` naming the file and line, and listing *all* problems found, so
nothing is silently dropped.

>>> ds = load_dataset("wordnet")                         # doctest: +SKIP
>>> split = ds.split("test")                            # doctest: +SKIP
>>> len(split.queries), len(ds.corpus)                   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from helpers.io import atomic_write, fingerprint_texts, write_json, write_jsonl

PROTOCOLS = ("known_corpus", "unseen_documents")
DEFAULT_PROTOCOL = "known_corpus"
SPLITS = ("train", "dev", "test")

#: ``data/`` at the root of the repository (the datasets that ship with the course).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class DataError(ValueError):
    """A dataset file is malformed or inconsistent. The message names file and line."""


@dataclass
class RetrievalSplit:
    """The queries of one split, with the full corpus they are searched against."""

    name: str
    protocol: str
    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]

    def subset(self, keep) -> "RetrievalSplit":
        """The queries for which ``keep(query_text)`` is true, against the same full corpus."""
        qids = [q for q, t in self.queries.items() if keep(t)]
        if not qids:
            raise ValueError(f"no query of split {self.name!r} passes the filter")
        return RetrievalSplit(self.name, self.protocol, {q: self.queries[q] for q in qids}, self.corpus,
                              {q: self.relevant[q] for q in qids})

    def fingerprint(self) -> str:
        """A hash of the queries (in order), their relevant ids and the corpus: what a score on this split
        depends on, so that results made on other data are never taken for these."""
        return fingerprint_texts([("corpus", fingerprint_texts(sorted(self.corpus.items())))] +
                                 [(q, self.queries[q], *sorted(self.relevant[q])) for q in self.queries])

    def pairs(self) -> list[tuple[str, str]]:
        """(query text, relevant document text) pairs, one per qrel, in a stable order."""
        return [
            (self.queries[q], self.corpus[d]) for q in self.queries for d in sorted(self.relevant[q])
        ]


@dataclass
class RetrievalDataset:
    name: str
    corpus: dict[str, str]
    queries: dict[str, str]
    relevant: dict[str, set[str]]
    splits: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def tier(self) -> str:
        return self.meta.get("tier", "unknown")

    @property
    def counts(self) -> dict[str, int]:
        """Documents, queries, judgments and the size of each split, computed from the data itself (a
        BEIR folder or your own has no ``meta.json`` to read them from).

        >>> load_dataset("wordnet").counts["known_corpus/test"]
        500
        """
        return {"documents": len(self.corpus), "queries": len(self.queries),
                "qrels": sum(len(v) for v in self.relevant.values()),
                **{f"{p}/{s}": len(qids) for p, parts in self.splits.items() for s, qids in parts.items()}}

    def describe(self, protocol: str = DEFAULT_PROTOCOL) -> str:
        """What the lessons run on, in a few lines: the layout, the sizes, and every note made while
        reading it (a dev set carved from train, queries written by an LLM, ...)."""
        layout = {"beir": "BEIR folder", "documents": "documents, no labels"}.get(self.meta.get("layout"), "course layout")
        sizes = ", ".join(f"{len(self.splits[protocol].get(s, [])):,} {s}" for s in SPLITS)
        sliced = f"; a slice: {self.meta['subsample']}" if "subsample" in self.meta else ""
        return "\n".join([f"{self.name} ({layout}): {len(self.corpus):,} documents; queries: {sizes} ({protocol}){sliced}",
                          *(f"  note: {n}" for n in self.meta.get("notes", []))])

    def split(self, name: str, protocol: str = DEFAULT_PROTOCOL, limit: int | None = None) -> RetrievalSplit:
        """Return one split. ``limit`` keeps the first ``limit`` queries (they are stored shuffled)."""
        if protocol not in self.splits:
            raise KeyError(f"{self.name}: unknown protocol {protocol!r}; have {sorted(self.splits)}")
        if name not in self.splits[protocol]:
            raise KeyError(f"{self.name}: unknown split {name!r}; have {sorted(self.splits[protocol])}")
        qids = self.splits[protocol][name][:limit]
        return RetrievalSplit(
            name=name,
            protocol=protocol,
            queries={q: self.queries[q] for q in qids},
            corpus=self.corpus,
            relevant={q: self.relevant[q] for q in qids},
        )

    def slice(self, sample: dict[str, int]) -> "RetrievalDataset":
        """The lessons' ``SAMPLE`` parameter, checked: ``{"docs": 400, "train": 300, "dev": 50, "test": 100}``
        (``docs`` required, any of the splits) -> :meth:`subsample`."""
        unknown = set(sample) - {"docs", *SPLITS}
        if unknown or "docs" not in sample:
            raise ValueError(f"sample needs 'docs' and may name {', '.join(SPLITS)}; got {sorted(sample)}")
        return self.subsample(sample["docs"], {k: v for k, v in sample.items() if k != "docs"})

    def subsample(self, n_docs: int, n_queries: dict[str, int] | None = None, seed: int = 0) -> "RetrievalDataset":
        """A smaller copy for quick runs: the first ``n_queries[split]`` queries of each split,
        every document relevant to them, and random other documents up to ``n_docs``.

        Recall on a smaller corpus is higher than on the full one: compare models on the same
        subsample only.
        """
        n_queries = n_queries or {"train": 64, "dev": 20, "test": 100}
        splits = {p: {s: qids[: n_queries.get(s, 0)] for s, qids in parts.items()} for p, parts in self.splits.items()}
        keep_q = {q for parts in splits.values() for qids in parts.values() for q in qids}
        keep_d = {d for q in keep_q for d in self.relevant[q]}
        others = sorted(set(self.corpus) - keep_d)
        random.Random(seed).shuffle(others)
        keep_d |= set(others[: max(0, n_docs - len(keep_d))])
        return RetrievalDataset(
            name=self.name, corpus={d: t for d, t in self.corpus.items() if d in keep_d},
            queries={q: self.queries[q] for q in keep_q}, relevant={q: self.relevant[q] for q in keep_q},
            splits=splits, meta={**self.meta, "subsample": {"n_docs": len(keep_d), **n_queries}}, path=self.path,
        )


# ----------------------------------------------------------------------------- loading

#: Encoding arguments for every text file read here: UTF-8 with an optional byte-order mark, and undecodable bytes
#: kept as lone surrogates (U+DC80..U+DCFF) so that a reader can name the line and column of the first one instead
#: of a position in the decoder's buffer (see :func:`undecodable_bytes_problem`).
TEXT_ENCODING = {"encoding": "utf-8-sig", "errors": "surrogateescape"}

_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what ``errors="surrogateescape"`` makes of a byte that is not UTF-8
_SURROGATE = re.compile("[\ud800-\udfff]")  # never text: a JSON ``"\\ud800"`` escape decodes to one


def not_utf8_message(path: Path, data: bytes, error: UnicodeDecodeError, first_line: int = 1) -> str:
    """The problem to report when ``data`` (a file's bytes, or one line's, numbered ``first_line``) failed to
    decode as UTF-8 with ``error``: the line and the byte column of the first bad byte.

    >>> data = "tea\\ncafé".encode("latin-1")
    >>> try:
    ...     data.decode("utf-8")
    ... except UnicodeDecodeError as e:
    ...     print(not_utf8_message(Path("notes.txt"), data, e))
    notes.txt:2: not UTF-8 text (byte 0xe9 at byte column 4); convert it, e.g. iconv -f latin1 -t utf-8
    """
    line_start = data.rfind(b"\n", 0, error.start) + 1
    lineno = first_line + data.count(b"\n", 0, error.start)
    return (f"{path}:{lineno}: not UTF-8 text (byte 0x{data[error.start]:02x} at byte column "
            f"{error.start - line_start + 1}); convert it, e.g. iconv -f latin1 -t utf-8")


def decode_utf8(data: bytes, path: Path, problems: list[str]) -> str | None:
    """A whole file's bytes as text, a leading byte-order mark dropped; ``None``, with the line and byte
    column of the first bad byte in ``problems``, when it is not UTF-8. (Not "utf-8-sig": its error
    offsets skip the mark, and the message would name the wrong byte.)

    >>> problems = []
    >>> decode_utf8(b"\\xef\\xbb\\xbfok", Path("a.txt"), problems), decode_utf8(b"caf\\xe9", Path("b.txt"), problems)
    ('ok', None)
    >>> problems
    ['b.txt:1: not UTF-8 text (byte 0xe9 at byte column 4); convert it, e.g. iconv -f latin1 -t utf-8']
    """
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        problems.append(not_utf8_message(path, data, e))
        return None


def undecodable_bytes_problem(path: Path, lineno: int, line: str) -> str | None:
    """The problem to report when ``line``, read with :data:`TEXT_ENCODING`, holds a byte that is not UTF-8; else None.

    >>> raw = b'{"text": "caf\\xe9"}\\n'
    >>> undecodable_bytes_problem(Path("docs.jsonl"), 3, raw.decode(**TEXT_ENCODING))
    'docs.jsonl:3: not UTF-8 text (byte 0xe9 at byte column 14); convert it, e.g. iconv -f latin1 -t utf-8'
    >>> undecodable_bytes_problem(Path("docs.jsonl"), 3, '{"text": "café"}') is None
    True
    """
    if not has_undecodable_bytes(line):
        return None
    raw = line.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return not_utf8_message(path, raw, e, first_line=lineno)
    return None  # unreachable: an escaped byte never decodes


def has_undecodable_bytes(text: str) -> bool:
    """Whether ``text``, read with :data:`TEXT_ENCODING`, holds a byte that is not UTF-8.

    >>> has_undecodable_bytes(b"caf\\xe9".decode(**TEXT_ENCODING)), has_undecodable_bytes("café")
    (True, False)
    """
    return _ESCAPED_BYTE.search(text) is not None


def checked_lines(lines, path: Path, problems: list[str]):
    """The lines of a file opened with :data:`TEXT_ENCODING`, unchanged; each line with a byte that is not UTF-8 is
    reported to ``problems`` by number (a CSV reader reading from this counts the same lines; a row it reads is
    then best left out when :func:`has_undecodable_bytes`, as its problem is reported already)."""
    for lineno, line in enumerate(lines, start=1):
        problem = undecodable_bytes_problem(path, lineno, line)
        if problem:
            problems.append(problem)
        yield line


def read_jsonl_rows(lines, path: Path, problems: list[str]):
    """(line number, object) for every JSON-object line of ``lines`` (an open file or a list of strings); blank
    lines are skipped, and every other line that is not a JSON object, or not UTF-8, goes to ``problems`` by number.

    >>> problems = []
    >>> lines = ['{"_id": 1}\\n', '\\n', '{"_id": "2", "text": "a\\n', '[1]\\n']
    >>> list(read_jsonl_rows(lines, Path("c.jsonl"), problems))
    [(1, {'_id': 1})]
    >>> print("\\n".join(problems))
    c.jsonl:3: malformed JSON (unterminated string starting at column 22)
    c.jsonl:4: expected a JSON object, got list
    """
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem = undecodable_bytes_problem(path, lineno, line)
        if problem:
            problems.append(problem)
            continue
        try:
            # without its line ending: else an unterminated string swallows the newline, and the error is
            # "Invalid control character" instead of what it is
            obj = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as e:
            what = e.msg[:1].lower() + e.msg[1:]  # "Unterminated string starting at" ends with "at" already
            problems.append(f"{path}:{lineno}: malformed JSON ({what}{'' if what.endswith(' at') else ' at'} "
                            f"column {e.colno})")
            continue
        if isinstance(obj, dict):
            yield lineno, obj
        else:
            problems.append(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")


def collect_texts(rows, path: Path, kind: str, problems: list[str], id_names=("_id", "id"),
                  text_column: str = "text", empty: list[str] | None = None) -> dict[str, str]:
    """{id: text} from (line number, row) pairs -- a JSONL object or a CSV row -- with a ``title`` put in front of the
    text; a row with a title and an empty text is its title (BEIR's convention: a section heading is a document).
    Every row without an id, with an id that is not a string or an integer, with a text that is not a string, with
    neither text nor title, or with a duplicate id is left out and reported to ``problems`` by line -- except that,
    given a list ``empty``, rows with neither text nor title are left out and listed there ("file:line (id)").

    >>> problems = []
    >>> rows = [(1, {"_id": "a", "title": "T", "text": "x"}), (2, {"_id": "b", "text": 42}),
    ...         (3, {"_id": "a", "text": "y"})]
    >>> collect_texts(rows, Path("c.jsonl"), "document", problems)
    {'a': 'T: x'}
    >>> print("\\n".join(problems))
    c.jsonl:2: document 'b': the text must be a string, got int (42)
    c.jsonl:3: duplicate document id 'a' (first on line 1)
    """
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, row in rows:
        key = next((row[c] for c in id_names if row.get(c) not in (None, "")), None)
        text = row.get(text_column)
        column = "" if text_column == "text" else f" in column {text_column!r}"
        if key is None:
            problems.append(f"{path}:{lineno}: {kind} has no {' or '.join(map(repr, id_names))}")
            continue
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            problems.append(f"{path}:{lineno}: {kind} id must be a string or an integer, got {type(key).__name__} "
                            f"({_preview(key)})")
            continue
        key = str(key)
        if text is not None and not isinstance(text, str):
            problems.append(f"{path}:{lineno}: {kind} {key!r}: the text{column} must be a string, "
                            f"got {type(text).__name__} ({_preview(text)})")
            continue
        title = row.get("title")
        if title is not None and not isinstance(title, str):
            problems.append(f"{path}:{lineno}: {kind} {key!r}: the title must be a string, "
                            f"got {type(title).__name__} ({_preview(title)})")
            continue
        if not text or not text.strip():
            if title and title.strip():
                text, title = title, None
            elif empty is not None:
                empty.append(f"{path}:{lineno} ({key!r})")
                continue
            else:
                problems.append(f"{path}:{lineno}: {kind} {key!r} has no text{column}")
                continue
        if title:
            text = f"{title}: {text}"
        where = "id" if _SURROGATE.search(key) else "text" if _SURROGATE.search(text) else None
        if where:  # it could not be written back as UTF-8
            problems.append(f"{path}:{lineno}: {kind} {key!r}: the {where} has an unpaired surrogate (a "
                            "\\ud800-\\udfff escape), which is not a character")
            continue
        if key in out:
            problems.append(f"{path}:{lineno}: duplicate {kind} id {key!r} (first on line {first_line[key]})")
            continue
        out[key], first_line[key] = text, lineno
    return out


def _preview(value, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def read_jsonl_texts(path: Path, kind: str, problems: list[str]) -> dict[str, str]:
    """{id: text} of a JSONL file of ``{"_id" or "id", "text", "title"?}`` objects (see :func:`collect_texts`);
    every problem, an unreadable file included, goes to ``problems``."""
    try:
        with open(path, **TEXT_ENCODING) as f:
            return collect_texts(read_jsonl_rows(f, path, problems), path, kind, problems)
    except OSError as e:
        problems.append(f"{path}: unreadable ({e.strerror or e})")
        return {}


QRELS_HEADERS = ("query-id", "qid", "query_id")


def read_qrels(path: Path, problems: list[str]) -> list[tuple[int, str, str, float]]:
    """(line number, query id, corpus id, score) for every judgment of a qrels file, in either layout:

    - BEIR: ``query-id <TAB> corpus-id [<TAB> score]`` (a header line is skipped; a missing score is 1);
    - TREC: ``query-id iteration corpus-id relevance``, four columns separated by tabs or spaces (the
      second column, ``0`` or ``Q0``, is not a corpus id and is never read as one).

    The first judgment's column count decides the layout, and a line with another count is a problem
    (a TREC line read as BEIR would make every query relevant to document ``0``). A score must be a
    finite number; the one rule for scores: above 0 is relevant, 0 or below is judged *not* relevant
    (returned, so that callers can count it, never used as relevant). Every bad line goes to ``problems``.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.txt"
    >>> _ = p.write_text("q1 0 d7 1\\nq1 0 d8 0\\n")
    >>> read_qrels(p, [])
    [(1, 'q1', 'd7', 1.0), (2, 'q1', 'd8', 0.0)]
    """
    out = []
    layout: tuple[int, int] | None = None  # (columns, first judgment's line)
    try:
        f = open(path, newline="", **TEXT_ENCODING)
    except OSError as e:
        problems.append(f"{path}: unreadable ({e.strerror or e})")
        return out
    with f:
        for lineno, line in enumerate(f, start=1):
            problem = undecodable_bytes_problem(path, lineno, line)
            if problem:
                problems.append(problem)
                continue
            line = line.rstrip("\r\n")
            row = next(csv.reader([line], delimiter="\t"), []) if "\t" in line else line.split()
            if not row or not "".join(row).strip() or (lineno == 1 and row[0] in QRELS_HEADERS):
                continue
            if len(row) not in (2, 3, 4):
                problems.append(f"{path}:{lineno}: expected 'query-id<TAB>corpus-id<TAB>score' (BEIR) or "
                                f"'query-id iteration corpus-id relevance' (TREC), got {len(row)} column(s): {row!r}")
                continue
            if layout is None:
                layout = (len(row), lineno)
            elif len(row) != layout[0]:
                problems.append(f"{path}:{lineno}: {len(row)} columns, but the file's first judgment (line {layout[1]}) "
                                f"has {layout[0]}: one layout per file")
                continue
            qid, did, score_text = (row[0], row[2], row[3]) if len(row) == 4 else (row[0], row[1], row[2] if len(row) == 3 else "1")
            try:
                score = float(score_text)
            except ValueError:
                problems.append(f"{path}:{lineno}: score {score_text!r} is not a number")
                continue
            if not math.isfinite(score):
                problems.append(f"{path}:{lineno}: score {score_text!r} is not a finite number")
                continue
            out.append((lineno, qid, did, score))
    return out


def raise_if_problems(problems: list[str], what: str, max_listed: int = 20, error: type[Exception] | None = None,
                      hint: str = "") -> None:
    """Raise ``error`` (:class:`DataError` by default) listing the first ``max_listed`` problems, if there are any.

    >>> raise_if_problems([], "dataset x")
    >>> raise_if_problems(["a.jsonl:3: malformed JSON"], "dataset x")
    Traceback (most recent call last):
    ...
    helpers.data.DataError: dataset x: 1 problem(s):
      a.jsonl:3: malformed JSON
    """
    if problems:
        listed = "\n  ".join(problems[:max_listed])
        more = f"\n  ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        raise (error or DataError)(f"{what}: {len(problems)} problem(s):\n  {listed}{more}" + (f"\n{hint}" if hint else ""))


def resolve_dataset_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.is_dir():
        return p
    if (DATA_DIR / str(name_or_path)).is_dir():
        return DATA_DIR / str(name_or_path)
    raise DataError(
        f"no dataset {str(name_or_path)!r}: not a folder, and not one of the shipped datasets "
        f"{available_datasets()} in {DATA_DIR}"
    )


def available_datasets() -> list[str]:
    return sorted(p.name for p in DATA_DIR.iterdir() if (p / "corpus.jsonl").exists()) if DATA_DIR.exists() else []


def load_dataset(name_or_path: str | Path, sample: dict[str, int] | None = None) -> RetrievalDataset:
    """Load and validate a dataset folder (or a shipped dataset by name); with ``sample``, e.g.
    ``{"docs": 400, "train": 300, "dev": 50, "test": 100}``, a slice of it for a quick first run
    (:meth:`RetrievalDataset.subsample`: recall on a smaller corpus is higher, compare on one slice only).

    Two layouts: the course's (``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``, and optionally
    ``splits.json``, else splits are made by :func:`make_splits`), and a standard BEIR folder
    (``qrels/train.tsv``, ``qrels/dev.tsv``, ``qrels/test.tsv``, any of them), whose files are its
    ``known_corpus`` splits -- see :func:`read_beir_splits` for what is checked and left out there.
    """
    dataset = _read_dataset(resolve_dataset_path(name_or_path))
    return dataset if sample is None else dataset.slice(sample)


def _read_dataset(root: Path) -> RetrievalDataset:
    problems: list[str] = []
    beir = not (root / "qrels.tsv").exists() and any((root / "qrels" / f"{s}.tsv").exists() for s in SPLITS)
    for fname in ("corpus.jsonl", "queries.jsonl") + (() if beir else ("qrels.tsv",)):
        if not (root / fname).exists():
            hint = " (or, in a BEIR folder, qrels/train.tsv, dev.tsv, test.tsv)" if fname == "qrels.tsv" else ""
            problems.append(f"{root / fname}: missing{hint}")
    raise_if_problems(problems, f"dataset {root}")

    corpus = read_jsonl_texts(root / "corpus.jsonl", "document", problems)
    queries = read_jsonl_texts(root / "queries.jsonl", "query", problems)
    if not corpus and not problems:
        problems.append(f"{root / 'corpus.jsonl'}: the corpus is empty")
    if beir:
        relevant, beir_splits, notes = read_beir_splits(root, queries, corpus, problems)
        raise_if_problems(problems, f"dataset {root}")
        kept = {q: queries[q] for q in relevant}
        if not beir_splits.get("train"):
            # no training judgments: the labelled queries are all there is, split as a course folder's are
            notes.append(f"no training queries in qrels/train.tsv: the {len(kept)} judged queries of "
                         f"{', '.join(f'qrels/{s}.tsv' for s in beir_splits)} are split into train, dev and test")
            splits = make_splits(kept, relevant)
        else:
            if not beir_splits.get("dev"):
                beir_splits["dev"], beir_splits["train"] = carve_dev(beir_splits["train"], kept)
                notes.append(f"no qrels/dev.tsv: {len(beir_splits['dev'])} of the training queries are held out as "
                             "dev (choices are made on dev, never on test)")
            splits = {DEFAULT_PROTOCOL: beir_splits}
        for note in notes:
            warnings.warn(f"{root}: {note}", stacklevel=2)
        return RetrievalDataset(name=root.name, corpus=corpus, queries=kept, relevant=relevant, splits=splits,
                                meta={"name": root.name, "layout": "beir", "notes": notes}, path=root)
    relevant: dict[str, set[str]] = {}
    qrels_path = root / "qrels.tsv"
    for lineno, qid, did, score in read_qrels(qrels_path, problems):
        if qid not in queries:
            problems.append(f"{qrels_path}:{lineno}: query id {qid!r} is not in queries.jsonl")
        elif did not in corpus:
            problems.append(f"{qrels_path}:{lineno}: corpus id {did!r} is not in corpus.jsonl")
        elif score > 0:
            relevant.setdefault(qid, set()).add(did)
    unjudged = [q for q in queries if q not in relevant]
    if unjudged and corpus:
        problems.append(
            f"{root / 'queries.jsonl'}: {len(unjudged)} query(ies) have no relevant document in qrels.tsv, "
            f"e.g. {unjudged[:5]}"
        )

    splits: dict = {}
    meta: dict = {}
    for fname in ("splits.json", "meta.json"):
        if (root / fname).exists():
            try:
                text = decode_utf8((root / fname).read_bytes(), root / fname, problems)
                if text is None:
                    continue
                obj = json.loads(text)
            except OSError as e:
                problems.append(f"{root / fname}: unreadable ({e.strerror or e})")
                continue
            except json.JSONDecodeError as e:
                problems.append(f"{root / fname}:{e.lineno}: malformed JSON ({e.msg})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{root / fname}: expected a JSON object, got {type(obj).__name__}")
            elif fname == "meta.json":
                meta = obj
            else:
                splits = obj
    for protocol, parts in splits.items():
        if not isinstance(parts, dict) or not all(isinstance(v, list) for v in parts.values()):
            problems.append(f"{root / 'splits.json'}: protocol {protocol!r} must map split names to lists of query ids")
            continue
        seen: dict[str, str] = {}
        for part, qids in parts.items():
            for q in qids:
                if q not in queries:
                    problems.append(f"{root / 'splits.json'}: {protocol}/{part} names unknown query {q!r}")
                elif q in seen:
                    problems.append(f"{root / 'splits.json'}: {protocol}: query {q!r} is in both {seen[q]} and {part}")
                seen[q] = part
    raise_if_problems(problems, f"dataset {root}")

    if not splits:
        splits = make_splits(queries, relevant)
    elif any(not parts.get("dev") for parts in splits.values()):
        for protocol, parts in splits.items():
            if not parts.get("dev"):
                parts["dev"], parts["train"] = carve_dev(parts.get("train", []), queries)
                warnings.warn(f"{root / 'splits.json'}: {protocol} has no dev split: {len(parts['dev'])} training "
                              "queries are held out as dev", stacklevel=2)
    return RetrievalDataset(
        name=meta.get("name", root.name), corpus=corpus, queries=queries, relevant=relevant,
        splits=splits, meta=meta, path=root,
    )


def read_beir_splits(root: Path, queries: dict[str, str], corpus: dict[str, str], problems: list[str]
                     ) -> tuple[dict[str, set[str]], dict[str, list[str]], list[str]]:
    """(relevant documents per query, {split: query ids}, notes) from a BEIR folder's
    ``qrels/{train,dev,test}.tsv``; problems go to ``problems`` by file and line.

    Errors: a judgment naming an unknown query or document, a query judged in two split files.
    Left out, with a note: queries that no split file judges (a BEIR ``queries.jsonl`` often holds
    more), and train or dev queries whose text (case and spacing aside) is a test query's -- or, for
    train, a dev query's: a model must never have trained on the text it is scored on.
    """
    relevant: dict[str, set[str]] = {}
    split_of: dict[str, tuple[str, str]] = {}  # query id -> (split, "file:line") of its first judgment
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        path = root / "qrels" / f"{split}.tsv"
        if not path.exists():
            continue
        ids = splits.setdefault(split, [])
        for lineno, qid, did, score in read_qrels(path, problems):
            where = f"{path}:{lineno}"
            if qid not in queries:
                problems.append(f"{where}: query id {qid!r} is not in queries.jsonl")
            elif did not in corpus:
                problems.append(f"{where}: corpus id {did!r} is not in corpus.jsonl")
            elif score <= 0:
                continue  # judged not relevant: says nothing about the query's split
            elif qid in split_of and split_of[qid][0] != split:
                problems.append(f"{where}: query {qid!r} is judged in {split} and in {split_of[qid][0]} "
                                f"({split_of[qid][1]}): a query belongs to one split")
            else:
                if qid not in split_of:
                    split_of[qid] = (split, where)
                    ids.append(qid)
                relevant.setdefault(qid, set()).add(did)
    if not relevant and not problems:
        problems.append(f"{root / 'qrels'}: no query has a positive judgment in {', '.join(f'{s}.tsv' for s in splits)}")
    for ids in splits.values():  # stored shuffled, as make_splits does, so that split(limit=n) is a random sample
        random.Random(0).shuffle(ids)
    notes = []
    unjudged = [q for q in queries if q not in relevant]
    if unjudged:
        notes.append(f"{len(unjudged)} query(ies) in queries.jsonl have no positive judgment in qrels/ and are "
                     f"left out, e.g. {unjudged[:3]}")
    held_out: set[str] = set()
    for split, later in (("test", ("dev", "train")), ("dev", ("train",))):
        held_out |= {normalise_query(queries[q]) for q in splits.get(split, [])}
        for other in later:
            leaked = [q for q in splits.get(other, []) if normalise_query(queries[q]) in held_out]
            if leaked:
                dropped = set(leaked)
                splits[other] = [q for q in splits[other] if q not in dropped]
                for q in leaked:
                    del relevant[q]
                notes.append(f"{len(leaked)} {other} query(ies) left out: their text is also a "
                             f"{'test' if split == 'test' else 'dev'} query's, e.g. {leaked[:3]}")
    return relevant, splits, notes


def normalise_query(text: str) -> str:
    """The form in which two query texts count as the same: lower case, spacing collapsed.

    >>> normalise_query("  Remove untracked   FILES ")
    'remove untracked files'
    """
    return " ".join(text.lower().split())


# ----------------------------------------------------------------------------- splits


#: Below this share of the queries left for training by the default split sizes, the sizes become shares
MIN_TRAIN_SHARE = 0.25
#: ... these shares: a quarter of the queries for test, a tenth for dev, the rest for training
TEST_SHARE, DEV_SHARE = 0.25, 0.10


def split_sizes(n_queries: int, n_test: int = 500, n_dev: int = 200) -> tuple[int, int]:
    """(test, dev) sizes for ``n_queries`` labelled queries: the defaults where they leave at least
    :data:`MIN_TRAIN_SHARE` of the queries for training, else proportional ones, with a warning -- a
    small labelled set is never split into 0 training queries.

    >>> split_sizes(3017)
    (500, 200)
    >>> import warnings; warnings.simplefilter("ignore")
    >>> split_sizes(600)
    (150, 60)
    """
    if n_queries - n_test - n_dev >= MIN_TRAIN_SHARE * n_queries:
        return n_test, n_dev
    test, dev = round(TEST_SHARE * n_queries), max(1, round(DEV_SHARE * n_queries))
    warnings.warn(f"{n_queries} labelled queries are too few for {n_test} test and {n_dev} dev queries: split "
                  f"{test} test, {dev} dev, {n_queries - test - dev} train instead", stacklevel=3)
    return test, dev


def carve_dev(train: list[str], queries: dict[str, str], share: float = DEV_SHARE, most: int = 200,
              seed: int = 0) -> tuple[list[str], list[str]]:
    """(dev, train): a seeded ``share`` of the training queries (at most ``most``) held out as dev, for a
    folder that has none. Queries of the same text stay on one side.

    >>> dev, train = carve_dev([f"q{i}" for i in range(30)], {f"q{i}": f"text {i % 15}" for i in range(30)})
    >>> len(dev), len(train), {t[-2:] for t in dev} & {t[-2:] for t in train}
    (4, 26, set())
    """
    groups: dict[str, list[str]] = {}
    for q in train:
        groups.setdefault(normalise_query(queries[q]), []).append(q)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target, dev = min(most, max(1, round(share * len(train)))), []
    while keys and len(dev) < target and len(keys) > 1:
        dev.extend(groups[keys.pop(0)])
    held = set(dev)
    return dev, [q for q in train if q not in held]


def make_splits(
    queries: dict[str, str],
    relevant: dict[str, set[str]],
    n_test: int = 500,
    n_dev: int = 200,
    seed: int = 0,
) -> dict[str, dict[str, list[str]]]:
    """Build both protocols' train/dev/test query splits (sizes by :func:`split_sizes`).

    Queries with identical text (case-insensitive) always land in the same split, so no test
    query text is ever trained on. ``unseen_documents`` picks whole documents for test:
    a query is a test query when all its relevant documents are test documents; train and
    dev queries touch no test document; queries that straddle both are left out of that
    protocol (counted in ``splits["unseen_documents"]["excluded"]``).

    >>> q = {str(i): f"q{i}" for i in range(10)}
    >>> rel = {str(i): {f"d{i // 2}"} for i in range(10)}
    >>> s = make_splits(q, rel, n_test=4, n_dev=2)
    >>> sorted(len(s["known_corpus"][k]) for k in ("train", "dev", "test"))
    [2, 4, 4]
    >>> test_docs = {d for qq in s["unseen_documents"]["test"] for d in rel[qq]}
    >>> any(rel[qq] & test_docs for qq in s["unseen_documents"]["train"])
    False
    """
    n_test, n_dev = split_sizes(len(queries), n_test, n_dev)
    rng = random.Random(seed)
    # group identical texts so that they share a split
    groups: dict[str, list[str]] = {}
    for qid, text in queries.items():
        groups.setdefault(normalise_query(text), []).append(qid)
    keys = sorted(groups)
    rng.shuffle(keys)

    def take(keys_in_order: list[str], n: int) -> tuple[list[str], list[str]]:
        taken, i = [], 0
        while i < len(keys_in_order) and len(taken) < n:
            taken.extend(groups[keys_in_order[i]])
            i += 1
        return taken, keys_in_order[i:]

    test, rest = take(keys, n_test)
    dev, rest = take(rest, n_dev)
    train = [q for k in rest for q in groups[k]]
    known = {"train": train, "dev": dev, "test": test}

    # unseen documents: choose test documents in random order until enough test queries
    doc_queries: dict[str, list[str]] = {}
    for qid in queries:
        for d in relevant.get(qid, ()):
            doc_queries.setdefault(d, []).append(qid)
    docs = sorted(doc_queries)
    rng.shuffle(docs)
    # a query group becomes a test query once *all* its relevant documents are test documents
    group_of = {q: k for k, members in groups.items() for q in members}
    group_docs = {k: set().union(*(relevant.get(q, set()) for q in members)) for k, members in groups.items()}
    missing = {k: len(ds) for k, ds in group_docs.items()}
    test_docs: set[str] = set()
    n_test_q = 0
    for d in docs:
        if n_test_q >= n_test:
            break
        test_docs.add(d)
        for k in {group_of[q] for q in doc_queries[d]}:
            missing[k] -= 1
            if missing[k] == 0:
                n_test_q += len(groups[k])
    # queries whose text also occurs among test queries must not be trained on either
    test_u, other = [], []
    for k in keys:
        rels = group_docs[k]
        if rels and rels <= test_docs:
            test_u.extend(groups[k])
        elif not (rels & test_docs):
            other.extend(groups[k])
    dev_u, train_u = other[:n_dev], other[n_dev:]
    excluded = sorted(set(queries) - set(test_u) - set(other))
    unseen = {"train": train_u, "dev": dev_u, "test": test_u, "excluded": excluded}
    return {"known_corpus": known, "unseen_documents": unseen}


def write_beir(folder: str | Path, splits: dict[str, RetrievalSplit]) -> Path:
    """Write ``splits`` (``{"train": ..., "dev": ..., "test": ...}``, any of them, over one corpus) as a
    standard BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``. Each file is
    written atomically. What :func:`helpers.corpus.load_corpus` and ``python -m helpers finetune``
    read back as a team's own labelled set.

    >>> import tempfile
    >>> ds = load_dataset("wordnet")
    >>> root = write_beir(tempfile.mkdtemp(), {"test": ds.split("test", limit=3)})
    >>> sorted(str(p.relative_to(root)) for p in root.rglob("*.*"))
    ['corpus.jsonl', 'qrels/test.tsv', 'queries.jsonl']
    """
    if not splits:
        raise ValueError("no split to write")
    corpus = next(iter(splits.values())).corpus
    if any(s.corpus is not corpus and s.corpus != corpus for s in splits.values()):
        raise ValueError(f"splits {sorted(splits)} are over different corpora: a BEIR folder has one")
    seen: dict[str, str] = {}
    for name, split in splits.items():
        for q in split.queries:
            if q in seen:
                raise ValueError(f"query {q!r} is in splits {seen[q]!r} and {name!r}")
            seen[q] = name
    root = Path(folder)
    write_jsonl(root / "corpus.jsonl", ({"_id": d, "text": t} for d, t in corpus.items()))
    write_jsonl(root / "queries.jsonl", ({"_id": q, "text": t} for s in splits.values() for q, t in s.queries.items()))
    for name, split in splits.items():
        with atomic_write(root / "qrels" / f"{name}.tsv") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            f.writelines(f"{q}\t{d}\t1\n" for q in split.queries for d in sorted(split.relevant[q]))
    return root


def save_dataset(
    root: str | Path,
    corpus: dict[str, str],
    queries: dict[str, str],
    relevant: dict[str, set[str]],
    meta: dict,
    source_md: str,
    seed: int = 0,
    n_test: int = 500,
    n_dev: int = 200,
) -> dict:
    """Write a dataset in the course layout (atomically, file by file), with both splits."""
    root = Path(root)
    splits = make_splits(queries, relevant, n_test=n_test, n_dev=n_dev, seed=seed)
    write_jsonl(root / "corpus.jsonl", ({"_id": k, "text": v} for k, v in corpus.items()))
    write_jsonl(root / "queries.jsonl", ({"_id": k, "text": v} for k, v in queries.items()))
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q in queries for d in sorted(relevant[q])]
    with atomic_write(root / "qrels.tsv") as f:
        f.write("\n".join(rows) + "\n")
    write_json(root / "splits.json", splits, indent=None)
    counts = RetrievalDataset(root.name, corpus, queries, relevant, splits).counts
    meta = {**meta, "counts": counts, "seed": seed}
    write_json(root / "meta.json", meta)
    table = "\n".join(f"| {k} | {v:,} |" for k, v in counts.items())
    with atomic_write(root / "SOURCE.md") as f:
        f.write(source_md.strip() + "\n\n## Counts (written by the build script)\n\n| what | count |\n|---|---|\n" + table + "\n")
    return meta
