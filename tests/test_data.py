import json

import pytest

from helpers.data import (
    DATA_DIR,
    PROTOCOLS,
    DataError,
    available_datasets,
    load_dataset,
    make_splits,
    save_dataset,
    write_beir,
)


def write(folder, corpus_lines, query_lines, qrels_lines):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("\n".join(corpus_lines) + "\n")
    (folder / "queries.jsonl").write_text("\n".join(query_lines) + "\n")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels_lines) + "\n")
    return folder


GOOD_CORPUS = ['{"_id": "d1", "text": "alpha"}', '{"_id": "d2", "text": "beta"}']
GOOD_QUERIES = ['{"_id": "q1", "text": "a"}', '{"_id": "q2", "text": "b"}']
GOOD_QRELS = ["q1\td1\t1", "q2\td2\t1"]


def test_valid_folder_loads_and_gets_default_splits(tmp_path):
    ds = load_dataset(write(tmp_path / "ok", GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS))
    assert ds.corpus == {"d1": "alpha", "d2": "beta"}
    assert ds.relevant == {"q1": {"d1"}, "q2": {"d2"}}
    assert set(ds.splits) == set(PROTOCOLS)


def test_malformed_json_names_file_and_line(tmp_path):
    corpus = GOOD_CORPUS + ['{"_id": "d3", "text": "gamma"']  # missing brace, line 3
    with pytest.raises(DataError, match=r"corpus\.jsonl:3: malformed JSON"):
        load_dataset(write(tmp_path / "bad", corpus, GOOD_QUERIES, GOOD_QRELS))


def test_json_errors_say_what_they_are(tmp_path):
    corpus = GOOD_CORPUS + ['{"_id": "d3", "text": "gamma}', '{"_id": "d4", "text": 42}',
                            '{"_id": ["d5"], "text": "x"}', '{"_id": "d6\\ud800", "text": "x"}']
    with pytest.raises(DataError) as err:
        load_dataset(write(tmp_path / "bad", corpus, GOOD_QUERIES, GOOD_QRELS))
    msg = str(err.value)
    # not "Invalid control character": the line's own newline is not part of the unterminated string
    assert "corpus.jsonl:3: malformed JSON (unterminated string starting at column 23)" in msg
    assert "corpus.jsonl:4: document 'd4': the text must be a string, got int (42)" in msg
    assert "corpus.jsonl:5: document id must be a string or an integer, got list (['d5'])" in msg
    assert "corpus.jsonl:6: document 'd6\\ud800': the id has an unpaired surrogate" in msg  # unwritable as UTF-8


def test_files_that_are_not_utf8_name_the_line_and_byte_column(tmp_path):
    folder = write(tmp_path / "latin", GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS)
    (folder / "queries.jsonl").write_bytes(b'{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": "caf\xe9"}\n')
    (folder / "qrels.tsv").write_bytes(b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\xa0\n")
    (folder / "meta.json").write_bytes(b'{"name": "x",\n "description": "na\xefve"}')
    with pytest.raises(DataError) as err:
        load_dataset(folder)
    msg = str(err.value)
    assert "3 problem(s)" in msg  # one a file: the rows with a bad byte are not reported again
    for expected in ("queries.jsonl:2: not UTF-8 text (byte 0xe9 at byte column 27)",
                     "qrels.tsv:3: not UTF-8 text (byte 0xa0 at byte column 8)",
                     "meta.json:2: not UTF-8 text (byte 0xef at byte column 20)"):
        assert expected + "; convert it, e.g. iconv -f latin1 -t utf-8" in msg


def test_duplicate_ids_name_both_lines(tmp_path):
    corpus = GOOD_CORPUS + ['{"_id": "d1", "text": "again"}']
    with pytest.raises(DataError, match=r"corpus\.jsonl:3: duplicate document id 'd1' \(first on line 1\)"):
        load_dataset(write(tmp_path / "dup", corpus, GOOD_QUERIES, GOOD_QRELS))


def test_qrels_pointing_nowhere_are_reported_with_line(tmp_path):
    qrels = GOOD_QRELS + ["q1\tmissing\t1", "ghost\td1\t1"]
    with pytest.raises(DataError) as err:
        load_dataset(write(tmp_path / "dangling", GOOD_CORPUS, GOOD_QUERIES, qrels))
    msg = str(err.value)
    assert "qrels.tsv:4: corpus id 'missing' is not in corpus.jsonl" in msg
    assert "qrels.tsv:5: query id 'ghost' is not in queries.jsonl" in msg
    assert "2 problem(s)" in msg  # all problems are listed, not just the first


def test_empty_corpus_is_an_error(tmp_path):
    with pytest.raises(DataError, match="the corpus is empty"):
        load_dataset(write(tmp_path / "empty", [], GOOD_QUERIES, []))


def test_query_without_relevant_document_is_reported(tmp_path):
    queries = GOOD_QUERIES + ['{"_id": "q3", "text": "lonely"}']
    with pytest.raises(DataError, match=r"1 query\(ies\) have no relevant document.*'q3'"):
        load_dataset(write(tmp_path / "unjudged", GOOD_CORPUS, queries, GOOD_QRELS))


def test_malformed_meta_and_splits_are_data_errors(tmp_path):
    folder = write(tmp_path / "meta", GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS)
    (folder / "meta.json").write_text('{"name": "x",\n "tier": }')
    with pytest.raises(DataError, match=r"meta\.json:2: malformed JSON"):
        load_dataset(folder)
    (folder / "meta.json").unlink()
    (folder / "splits.json").write_text('{"known_corpus": ["q1"]}')
    with pytest.raises(DataError, match="must map split names to lists"):
        load_dataset(folder)
    (folder / "splits.json").write_text('{"known_corpus": {"train": ["q1"], "test": ["q1", "q9"]}}')
    with pytest.raises(DataError) as err:
        load_dataset(folder)
    assert "unknown query 'q9'" in str(err.value) and "'q1' is in both train and test" in str(err.value)


def test_missing_text_and_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"corpus\.jsonl:2: document 'd2' has no text"):
        load_dataset(write(tmp_path / "notext", ['{"_id": "d1", "text": "a"}', '{"_id": "d2", "text": ""}'],
                           GOOD_QUERIES[:1], GOOD_QRELS[:1]))
    (tmp_path / "nofile").mkdir()
    with pytest.raises(DataError, match="queries.jsonl: missing"):
        load_dataset(tmp_path / "nofile")


def test_unknown_dataset_name_lists_shipped_ones():
    with pytest.raises(DataError, match="wordnet"):
        load_dataset("no-such-dataset")


def test_splits_never_share_query_text():
    queries = {f"q{i}": f"text {i % 30}" for i in range(90)}  # each text three times
    relevant = {q: {f"d{i % 45}"} for i, q in enumerate(queries)}
    splits = make_splits(queries, relevant, n_test=20, n_dev=10)
    for protocol in PROTOCOLS:
        texts = {name: {queries[q].lower() for q in splits[protocol][name]} for name in ("train", "dev", "test")}
        assert not texts["test"] & texts["train"]
        assert not texts["test"] & texts["dev"]


def test_unseen_documents_protocol_keeps_test_documents_out_of_training():
    queries = {f"q{i}": f"query {i}" for i in range(200)}
    # several queries per document, and some queries with two documents
    relevant = {f"q{i}": {f"d{i // 4}"} | ({f"d{i // 4 + 1}"} if i % 7 == 0 else set()) for i in range(200)}
    s = make_splits(queries, relevant, n_test=40, n_dev=20)["unseen_documents"]
    test_docs = {d for q in s["test"] for d in relevant[q]}
    assert s["test"]
    for q in s["train"] + s["dev"]:
        assert not relevant[q] & test_docs
    # every query is accounted for exactly once, and the test split is as large as asked
    assert sorted(s["train"] + s["dev"] + s["test"] + s["excluded"]) == sorted(queries)
    assert 40 <= len(s["test"]) < 50  # it stops at the first document that completes 40


def test_known_corpus_protocol_has_test_documents_with_training_queries():
    # the difference between the protocols: here a test query's document may be trained on
    ds = load_dataset("icd10cm")
    kc = ds.splits["known_corpus"]
    train_docs = {d for q in kc["train"] for d in ds.relevant[q]}
    shared = sum(1 for q in kc["test"] if ds.relevant[q] & train_docs)
    assert shared > 0


def test_save_dataset_round_trips(tmp_path):
    corpus = {f"d{i}": f"document {i}" for i in range(30)}
    queries = {f"q{i}": f"query {i}" for i in range(30)}
    relevant = {f"q{i}": {f"d{i}"} for i in range(30)}
    save_dataset(tmp_path / "rt", corpus, queries, relevant, meta={"name": "rt", "tier": "generic"},
                 source_md="# rt\n\nmade in a test", n_test=5, n_dev=5)
    ds = load_dataset(tmp_path / "rt")
    assert ds.corpus == corpus and ds.relevant == relevant and ds.tier == "generic"
    assert len(ds.split("test").queries) == 5
    assert "| documents | 30 |" in (tmp_path / "rt" / "SOURCE.md").read_text()


@pytest.mark.parametrize("name", ["wordnet", "aws_docs", "aws_examples", "icd10cm", "licences", "clinical_abbrev"])
def test_shipped_datasets_load_and_are_documented(name):
    assert name in available_datasets()
    ds = load_dataset(name)
    source = (DATA_DIR / name / "SOURCE.md").read_text()
    assert "Licence" in source and "Rebuild" in source
    meta = json.loads((DATA_DIR / name / "meta.json").read_text())
    assert meta["counts"]["documents"] == len(ds.corpus)
    for protocol in PROTOCOLS:
        test = ds.split("test", protocol)
        assert len(test.queries) >= 500
        norm = lambda qids: {" ".join(ds.queries[q].lower().split()) for q in qids}  # noqa: E731
        assert not norm(ds.splits[protocol]["test"]) & norm(ds.splits[protocol]["train"] + ds.splits[protocol]["dev"])


@pytest.mark.parametrize("name", ["wordnet", "aws_docs", "aws_examples", "icd10cm", "licences", "clinical_abbrev", "gcide"])
def test_no_two_documents_have_the_same_text(name):
    # a copy of a positive without its label makes recall@1 depend on index order, and can be mined
    # as its own hard negative: every builder keeps one copy and makes the others' queries its own
    corpus = load_dataset(name).corpus
    seen: dict[str, str] = {}
    copies = [(d, seen[t]) for d, t in corpus.items() if seen.setdefault(t, d) != d]
    assert not copies, f"{name}: {len(copies)} documents repeat another's text, e.g. {copies[:3]}"


def test_load_dataset_takes_a_slice_and_says_what_a_slice_needs():
    ds = load_dataset("clinical_abbrev", sample={"docs": 200, "train": 30, "test": 40})
    assert len(ds.split("test").queries) == 40 and len(ds.corpus) == 200 and ds.meta["subsample"]["n_docs"] == 200
    with pytest.raises(ValueError, match="sample needs 'docs'"):
        load_dataset("clinical_abbrev", sample={"test": 40})
    with pytest.raises(ValueError, match="'tests'"):
        load_dataset("clinical_abbrev", sample={"docs": 200, "tests": 40})


def test_subsample_keeps_every_relevant_document():
    ds = load_dataset("clinical_abbrev").subsample(200, {"train": 30, "test": 40})
    test = ds.split("test")
    assert len(test.queries) == 40 and len(ds.corpus) == 200
    assert all(test.relevant[q] <= set(ds.corpus) for q in test.queries)


# ----------------------------------------------------------------------------- a standard BEIR folder


def write_beir_ids(folder, ds, splits, unjudged=()):
    """``ds`` as a BEIR folder: corpus.jsonl, the splits' queries (and ``unjudged`` ones) in queries.jsonl,
    qrels/<split>.tsv per split. Written by hand, not by :func:`helpers.data.write_beir`: these tests
    need folders that function refuses to write (a query in two split files, unjudged queries)."""
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n"
                                                 for d, t in ds.corpus.items()))
    written = {q for qids in splits.values() for q in qids} | set(unjudged)
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                  for q, t in ds.queries.items() if q in written))
    for split, qids in splits.items():
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t1\n" for q in qids for d in sorted(ds.relevant[q])))


def test_a_beir_folder_loads_with_its_qrels_files_as_splits(tmp_path):
    shipped = load_dataset("clinical_abbrev")
    splits = shipped.splits["known_corpus"]
    # no dev file (allowed), and the dev queries in queries.jsonl without a judgment
    write_beir_ids(tmp_path, shipped, {"train": splits["train"], "test": splits["test"]}, unjudged=splits["dev"])
    with pytest.warns(UserWarning, match="have no positive judgment in qrels/ and are left out"):
        ds = load_dataset(tmp_path)
    unjudged = [q for q in shipped.queries if q in set(splits["dev"])]  # in queries.jsonl order
    assert ds.meta["layout"] == "beir" and ds.meta["notes"] == [
        f"{len(unjudged)} query(ies) in queries.jsonl have no positive judgment in qrels/ and are left out, "
        f"e.g. {unjudged[:3]}",
        "no qrels/dev.tsv: 200 of the training queries are held out as dev (choices are made on dev, never on test)"]
    mine, theirs = ds.split("test"), shipped.split("test")
    assert mine.queries == theirs.queries and mine.relevant == theirs.relevant and mine.corpus == shipped.corpus
    # dev is carved from train: together they are the training file's queries, and apart
    train, dev = ds.split("train"), ds.split("dev")
    assert set(train.queries) | set(dev.queries) == set(splits["train"]) and not set(train.queries) & set(dev.queries)
    assert ds.counts["known_corpus/dev"] == 200 and ds.counts["known_corpus/train"] == len(splits["train"]) - 200


def test_a_beir_folder_without_training_judgments_is_split_into_all_three(tmp_path):
    shipped = load_dataset("wordnet")
    write_beir_ids(tmp_path, shipped, {"test": shipped.splits["known_corpus"]["test"]})
    with pytest.warns(UserWarning) as caught:
        ds = load_dataset(tmp_path)
    assert any("too few for 500 test and 200 dev queries: split 125 test, 50 dev, 325 train" in str(w.message)
               for w in caught)
    parts = ds.splits["known_corpus"]
    assert [len(parts[s]) for s in ("train", "dev", "test")] == [325, 50, 125]
    assert "no training queries in qrels/train.tsv" in ds.meta["notes"][-1]


def test_a_beir_folder_never_trains_on_a_test_query_text(tmp_path):
    ds = load_dataset("clinical_abbrev").subsample(200, {"train": 30, "dev": 5, "test": 10})
    parts = ds.splits["known_corpus"]
    test_text = ds.queries[parts["test"][0]]
    copy = parts["train"][0]
    ds.queries[copy] = "  " + test_text.upper() + " "  # the same query, typed differently
    write_beir_ids(tmp_path, ds, {s: parts[s] for s in ("train", "dev", "test")})
    with pytest.warns(UserWarning, match=r"1 train query\(ies\) left out: their text is also a test query's"):
        loaded = load_dataset(tmp_path)
    assert copy not in loaded.split("train").queries and copy not in loaded.relevant
    assert len(loaded.split("train").queries) == 29


def test_a_query_judged_in_two_beir_split_files_is_an_error(tmp_path):
    ds = load_dataset("clinical_abbrev").subsample(200, {"train": 30, "dev": 0, "test": 10})
    parts = ds.splits["known_corpus"]
    both = parts["test"][0]
    write_beir_ids(tmp_path, ds, {"train": parts["train"] + [both], "test": parts["test"]})
    with pytest.raises(DataError, match=rf"qrels/test.tsv:2: query '{both}' is judged in test and in train "
                                        r"\(.*qrels/train.tsv:\d+\): a query belongs to one split"):
        load_dataset(tmp_path)


def test_write_beir_round_trips_through_load_dataset_and_refuses_a_query_in_two_splits(tmp_path):
    ds = load_dataset("clinical_abbrev").subsample(300, {"train": 40, "dev": 10, "test": 20})
    splits = {s: ds.split(s) for s in ("train", "dev", "test")}
    loaded = load_dataset(write_beir(tmp_path / "beir", splits))
    assert loaded.corpus == ds.corpus
    for name, split in splits.items():
        back = loaded.split(name)
        assert set(back.queries.items()) == set(split.queries.items()) and back.relevant == split.relevant
    both = next(iter(splits["test"].queries))
    splits["train"].queries[both] = splits["test"].queries[both]
    with pytest.raises(ValueError, match=f"query '{both}' is in splits 'train' and 'test'"):
        write_beir(tmp_path / "bad", splits)
    assert not (tmp_path / "bad").exists()


def test_a_folder_without_any_qrels_says_both_layouts(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q", "text": "y"}\n')
    with pytest.raises(DataError, match=r"qrels.tsv: missing \(or, in a BEIR folder, qrels/train.tsv, dev.tsv"):
        load_dataset(tmp_path)
