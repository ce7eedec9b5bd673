"""Each lesson runs on a second dataset with nothing changed but its parameter cell.

nbval (``make test``) checks the lessons as committed, on the data their prose discusses. Here each
of Lessons 1-5 runs once more through papermill, the tool a reader would use for the same thing
(``papermill 01_diagnosis.ipynb mine.ipynb -p DATASET ...``), on a slice of ``aws_docs`` (60 test queries, 200+ documents): another
tier, other document ids, no cached artefacts. Outputs are not compared (the figures are this
slice's), but any error fails the test, and so does a quoted-figure check that forgot to stand down.
"""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = ("01_diagnosis", "02_contrastive_losses", "03_hard_negative_mining", "04_synthetic_data", "05_deployment")

#: AWS operations: ids are "service.Operation", so the operations of one service are lookalikes
SLICE = {"docs": 200, "train": 64, "dev": 20, "test": 60}
SERVICE = r"([^.]+)\."
ELSEWHERE = {
    "01_diagnosis": {"DATASET": "aws_docs", "SAMPLE": SLICE, "FAMILY_PATTERN": SERVICE, "GROUP_PATTERN": SERVICE,
                     "STYLE_DOCS": 4},
    "02_contrastive_losses": {"DATASET": "aws_docs", "SAMPLE": SLICE, "N_PAIRS": 64, "FAMILY_PATTERN": SERVICE},
    "03_hard_negative_mining": {"DATASET": "aws_docs", "SAMPLE": SLICE, "LIVE_QUERIES": 64},
    "04_synthetic_data": {"DATASET": "aws_docs", "SAMPLE": SLICE, "SYNTHETIC_DOCS": 8},
    "05_deployment": {"DOMAIN": "aws_docs", "SAMPLE": SLICE,
                      "QUERIES_TO_TRY": ["delete an S3 bucket", "list DynamoDB tables"]},
}


def _cells(lesson: str) -> list[dict]:
    return json.loads((NOTEBOOKS / f"{lesson}.ipynb").read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _run(lesson: str, parameters: dict, out: Path):
    return papermill.execute_notebook(str(NOTEBOOKS / f"{lesson}.ipynb"), str(out / f"{lesson}.ipynb"),
                                      parameters=parameters, cwd=str(NOTEBOOKS), progress_bar=False)


@pytest.mark.parametrize("lesson", LESSONS)
def test_one_parameter_cell_names_the_data(lesson):
    """The first code cell holds the parameters (papermill's tag), and no later cell names the default
    dataset again, except to ask whether this is the run the prose quotes."""
    code = [c for c in _cells(lesson) if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), f"{lesson}: first code cell is not tagged 'parameters'"
    parameters = {line.split("=")[0].strip() for line in _source(code[0]).splitlines() if "=" in line and not line.startswith("#")}
    assert set(ELSEWHERE[lesson]) <= parameters, f"{lesson}: the test sets parameters the lesson does not have"
    default = next(line for line in _source(code[0]).splitlines() if line.startswith(("DATASET =", "DOMAIN =")))
    name = default.split("=")[1].split("#")[0].strip()
    for cell in code[1:]:
        for line in _source(cell).splitlines():
            assert name not in line or "quote_figures(" in line, f"{lesson}: a cell names {name} itself: {line.strip()}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_on_a_slice_of_another_dataset(lesson, tmp_path):
    ran = _run(lesson, ELSEWHERE[lesson], tmp_path)
    code = [c for c in ran["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), f"{lesson}: not every cell ran"
    injected = [c for c in code if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "aws_docs" in _source(injected[0])


def test_a_folder_that_is_not_a_dataset_stops_at_the_loader(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a dataset\n")
    with pytest.raises(papermill.PapermillExecutionError) as err:
        _run("01_diagnosis", {"DATASET": str(tmp_path / "notes")}, tmp_path)
    assert err.value.ename == "DataError"
    assert "corpus.jsonl: missing" in err.value.evalue
    # it stopped in the set-up cell that loads the data: nothing after it ran
    ran = json.loads((tmp_path / "01_diagnosis.ipynb").read_text())["cells"]
    failed = next(i for i, c in enumerate(ran) if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    assert "load_dataset(DATASET" in _source(ran[failed])
    assert not any(c.get("execution_count") for c in ran[failed + 1:] if c["cell_type"] == "code")
