"""Labelled queries a team brings: query logs, training qrels, BEIR split files; splits and leaks.

Every test reads real files written to ``tmp_path``, or a shipped dataset; nothing is mocked, and
no model loads.
"""

import json
import random
import tracemalloc

import pytest

from helpers.corpus import CorpusError, GoldQueries, load_corpus
from helpers.data import load_dataset, normalise_query
from helpers.labelled import (
    MAX_PROBLEMS,
    LabelledPairs,
    LabelledPairsError,
    check_disjoint,
    count_shared_documents,
    drop_leaks,
    query_id,
    read_beir_qrels,
    read_query_log,
    read_train_qrels,
    split_labelled,
)

DOCS = {"d1", "d2", "d3"}


def _write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if "b" in mode else path.write_text)(text)
    return path


def _by_text(pairs):
    """{query text: {id: clicks}}: what a reader sees, without the hashed ids."""
    return {pairs.queries[q]: pairs.scores[q] for q in pairs.queries}


# ----------------------------------------------------------------------------- query logs


def test_repeated_rows_are_summed_and_pairs_below_min_clicks_dropped(tmp_path):
    log = _write(tmp_path / "log.csv", "query,doc_id,clicks\n"
                                       "reset password,d1,2\n"
                                       "reset password,d1,1\n"   # the same pair again: summed
                                       "reset password,d2,1\n"   # 1 click: below min_clicks=2
                                       "vpn setup,d3,0.5\n"
                                       "vpn setup,d3,1.5\n"      # scores, not only whole clicks
                                       "printer jam,d2,1\n"      # its only pair is below: the query goes
                                       "\n")                     # a blank line is no row
    pairs = read_query_log(log, DOCS, min_clicks=2)
    assert _by_text(pairs) == {"reset password": {"d1": 3}, "vpn setup": {"d3": 2.0}}
    assert pairs.relevant == {query_id("reset password"): {"d1"}, query_id("vpn setup"): {"d3"}}
    assert pairs.dropped == {"pairs below min_clicks": 2, "queries below min_clicks": 1}
    assert pairs.level == "document" and pairs.source == "log.csv"
    assert pairs.origin[query_id("vpn setup")] == f"{log}:5"  # where the query was first seen
    assert pairs.notes[0] == "6 row(s): 3 distinct queries (case and spacing aside), 4 (query, document) pairs"
    assert "left out below min_clicks=2: 2 pair(s), 1 query(ies) with no pair left" in pairs.notes
    # the default, min_clicks=1, keeps them all: every pair here has a click or more
    assert read_query_log(log, DOCS).n_pairs == 4
    with pytest.raises(LabelledPairsError, match=r"log.csv: no \(query, document\) pair has 10 click\(s\) or more"):
        read_query_log(log, DOCS, min_clicks=10)


def test_without_a_clicks_column_each_row_counts_one(tmp_path):
    tsv = _write(tmp_path / "log.tsv", 'doc_id\tquery\n'
                                       'd1\t"quoted" reset, with a comma\n'  # TSV: quotes and commas are text
                                       'd1\t"quoted" reset, with a comma\n'
                                       'd2\tvpn\n')
    pairs = read_query_log(tsv, DOCS, min_clicks=2)
    assert _by_text(pairs) == {'"quoted" reset, with a comma': {"d1": 2}}
    assert "no 'clicks' column: each row counts as one click" in pairs.notes
    # JSONL: a row without the key counts one, others their count; other keys, and integer ids, are fine
    jsonl = _write(tmp_path / "log.jsonl", "\n".join(json.dumps(r) for r in [
        {"q": "vpn", "doc": "d2"}, {"q": "vpn", "doc": "d2", "n": 4, "user": "u1"}, {"q": "vpn", "doc": 7}]) + "\n")
    pairs = read_query_log(jsonl, DOCS | {"7"}, query_column="q", doc_column="doc", clicks_column="n")
    assert _by_text(pairs) == {"vpn": {"d2": 5, "7": 1}} and not any("counts as one" in n for n in pairs.notes)


def test_case_and_spacing_variants_are_one_query_under_its_first_spelling(tmp_path):
    log = _write(tmp_path / "log.csv", "query,doc_id\nReset  Password,d1\nreset password,d1\n"
                                       "  RESET PASSWORD ,d2\nreset passwords,d1\n")
    pairs = read_query_log(log, DOCS)
    assert _by_text(pairs) == {"Reset  Password": {"d1": 2, "d2": 1}, "reset passwords": {"d1": 1}}
    assert list(pairs.queries) == [query_id("reset password"), query_id("reset passwords")]
    assert query_id("Reset  Password") == query_id(" RESET password")  # the id is the normalised text's
    assert any(n.startswith("1 query(ies) written more than one way") and "['Reset  Password']" in n
               for n in pairs.notes)


@pytest.mark.parametrize("name, content, message", [
    ("log.csv", "query,doc_id\nreset,d1\nvpn,d9\n", r"log.csv:3: 'd9' is neither a document nor a chunk of the corpus"),
    ("log.csv", "query,doc_id\nreset,d1\n   ,d2\n", r"log.csv:3: empty query text"),
    ("log.csv", "query,doc_id\nreset,\n", r"log.csv:2: no document id"),
    ("log.csv", "query,doc_id,clicks\nreset,d1,3\nvpn,d2,-1\n", r"log.csv:3: click count '-1' is negative"),
    ("log.csv", "query,doc_id,clicks\nreset,d1,many\n", r"log.csv:2: click count 'many' is not a number"),
    ("log.csv", "query,doc_id,clicks\nreset,d1,\n", r"log.csv:2: click count '' is not a number"),
    ("log.csv", "query,doc_id,clicks\nreset,d1,nan\n", r"log.csv:2: click count 'nan' is not a finite number"),
    ("log.csv", "query,doc_id\nreset, now,d1\n",
     r"log.csv:2: 3 field\(s\), the header has 2; quote a text that holds a comma"),
    ("log.csv", 'query,doc_id\n"reset\nit",d1\nvpn,d9\n', r"log.csv:4: 'd9' is neither"),  # a quoted line break
    ("log.csv", "text,document\nreset,d1\n",
     r"log.csv:1: no column 'query' and no column 'doc_id'; the header has \['text', 'document'\]"),
    ("log.tsv", "query\tdocid\nreset\td1\n", r"log.tsv:1: no column 'doc_id'; the header has \['query', 'docid'\]"),
    ("log.csv", "", r"log.csv: empty file: no header line"),
    ("log.csv", "query,doc_id\n\n", r"log.csv: no \(query, document\) rows in it"),
    ("log.jsonl", '{"query": "reset", "doc_id": "d1"}\n{"query": "vpn", "doc_id": \n',
     r"log.jsonl:2: malformed JSON \(expecting value at column 28\)"),
    ("log.jsonl", '{"query": "reset", "doc_id": "d1"}\n["vpn", "d2"]\n',
     r"log.jsonl:2: expected a JSON object, got list"),
    ("log.jsonl", '{"query": "reset"}\n', r"log.jsonl:1: no 'doc_id'; the object has \['query'\]"),
    ("log.jsonl", '{"query": 42, "doc_id": "d1"}\n', r"log.jsonl:1: the query must be a string, got int \(42\)"),
    ("log.jsonl", '{"query": "x", "doc_id": ["d1"]}\n',
     r"log.jsonl:1: the document id must be a string or an integer, got list \(\['d1'\]\)"),
    ("log.jsonl", '{"query": "x", "doc_id": "d1", "clicks": null}\n',
     r"log.jsonl:1: click count 'null' is not a number"),
    ("log.jsonl", '{"query": "x", "doc_id": "d1", "clicks": true}\n', r"log.jsonl:1: click count True is not a number"),
    ("log.jsonl", '{"query": "\\ud800", "doc_id": "d1"}\n', r"log.jsonl:1: the query has an unpaired surrogate"),
])
def test_bad_logs_name_the_file_and_line(tmp_path, name, content, message):
    with pytest.raises(LabelledPairsError, match=message) as e:
        read_query_log(_write(tmp_path / name, content), DOCS)
    assert isinstance(e.value, CorpusError)  # the command's "bad input" exit, before any model loads
    assert f"query log {tmp_path / name}" in str(e.value)


@pytest.mark.parametrize("name, content, line, column", [
    ("log.csv", "query,doc_id\nreset,d1\ncaf\xe9,d2\n".encode("latin-1"), 3, 4),
    ("log.tsv", b"query\tdoc_id\n" + b"q%d\td1\n" * 3 % (1, 2, 3) + b"x\xff\td2\n", 5, 2),
    ("log.jsonl", b'{"query": "reset", "doc_id": "d1"}\n{"query": "caf\xe9", "doc_id": "d2"}\n', 2, 15),
])
def test_bytes_that_are_not_utf8_are_named_by_line_and_byte_column(tmp_path, name, content, line, column):
    with pytest.raises(LabelledPairsError) as e:
        read_query_log(_write(tmp_path / name, content, "wb"), DOCS)
    assert f"{name}:{line}: not UTF-8 text (byte 0x{content.splitlines()[line - 1][column - 1]:02x} at byte column " \
           f"{column}); convert it" in str(e.value)
    assert "1 problem(s)" in str(e.value)  # the bad row is not reported again as a bad query or id


def test_every_problem_is_reported_at_once_and_reading_stops_after_enough(tmp_path):
    log = _write(tmp_path / "log.csv", "query,doc_id,clicks\nreset,d9,1\n,d1,1\nvpn,d2,-3\nok,d1,1\n")
    with pytest.raises(LabelledPairsError, match=r"3 problem\(s\):\n  .*log.csv:2: 'd9'.*\n  .*log.csv:3: empty query"
                                                 r" text\n  .*log.csv:4: click count '-3' is negative$"):
        read_query_log(log, DOCS)
    # the wrong corpus for a big log: the first problems say it, and the reader does not hold a million messages
    big = _write(tmp_path / "big.csv", "query,doc_id\n" + "".join(f"q{i},x{i}\n" for i in range(5000)))
    with pytest.raises(LabelledPairsError) as e:
        read_query_log(big, DOCS)
    assert f"{MAX_PROBLEMS} problem(s)" in str(e.value)
    assert f"big.csv: stopped reading at line {MAX_PROBLEMS + 2} after {MAX_PROBLEMS} problems" in str(e.value)


def test_options_and_files_that_cannot_be_read(tmp_path):
    with pytest.raises(LabelledPairsError, match=r"log.xlsx: not a .csv, .tsv, .jsonl file"):
        read_query_log(_write(tmp_path / "log.xlsx", "x"), DOCS)
    with pytest.raises(LabelledPairsError, match="missing.csv: no such file"):
        read_query_log(tmp_path / "missing.csv", DOCS)
    log = _write(tmp_path / "log.csv", "query,doc_id\nreset,d1\n")
    with pytest.raises(ValueError, match="min_clicks must be at least 0"):
        read_query_log(log, DOCS, min_clicks=-1)
    # a click column named on purpose must exist: a misspelt name would count rows instead, silently
    with pytest.raises(LabelledPairsError, match=r"log.csv:1: no column 'click_count'; the header has"):
        read_query_log(log, DOCS, clicks_column="click_count")
    assert read_query_log(log, DOCS, clicks_column=None).n_pairs == 1


def test_memory_holds_the_distinct_pairs_not_the_rows(tmp_path):
    """The same 50 pairs repeated 40 times over take no more memory to read than once over."""

    def peak(repeats):
        rows = "".join(f"query number {i % 25},d{1 + i % 2},1\n" for i in range(50)) * repeats
        log = _write(tmp_path / f"log{repeats}.csv", "query,doc_id,clicks\n" + rows)
        tracemalloc.start()
        try:
            pairs = read_query_log(log, DOCS)
            return tracemalloc.get_traced_memory()[1], pairs
        finally:
            tracemalloc.stop()

    (small, once), (large, forty) = peak(1), peak(40)
    assert _by_text(forty) == {t: {d: 40 * c for d, c in ids.items()} for t, ids in _by_text(once).items()}
    assert large < 1.5 * small + 50_000, (small, large)


def test_ids_may_name_chunks_of_a_corpus_but_not_both_kinds(tmp_path):
    long_doc = " ".join(f"word{i}" for i in range(150))
    corpus = load_corpus(_write(tmp_path / "docs.jsonl", "\n".join(json.dumps(r) for r in [
        {"_id": "short", "text": "a short document"}, {"_id": "long", "text": long_doc}]) + "\n"), max_words=100)
    chunk = next(c.id for c in corpus.chunks if c.source == "long")
    chunks = _write(tmp_path / "chunks.csv", f"query,doc_id\nw,{chunk}\ns,short\n")
    assert read_query_log(chunks, corpus).level == "chunk"
    assert read_query_log(_write(tmp_path / "docs.csv", "query,doc_id\nw,long\ns,short\n"), corpus).level == "document"
    with pytest.raises(LabelledPairsError, match=r"mixed.csv: mixes document ids and chunk ids"):
        read_query_log(_write(tmp_path / "mixed.csv", f"query,doc_id\nw,{chunk}\nl,long\n"), corpus)


# ----------------------------------------------------------------------------- qrels


def _beir(root, splits: dict[str, list[str]]):
    _write(root / "corpus.jsonl", "".join(json.dumps({"_id": d, "text": f"text of {d}"}) + "\n" for d in sorted(DOCS)))
    _write(root / "queries.jsonl", "\n".join(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) for i in range(1, 7))
           + "\n")
    for split, rows in splits.items():
        path = root / "qrels.tsv" if split == "qrels.tsv" else root / "qrels" / f"{split}.tsv"
        _write(path, "query-id\tcorpus-id\tscore\n" + "".join(r + "\n" for r in rows))
    return root


def test_train_qrels_are_read_and_checked_like_gold_queries(tmp_path):
    queries = _write(tmp_path / "train.jsonl", "\n".join(json.dumps({"_id": f"t{i}", "text": f"train {i}"})
                                                         for i in range(4)) + "\n")
    qrels = _write(tmp_path / "train.tsv", "query-id\tcorpus-id\tscore\nt0\td1\t1\nt0\td2\t2\nt1\td3\t1\nt2\td1\t0\n")
    pairs = read_train_qrels(queries, qrels, DOCS)
    assert pairs.queries == {"t0": "train 0", "t1": "train 1"} and pairs.relevant == {"t0": {"d1", "d2"}, "t1": {"d3"}}
    assert pairs.scores["t0"] == {"d1": 1.0, "d2": 2.0} and pairs.origin["t1"] == f"{qrels}:4"
    # t2's only judgment is 0 (judged not relevant), t3 has none: each counted as what it is
    assert pairs.dropped == {"queries without a judgment": 1, "queries judged only not relevant (score 0 or less)": 1}
    assert pairs.source == "train.jsonl + train.tsv"
    _write(qrels, "t0\td1\t1\nt9\td1\t1\nt1\td7\t1\nt2\td2\tmuch\n")  # no header: fine
    with pytest.raises(LabelledPairsError) as e:
        read_train_qrels(queries, qrels, DOCS)
    for expected in ("train.tsv:2: query id 't9' is not in train.jsonl",
                     "train.tsv:3: 'd7' is neither a document nor a chunk of the corpus",
                     "train.tsv:4: score 'much' is not a number"):
        assert expected in str(e.value)
    with pytest.raises(LabelledPairsError, match="gone.tsv: no such file"):
        read_train_qrels(queries, tmp_path / "gone.tsv", DOCS)
    _write(qrels, "t0\td1\t0\n")
    with pytest.raises(LabelledPairsError, match=r"train.tsv: no query has a judgment \(a positive score\) here"):
        read_train_qrels(queries, qrels, DOCS)


def test_a_beir_folder_gives_its_train_dev_and_test_qrels(tmp_path):
    root = _beir(tmp_path / "beir", {"train": ["q1\td1\t1", "q2\td2\t1", "q2\td3\t1"], "dev": ["q3\td1\t1"],
                                     "test": ["q4\td2\t1", "q5\td3\t0"]})
    splits = read_beir_qrels(root, DOCS)
    assert {s: p.relevant for s, p in splits.items()} == {"train": {"q1": {"d1"}, "q2": {"d2", "d3"}},
                                                           "dev": {"q3": {"d1"}}, "test": {"q4": {"d2"}}}
    assert splits["train"].queries == {"q1": "query 1", "q2": "query 2"}
    assert splits["train"].dropped == {"queries without a judgment": 1}  # q6: judged in no file
    assert splits["test"].dropped == {"queries judged only not relevant (score 0 or less)": 1}  # q5: score 0
    assert splits["test"].source == "queries.jsonl + test.tsv (test)"
    # the corpus's own reader finds the same test queries
    assert load_corpus(root).gold.relevant == splits["test"].relevant
    # qrels.tsv stands for test when there is no qrels/test.tsv, as load_corpus has it
    other = read_beir_qrels(_beir(tmp_path / "flat", {"train": ["q1\td1\t1"], "qrels.tsv": ["q2\td2\t1"]}), DOCS)
    assert sorted(other) == ["test", "train"] and other["test"].relevant == {"q2": {"d2"}}
    with pytest.raises(LabelledPairsError, match="needs queries.jsonl and at least one of qrels/train.tsv"):
        read_beir_qrels(_write(tmp_path / "empty" / "corpus.jsonl", "").parent, DOCS)


def test_a_query_in_two_split_files_is_an_error_naming_both(tmp_path):
    root = _beir(tmp_path / "beir", {"train": ["q1\td1\t1", "q2\td2\t1"], "dev": ["q3\td1\t1"],
                                     "test": ["q4\td2\t1", "q2\td3\t1"]})
    with pytest.raises(LabelledPairsError) as e:
        read_beir_qrels(root, DOCS)
    assert (f"query 'q2' is in train ({root / 'qrels' / 'train.tsv'}:3) and in test "
            f"({root / 'qrels' / 'test.tsv'}:3): a query belongs to one split") in str(e.value)
    # separate --train-queries/--train-qrels and gold --queries/--qrels: the same check, by the caller
    train = read_train_qrels(root / "queries.jsonl", root / "qrels" / "train.tsv", DOCS)
    gold = load_corpus(_beir(tmp_path / "gold", {"test": ["q1\td3\t1", "q4\td2\t1"]})).gold
    with pytest.raises(LabelledPairsError, match=r"query 'q1' is in train \(.*train.tsv:2\) and in test "
                                                 r"\(.*gold/qrels/test.tsv:2\)"):
        check_disjoint({"train": train, "test": LabelledPairs.from_gold(gold)})
    dev = LabelledPairs.from_gold(GoldQueries({"x": "x"}, {"x": {"d1"}}, "document", "dev.jsonl + dev.tsv"))
    check_disjoint({"train": train, "dev": dev})  # no id in common: nothing to say


# ----------------------------------------------------------------------------- splits, on a shipped dataset


@pytest.fixture(scope="module")
def icd_log(tmp_path_factory):
    """A click log made of icd10cm's training pairs: each pair clicked 1-3 times over several rows, some rows
    spelt otherwise, one query in five also clicking a second (random) code, and a few zero-click rows."""
    ds = load_dataset("icd10cm")
    train = ds.split("train")
    rng = random.Random(0)
    codes = sorted(ds.corpus)
    rows = []
    for i, (q, text) in enumerate(train.queries.items()):
        for code in sorted(train.relevant[q]):
            for _ in range(rng.randint(1, 3)):
                rows.append((text.upper() if rng.random() < 0.2 else text, code, 1))
        if i % 5 == 0:
            rows.append((f"  {text}  ", rng.choice(codes), 1))
        if i % 11 == 0:
            rows.append((text, rng.choice(codes), 0))  # shown, never clicked: below min_clicks
    rng.shuffle(rows)
    path = tmp_path_factory.mktemp("icd") / "clicks.jsonl"
    path.write_text("".join(json.dumps({"query": t, "doc_id": d, "clicks": c}) + "\n" for t, d, c in rows))
    return read_query_log(path, set(ds.corpus)), train


def test_the_icd10cm_log_reads_back_as_its_training_pairs(icd_log):
    pairs, train = icd_log
    assert len(pairs) == len({normalise_query(t) for t in train.queries.values()})
    assert pairs.dropped["pairs below min_clicks"] > 0 and "queries below min_clicks" not in pairs.dropped
    assert any("written more than one way" in n for n in pairs.notes)  # the upper-cased and padded rows
    expected = {normalise_query(train.queries[q]): ids for q, ids in train.relevant.items()}
    for q, ids in pairs.relevant.items():
        assert expected[normalise_query(pairs.queries[q])] <= ids


def _texts(part):
    return {normalise_query(t) for t in part.queries.values()}


def _held_documents(split):
    return set().union(*split.test.relevant.values(), *split.dev.relevant.values())


def test_split_by_query_keeps_texts_apart_and_is_seeded(icd_log):
    pairs, _ = icd_log
    split = split_labelled(pairs, by="query", test_fraction=0.2, dev_fraction=0.1, max_test=400, seed=3)
    train, dev, test = split
    assert (len(test), len(dev)) == (400, round(len(pairs) * 0.1)) and len(train) + len(dev) + len(test) == len(pairs)
    assert not (_texts(train) & _texts(test) or _texts(train) & _texts(dev) or _texts(dev) & _texts(test))
    assert all(test.relevant[q] == pairs.relevant[q] and test.queries[q] == pairs.queries[q] for q in test.queries)
    again = split_labelled(pairs, by="query", test_fraction=0.2, dev_fraction=0.1, max_test=400, seed=3)
    assert [list(p.queries) for p in again] == [list(p.queries) for p in split]
    other = split_labelled(pairs, by="query", test_fraction=0.2, dev_fraction=0.1, max_test=400, seed=4)
    assert set(other.test.queries) != set(test.queries)
    # the known-corpus protocol: test documents keep training queries (icd10cm has several queries per code)
    assert count_shared_documents(train, test) > 0
    described = split.describe()
    assert described["test"] == {"queries": 400, "pairs": test.n_pairs,
                                 "relevant ids": len(set().union(*test.relevant.values()))}
    assert described["split by"] == "query" and described["dropped"] == dict(pairs.dropped)
    assert described["training queries sharing a document with a test query"] == count_shared_documents(train, test)


def test_split_by_document_shares_no_document_with_training(icd_log):
    pairs, _ = icd_log
    split = split_labelled(pairs, by="document", test_fraction=0.2, dev_fraction=0.1, max_test=400, seed=0)
    train, dev, test = split
    held = _held_documents(split)
    assert not any(ids & held for ids in train.relevant.values())
    assert not set().union(*test.relevant.values()) & set().union(*dev.relevant.values())
    assert count_shared_documents(train, test) == 0 and count_shared_documents(train, dev) == 0
    assert not (_texts(train) & _texts(test) or _texts(train) & _texts(dev) or _texts(dev) & _texts(test))
    assert len(test) >= 400 and len(dev) >= round(len(pairs) * 0.1)
    straddling = split.dropped["queries straddling held-out and training documents"]
    assert straddling > 0 and len(train) + len(dev) + len(test) + straddling == len(pairs)
    assert split.describe()["training queries sharing a document with a test query"] == 0
    again = split_labelled(pairs, by="document", test_fraction=0.2, dev_fraction=0.1, max_test=400, seed=0)
    assert [list(p.queries) for p in again] == [list(p.queries) for p in split]


def test_identical_texts_under_different_ids_share_a_split_and_documents_may_group_chunks():
    # 40 queries, two of each text (one spelt otherwise); each text is relevant to the first chunk of one of ten
    # documents, or to both its chunks
    queries = {f"q{i}": f"Query {i // 2}" if i % 2 else f"query  {i // 2}" for i in range(40)}
    relevant = {f"q{i}": {f"doc{i // 2 % 10}#0-5", f"doc{i // 2 % 10}#5-9"} if i // 2 % 3 else {f"doc{i // 2 % 10}#0-5"}
                for i in range(40)}
    pairs = LabelledPairs(queries, relevant, "chunk", "chunks")
    for by in ("query", "document"):
        split = split_labelled(pairs, by=by, test_fraction=0.25, dev_fraction=0.25, seed=1)
        for a, b in ((split.train, split.test), (split.train, split.dev), (split.dev, split.test)):
            assert not _texts(a) & _texts(b)
            assert all(len({q for q in a.queries if normalise_query(a.queries[q]) == t}) == 2 for t in _texts(a))
    assert count_shared_documents(split.train, split.test) == 0 == count_shared_documents(split.train, split.dev)
    # held out by chunk, a text relevant to both chunks of a document may straddle; held out by document, not here
    source_of = {c: c.split("#")[0] for ids in relevant.values() for c in ids}
    split = split_labelled(pairs, by="document", test_fraction=0.25, dev_fraction=0.25, seed=1, source_of=source_of)
    assert count_shared_documents(split.train, split.test, source_of) == 0
    assert count_shared_documents(split.train, split.dev, source_of) == 0
    assert sum(map(len, split)) == 40 and not split.dropped


def test_bad_split_options_and_too_few_queries():
    pairs = LabelledPairs({"a": "a", "b": "b"}, {"a": {"d1"}, "b": {"d1"}}, "document", "tiny")
    with pytest.raises(ValueError, match="by must be 'query' or 'document'"):
        split_labelled(pairs, by="chunk")
    with pytest.raises(ValueError, match="with a sum below 1"):
        split_labelled(pairs, test_fraction=0.6, dev_fraction=0.4)
    with pytest.raises(LabelledPairsError, match="tiny: too few queries to split: 2 query"):
        split_labelled(pairs, test_fraction=0.1)  # 0.1 x 2 rounds to no test query
    with pytest.raises(LabelledPairsError, match="none left for train"):
        split_labelled(pairs, by="document", test_fraction=0.5)  # one document: all or nothing
    # dev only (test comes from gold queries): test_fraction=0
    split = split_labelled(pairs, test_fraction=0, dev_fraction=0.5)
    assert (len(split.train), len(split.dev), len(split.test)) == (1, 1, 0)


# ----------------------------------------------------------------------------- leaks


def test_drop_leaks_removes_held_out_texts_from_labelled_and_generated_queries():
    train = LabelledPairs({"a": "Reset Password", "b": "vpn setup", "c": "printer"},
                          {"a": {"d1"}, "b": {"d2"}, "c": {"d3"}}, "document", "log",
                          dropped={"pairs below min_clicks": 4}, scores={"b": {"d2": 3}})
    kept, n = drop_leaks(train, ["reset  password", "PRINTER", "unrelated"])
    assert n == 2 and kept.queries == {"b": "vpn setup"} and kept.scores == {"b": {"d2": 3}}
    assert kept.dropped == {"pairs below min_clicks": 4, "queries with a held-out query's text": 2}
    assert "2 training query(ies) left out" in kept.notes[-1] and "'Reset Password'" in kept.notes[-1]
    assert len(train) == 3 and "queries with a held-out query's text" not in train.dropped  # the input is unchanged
    assert drop_leaks(kept, ["nothing"]) == (kept, 0)
    assert kept.describe()["dropped"]["queries with a held-out query's text"] == 2

    class Generated:  # the shape of helpers.synthetic.Generated that matters here
        def __init__(self, query):
            self.query = query

    records = [Generated("Vpn  Setup"), Generated("how to print")]
    kept_records, n = drop_leaks(records, ["vpn setup"], text_of=lambda r: r.query)
    assert n == 1 and [r.query for r in kept_records] == ["how to print"]


def test_gold_queries_as_labelled_pairs_and_their_rows():
    gold = GoldQueries({"g1": "reset"}, {"g1": {"d2", "d1"}}, "document", "queries.jsonl + test.tsv")
    pairs = LabelledPairs.from_gold(gold)
    assert list(pairs.rows()) == [{"_id": "g1", "text": "reset", "relevant": ["d1", "d2"], "level": "document"}]
    assert pairs.describe() == {"source": "queries.jsonl + test.tsv", "level": "document", "queries": 1, "pairs": 2,
                                "relevant ids": 2, "dropped": {}, "notes": []}
