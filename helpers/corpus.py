"""Your own documents: load a folder or a file of them, check them, and cut them into chunks.

:func:`load_corpus` accepts what readers usually have:

- a **folder** of ``.txt`` / ``.md`` / ``.rst`` / ``.html`` files (searched recursively; HTML is
  reduced to its text; other file types are listed and left out);
- a **JSONL** or **CSV/TSV** file with an id column and a text column (names configurable);
- a **BEIR-style folder** (``corpus.jsonl``, and optionally ``queries.jsonl`` with
  ``qrels/test.tsv`` or ``qrels.tsv``: its gold queries are then used for evaluation).

Every document is cut into chunks of at most ``max_words`` words, ending at a paragraph break
where one is near, and of at most ``max_words *`` :data:`MAX_CHARS_PER_WORD` characters (a text
with few spaces is cut by length, and :attr:`Corpus.notes` says so). A chunk's id traces it back
to its source: ``<file or id>#<start>-<end>``, or just the document id when the document fits in
one chunk. The offsets are characters of the
document's text as loaded: a text file's decoded contents, an HTML file's extracted text, a
JSONL/CSV row's text (after its ``title``, when there is one).

Loading is strict and reports *every* problem at once, naming the file and line: an empty
folder, a binary or non-UTF-8 file (the line and byte column of its first bad byte), an
unreadable file or folder, a CSV without the named column, a duplicate id, an empty text or one
that is not a string, a qrel that points at nothing. All before any expensive work starts. What
is left out without stopping the run -- empty files, other file types, symbolic links that lead
nowhere or to a folder -- is counted and named in :attr:`Corpus.notes`.

>>> spans = chunk_spans("one two three.\\n\\nfour five six seven", max_words=4)
>>> [("one two three.\\n\\nfour five six seven")[a:b] for a, b in spans]
['one two three.', 'four five six seven']
"""

from __future__ import annotations

import bisect
import csv
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path

from helpers.data import (
    TEXT_ENCODING,
    DataError,
    checked_lines,
    collect_texts,
    decode_utf8,
    has_undecodable_bytes,
    raise_if_problems,
    read_jsonl_rows,
    read_jsonl_texts,
    read_qrels,
)
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


#: A chunk is also at most ``max_words * MAX_CHARS_PER_WORD`` characters long, the whitespace inside it included:
#: text with few or no spaces (minified code, base64, one 5 MB line) would otherwise make one chunk of any length.
#: Prose takes about 6 characters a word with its space, the shipped raw docs at most 14 in any chunk; 30 leaves
#: room for identifiers, URLs and indentation, so that ordinary text is cut by its words alone.
MAX_CHARS_PER_WORD = 30


def chunk_spans(text: str, max_words: int = 100, overlap_words: int = 0) -> list[tuple[int, int]]:
    """Character spans of the chunks of ``text``: at most ``max_words`` words each, cut at the last
    paragraph break (blank line) in the second half of the window when there is one, else mid-text;
    consecutive chunks share ``overlap_words`` words. A chunk is also at most ``max_words *``
    :data:`MAX_CHARS_PER_WORD` characters long: a longer "word" is cut into pieces of that length.

    >>> [b - a for a, b in chunk_spans("x" * 70, max_words=1)]  # one "word" of 70 characters, 30 a chunk
    [30, 30, 10]
    """
    return _chunk_spans(text, max_words, overlap_words)[0]


def _chunk_spans(text: str, max_words: int, overlap_words: int) -> tuple[list[tuple[int, int]], int]:
    """:func:`chunk_spans`, and how many of the chunks the character limit ended rather than the word limit."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    if not 0 <= overlap_words < max_words:
        raise ValueError(f"overlap_words must be in [0, max_words), got {overlap_words}")
    max_chars = max_words * MAX_CHARS_PER_WORD
    words: list[tuple[int, int]] = []
    mid_word: set[int] = set()  # pieces of a cut word that end inside it
    for m in re.finditer(r"\S+", text):
        a, b = m.span()
        for start in range(a, b, max_chars):  # a word longer than a whole chunk may be is cut into pieces
            if start + max_chars < b:
                mid_word.add(len(words))
            words.append((start, min(start + max_chars, b)))
    ends = [b for _, b in words]
    # word i starts a paragraph when a blank line separates it from word i - 1
    para_start = {i for i in range(1, len(words)) if "\n\n" in text[words[i - 1][1]:words[i][0]].replace("\r", "")}
    spans, i, n_cut = [], 0, 0
    while i < len(words):
        j = min(i + max_words, len(words))
        cut = words[j - 1][1] - words[i][0] > max_chars
        if cut:  # the last j that fits; at least i + 1, as no piece is longer than max_chars
            j = bisect.bisect_right(ends, words[i][0] + max_chars, i + 1, j)
        if j < len(words):
            # (j - i) // 2 is max_words // 2 unless the character limit cut: the word-limited cut is unchanged
            breaks = [b for b in range(i + (j - i) // 2 + 1, j + 1) if b in para_start]
            j = breaks[-1] if breaks else j
        spans.append((words[i][0], words[j - 1][1]))
        n_cut += cut or (j - 1) in mid_word
        if j >= len(words):
            break
        # a chunk the character limit cut short shares the same fraction of its words as a full one would: with
        # all of ``overlap_words`` a text of long words would be repeated in chunk after chunk
        overlap = overlap_words * (j - i) // max_words if cut else overlap_words
        i = max(j - overlap, i + 1)
    return spans, n_cut


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str  # the file (relative to the corpus folder) or the document id it comes from
    start: int   # character offsets into the source document's text
    end: int
    text: str


def chunk_documents(documents: dict[str, str], max_words: int = 100, overlap_words: int = 0,
                    notes: list[str] | None = None) -> list[Chunk]:
    """Cut every document into :class:`Chunk` s (see :func:`chunk_spans`); ``max_words=0`` keeps them whole.
    Chunks that the character limit ended rather than the word limit are counted in a line added to ``notes``."""
    chunks = []
    cut_by_length: dict[str, int] = {}
    for source, text in documents.items():
        spans, n_cut = _chunk_spans(text, max_words, overlap_words) if max_words else ([(0, len(text))], 0)
        if n_cut:
            cut_by_length[source] = n_cut
        if len(spans) == 1:
            a, b = spans[0]
            chunks.append(Chunk(source, source, a, b, text[a:b]))
        else:
            chunks += [Chunk(f"{source}#{a}-{b}", source, a, b, text[a:b]) for a, b in spans]
    if cut_by_length and notes is not None:
        notes.append(f"cut by length, not by words: {sum(cut_by_length.values())} chunk(s) of {len(cut_by_length)} "
                     f"document(s) end at {max_words * MAX_CHARS_PER_WORD:,} characters ({max_words} words x "
                     f"{MAX_CHARS_PER_WORD}), as their text has too few spaces, e.g. {list(cut_by_length)[:3]}")
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
    text = decode_utf8(data, path, problems)
    if text is None:
        return None
    return html_to_text(text) if SUFFIXES[path.suffix.lower()] == "html" else text


def _list_folder(root: Path, problems: list[str], notes: list[str]) -> list[Path]:
    """Every regular file under ``root``, sorted, hidden files and folders left out. An unreadable folder is a
    problem, as an unreadable file is; a symbolic link that leads nowhere (broken, or a loop), a link to a folder
    (not followed, as ``Path.rglob`` does not) and a pipe, socket or device are named in ``notes``."""
    files: list[Path] = []
    nowhere: list[str] = []
    linked_folders: list[str] = []
    not_regular: list[str] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as e:
            problems.append(f"{folder}: unreadable folder ({e.strerror or e})")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                mode = path.stat().st_mode  # through a symbolic link
                is_link = entry.is_symlink()
            except OSError as e:
                nowhere.append(f"{path.relative_to(root).as_posix()} ({e.strerror or e})")
                continue
            if stat.S_ISDIR(mode) and is_link:
                linked_folders.append(path.relative_to(root).as_posix())
            elif stat.S_ISDIR(mode):
                folders.append(path)
            elif stat.S_ISREG(mode):
                files.append(path)
            else:
                not_regular.append(path.relative_to(root).as_posix())
    for what, paths in (("a symbolic link that leads nowhere", nowhere),
                        ("a link to a folder, not followed: name its target with --corpus, or copy it in",
                         linked_folders),
                        ("not a regular file: a pipe, socket or device", not_regular)):
        if paths:
            paths.sort()
            notes.append(f"left out ({what}): {len(paths)} path(s), e.g. {paths[:3]}")
    return sorted(files)


def _read_folder(root: Path, problems: list[str], notes: list[str]) -> dict[str, str]:
    files = _list_folder(root, problems, notes)
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
        # the notes would be lost with the error, and they may say why
        problems.append(f"{root}: {found} {'/'.join(sorted(SUFFIXES))} document" + "".join(f"; {n}" for n in notes))
    return docs


def _read_table(path: Path, id_column: str | None, text_column: str, problems: list[str],
                notes: list[str]) -> dict[str, str]:
    """Rows of a JSONL or CSV/TSV file as {id: text}; every bad row is reported by line number. A row with a title
    and no text is its title; one with neither is left out and counted in ``notes`` (as an empty file of a
    folder is), not a reason to refuse the corpus."""
    suffix = path.suffix.lower()
    try:
        f = open(path, newline="", **TEXT_ENCODING)
    except OSError as e:
        problems.append(f"{path}: unreadable ({e.strerror or e})")
        return {}
    with f:
        if suffix == ".jsonl":
            id_names = [id_column] if id_column else ["_id", "id"]
            rows = read_jsonl_rows(f, path, problems)
        else:
            id_names = [id_column] if id_column else ["id", "_id"]
            csv.field_size_limit(2**31 - 1)  # the default (128 KiB) would reject long documents
            try:
                # TSV: tabs separate, and quotes are text (a document may start with one)
                lines = checked_lines(f, path, problems)
                reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE) if suffix == ".tsv" \
                    else csv.DictReader(lines)
                columns = reader.fieldnames or []
            except csv.Error as e:
                problems.append(f"{path}: not a readable CSV file ({e})")
                return {}
            missing = [repr(text_column)] if text_column not in columns else []
            if not any(c in columns for c in id_names):
                missing.append(" or ".join(map(repr, id_names)))
            if missing:
                problems.append(f"{path}:1: no column {' and no column '.join(missing)}; the header has {columns} "
                                "(choose with --id-column / --text-column)")
                return {}
            rows = ((reader.line_num, row) for row in _csv_rows(reader, path, problems)
                    if not any(isinstance(v, str) and has_undecodable_bytes(v) for v in row.values()))
        empty: list[str] = []
        docs = collect_texts(rows, path, "document", problems, id_names, text_column, empty=empty)
    if empty:
        notes.append(f"left out (neither title nor text): {len(empty)} document(s), e.g. {', '.join(empty[:3])}")
    if not docs and not problems:
        problems.append(f"{path}: no documents in it")
    return {k: v.strip() for k, v in docs.items()}


def _csv_rows(reader, path: Path, problems: list[str]):
    try:
        yield from reader
    except csv.Error as e:
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
    origin: dict[str, str] = field(default_factory=dict)  # query id -> "file:line" of its first positive judgment


@dataclass
class Corpus:
    path: str
    format: str  # "folder", "jsonl", "csv", "beir"
    documents: dict[str, str]
    chunks: list[Chunk]
    gold: GoldQueries | None = None
    notes: list[str] = field(default_factory=list)
    #: gold dev queries: ``dev.tsv`` in the same ``qrels/`` folder as the gold qrels file (for choices, never tested on)
    gold_dev: GoldQueries | None = None

    @cached_property
    def texts(self) -> dict[str, str]:
        """{chunk id: chunk text}: what is indexed, searched and trained on."""
        return {c.id: c.text for c in self.chunks}

    @cached_property
    def source_of(self) -> dict[str, str]:
        return {c.id: c.source for c in self.chunks}

    @cached_property
    def chunks_of(self) -> dict[str, list[str]]:
        """{document id: its chunk ids, in order}: the inverse of :attr:`source_of`."""
        out: dict[str, list[str]] = {}
        for c in self.chunks:
            out.setdefault(c.source, []).append(c.id)
        return out

    def fingerprint(self) -> str:
        return fingerprint_texts((c.id, c.text) for c in self.chunks)

    def describe(self) -> str:
        words = sum(len(c.text.split()) for c in self.chunks)
        gold = (f"; {len(self.gold.queries)} gold queries ({self.gold.level} level, {self.gold.source})"
                if self.gold else "; no gold queries")
        if self.gold_dev:
            gold += f" and {len(self.gold_dev.queries)} gold dev queries ({self.gold_dev.source})"
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
        fmt, documents = "beir", _read_table(path / "corpus.jsonl", id_column, text_column, problems, notes)
        if queries is None and (path / "queries.jsonl").exists():
            qrels = qrels or next((p for p in (path / "qrels" / "test.tsv", path / "qrels.tsv") if p.exists()), None)
            if qrels is not None:
                queries = path / "queries.jsonl"
            elif not any((path / "qrels" / f"{s}.tsv").exists() for s in ("train", "dev")):
                raise CorpusError(f"BEIR folder {path} has queries.jsonl but no qrels/test.tsv, qrels/train.tsv or "
                                  "qrels.tsv: add the judgments, or move queries.jsonl away to use synthetic queries only")
            # only training (and dev) judgments: the pipeline holds test queries out of them
    elif path.is_dir():
        fmt, documents = "folder", _read_folder(path, problems, notes)
        if skip_bad_files and problems and documents:
            notes.append(f"left out (unreadable): {len(problems)} path(s): " + "; ".join(problems[:5]))
            problems = []
    elif path.suffix.lower() in (".jsonl", ".csv", ".tsv"):
        fmt = "jsonl" if path.suffix.lower() == ".jsonl" else "csv"
        documents = _read_table(path, id_column, text_column, problems, notes)
    else:
        raise CorpusError(f"{path}: not a folder, and not a .jsonl, .csv or .tsv file")
    hint = "(--skip-bad-files leaves such files out instead)" if fmt == "folder" and documents else ""
    raise_if_problems(problems, f"corpus {path}", error=CorpusError, hint=hint)

    chunks = chunk_documents(documents, max_words, overlap_words, notes)
    ids = Counter(c.id for c in chunks)
    clashes = [i for i, n in ids.items() if n > 1]
    if clashes:
        raise CorpusError(f"corpus {path}: chunk ids clash with document ids: {clashes[:5]}; rename those documents")
    corpus = Corpus(str(path), fmt, documents, chunks, notes=notes)
    if (queries is None) != (qrels is None):
        raise CorpusError("gold queries need both --queries (JSONL) and --qrels (TSV)")
    if queries is not None:
        corpus.gold = _read_gold(Path(queries), Path(qrels), corpus)
        dev = Path(qrels).parent / "dev.tsv"
        if Path(qrels).parent.name == "qrels" and dev.exists() and dev.resolve() != Path(qrels).resolve():
            corpus.gold_dev = _read_gold(Path(queries), dev, corpus)
    elif fmt == "beir" and (path / "qrels" / "dev.tsv").exists() and not (path / "qrels" / "train.tsv").exists():
        # judged dev queries and nothing to train on: they are the dev set of a run without labels
        # (with a train.tsv, helpers.labelled reads dev.tsv beside it)
        corpus.gold_dev = _read_gold(path / "queries.jsonl", path / "qrels" / "dev.tsv", corpus)
        notes.append(f"qrels/dev.tsv: {len(corpus.gold_dev.queries)} judged dev queries, the dev set (never trained on)")
    return corpus


def _read_gold(queries_path: Path, qrels_path: Path, corpus: Corpus) -> GoldQueries:
    problems: list[str] = []
    for p in (queries_path, qrels_path):
        if not p.exists():
            problems.append(f"{p}: no such file")
    raise_if_problems(problems, "gold queries", error=CorpusError)
    queries = read_jsonl_texts(queries_path, "query", problems)
    chunk_ids, doc_ids = {c.id for c in corpus.chunks}, set(corpus.documents)
    relevant: dict[str, set[str]] = {}
    origin: dict[str, str] = {}
    rejected: set[str] = set()  # judged, but only as not relevant (score 0 or less)
    levels = Counter()
    for lineno, qid, did, score in read_qrels(qrels_path, problems):
        if qid not in queries:
            problems.append(f"{qrels_path}:{lineno}: query id {qid!r} is not in {queries_path.name}")
        elif did not in chunk_ids and did not in doc_ids:
            problems.append(f"{qrels_path}:{lineno}: {did!r} is neither a document nor a chunk of the corpus")
        elif score > 0:
            relevant.setdefault(qid, set()).add(did)
            origin.setdefault(qid, f"{qrels_path}:{lineno}")
            # a document that is one chunk has the same id at both levels: it decides nothing
            levels[(did in doc_ids, did in chunk_ids)] += 1
        else:
            rejected.add(qid)
    if levels[(True, False)] and levels[(False, True)]:
        problems.append(f"{qrels_path}: mixes document ids and chunk ids; use one or the other")
    if not relevant and not problems:
        problems.append(f"{qrels_path}: no gold query has a judgment (a positive score) here")
    raise_if_problems(problems, "gold queries", error=CorpusError)
    # a BEIR queries.jsonl holds every split's queries; the qrels file names the ones to test on, and the
    # folder's other qrels files (train.tsv, dev.tsv) judge the rest: only queries judged nowhere are worth a note
    judged_elsewhere = set()
    if qrels_path.parent.name == "qrels":
        for other in sorted(qrels_path.parent.glob("*.tsv")):
            if other != qrels_path:
                judged_elsewhere |= {qid for _, qid, _, _ in read_qrels(other, [])}  # their errors: helpers.labelled
    rejected -= relevant.keys()
    unjudged = [q for q in queries if q not in relevant and q not in rejected and q not in judged_elsewhere]
    if unjudged:
        corpus.notes.append(f"{len(unjudged)} query(ies) without a judgment in {qrels_path.name} left out "
                            f"of the evaluation, e.g. {unjudged[:3]}")
    if rejected:
        corpus.notes.append(f"{len(rejected)} query(ies) of {qrels_path.name} judged only not relevant (score 0 or "
                            f"less) left out of the evaluation, e.g. {sorted(rejected)[:3]}")
    level = "document" if levels[(True, False)] else "chunk"
    return GoldQueries({q: t for q, t in queries.items() if q in relevant}, relevant, level,
                       f"{queries_path.name} + {qrels_path.name}", origin)
