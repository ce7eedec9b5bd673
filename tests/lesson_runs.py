"""What the tests of the lessons on a reader's data share: the lessons, their parameters, and papermill.

A reader brings data in one of two forms, and the tests make both from real text that is not shipped
as a lesson dataset (:func:`helpers.lesson_data.write_example_folders`, from ``aws_docs``):

- ``beir``: a BEIR folder of a slice of ``aws_docs`` -- 300 documents, ``qrels/train.tsv`` (120 queries)
  and ``qrels/test.tsv`` (40), no dev file and no ``meta.json``;
- ``documents``: 120 of its documents as ``.txt`` files in one folder per AWS service, no labels.

The slices are small to keep ``make test`` within its 25 minutes; Lesson 6 on the BEIR folder checks
forgetting on a 300-document slice of GCIDE (its ``GENERAL`` parameter) for the same reason.

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
SAMPLE = {"docs": 300, "train": 120, "dev": 15, "test": 40}
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
FOLDERS = {"beir_sample": {"docs": 300, "train": 120, "test": 40}, "n_docs": 120}


def cells(lesson: str) -> list[dict]:
    return json.loads((NOTEBOOKS / f"{lesson}.ipynb").read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def small_general(out: Path) -> Path:
    """A 300-document slice of GCIDE as a BEIR folder: Lesson 6's forgetting check, quicker."""
    from helpers.data import load_dataset, write_beir

    gcide = load_dataset("gcide").subsample(300, {"train": 40, "dev": 20, "test": 60})
    return write_beir(out / "gcide_slice", {s: gcide.split(s) for s in ("train", "dev", "test")})


def parameters(lesson: str, kind: str, folder: Path, out: Path) -> dict:
    """The parameters a test runs ``lesson`` with on the ``kind`` of folder at ``folder``."""
    extra = {"FAMILY_PATTERN": FAMILY[kind], "GROUP_PATTERN": FAMILY[kind]} if lesson == "01_diagnosis" else {}
    if lesson == "02_contrastive_losses":
        extra = {"FAMILY_PATTERN": FAMILY[kind]}
    if lesson == "06_your_own_corpus":
        extra = {"OUT": str(out / "run"), "GENERAL": str(small_general(out))}
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
