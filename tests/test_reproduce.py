import csv
import json

import pytest

from helpers.__main__ import main
from helpers.data import load_dataset
from helpers.evaluation import evaluate, lift
from helpers.ladder import RUNGS
from helpers.models import load_model
from helpers.reproduce import QUICK, LiftRow, markdown_table


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_quick_ladder_writes_tables_then_reuses_models_and_cached_rungs(tmp_path):
    out, runs = tmp_path / "results", tmp_path / "runs"
    args = ["reproduce", "--quick", "--datasets", "clinical_abbrev", "--out", str(out), "--runs", str(runs)]
    # one dataset: this checks the path (four rungs, mining, dev selection, forgetting check, tables,
    # plots, the rung cache), not the numbers
    assert main([*args, "--recompute", "all"]) == 0
    (row,) = _rows(out / "lift_table.csv")
    assert row["dataset"] == "clinical_abbrev" and row["protocol"] == "known_corpus"
    assert row["recipe_source"] == row["reference_source"] == "recomputed" and row["recipe_chosen_on"] == "dev"
    # the headline's figures, recomputed here from the saved recipe model on the same test queries
    test = load_dataset("clinical_abbrev").subsample(QUICK["n_docs"], QUICK["n_queries"]).split("test")
    before = evaluate(load_model("minilm"), test)
    after = evaluate(load_model(runs / "clinical_abbrev" / "recipe" / "final"), test)
    gain = lift(after, before)
    assert float(row["test_queries"]) == gain.n
    for column, value in [("minilm_recall10", gain.before), ("finetuned_recall10", gain.after), ("lift", gain.delta),
                          ("lift_ci_low", gain.ci_low), ("lift_ci_high", gain.ci_high)]:
        assert float(row[column]) == round(100 * value, 1), (column, row[column], value)
    ladder = _rows(out / "ladder.csv")
    assert [r["rung"] for r in ladder] == list(RUNGS)
    assert [r["chosen_on"] for r in ladder] == ["-", "fixed in advance", "fixed in advance", "dev"]
    assert {r["scored_on"] for r in ladder} == {"test"}
    md = (out / "lift_table.md").read_text()
    assert md.startswith("# Lift table\n\nQUICK RUN")  # a quick run can never pass for a result
    for name in ("lift_table.png", "ladder.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    stored = json.loads((out / "ladder" / "clinical_abbrev.json").read_text())
    assert stored["rungs"]["recipe"]["dev_curve"][0][0] == 0  # the curve starts at the untrained student

    # a second run (default: recompute the first two rungs) trains nothing: the in-batch model is
    # reused under its training key, the two expensive rungs come from the cache, figures unchanged
    weights = runs / "clinical_abbrev" / "in-batch" / "final" / "model.safetensors"
    made = weights.stat().st_mtime_ns
    assert main(args) == 0
    (again,) = _rows(out / "lift_table.csv")
    assert again["recipe_source"].startswith("cached, ") and again["lift"] == row["lift"]
    assert again["reference_source"].startswith("cached, ") and again["mpnet_recall10"] == row["mpnet_recall10"]
    assert weights.stat().st_mtime_ns == made
    assert json.loads((out / "timings.json").read_text())["recomputed_rungs"] == ["off-the-shelf", "in-batch"]

    # a cache file that cannot be read is named, and its rungs are recomputed, never half-used
    (out / "ladder" / "clinical_abbrev.json").write_text('{"key": ')
    with pytest.warns(UserWarning, match=r"clinical_abbrev.json: unreadable"):
        assert main(args) == 0
    (third,) = _rows(out / "lift_table.csv")
    assert third["recipe_source"] == "recomputed" and third["lift"] == row["lift"]  # reused models, same figures


def test_unknown_dataset_or_rung_is_a_clear_cli_error(capsys):
    assert main(["reproduce", "--datasets", "nope"]) == 2
    assert "unknown dataset(s) ['nope']" in capsys.readouterr().err
    assert main(["reproduce", "--datasets", "wordnet", "--recompute", "in-batch", "bigger"]) == 2
    assert "unknown rung(s) ['bigger']" in capsys.readouterr().err


def test_markdown_table_has_one_line_per_row():
    row = LiftRow("heavy", "x", "known_corpus", 10, 5, 4, 50.0, 60.0, 70.0, 20.0, 10.0, 30.0, "10-25", "within",
                  8.0, 40.0, 55.0, 12.0, -1.0, -3.0, 1.0, "dev", "recomputed", "cached, 2026-12-02", "per query")
    lines = markdown_table([row, row]).splitlines()
    assert len(lines) == 4 and lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert "**+20.0** [+10.0, +30.0]" in lines[2] and "| within | +8.0 |" in lines[2]


def test_the_readmes_lift_table_is_rendered_from_the_results():
    from pathlib import Path

    from helpers.io import between
    from helpers.reproduce import README_LIFT_END, README_LIFT_START, readme_lift_table

    root = Path(__file__).resolve().parent.parent
    with open(root / "results" / "lift_table.csv", encoding="utf-8") as fh:
        rendered = readme_lift_table(list(csv.DictReader(fh)))
    assert between(root / "README.md", README_LIFT_START, README_LIFT_END) == rendered, \
        "README's lift table differs from results/lift_table.csv: run make lift (or render it with readme_lift_table)"
