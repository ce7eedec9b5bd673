"""Each lesson runs on a reader's labelled folder with nothing changed but its parameter cell.

nbval (``make test``) checks the lessons as committed, on the data their prose discusses. Here each
of the six lessons runs once more through papermill on a BEIR folder as readers have them (train and
test judgments, no dev file, no ``meta.json``; see ``tests/lesson_runs.py``), and bad folders stop in
the set-up cell, before any model loads, with a message naming the file. The same lessons on a plain
folder of documents: ``tests/test_lessons_on_documents.py``.
"""

from __future__ import annotations

import json

import papermill
import pytest
from lesson_runs import (DATA_PARAMETER, FOLDERS, LESSONS, assert_ran_through, cells, parameters, run, source)

from helpers.data import load_dataset, write_beir
from helpers.lesson_data import write_example_folders


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    return write_example_folders(tmp_path_factory.mktemp("reader"), **FOLDERS)["beir"]


@pytest.mark.parametrize("lesson", LESSONS)
def test_one_parameter_cell_names_the_data(lesson):
    """The first code cell holds the parameters (papermill's tag), and no later cell names the default
    data again, except to ask whether this is the run the prose quotes."""
    code = [c for c in cells(lesson) if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), f"{lesson}: first code cell is not tagged 'parameters'"
    names = {line.split("=")[0].strip() for line in source(code[0]).splitlines() if "=" in line and not line.startswith("#")}
    assert DATA_PARAMETER[lesson] in names and "quote_figures(" in source(code[1]), lesson
    default = next(line for line in source(code[0]).splitlines() if line.startswith(DATA_PARAMETER[lesson] + " ="))
    name = default.split("=")[1].split("#")[0].strip()
    if name != "None":
        for cell in code[1:]:
            for line in source(cell).splitlines():
                assert name not in line or "quote_figures(" in line, f"{lesson}: a cell names {name} itself: {line.strip()}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_on_a_beir_folder(lesson, beir, tmp_path):
    ran = run(lesson, parameters(lesson, "beir", beir, tmp_path), tmp_path)
    assert_ran_through(lesson, ran, beir)
    text = json.dumps(ran["cells"])
    # figure checks stood down, and said what the lesson measured beside this folder's figure
    if lesson in ("01_diagnosis", "06_your_own_corpus"):
        assert "the lesson measured" in text
    if lesson != "06_your_own_corpus":
        assert "no qrels/dev.tsv: 12 of the training queries are held out as dev" in text


def _stops_in_set_up(tmp_path, folder, ename: str, message: str) -> None:
    with pytest.raises(papermill.PapermillExecutionError) as err:
        run("01_diagnosis", {"DATASET": str(folder)}, tmp_path)
    assert err.value.ename == ename and message in err.value.evalue, err.value.evalue
    ran = json.loads((tmp_path / "01_diagnosis.ipynb").read_text())["cells"]
    failed = next(i for i, c in enumerate(ran) if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    assert "load_lesson_data(DATASET" in source(ran[failed]) and "load_model" not in source(ran[failed]).split("load_lesson_data")[0]
    assert not any(c.get("execution_count") for c in ran[failed + 1:] if c["cell_type"] == "code")


def test_a_folder_of_too_few_documents_stops_at_the_set_up_cell(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a dataset\n")
    _stops_in_set_up(tmp_path, tmp_path / "notes", "CorpusError", "too small to split: 1 chunk(s) from 1 document(s)")


def test_an_empty_folder_stops_at_the_set_up_cell(tmp_path):
    (tmp_path / "empty").mkdir()
    _stops_in_set_up(tmp_path, tmp_path / "empty", "DataError", "the folder is empty")


def test_qrels_naming_an_unknown_document_stop_at_the_set_up_cell(tmp_path):
    ds = load_dataset("aws_docs").subsample(200, {"train": 40, "test": 30})
    root = write_beir(tmp_path / "mine", {s: ds.split(s) for s in ("train", "test")})
    qid = next(iter(ds.split("test").queries))
    with open(root / "qrels" / "test.tsv", "a", encoding="utf-8") as f:
        f.write(f"{qid}\tno-such-doc\t1\n")
    _stops_in_set_up(tmp_path, root, "DataError", f"{root / 'qrels' / 'test.tsv'}:32: corpus id 'no-such-doc' is not in corpus.jsonl")


def test_ten_labelled_queries_stop_at_the_set_up_cell(tmp_path):
    ds = load_dataset("aws_docs").subsample(100, {"train": 5, "test": 5})
    root = write_beir(tmp_path / "ten", {s: ds.split(s) for s in ("train", "test")})
    _stops_in_set_up(tmp_path, root, "DataError", "10 labelled queries give")
