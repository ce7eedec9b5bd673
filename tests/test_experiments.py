import pandas as pd

from helpers.experiments import load_rows, plot_rows, save_rows


def test_rows_round_trip_with_provenance(tmp_path):
    rows = [{"name": "no fine-tuning", "pairs": 0, "recall@10": 50.0, "lift": 0.0, "ci_low": 0.0, "ci_high": 0.0},
            {"name": "run a", "pairs": 100, "recall@10": 55.0, "lift": 5.0, "ci_low": 2.0, "ci_high": 8.0, "scale": 20.0}]
    save_rows(rows, tmp_path / "sweep.csv", {"command": "python benchmarks/x.py", "dataset": "d"})
    df, meta = load_rows(tmp_path / "sweep.csv")
    assert list(df.index) == ["no fine-tuning", "run a"] and df.loc["run a", "lift"] == 5.0
    assert pd.isna(df.loc["no fine-tuning", "scale"])
    assert meta["command"] == "python benchmarks/x.py" and "CPU cores" in meta["machine"]
    ax = plot_rows(df)
    assert len(ax.patches) == 2 and ax.get_xlim()[0] <= 50
