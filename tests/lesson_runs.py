"""What the tests of the lessons on a reader's data share: the lessons, their parameters, and papermill.

A reader brings data in one of two forms, and the tests make both from real text that is not shipped
as a lesson dataset (:func:`helpers.lesson_data.write_example_folders`, from ``aws_docs``):

- ``beir``: a BEIR folder of a slice of ``aws_docs`` -- 600 documents, ``qrels/train.tsv`` (240 queries)
  and ``qrels/test.tsv`` (60), no dev file and no ``meta.json``;
- ``documents``: 160 of its documents as ``.txt`` files in one folder per AWS service, no labels.

Each lesson runs through papermill, as a reader would run it; outputs are not compared (the figures
are this slice's), but any error fails the test, and so does a quoted-figure check that forgot to
stand down.
"""

from __future__ import annotations

import json
from pathlib import Path

import papermill

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
README = NOTEBOOKS.parent / "README.md"
LESSONS = ("01_diagnosis", "02_contrastive_losses", "03_hard_negative_mining", "04_synthetic_data", "05_deployment",
           "06_your_own_corpus")
#: the data parameter of each lesson
DATA_PARAMETER = {lesson: "DATASET" for lesson in LESSONS} | {"05_deployment": "DOMAIN", "06_your_own_corpus": "CORPUS"}
#: a slice for the lessons that also read the general and jargon sets (the folders are slices already)
SAMPLE = {"docs": 600, "train": 240, "dev": 30, "test": 60}
#: the rest of each lesson's parameters, chosen to keep the runs short (and, for Lesson 1's lookalikes,
#: patterns that mean something for these ids: "s3.DeleteBucket" in BEIR, "s3/DeleteBucket.txt" as files)
SHORT = {
    "01_diagnosis": {"SAMPLE": SAMPLE, "STYLE_DOCS": 4},
    "02_contrastive_losses": {"N_PAIRS": 64},
    "03_hard_negative_mining": {"LIVE_QUERIES": 64},
    "04_synthetic_data": {"SYNTHETIC_DOCS": 8},
    "05_deployment": {"SAMPLE": SAMPLE, "QUERIES_TO_TRY": ["delete an S3 bucket", "list DynamoDB tables"]},
    "06_your_own_corpus": {},
}
FAMILY = {"beir": r"([^.]+)\.", "documents": r"([^/]+)/"}
FOLDERS = {"beir_sample": {"docs": 600, "train": 240, "test": 60}, "n_docs": 160}


def cells(lesson: str) -> list[dict]:
    return json.loads((NOTEBOOKS / f"{lesson}.ipynb").read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def parameters(lesson: str, kind: str, folder: Path, out: Path) -> dict:
    """The parameters a test runs ``lesson`` with on the ``kind`` of folder at ``folder``."""
    extra = {"FAMILY_PATTERN": FAMILY[kind], "GROUP_PATTERN": FAMILY[kind]} if lesson == "01_diagnosis" else {}
    if lesson == "02_contrastive_losses":
        extra = {"FAMILY_PATTERN": FAMILY[kind]}
    if lesson == "06_your_own_corpus":
        extra = {"OUT": str(out / "run")}
    return {DATA_PARAMETER[lesson]: str(folder), **SHORT[lesson], **extra}


def run(lesson: str, params: dict, out: Path):
    """Run ``lesson`` with ``params`` into ``out``; the executed notebook is returned (and kept there)."""
    return papermill.execute_notebook(str(NOTEBOOKS / f"{lesson}.ipynb"), str(out / f"{lesson}.ipynb"),
                                      parameters=params, cwd=str(NOTEBOOKS), progress_bar=False)


def assert_ran_through(lesson: str, ran, folder: Path) -> None:
    code = [c for c in ran["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), f"{lesson}: not every cell ran"
    injected = [c for c in code if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and str(folder) in source(injected[0])
