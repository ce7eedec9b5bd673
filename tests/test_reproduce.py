import csv

from helpers.__main__ import main
from helpers.data import load_dataset
from helpers.evaluation import evaluate, lift
from helpers.models import load_model
from helpers.reproduce import QUICK, markdown_table


def test_quick_reproduce_writes_table_csv_and_plot(tmp_path):
    out = tmp_path / "results"
    # one dataset: this checks the path (train, evaluate, forgetting check, table, plot), not the numbers
    code = main(["reproduce", "--quick", "--datasets", "clinical_abbrev",
                 "--out", str(out), "--runs", str(tmp_path / "runs")])
    assert code == 0
    rows = list(csv.DictReader(open(out / "lift_table.csv")))
    assert [r["dataset"] for r in rows] == ["clinical_abbrev"]
    (row,) = rows
    assert row["protocol"] == "known_corpus"
    # the row's figures, recomputed here from the saved model on the same test queries
    test = load_dataset("clinical_abbrev").subsample(QUICK["n_docs"], QUICK["n_queries"]).split("test")
    before = evaluate(load_model("minilm"), test)
    after = evaluate(load_model(tmp_path / "runs" / "clinical_abbrev" / "final"), test)
    gain = lift(after, before)
    assert float(row["test_queries"]) == gain.n
    for column, value in [("minilm_recall10", gain.before), ("finetuned_recall10", gain.after), ("lift", gain.delta),
                          ("lift_ci_low", gain.ci_low), ("lift_ci_high", gain.ci_high)]:
        assert float(row[column]) == round(100 * value, 1), (column, row[column], value)
    md = (out / "lift_table.md").read_text()
    assert md.startswith("# Lift table\n\nQUICK RUN")  # a quick run can never pass for a result
    assert (out / "lift_table.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "timings.json").exists()


def test_unknown_dataset_is_a_clear_cli_error(capsys):
    assert main(["reproduce", "--datasets", "nope"]) == 2
    assert "unknown dataset(s) ['nope']" in capsys.readouterr().err


def test_markdown_table_has_one_line_per_row():
    from helpers.reproduce import LiftRow

    row = LiftRow("heavy", "x", "known_corpus", 10, 5, 4, 50.0, 60.0, 70.0, 20.0, 10.0, 30.0,
                  40.0, 55.0, 12.0, -1.0, -3.0, 1.0, "10-25")
    lines = markdown_table([row, row]).splitlines()
    assert len(lines) == 4 and lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert "**+20.0** [+10.0, +30.0]" in lines[2]
