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


def test_experiment_reuses_a_saved_run_and_compares_rows_paired(tmp_path):
    from helpers.data import load_dataset
    from helpers.experiments import Experiment, compare_rows
    from helpers.training import TrainConfig

    cfg = TrainConfig(max_steps=2, batch_size=8)
    small = load_dataset("icd10cm").subsample(300, {"train": 32, "dev": 0, "test": 40})
    exp = Experiment(small, runs_dir=tmp_path / "runs")
    pairs = exp.train.pairs()[:32]
    first = exp.run("tiny run", pairs, cfg)
    weights = next((tmp_path / "runs").glob("*/final/model.safetensors"))
    stamp = weights.stat().st_mtime_ns
    again = Experiment(small, runs_dir=tmp_path / "runs")
    second = again.run("tiny run", pairs, cfg)
    assert weights.stat().st_mtime_ns == stamp  # loaded, not trained again
    assert second["recall@10"] == first["recall@10"] and second["train_s"] == first["train_s"]
    again.save(tmp_path / "rows.csv", "pytest", cfg)
    diff = compare_rows(tmp_path / "rows.csv", "tiny run", "no fine-tuning")
    assert diff["difference"] == second["lift"] and diff["queries"] == 40
    assert diff["ci_low"] <= diff["difference"] <= diff["ci_high"]


def test_cached_rows_say_when_they_were_measured_on_another_dataset(tmp_path, capsys):
    rows = [{"name": "no fine-tuning", "pairs": 0, "recall@10": 50.0, "lift": 0.0, "ci_low": 0.0, "ci_high": 0.0}]
    save_rows(rows, tmp_path / "sweep.csv", {"command": "python benchmarks/x.py --only a --dataset d", "dataset": "d"})
    load_rows(tmp_path / "sweep.csv", dataset="d")
    assert capsys.readouterr().out == ""
    load_rows(tmp_path / "sweep.csv", dataset="mine")
    assert capsys.readouterr().out.strip() == (
        "note: these cached rows were measured on d, not mine. `python benchmarks/x.py --only a --dataset mine "
        "--out DIR` measures them there; then point CACHED at DIR.")
