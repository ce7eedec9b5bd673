"""Each lesson runs on a plain folder of documents, no labels -- what most readers have.

The lessons then get their queries as ``python -m helpers finetune`` does (:mod:`helpers.lesson_data`):
test and dev queries written by the local LLM for held-out chunks, label-free training queries from
the rest. Lessons 1, 5 and 6 run from the README's own papermill lines, with the folder substituted;
the others through papermill's API (see ``tests/lesson_runs.py`` for the folder and the parameters).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest
from lesson_runs import FOLDERS, NOTEBOOKS, README, assert_ran_through, parameters, run

from helpers.lesson_data import write_example_folders

#: where the README's papermill lines name a reader's folder and a place for the run
PLACEHOLDERS = ("/path/to/your/folder", "runs/my_folder")


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    return write_example_folders(tmp_path_factory.mktemp("reader"), **FOLDERS)["documents"]


def readme_lines() -> list[str]:
    lines = [line.strip() for line in README.read_text().splitlines()
             if line.strip().startswith("papermill ") and ".ipynb " in line]
    assert lines and all(PLACEHOLDERS[0] in line for line in lines), lines
    return lines


@pytest.mark.parametrize("line", readme_lines(), ids=lambda line: line.split()[1].removesuffix(".ipynb"))
def test_the_readmes_papermill_line_runs_on_a_folder_of_documents(line, documents, tmp_path):
    argv = shlex.split(line.replace(PLACEHOLDERS[0], str(documents)).replace(PLACEHOLDERS[1], str(tmp_path / "run")))
    lesson, output = argv[1].removesuffix(".ipynb"), tmp_path / argv[2]
    argv[2] = str(output)
    done = subprocess.run([sys.executable, "-m", *argv, "--no-progress-bar"], cwd=NOTEBOOKS, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    ran = json.loads(output.read_text())
    assert_ran_through(lesson, ran, documents)
    text = json.dumps(ran["cells"])
    if lesson != "06_your_own_corpus":  # the set-up cell says where the queries came from
        assert re.search(r"test and dev: \d+ and \d+ queries written by gemma3-270m", text)


@pytest.mark.parametrize("lesson", ["02_contrastive_losses", "03_hard_negative_mining", "04_synthetic_data"])
def test_lesson_runs_on_a_folder_of_documents(lesson, documents, tmp_path):
    assert_ran_through(lesson, run(lesson, parameters(lesson, "documents", documents, tmp_path), tmp_path), documents)
