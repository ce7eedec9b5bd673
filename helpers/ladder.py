"""The recipe ladder: what each step of the course's recipe adds, on one dataset.

Every rung is a real fine-tune of the same student from the same base weights, on the same
training queries, scored once on the test split; each adds one thing to the rung below:

1. ``off-the-shelf`` -- no training (the baseline every lift is measured against);
2. ``in-batch``      -- MultipleNegativesRankingLoss on (query, document) pairs, 1 epoch;
3. ``hard negatives`` -- the same, with one mined negative per query (dense top-50 candidates
   rescored by mpnet, a negative kept only below 95% of the positive's score: the course's
   false-negative control), 1 epoch;
4. ``recipe``        -- the same triplets for up to ``max_epochs`` epochs, keeping the epoch with
   the best recall@10 on the **dev** split (:class:`~helpers.training.KeepBestOnDev`).

Settings fixed in advance (learning rate, batch, mining) are the lessons' defaults and were
not tuned on this table; the one choice the ladder makes, the epoch count, is made on dev.
Each rung's result records which split chose and which split scored.

>>> from helpers.ladder import LadderSettings, climb                                 # doctest: +SKIP
>>> general = load_dataset("gcide").split("test")                                   # doctest: +SKIP
>>> rungs = climb(load_dataset("icd10cm"), LadderSettings(), general, course_cache())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from helpers.data import DEFAULT_PROTOCOL, RetrievalSplit
from helpers.evaluation import EmbeddingCache, evaluate, library_versions
from helpers.io import write_json
from helpers.mining import MiningConfig, mine
from helpers.models import load_model, load_model_cached, model_fingerprint
from helpers.training import KeepBestOnDev, TrainConfig, fine_tune

RUNGS = ("off-the-shelf", "in-batch", "hard negatives", "recipe")
#: what each rung adds to the one below, for tables
RUNG_ADDS = {
    "off-the-shelf": "no training",
    "in-batch": "MNRL, in-batch negatives, 1 epoch",
    "hard negatives": "+ one mined negative per query (mpnet-judged, 95% margin)",
    "recipe": "+ up to {max_epochs} epochs, best epoch chosen on dev",
}


class LadderError(ValueError):
    """A ladder asked for something that does not exist (a rung, a split)."""


@dataclass
class LadderSettings:
    """Everything a ladder's numbers depend on besides the data. ``max_steps > 0`` caps every
    training run (quick path checks only)."""

    student: str = "minilm"
    max_pairs: int = 3000
    learning_rate: float = 5e-5
    batch_size: int = 32
    seed: int = 12
    max_epochs: int = 3
    mining: MiningConfig = field(default_factory=lambda: MiningConfig(source="dense", relative_margin=0.05,
                                                                      judge="mpnet"))
    max_steps: int = -1

    def train_config(self, rung: str) -> TrainConfig:
        epochs = self.max_epochs if rung == "recipe" else 1
        return TrainConfig(epochs=epochs, learning_rate=self.learning_rate, batch_size=self.batch_size,
                           seed=self.seed, max_steps=self.max_steps)

    def key(self) -> dict:
        """The settings as plain data, stored with every result so that a cached rung made under
        other settings is never mixed into a table."""
        return asdict(self)


@dataclass
class RungResult:
    """One rung on one dataset: its test scores (means and per query), how it was chosen and made."""

    dataset: str
    rung: str
    test_recall10: list[float]  # per test query, in the order of ``query_ids`` in the ladder file
    generic_recall10: list[float]  # per query of the held-out general set (forgetting check)
    recall10: float
    ndcg10: float
    train_pairs: int
    train_seconds: float
    setting: str
    chosen_on: str  # "dev", "fixed in advance" (no split chose it), or "-" (off-the-shelf: nothing to choose)
    scored_on: str = "test"
    dev_curve: list = field(default_factory=list)  # [epoch, step, dev recall@10] (recipe rung)
    made: dict = field(default_factory=dict)  # when, where, by which command
    reused_model: bool = False  # scored now with a model trained by an earlier run under the same key

    @property
    def per_query(self) -> np.ndarray:
        return np.asarray(self.test_recall10)


def training_split(train: RetrievalSplit, max_pairs: int) -> RetrievalSplit:
    """The first training queries (they are stored shuffled) whose (query, document) pairs add up to
    at most ``max_pairs``: every rung trains on the same queries, whole."""
    keep, n = [], 0
    for q in train.queries:
        n += len(train.relevant[q])
        if n > max_pairs:
            break
        keep.append(q)
    if not keep:
        raise LadderError(f"no training query fits in max_pairs={max_pairs}")
    return RetrievalSplit(train.name, train.protocol, {q: train.queries[q] for q in keep}, train.corpus,
                          {q: train.relevant[q] for q in keep})


def check_rungs(rungs) -> tuple[str, ...]:
    unknown = [r for r in rungs if r not in RUNGS]
    if unknown:
        raise LadderError(f"unknown rung(s) {unknown}; the ladder's rungs are {list(RUNGS)}")
    return tuple(r for r in RUNGS if r in rungs)


def splits_for(dataset, protocol: str = DEFAULT_PROTOCOL) -> dict[str, RetrievalSplit]:
    """train, dev and test of ``dataset``, with a clear error when one is missing or empty."""
    have = dataset.splits.get(protocol, {})
    missing = [s for s in ("train", "dev", "test") if not have.get(s)]
    if missing:
        raise LadderError(f"{dataset.name}: the ladder needs train, dev and test queries under protocol "
                          f"{protocol!r}; {missing} missing or empty (dev chooses the recipe's epochs)")
    return {s: dataset.split(s, protocol) for s in ("train", "dev", "test")}


def climb(dataset, settings: LadderSettings, generic: RetrievalSplit, cache: EmbeddingCache,
          runs_dir: str | Path = "runs/ladder", rungs=RUNGS, protocol: str = DEFAULT_PROTOCOL,
          command: str = "") -> dict[str, RungResult]:
    """Train and score the ``rungs`` asked for on ``dataset``; returns them by name.

    Trained models are kept in ``runs_dir/<dataset>/<rung>`` and reused by a later call whose
    data, settings and base weights are the same (:func:`~helpers.training.fine_tune`'s
    ``reuse``), so a second run costs evaluation only -- and with a cache on disk, not even that.
    """
    rungs = check_rungs(rungs)
    splits = splits_for(dataset, protocol)
    train = training_split(splits["train"], settings.max_pairs)
    runs_dir = Path(runs_dir) / dataset.name
    base = load_model_cached(settings.student)
    made = {"written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": command,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"}
    triplets = None
    out: dict[str, RungResult] = {}
    for rung in rungs:
        config = settings.train_config(rung)
        curve, chosen_on, seconds, n, reused = [], "fixed in advance", 0.0, 0, False
        setting = RUNG_ADDS[rung].format(max_epochs=settings.max_epochs)
        if rung == "off-the-shelf":
            model, chosen_on = base, "-"
        else:
            if rung == "in-batch":
                examples = train.pairs()
            else:
                if triplets is None:
                    mined = mine(train, base, settings.mining, cache=cache)
                    triplets = mined.examples("triplet")
                examples = triplets
            student = load_model(settings.student)
            callbacks = []
            if rung == "recipe":
                keep = KeepBestOnDev(splits["dev"], eval_length=student.max_seq_length)
                callbacks.append(keep)
            model, info = fine_tune(student, examples, runs_dir / rung.replace(" ", "-"), config=config,
                                    dataset_name=f"{dataset.name}/{protocol}/train", show_progress_bar=False,
                                    callbacks=callbacks, reuse=True)
            seconds, n, reused = info.seconds, len(examples), info.reused
            if rung == "recipe":
                curve, best = _dev_curve(runs_dir / "recipe", info, keep,
                                         lambda: evaluate(base, splits["dev"], cache).mean())
                chosen_on = "dev"
                setting += f" (chose epoch {best[0]:g})" if best else ""
        result = evaluate(model, splits["test"], cache, f"{settings.student}+{rung}", dataset.name)
        general = evaluate(model, generic, cache, f"{settings.student}+{rung}", "generic")
        out[rung] = RungResult(
            dataset=dataset.name, rung=rung, test_recall10=_rounded(result.per_query["recall@10"]),
            generic_recall10=_rounded(general.per_query["recall@10"]), recall10=pct(result.mean()),
            ndcg10=pct(result.mean("ndcg@10")), train_pairs=n, train_seconds=seconds, setting=setting,
            chosen_on=chosen_on, dev_curve=curve, made=made, reused_model=reused,
        )
    return out


def dev_pair_curve(dataset, settings: LadderSettings, cache: EmbeddingCache, sizes=(375, 750, 1500),
                   runs_dir: str | Path = "runs/pair_curve", protocol: str = DEFAULT_PROTOCOL) -> list[dict]:
    """The recipe rung trained on fewer training pairs (the first queries of the same training split,
    whole, up to each of ``sizes`` pairs), each scored on **dev** only: how recall grows with data.

    Each size mines its own negatives and keeps its own best epoch on dev, exactly as the recipe rung
    does with ``settings.max_pairs``; the test split is never read. One row per size: training pairs
    (queries with a mined negative), dev recall@10 per epoch (epoch 0 = off-the-shelf), the best
    epoch and its dev lift over off-the-shelf, in points.
    """
    splits = splits_for(dataset, protocol)
    base = load_model_cached(settings.student)
    dev0 = evaluate(base, splits["dev"], cache).mean()
    rows = []
    for size in sizes:
        train = training_split(splits["train"], size)
        triplets = mine(train, base, settings.mining, cache=cache).examples("triplet")
        keep = KeepBestOnDev(splits["dev"], eval_length=base.max_seq_length)
        run_dir = Path(runs_dir) / dataset.name / str(size)
        _, info = fine_tune(load_model(settings.student), triplets, run_dir, config=settings.train_config("recipe"),
                            dataset_name=f"{dataset.name}/{protocol}/train", show_progress_bar=False,
                            callbacks=[keep], reuse=True)
        curve, best = _dev_curve(run_dir, info, keep, lambda: dev0)
        rows.append({"dataset": dataset.name, "max_pairs": size, "train_queries": len(train.queries),
                     "train_pairs": len(triplets), "dev_curve": curve, "best_epoch": best[0] if best else None,
                     "dev_recall10": pct(best[2]) if best else None,
                     "dev_lift": round(pct(best[2]) - pct(dev0), 1) if best else None,
                     "train_seconds": info.seconds, "reused_model": info.reused})
    return rows


def _dev_curve(run_dir: Path, info, keep: KeepBestOnDev, base_score) -> tuple[list, list | None]:
    """A recipe run's dev curve (``[epoch, step, recall@10]``, epoch 0 = the untrained student, whose
    score ``base_score()`` gives) and its best row (ties go to the earlier epoch). Saved beside the
    trained model, and read back from there when a later run reuses the model instead of training."""
    curve_file = run_dir / "dev_curve.json"
    if info.reused:
        if not curve_file.is_file():
            raise LadderError(f"{run_dir}: a trained model without its dev_curve.json (a run stopped between the "
                              "two?); delete the folder to train it again")
        curve = json.loads(curve_file.read_text())
    else:
        curve = [[0, 0, round(base_score(), 4)], *keep.curve]
        write_json(curve_file, curve)
    return curve, best_epoch_row(curve)


def best_epoch_row(curve: list) -> list | None:
    """The ``[epoch, step, score]`` row with the best dev score after epoch 0; ties go to the earlier epoch.

    >>> best_epoch_row([[0, 0, 0.5], [1, 10, 0.7], [2, 20, 0.7], [3, 30, 0.6]])
    [1, 10, 0.7]
    """
    return max(curve[1:], key=lambda row: (row[2], -row[0])) if len(curve) > 1 else None


def data_key(dataset, protocol: str, settings: LadderSettings, generic: RetrievalSplit) -> dict:
    """What a dataset's cached rungs depend on: every split (queries in order, relevance, corpus),
    the general set they are checked on, the settings and each rung's full training configuration,
    the student's weights, and the versions of torch, transformers and sentence-transformers."""
    splits = splits_for(dataset, protocol)
    return {"dataset": dataset.name, "protocol": protocol,
            **{s: v.fingerprint() for s, v in splits.items()}, "generic": generic.fingerprint(),
            "settings": settings.key(),
            "train_configs": {r: asdict(settings.train_config(r)) for r in RUNGS if r != "off-the-shelf"},
            "student_weights": model_fingerprint(load_model_cached(settings.student)),
            "libraries": library_versions()}


def _rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values]


def pct(x: float) -> float:
    return round(100 * x, 1)
