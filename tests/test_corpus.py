"""Loading your own documents: every input format, chunking, and every bad-input message."""

import json
import os

import pytest

from helpers.corpus import MAX_CHARS_PER_WORD, CorpusError, chunk_documents, chunk_spans, html_to_text, load_corpus
from helpers.data import DATA_DIR

GIT_DOCS = DATA_DIR / "raw" / "git-docs" / "docs"
PARAGRAPHS = "\n\n".join(" ".join(f"w{p}_{i}" for i in range(n)) for p, n in enumerate([30, 50, 40, 10]))


def _write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if "b" in mode else path.write_text)(text)
    return path


# ----------------------------------------------------------------------------- chunking


def test_chunks_respect_the_word_limit_and_prefer_paragraph_breaks():
    spans = chunk_spans(PARAGRAPHS, max_words=100)
    pieces = [PARAGRAPHS[a:b] for a, b in spans]
    assert all(len(p.split()) <= 100 for p in pieces)
    assert pieces[0].endswith("w1_49")  # cut at the paragraph break after 80 words, not mid-paragraph at 100
    assert " ".join(" ".join(pieces).split()) == " ".join(PARAGRAPHS.split())  # nothing lost, nothing repeated


def test_a_paragraph_longer_than_the_limit_is_cut_mid_text_and_overlap_repeats_words():
    text = " ".join(f"w{i}" for i in range(250))
    assert [len(text[a:b].split()) for a, b in chunk_spans(text, 100)] == [100, 100, 50]
    spans = chunk_spans(text, 100, overlap_words=20)
    assert text[spans[1][0]:].startswith("w80 ")
    with pytest.raises(ValueError, match="overlap_words"):
        chunk_spans(text, 10, overlap_words=10)
    assert chunk_spans("   ", 10) == []


def test_text_without_spaces_is_cut_by_length_and_nothing_is_lost():
    limit = 100 * MAX_CHARS_PER_WORD
    blob = "x" * 5_000_000  # one 5 MB line: once a single chunk of 5,000,000 characters
    text = "intro words\n\n" + blob + "\n\nthe end"
    spans = chunk_spans(text, 100)
    assert max(b - a for a, b in spans) <= limit
    assert "".join("".join(text[a:b].split()) for a, b in spans) == "".join(text.split())  # all of it, once
    assert text[spans[0][0]:spans[0][1]] == "intro words" and text[spans[-1][0]:spans[-1][1]].endswith("x\n\nthe end")
    assert len(spans) == 1 + -(-len(blob) // limit)  # the last piece is short: "the end" joins it
    # a chunk cut short by length overlaps the next in proportion, not by all of overlap_words
    long_words = " ".join(["y" * 200] * 300)  # 14 such words fit in 3,000 characters: they share 20% of 14, 2
    assert len(chunk_spans(long_words, 100, overlap_words=20)) == 1 + -(-(300 - 14) // 12)
    # whitespace counts against the limit too; the run of it between two chunks belongs to neither
    assert chunk_spans("a" + " " * 10_000 + "b", 100) == [(0, 1), (10_001, 10_002)]
    notes = []
    chunks = chunk_documents({"ok.txt": PARAGRAPHS, "blob.txt": text}, 100, notes=notes)
    assert len(chunks) == 2 + len(spans) and notes == [
        f"cut by length, not by words: {len(spans) - 1} chunk(s) of 1 document(s) end at {limit:,} characters "
        f"(100 words x {MAX_CHARS_PER_WORD}), as their text has too few spaces, e.g. ['blob.txt']"]


def test_chunk_ids_trace_back_to_source_and_offsets():
    docs = {"guide.md": PARAGRAPHS, "short.txt": "one line"}
    chunks = chunk_documents(docs, max_words=60)
    assert chunks[-1].id == "short.txt"  # a document that fits keeps its id
    for c in chunks[:-1]:
        assert c.id == f"guide.md#{c.start}-{c.end}" and docs[c.source][c.start:c.end] == c.text
    assert [c.id for c in chunk_documents(docs, max_words=0)] == ["guide.md", "short.txt"]


def test_html_loses_markup_scripts_and_styles_but_keeps_paragraphs():
    page = ("<html><head><title>t</title><script>var x = 1;</script></head><body><h1>git-reset</h1>"
            "<p>Reset current <code>HEAD</code> &amp; index.</p><style>p {}</style><ul><li>--soft</li></ul></body></html>")
    assert html_to_text(page) == "git-reset\n\nReset current HEAD & index.\n\n--soft"


# ----------------------------------------------------------------------------- formats


def test_folder_of_txt_md_rst_html_files_recursively(tmp_path):
    _write(tmp_path / "a.txt", "plain text file")
    _write(tmp_path / "sub" / "b.md", "# Title\n\nmarkdown body")
    _write(tmp_path / "sub" / "c.rst", "rst body\n========")
    _write(tmp_path / "d.html", "<p>html <b>body</b></p>")
    _write(tmp_path / "logo.png", b"\x89PNG\x00\x00", "wb")
    _write(tmp_path / ".hidden" / "e.txt", "not read")
    corpus = load_corpus(tmp_path)
    assert corpus.format == "folder" and corpus.gold is None
    assert corpus.texts == {"a.txt": "plain text file", "d.html": "html body",
                            "sub/b.md": "# Title\n\nmarkdown body", "sub/c.rst": "rst body\n========"}
    assert corpus.notes == ["left out (not a supported file type): 1 .png"]


def test_chunk_counts_of_a_folder_known_by_construction(tmp_path):
    _write(tmp_path / "long.txt", " ".join(f"w{i}" for i in range(250)))  # no paragraph: 100 + 100 + 50 words
    _write(tmp_path / "sub" / "paras.md", PARAGRAPHS)  # paragraphs of 30, 50, 40, 10 words: 30+50 | 40+10
    _write(tmp_path / "page.html", "<p>" + "word " * 100 + "</p><p>tail</p>")  # 100 words | 1
    _write(tmp_path / ".git" / "notes.txt", "hidden: not read")
    corpus = load_corpus(tmp_path, max_words=100)
    assert sorted(corpus.documents) == ["long.txt", "page.html", "sub/paras.md"]
    words = {}
    for c in corpus.chunks:
        words.setdefault(c.source, []).append(len(c.text.split()))
    assert words == {"long.txt": [100, 100, 50], "page.html": [100, 1], "sub/paras.md": [80, 50]}
    assert len(corpus.chunks) == 7 and corpus.notes == []


def test_the_shipped_raw_folder_loads_with_traceable_chunks():
    corpus = load_corpus(GIT_DOCS)
    # the expectations come from the files themselves, read without the code under test
    names = sorted(os.listdir(GIT_DOCS))
    assert sorted(corpus.documents) == names and corpus.notes == []
    assert {n.rsplit(".", 1)[-1] for n in names} == {"html", "txt"}  # both readers are exercised
    for name in names:
        if name.endswith(".txt"):
            assert corpus.documents[name] == (GIT_DOCS / name).read_text(encoding="utf-8")
    for source, text in corpus.documents.items():
        chunks = [c for c in corpus.chunks if c.source == source]
        assert all(text[c.start:c.end] == c.text for c in chunks)
        assert all(len(c.text.split()) <= 100 for c in chunks)
        assert " ".join(c.text for c in chunks).split() == text.split()  # every word, in order, once
        # a cut comes after more than half a window (at a paragraph break) or at a full one
        n_words = len(text.split())
        assert -(-n_words // 100) <= len(chunks) <= 1 + (n_words - 1) // 51
    c = next(c for c in corpus.chunks if c.source == "git-reset.html" and c.start > 0)
    assert corpus.documents["git-reset.html"][c.start:c.end] == c.text
    assert not any("<" + "div" in ch.text for ch in corpus.chunks)  # HTML reduced to text


def test_jsonl_and_csv_with_named_columns(tmp_path):
    _write(tmp_path / "docs.jsonl", json.dumps({"doc": "7", "body": "seven", "title": "T"}) + "\n\n"
           + json.dumps({"doc": 8, "body": "eight"}) + "\n")
    corpus = load_corpus(tmp_path / "docs.jsonl", id_column="doc", text_column="body")
    assert corpus.format == "jsonl" and corpus.texts == {"7": "T: seven", "8": "eight"}
    _write(tmp_path / "docs.csv", 'id,text,extra\n1,"first, with a comma",x\n2,"second\nover two lines",y\n')
    assert load_corpus(tmp_path / "docs.csv").texts == {"1": "first, with a comma", "2": "second\nover two lines"}
    _write(tmp_path / "docs.tsv", "id\ttext\n1\ttab separated\n")
    assert load_corpus(tmp_path / "docs.tsv").texts == {"1": "tab separated"}


def _beir(root, qrels_rows, qrels_path="qrels/test.tsv"):
    long_doc = " ".join(f"word{i}" for i in range(150))
    _write(root / "corpus.jsonl", "\n".join(json.dumps(r) for r in [
        {"_id": "d1", "title": "One", "text": "short document"}, {"_id": "d2", "text": long_doc}]) + "\n")
    _write(root / "queries.jsonl", json.dumps({"_id": "q1", "text": "first"}) + "\n"
           + json.dumps({"_id": "q2", "text": "second"}) + "\n")
    _write(root / qrels_path, "query-id\tcorpus-id\tscore\n" + "\n".join(qrels_rows) + "\n")
    return root


def test_beir_folder_brings_its_gold_queries_at_document_or_chunk_level(tmp_path):
    corpus = load_corpus(_beir(tmp_path / "a", ["q1\td1\t1", "q2\td2\t1"]))
    assert corpus.format == "beir" and corpus.gold.level == "document"
    assert corpus.gold.relevant == {"q1": {"d1"}, "q2": {"d2"}} and len(corpus.chunks) == 3
    chunk = next(c.id for c in corpus.chunks if c.source == "d2")
    corpus = load_corpus(_beir(tmp_path / "b", ["q1\td1\t1", f"q2\t{chunk}\t1"], "qrels.tsv"))
    assert corpus.gold.level == "chunk"


def test_a_beir_query_judged_in_no_qrels_file_gets_a_note_one_judged_for_training_does_not(tmp_path):
    root = _beir(tmp_path / "a", ["q1\td1\t1"])
    assert load_corpus(root).notes == ["1 query(ies) without a judgment in test.tsv left out of the evaluation, "
                                       "e.g. ['q2']"]
    _write(root / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\nq2\td2\t1\n")
    assert load_corpus(root).notes == []


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, r"the folder is empty: no .htm/.html"),
    (lambda p: _write(p / "scan.pdf", b"%PDF", "wb"), r"1 file\(s\), none of them a non-empty"),
    (lambda p: _write(p / "empty.txt", "  \n"), r"none of them a non-empty"),
    (lambda p: _write(p / "data.txt", b"ab\x00cd", "wb"), r"data.txt: binary file"),
    (lambda p: _write(p / "latin.txt", "tea\ncafé".encode("latin-1"), "wb"),
     r"latin.txt:2: not UTF-8 text \(byte 0xe9 at byte column 4\)"),
    (lambda p: _write(p / "notes.md", ("ok\n" * 5000 + "x\xe9").encode("latin-1"), "wb"),  # past the first buffer
     r"notes.md:5001: not UTF-8 text \(byte 0xe9 at byte column 2\)"),
    (lambda p: os.symlink("gone.md", p / "a.md"),
     r"the folder is empty: no .* document; left out \(a symbolic link that leads nowhere\): 1 path\(s\), "
     r"e.g. \['a.md"),
])
def test_bad_folders_stop_with_the_file_named(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(CorpusError, match=message):
        load_corpus(tmp_path)


def test_links_that_lead_nowhere_or_to_a_folder_are_named_in_the_notes(tmp_path):
    _write(tmp_path / "good.txt", "fine text")
    _write(tmp_path / "empty.md", "")
    os.symlink("loop.md", tmp_path / "loop.md")  # a link to itself
    os.symlink("b.md", tmp_path / "a.md")  # two links to each other
    os.symlink("a.md", tmp_path / "b.md")
    os.symlink("missing.md", tmp_path / "broken.md")
    os.symlink(".", tmp_path / "again")  # a folder loop: not followed
    os.symlink("good.txt", tmp_path / "alias.txt")  # a link to a file is read
    corpus = load_corpus(tmp_path)
    assert sorted(corpus.documents) == ["alias.txt", "good.txt"]
    nowhere = next(n for n in corpus.notes if n.startswith("left out (a symbolic link that leads nowhere)"))
    assert "4 path(s)" in nowhere and all(f"'{name} (" in nowhere for name in ("a.md", "b.md", "broken.md"))
    assert any(n.startswith("left out (a link to a folder, not followed") and "['again']" in n for n in corpus.notes)
    assert "left out (no text): 1 file(s), e.g. ['empty.md']" in corpus.notes


def test_an_unreadable_folder_stops_the_run_like_an_unreadable_file(tmp_path):
    _write(tmp_path / "good.txt", "fine text")
    _write(tmp_path / "locked" / "secret.txt", "never read")
    (tmp_path / "locked").chmod(0)
    try:
        try:
            os.listdir(tmp_path / "locked")
            pytest.skip("this user reads folders whatever their mode (root with CAP_DAC_OVERRIDE)")
        except PermissionError:
            pass
        with pytest.raises(CorpusError, match=r"locked: unreadable folder \(Permission denied\)"):
            load_corpus(tmp_path)
        assert "locked: unreadable folder" in load_corpus(tmp_path, skip_bad_files=True).notes[-1]
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_skip_bad_files_leaves_them_out_and_says_so(tmp_path):
    _write(tmp_path / "good.txt", "fine text")
    _write(tmp_path / "bad.txt", b"\xff\xfe\x00\x00", "wb")
    with pytest.raises(CorpusError, match=r"bad.txt: binary file[\s\S]*--skip-bad-files"):
        load_corpus(tmp_path)
    corpus = load_corpus(tmp_path, skip_bad_files=True)
    assert list(corpus.documents) == ["good.txt"] and "bad.txt: binary file" in corpus.notes[-1]


def test_bad_tables_name_file_and_line(tmp_path):
    _write(tmp_path / "a.csv", "name,body\nx,y\n")
    with pytest.raises(CorpusError, match=r"a.csv:1: no column 'text' and no column 'id' or '_id'; the header has \['name', 'body'\]"):
        load_corpus(tmp_path / "a.csv")
    _write(tmp_path / "b.jsonl", '{"id": "1", "text": "ok"}\n{"id": "2", "text": \n{"id": "1", "text": "again"}\n'
                                 '{"id": "3", "text": ""}\n[1, 2]\n')
    with pytest.raises(CorpusError) as e:
        load_corpus(tmp_path / "b.jsonl")
    for expected in ("b.jsonl:2: malformed JSON", "b.jsonl:3: duplicate document id '1' (first on line 1)",
                     "b.jsonl:5: expected a JSON object"):
        assert expected in str(e.value)
    assert "b.jsonl:4" not in str(e.value)  # an empty document is left out and counted, not an error (below)
    _write(tmp_path / "bad.jsonl", "\n".join([
        '{"id": "1", "text": "ok"}', '{"id": "2", "text": 42}', '{"id": "3", "text": "no end}',
        '{"id": [4], "text": "list id"}', '{"id": "5", "text": "x", "title": ["t"]}', '{"id": "6", "text": "\\ud800"}',
    ]) + "\n")
    with pytest.raises(CorpusError) as e:
        load_corpus(tmp_path / "bad.jsonl")
    for expected in ("bad.jsonl:2: document '2': the text must be a string, got int (42)",
                     "bad.jsonl:3: malformed JSON (unterminated string starting at column 21)",
                     "bad.jsonl:4: document id must be a string or an integer, got list ([4])",
                     "bad.jsonl:5: document '5': the title must be a string, got list (['t'])",
                     "bad.jsonl:6: document '6': the text has an unpaired surrogate"):
        assert expected in str(e.value)
    assert "5 problem(s)" in str(e.value)
    _write(tmp_path / "c.jsonl", "\n")
    with pytest.raises(CorpusError, match="c.jsonl: no documents"):
        load_corpus(tmp_path / "c.jsonl")
    with pytest.raises(CorpusError, match="not a folder, and not a .jsonl"):
        load_corpus(_write(tmp_path / "d.pdf", "x"))
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_corpus(tmp_path / "missing")


@pytest.mark.parametrize("name, content, line, column", [
    ("docs.jsonl", b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "caf\xe9"}\n', 2, 25),
    ("docs.csv", b'id,text\n1,"two\nlines"\n2,caf\xe9\n', 4, 6),
    # past the decoder's first buffer, where the old message gave an offset into that buffer
    ("docs.tsv", b"id\ttext\n" + b"".join(b"%d\tok\n" % i for i in range(5000)) + b"x\tcaf\xe9\n", 5002, 6),
])
def test_tables_that_are_not_utf8_name_the_line_and_byte_column(tmp_path, name, content, line, column):
    with pytest.raises(CorpusError) as e:
        load_corpus(_write(tmp_path / name, content, "wb"))
    assert f"{name}:{line}: not UTF-8 text (byte 0xe9 at byte column {column}); convert it, e.g. iconv -f latin1 " \
           "-t utf-8" in str(e.value)
    assert "1 problem(s)" in str(e.value)  # the bad row is not reported again


def test_bad_gold_queries_name_the_qrel(tmp_path):
    with pytest.raises(CorpusError, match=r"test.tsv:3: 'd9' is neither a document nor a chunk"):
        load_corpus(_beir(tmp_path / "a", ["q1\td1\t1", "q2\td9\t1"]))
    # BEIR's queries.jsonl holds every split's queries; those without a test judgment are left out
    corpus = load_corpus(_beir(tmp_path / "b", ["q1\td1\t1"]))
    assert list(corpus.gold.queries) == ["q1"] and "1 query(ies) without a judgment" in corpus.notes[-1]
    (tmp_path / "b" / "qrels" / "test.tsv").unlink()
    with pytest.raises(CorpusError, match="queries.jsonl but no qrels/test.tsv, qrels/train.tsv or qrels.tsv"):
        load_corpus(tmp_path / "b")
    with pytest.raises(CorpusError, match="no gold query has a judgment"):
        load_corpus(_beir(tmp_path / "e", []))
    chunk = next(c.id for c in load_corpus(_beir(tmp_path / "c", ["q1\td1\t1", "q2\td2\t1"])).chunks if c.source == "d2")
    with pytest.raises(CorpusError, match="mixes document ids and chunk ids"):
        load_corpus(_beir(tmp_path / "d", ["q1\td2\t1", f"q2\t{chunk}\t1"]))
    with pytest.raises(CorpusError, match="need both --queries"):
        load_corpus(tmp_path / "a" / "corpus.jsonl", queries=tmp_path / "a" / "queries.jsonl")


def test_a_title_only_document_is_its_title_and_an_empty_one_is_left_out_and_counted(tmp_path):
    # a real BEIR shape: section headings with an empty text, and a row with neither
    (tmp_path / "beir").mkdir()
    _write(tmp_path / "beir" / "corpus.jsonl", "\n".join([
        '{"_id": "s1", "title": "2.1.3. Guidance", "text": ""}',
        '{"_id": "s2", "title": "2.1.4. Scope", "text": "This section applies to every regulated entity."}',
        '{"_id": "s3", "title": "", "text": "  "}', '{"_id": "s4", "text": "Plain text, no title."}']) + "\n")
    corpus = load_corpus(tmp_path / "beir")
    assert corpus.documents == {"s1": "2.1.3. Guidance", "s2": "2.1.4. Scope: This section applies to every regulated "
                                "entity.", "s4": "Plain text, no title."}
    assert any("left out (neither title nor text): 1 document(s), e.g. " in n and "corpus.jsonl:3 ('s3')" in n
               for n in corpus.notes)
