"""Run a table of fine-tuning experiments on one dataset, each row with its lift and CI.

Lessons compare training choices (losses, temperatures, batch sizes, negatives, data sizes)
the same way: the same test split, the same off-the-shelf baseline, one real fine-tune per
row, recall@10 with a paired-bootstrap 95% CI against the baseline (a cluster bootstrap where test
queries share relevant documents). :class:`Experiment` holds what the rows share so that the
baseline and corpus are encoded once.

>>> exp = Experiment("icd10cm")                                     # doctest: +SKIP
>>> exp.run("in-batch, scale 20", pairs, TrainConfig(epochs=1))     # doctest: +SKIP
>>> exp.table()                                                     # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from helpers.data import DEFAULT_PROTOCOL, load_dataset
from helpers.evaluation import EmbeddingCache, bootstrap_name, evaluate, lift, paired_bootstrap, split_clusters
from helpers.io import atomic_write, write_json
from helpers.models import load_model_cached
from helpers.training import TrainConfig, fine_tune

# pandas and matplotlib are imported inside functions: together they cost ~1.3 s at import, and
# running and saving rows needs neither (only tables and plots do).


class Experiment:
    def __init__(self, dataset, protocol: str = DEFAULT_PROTOCOL, student: str = "minilm",
                 runs_dir: str | Path = "runs/experiments", test_limit: int | None = None,
                 cache: EmbeddingCache | None = None):
        """``dataset``: a shipped dataset's name, a folder, or a loaded :class:`~helpers.data.RetrievalDataset`;
        ``cache``: where test-set embeddings are kept (in memory by default)."""
        self.dataset = dataset if hasattr(dataset, "corpus") else load_dataset(dataset)
        self.protocol = protocol
        self.student = student
        self.runs_dir = Path(runs_dir)
        self.test = self.dataset.split("test", protocol, limit=test_limit)
        self.train = self.dataset.split("train", protocol)
        self.cache = cache if cache is not None else EmbeddingCache()
        self.baseline = evaluate(load_model_cached(student), self.test, self.cache, student, self.dataset.name)
        self.per_query = {"no fine-tuning": self.baseline.per_query["recall@10"]}
        self.last_model = None  # the latest row's fine-tuned model, for a closer look (only the latest: memory)
        self.rows: list[dict] = [{
            "name": "no fine-tuning", "pairs": 0, "recall@10": round(100 * self.baseline.mean(), 1),
            "lift": 0.0, "ci_low": 0.0, "ci_high": 0.0, "ndcg@10": round(100 * self.baseline.mean("ndcg@10"), 1),
            "train_s": 0.0,
        }]

    def run(self, name: str, examples: list[tuple], config: TrainConfig, loss=None, **extra) -> dict:
        """Fine-tune a fresh student on ``examples`` and add a row: recall@10, lift, CI, seconds.

        A row with the default loss whose model is already saved in ``runs_dir`` under the same
        training key (examples, config, loss, base weights) is not trained again (re-running a
        script after a crash, or to add rows, costs evaluation only).
        """
        if name in self.per_query:
            raise ValueError(f"a row named {name!r} exists already: rows are compared by name")
        slug = f"{self.dataset.name}-{self.protocol}-{len(self.rows)}-" + "".join(
            c if c.isalnum() else "-" for c in name.lower()).strip("-")
        t0 = time.perf_counter()
        model, info = fine_tune(self.student, examples, self.runs_dir / slug, config=config, loss=loss,
                                dataset_name=f"{self.dataset.name}/{self.protocol}/train",
                                # a hand-written loss is known by its name and settings, not its code: retrain
                                show_progress_bar=False, reuse=loss is None)
        result = evaluate(model, self.test, self.cache, name, self.dataset.name)
        self.per_query[name] = result.per_query["recall@10"]
        self.last_model = model
        gain = lift(result, self.baseline)
        row = {
            "name": name, "pairs": len(examples), "recall@10": round(100 * gain.after, 1),
            "lift": round(100 * gain.delta, 1), "ci_low": round(100 * gain.ci_low, 1),
            "ci_high": round(100 * gain.ci_high, 1), "ndcg@10": round(100 * result.mean("ndcg@10"), 1),
            "train_s": info.seconds, **extra,
        }
        self.rows.append(row)
        print(f"{name:40s} recall@10 {row['recall@10']:5.1f}  lift {row['lift']:+5.1f} "
              f"[{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]  ({info.seconds:.0f} s train, "
              f"{time.perf_counter() - t0:.0f} s total)", flush=True)
        return row

    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows).set_index("name")

    def save(self, path: str | Path, command: str, config: TrainConfig | None = None, **provenance) -> None:
        """Write the rows as CSV with a ``.json`` sidecar saying how they were made (and ``provenance``), and every
        row's per-query recall@10 (``.per_query.npz``) so that any two rows can be compared, paired."""
        path = Path(path)
        with atomic_write(path.with_suffix(".per_query.npz"), "wb") as f:
            np.savez_compressed(f, query_ids=np.array(list(self.test.queries)), clusters=split_clusters(self.test),
                                names=np.array(list(self.per_query)), recall_at_10=np.stack(list(self.per_query.values())))
        save_rows(self.rows, path, {
            "dataset": self.dataset.name, "protocol": self.protocol, "student": self.student,
            "test_queries": len(self.test.queries), "corpus": len(self.test.corpus),
            "command": command, "config": asdict(config) if config else None,
            # every row is its own measurement on test; none was picked from the others by its score
            "scored_on": "test", "chosen_on": None, "bootstrap": bootstrap_name(split_clusters(self.test)),
            **provenance,
        })


def save_rows(rows: list[dict], path: str | Path, provenance: dict) -> None:
    path = Path(path)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_write(path) as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    write_json(path.with_suffix(".json"), {
        **provenance, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    })


def load_rows(path: str | Path, dataset: str | None = None):
    """The cached rows as a DataFrame, and their provenance. Given ``dataset`` (the one the lesson
    runs on), a note says so when the rows were measured on another, and which command measures it."""
    import pandas as pd

    path = Path(path)
    rows, made = pd.read_csv(path).set_index("name"), json.loads(path.with_suffix(".json").read_text())
    measured_on = made.get("dataset", made.get("domain"))
    if dataset is not None and measured_on != dataset:
        command = re.sub(r"\s--(dataset|domain) \S+", "", made["command"])
        print(f"note: these cached rows were measured on {measured_on}, not {dataset}. "
              f"`{command} --dataset {dataset} --out DIR` measures them there; then point CACHED at DIR.")
    return rows, made


def compare_rows(path: str | Path, a: str, b: str, seed: int = 0) -> dict:
    """Row ``a`` minus row ``b`` of a saved experiment: mean recall@10 difference over the same test
    queries with its paired-bootstrap 95% CI (in points). Two lifts whose CIs against the baseline
    overlap can still differ significantly -- or not; this says which."""
    data = np.load(Path(path).with_suffix(".per_query.npz"))
    names = list(data["names"])
    for n in (a, b):
        if n not in names:
            raise KeyError(f"no row {n!r} in {path}; rows: {names}")
    clusters = data["clusters"] if "clusters" in data else None  # files written before 2026-12-02: per query
    d, lo, hi = paired_bootstrap(data["recall_at_10"][names.index(a)], data["recall_at_10"][names.index(b)], seed=seed,
                                 clusters=clusters)
    return {"a": a, "b": b, "difference": round(100 * d, 1), "ci_low": round(100 * lo, 1), "ci_high": round(100 * hi, 1),
            "queries": int(len(data["query_ids"])), "bootstrap": bootstrap_name(clusters)}


def plot_rows(df, ax=None, title: str = "", baseline: float | None = None):
    """Horizontal bars of recall@10 with the lift's 95% CI as whiskers."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 0.35 * len(df) + 1.2), dpi=100)[1]
    ys = range(len(df))
    base = baseline if baseline is not None else float(df["recall@10"].iloc[0] - df["lift"].iloc[0])
    ax.barh(list(ys), df["recall@10"], color=["0.6" if p == 0 else "tab:blue" for p in df["pairs"]])
    ax.errorbar(base + df["lift"], list(ys), xerr=[df["lift"] - df["ci_low"], df["ci_high"] - df["lift"]],
                fmt="none", ecolor="black", capsize=3)
    ax.axvline(base, color="black", lw=0.8, ls="--")
    ax.set_yticks(list(ys), list(df.index))
    ax.invert_yaxis()
    ax.set_xlabel("recall@10 (whiskers: 95% CI of the lift over no fine-tuning)")
    lo = max(0, min(df["recall@10"].min(), base) - 10)
    ax.set_xlim(lo, min(100, max(df["recall@10"].max(), base) + 5))
    if title:
        ax.set_title(title)
    return ax
