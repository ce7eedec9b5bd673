"""What a lesson runs on: a reader's labelled folder, or documents with queries made as the command makes them."""

from __future__ import annotations

import pytest

from helpers.data import DataError, load_dataset, write_beir
from helpers.lesson_data import load_lesson_data, write_example_folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return write_example_folders(tmp_path_factory.mktemp("reader"), n_docs=100,
                                 beir_sample={"docs": 300, "train": 100, "test": 40})


def test_a_beir_folder_without_dev_gets_dev_carved_from_train_and_says_so(folders):
    with pytest.warns(UserWarning, match="no qrels/dev.tsv"):
        ds = load_lesson_data(folders["beir"])
    assert ds.counts["known_corpus/dev"] == 10 and ds.counts["known_corpus/train"] == 90
    assert "no qrels/dev.tsv: 10 of the training queries are held out as dev" in ds.describe()


def test_documents_get_held_out_test_and_dev_queries_and_label_free_training_queries(folders, tmp_path):
    ds = load_lesson_data(folders["documents"], work=tmp_path / "work", show_progress_bar=False)
    assert ds.meta["layout"] == "documents" and len(ds.corpus) == 100
    parts = {s: ds.split(s) for s in ("train", "dev", "test")}
    test_chunks = set().union(*parts["test"].relevant.values())
    dev_chunks = set().union(*parts["dev"].relevant.values())
    train_chunks = set().union(*parts["train"].relevant.values())
    # no training query points at a held-out chunk, and none shares its text with a test or dev query
    assert test_chunks and dev_chunks and not train_chunks & (test_chunks | dev_chunks)
    held_texts = {t.lower() for s in ("dev", "test") for t in parts[s].queries.values()}
    assert not {t.lower() for t in parts["train"].queries.values()} & held_texts
    assert all(q.startswith("crop-") for q in parts["train"].queries)
    assert "written by gemma3-270m" in ds.describe() and "not your users'" in ds.describe()
    again = load_lesson_data(folders["documents"], work=tmp_path / "work", show_progress_bar=False)
    assert again.queries == ds.queries  # the stages are cached: nothing is written twice


def test_too_few_labelled_queries_are_refused_before_any_model_loads(tmp_path):
    ds = load_dataset("wordnet").subsample(100, {"train": 30, "test": 12})
    root = write_beir(tmp_path / "few", {s: ds.split(s) for s in ("train", "test")})
    with pytest.warns(UserWarning), pytest.raises(DataError, match=r"42 labelled queries give 12 test, 27 training and 3 dev"):
        load_lesson_data(root)


def test_an_empty_folder_and_a_missing_one_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="the folder is empty"):
        load_lesson_data(tmp_path / "empty")
    with pytest.raises(DataError, match="no dataset .*nowhere"):
        load_lesson_data(tmp_path / "nowhere")
