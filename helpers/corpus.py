"""Your own documents: load a folder or a file of them, check them, and cut them into chunks.

:func:`load_corpus` accepts what readers usually have:

- a **folder** of ``.txt`` / ``.md`` / ``.rst`` / ``.html`` files (searched recursively; HTML is
  reduced to its text; other file types are listed and left out);
- a **JSONL** or **CSV/TSV** file with an id column and a text column (names configurable);
- a **BEIR-style folder** (``corpus.jsonl``, and optionally ``queries.jsonl`` with
  ``qrels/test.tsv`` or ``qrels.tsv``: its gold queries are then used for evaluation).

Every document is cut into chunks of at most ``max_words`` words, ending at a paragraph break
where one is near. A chunk's id traces it back to its source: ``<file or id>#<start>-<end>``, or
just the document id when the document fits in one chunk. The offsets are characters of the
document's text as loaded: a text file's decoded contents, an HTML file's extracted text, a
JSONL/CSV row's text (after its ``title``, when there is one).

Loading is strict and reports *every* problem at once, naming the file and line: an empty
folder, a binary or non-UTF-8 file, a CSV without the named column, a duplicate id, an empty
text, a qrel that points at nothing. All before any expensive work starts.

>>> spans = chunk_spans("one two three.\\n\\nfour five six seven", max_words=4)
>>> [("one two three.\\n\\nfour five six seven")[a:b] for a, b in spans]
['one two three.', 'four five six seven']
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path

from helpers.data import DataError, _collect, _jsonl_rows, _raise_if, _read_jsonl, _read_qrels
from helpers.io import fingerprint_texts

#: File types read from a folder, and how their text is obtained.
SUFFIXES = {".txt": "text", ".md": "text", ".markdown": "text", ".rst": "text", ".html": "html", ".htm": "html"}


class CorpusError(DataError):
    """The documents cannot be used as given; the message names each file, line or id."""


# ----------------------------------------------------------------------------- HTML


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, one line per block element; scripts and styles dropped."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dt", "dd", "table",
              "section", "article", "blockquote", "ul", "ol", "dl", "hr"}
    HIDDEN = {"script", "style", "head", "noscript", "template"}  # <title> is in <head>: the page's <h1> says it

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        if tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML document: paragraphs separated by blank lines.

    >>> html_to_text("<html><head><title>T</title><style>p{}</style></head><body><h1>Hi</h1><p>a&amp;b <b>c</b></p></body></html>")
    'Hi\\n\\na&b c'
    """
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


# ----------------------------------------------------------------------------- chunking


def chunk_spans(text: str, max_words: int = 100, overlap_words: int = 0) -> list[tuple[int, int]]:
    """Character spans of the chunks of ``text``: at most ``max_words`` words each, cut at the last
    paragraph break (blank line) in the second half of the window when there is one, else mid-text;
    consecutive chunks share ``overlap_words`` words."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    if not 0 <= overlap_words < max_words:
        raise ValueError(f"overlap_words must be in [0, max_words), got {overlap_words}")
    words = [m.span() for m in re.finditer(r"\S+", text)]
    # word i starts a paragraph when a blank line separates it from word i - 1
    para_start = {i for i in range(1, len(words)) if "\n\n" in text[words[i - 1][1]:words[i][0]].replace("\r", "")}
    spans, i = [], 0
    while i < len(words):
        j = min(i + max_words, len(words))
        if j < len(words):
            breaks = [b for b in range(i + max_words // 2 + 1, j + 1) if b in para_start]
            j = breaks[-1] if breaks else j
        spans.append((words[i][0], words[j - 1][1]))
        if j >= len(words):
            break
        i = max(j - overlap_words, i + 1)
    return spans


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str  # the file (relative to the corpus folder) or the document id it comes from
    start: int   # character offsets into the source document's text
    end: int
    text: str


def chunk_documents(documents: dict[str, str], max_words: int = 100, overlap_words: int = 0) -> list[Chunk]:
    """Cut every document into :class:`Chunk` s (see :func:`chunk_spans`); ``max_words=0`` keeps them whole."""
    chunks = []
    for source, text in documents.items():
        spans = chunk_spans(text, max_words, overlap_words) if max_words else [(0, len(text))]
        if len(spans) == 1:
            a, b = spans[0]
            chunks.append(Chunk(source, source, a, b, text[a:b]))
        else:
            chunks += [Chunk(f"{source}#{a}-{b}", source, a, b, text[a:b]) for a, b in spans]
    return chunks


# ----------------------------------------------------------------------------- reading


def _read_file_text(path: Path, problems: list[str]) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as e:
        problems.append(f"{path}: unreadable ({e.strerror or e})")
        return None
    if b"\x00" in data[:8192]:
        problems.append(f"{path}: binary file (NUL bytes), not text")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        problems.append(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                        "convert it, e.g. iconv -f latin1 -t utf-8")
        return None
    return html_to_text(text) if SUFFIXES[path.suffix.lower()] == "html" else text


def _read_folder(root: Path, problems: list[str], notes: list[str]) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts))
    other = Counter(p.suffix.lower() or "(no extension)" for p in files if p.suffix.lower() not in SUFFIXES)
    if other:
        notes.append("left out (not a supported file type): " + ", ".join(f"{n} {s}" for s, n in other.most_common()))
    docs, empty = {}, []
    for path in files:
        if path.suffix.lower() in SUFFIXES:
            text = _read_file_text(path, problems)
            if text is not None and not text.strip():
                empty.append(path.relative_to(root).as_posix())
            elif text is not None:
                docs[path.relative_to(root).as_posix()] = text
    if empty:
        notes.append(f"left out (no text): {len(empty)} file(s), e.g. {empty[:3]}")
    if not docs and not problems:
        found = f"{len(files)} file(s), none of them a non-empty" if files else "the folder is empty: no"
        problems.append(f"{root}: {found} {'/'.join(sorted(SUFFIXES))} document")
    return docs


def _read_table(path: Path, id_column: str | None, text_column: str, problems: list[str]) -> dict[str, str]:
    """Rows of a JSONL or CSV/TSV file as {id: text}; every bad row is reported by line number."""
    suffix = path.suffix.lower()
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except OSError as e:
        problems.append(f"{path}: unreadable ({e.strerror or e})")
        return {}
    with f:
        if suffix == ".jsonl":
            id_names = [id_column] if id_column else ["_id", "id"]
            rows = _jsonl_rows(f, path, problems)
        else:
            id_names = [id_column] if id_column else ["id", "_id"]
            csv.field_size_limit(2**31 - 1)  # the default (128 KiB) would reject long documents
            try:
                # TSV: tabs separate, and quotes are text (a document may start with one)
                reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if suffix == ".tsv" \
                    else csv.DictReader(f)
                columns = reader.fieldnames or []
            except (csv.Error, UnicodeDecodeError) as e:
                problems.append(f"{path}: not a readable CSV file ({e})")
                return {}
            missing = [repr(text_column)] if text_column not in columns else []
            if not any(c in columns for c in id_names):
                missing.append(" or ".join(map(repr, id_names)))
            if missing:
                problems.append(f"{path}:1: no column {' and no column '.join(missing)}; the header has {columns} "
                                "(choose with --id-column / --text-column)")
                return {}
            rows = ((reader.line_num, row) for row in _csv_rows(reader, path, problems))
        docs = _collect(rows, path, "document", problems, id_names, text_column)
    if not docs and not problems:
        problems.append(f"{path}: no documents in it")
    return {k: v.strip() for k, v in docs.items()}


def _csv_rows(reader, path: Path, problems: list[str]):
    try:
        yield from reader
    except (csv.Error, UnicodeDecodeError) as e:
        problems.append(f"{path}:{reader.line_num}: unreadable CSV ({e})")


# ----------------------------------------------------------------------------- the corpus


@dataclass
class GoldQueries:
    """Labelled queries: ``relevant`` names chunk ids (``level="chunk"``) or document ids
    (``level="document"``: a ranking of chunks is then scored by the documents it reaches)."""

    queries: dict[str, str]
    relevant: dict[str, set[str]]
    level: str
    source: str


@dataclass
class Corpus:
    path: str
    format: str  # "folder", "jsonl", "csv", "beir"
    documents: dict[str, str]
    chunks: list[Chunk]
    gold: GoldQueries | None = None
    notes: list[str] = field(default_factory=list)

    @cached_property
    def texts(self) -> dict[str, str]:
        """{chunk id: chunk text}: what is indexed, searched and trained on."""
        return {c.id: c.text for c in self.chunks}

    @cached_property
    def source_of(self) -> dict[str, str]:
        return {c.id: c.source for c in self.chunks}

    def fingerprint(self) -> str:
        return fingerprint_texts((c.id, c.text) for c in self.chunks)

    def describe(self) -> str:
        words = sum(len(c.text.split()) for c in self.chunks)
        gold = (f"; {len(self.gold.queries)} gold queries ({self.gold.level} level, {self.gold.source})"
                if self.gold else "; no gold queries")
        return (f"{len(self.documents):,} documents ({self.format}) -> {len(self.chunks):,} chunks, "
                f"{words / max(1, len(self.chunks)):.0f} words on average{gold}")


def load_corpus(path: str | Path, max_words: int = 100, overlap_words: int = 0, id_column: str | None = None,
                text_column: str = "text", queries: str | Path | None = None, qrels: str | Path | None = None,
                skip_bad_files: bool = False) -> Corpus:
    """Read, check and chunk the documents at ``path`` (see the module docstring for the formats).

    ``queries`` (JSONL ``{"_id", "text"}``) and ``qrels`` (TSV ``query-id, corpus-id, score``) add
    gold queries; in a BEIR folder they are found on their own. With ``skip_bad_files`` a folder's
    binary or undecodable files are left out (and listed in ``notes``) instead of stopping the run.
    """
    path = Path(path)
    problems: list[str] = []
    notes: list[str] = []
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    if path.is_dir() and (path / "corpus.jsonl").exists():
        fmt, documents = "beir", _read_table(path / "corpus.jsonl", id_column, text_column, problems)
        if queries is None and (path / "queries.jsonl").exists():
            queries = path / "queries.jsonl"
            qrels = qrels or next((p for p in (path / "qrels" / "test.tsv", path / "qrels.tsv") if p.exists()), None)
            if qrels is None:
                raise CorpusError(f"BEIR folder {path} has queries.jsonl but no qrels/test.tsv or qrels.tsv: "
                                  "add the judgments, or move queries.jsonl away to use synthetic queries only")
    elif path.is_dir():
        fmt, documents = "folder", _read_folder(path, problems, notes)
        if skip_bad_files and problems and documents:
            notes.append(f"left out (unreadable): {len(problems)} file(s): " + "; ".join(problems[:5]))
            problems = []
    elif path.suffix.lower() in (".jsonl", ".csv", ".tsv"):
        fmt = "jsonl" if path.suffix.lower() == ".jsonl" else "csv"
        documents = _read_table(path, id_column, text_column, problems)
    else:
        raise CorpusError(f"{path}: not a folder, and not a .jsonl, .csv or .tsv file")
    hint = "(--skip-bad-files leaves such files out instead)" if fmt == "folder" and documents else ""
    _raise_if(problems, f"corpus {path}", error=CorpusError, hint=hint)

    chunks = chunk_documents(documents, max_words, overlap_words)
    ids = Counter(c.id for c in chunks)
    clashes = [i for i, n in ids.items() if n > 1]
    if clashes:
        raise CorpusError(f"corpus {path}: chunk ids clash with document ids: {clashes[:5]}; rename those documents")
    corpus = Corpus(str(path), fmt, documents, chunks, notes=notes)
    if (queries is None) != (qrels is None):
        raise CorpusError("gold queries need both --queries (JSONL) and --qrels (TSV)")
    if queries is not None:
        corpus.gold = _read_gold(Path(queries), Path(qrels), corpus)
    return corpus


def _read_gold(queries_path: Path, qrels_path: Path, corpus: Corpus) -> GoldQueries:
    problems: list[str] = []
    for p in (queries_path, qrels_path):
        if not p.exists():
            problems.append(f"{p}: no such file")
    _raise_if(problems, "gold queries", error=CorpusError)
    queries = _read_jsonl(queries_path, "query", problems)
    chunk_ids, doc_ids = {c.id for c in corpus.chunks}, set(corpus.documents)
    relevant: dict[str, set[str]] = {}
    levels = Counter()
    for lineno, qid, did, score in _read_qrels(qrels_path, problems):
        if qid not in queries:
            problems.append(f"{qrels_path}:{lineno}: query id {qid!r} is not in {queries_path.name}")
        elif did not in chunk_ids and did not in doc_ids:
            problems.append(f"{qrels_path}:{lineno}: {did!r} is neither a document nor a chunk of the corpus")
        elif score > 0:
            relevant.setdefault(qid, set()).add(did)
            # a document that is one chunk has the same id at both levels: it decides nothing
            levels[(did in doc_ids, did in chunk_ids)] += 1
    if levels[(True, False)] and levels[(False, True)]:
        problems.append(f"{qrels_path}: mixes document ids and chunk ids; use one or the other")
    if not relevant and not problems:
        problems.append(f"{qrels_path}: no gold query has a judgment (a positive score) here")
    _raise_if(problems, "gold queries", error=CorpusError)
    # a BEIR queries.jsonl holds every split's queries; the qrels file names the ones to test on
    unjudged = [q for q in queries if q not in relevant]
    if unjudged:
        corpus.notes.append(f"{len(unjudged)} query(ies) without a judgment in {qrels_path.name} left out "
                            f"of the evaluation, e.g. {unjudged[:3]}")
    level = "document" if levels[(True, False)] else "chunk"
    return GoldQueries({q: t for q, t in queries.items() if q in relevant}, relevant, level, f"{queries_path.name} + {qrels_path.name}")
