"""A pilot fine-tune: a few minutes on a slice of your data, to predict whether fine-tuning pays.

Whether to fine-tune cannot be read off a label ("heavy jargon", "exotic") or a pair count: this
project's own ledger measured lifts of +10 points on a 385-pair set the course's rule turns away.
So Lesson 1 measures instead. The pilot trains the student once, briefly, on a slice of the training
queries and scores it on the dev queries of a slice of the corpus, against the untouched student on
the same queries. Test is not touched: the decision is a setting, and settings are chosen on dev.

The pilot and its rule were fixed on 2026-12-06, before any pilot ran (``results/pilot.md`` then
measures how well they predict the full recipe on the six shipped datasets):

- **Pilot**: the first :data:`PILOT_PAIRS` training pairs (queries are stored shuffled), one epoch of
  in-batch negatives (``MultipleNegativesRankingLoss``, :class:`~helpers.training.TrainConfig`'s
  defaults otherwise), scored on up to :data:`PILOT_DEV` dev queries over a slice of
  :data:`PILOT_DOCS` documents (every document those queries and pairs name, then random others).
- **Predicted lift**: the pilot's recall@10 lift on that dev slice, with its paired-bootstrap 95% CI.
- **Verdict**: *fine-tune* when the CI lies above zero and the lift reaches :data:`MIN_LIFT` points
  (the release gate's minimum, ``helpers.deployment.GateConfig``); otherwise *not yet*, saying which
  of the two failed. The full recipe (mined negatives, more pairs, epochs chosen on dev) usually
  gains more than the pilot: the pilot is a floor, not an estimate of the final figure.

>>> PILOT_PAIRS, PILOT_DEV, PILOT_DOCS, MIN_LIFT
(512, 200, 1500, 2.0)
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, replace

from helpers.data import DEFAULT_PROTOCOL, RetrievalDataset
from helpers.evaluation import EmbeddingCache, Lift, evaluate, lift
from helpers.models import load_model
from helpers.training import TrainConfig, fine_tune

PILOT_PAIRS = 512
PILOT_DEV = 200
PILOT_DOCS = 1500
MIN_LIFT = 2.0
#: where the README shows ``results/pilot.md``'s table (``benchmarks/pilot.py`` writes it there)
README_START, README_END = "<!-- pilot table: start -->", "<!-- pilot table: end -->"


@dataclass
class Pilot:
    dataset: str
    pairs: int
    dev_queries: int
    documents: int
    seconds: float
    lift: Lift  # recall@10 on the dev slice, pilot vs the untouched student

    @property
    def worth_it(self) -> bool:
        return self.lift.ci_low > 0 and 100 * self.lift.delta >= MIN_LIFT

    def verdict(self) -> str:
        """The rule of the module docstring, in words, with the measurement it rests on."""
        d, lo, hi = (100 * x for x in (self.lift.delta, self.lift.ci_low, self.lift.ci_high))
        measured = (f"the pilot ({self.pairs} pairs, 1 epoch, {self.seconds:.0f} s) moved dev recall@10 "
                    f"{100 * self.lift.before:.1f} -> {100 * self.lift.after:.1f}: {d:+.1f} points, 95% CI "
                    f"[{lo:+.1f}, {hi:+.1f}], over {self.dev_queries} dev queries and {self.documents:,} documents")
        if self.worth_it:
            return f"FINE-TUNE: {measured}. The full recipe usually gains more than this floor."
        why = " and ".join(reason for reason, failed in (("the CI reaches zero", lo <= 0),
                                                         (f"the lift is below {MIN_LIFT:g} points", d < MIN_LIFT)) if failed)
        return (f"NOT YET: {measured}; {why}. Try the cheaper wins first, or more (or better) training queries, "
                "and run the pilot again.")

    def row(self) -> dict:
        return {"dataset": self.dataset, "pairs": self.pairs, "dev_queries": self.dev_queries,
                "documents": self.documents, "seconds": round(self.seconds, 1),
                "pilot_before": round(100 * self.lift.before, 1), "pilot_after": round(100 * self.lift.after, 1),
                "pilot_lift": round(100 * self.lift.delta, 1), "pilot_ci_low": round(100 * self.lift.ci_low, 1),
                "pilot_ci_high": round(100 * self.lift.ci_high, 1), "verdict": "fine-tune" if self.worth_it else "not yet"}


def pilot_slice(ds: RetrievalDataset, n_pairs: int = PILOT_PAIRS, n_dev: int = PILOT_DEV, n_docs: int = PILOT_DOCS,
                seed: int = 0) -> RetrievalDataset:
    """The slice the pilot trains and scores on: the first training queries up to ``n_pairs`` pairs, the
    first ``n_dev`` dev queries, and ``n_docs`` documents (theirs first)."""
    train = ds.split("train")
    n_queries, pairs = 0, 0
    for q in train.queries:
        if pairs >= n_pairs:
            break
        n_queries, pairs = n_queries + 1, pairs + len(train.relevant[q])
    # the default protocol's train and dev only: no test query, nor another protocol's, picks a document
    one = replace(ds, splits={DEFAULT_PROTOCOL: {s: ds.splits[DEFAULT_PROTOCOL][s] for s in ("train", "dev")}})
    return one.subsample(n_docs, {"train": n_queries, "dev": n_dev}, seed=seed)


def run_pilot(ds: RetrievalDataset, model: str = "minilm", cache: EmbeddingCache | None = None,
              n_pairs: int = PILOT_PAIRS, n_dev: int = PILOT_DEV, n_docs: int = PILOT_DOCS,
              show_progress_bar: bool = False) -> Pilot:
    """Train the pilot on ``ds`` (any lesson dataset, labelled or not) and score it on dev."""
    piece = pilot_slice(ds, n_pairs, n_dev, n_docs)
    dev = piece.split("dev")
    if len(dev.queries) < 5:
        raise ValueError(f"{ds.name}: {len(dev.queries)} dev queries; the pilot needs at least 5 to say anything")
    pairs = piece.split("train").pairs()[:n_pairs]
    cache = cache or EmbeddingCache()
    before = evaluate(load_model(model), dev, cache, "base")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        tuned, _ = fine_tune(load_model(model), pairs, work, config=TrainConfig(epochs=1),
                             dataset_name=f"{ds.name}/pilot", show_progress_bar=show_progress_bar)
    seconds = time.perf_counter() - t0
    after = evaluate(tuned, dev, cache, "pilot")
    return Pilot(ds.name, len(pairs), len(dev.queries), len(piece.corpus), seconds, lift(after, before))


def pilot_inputs(datasets, lift_table: str = "results/lift_table.csv") -> dict:
    """What ``results/pilot.json``'s figures were computed from: each shipped dataset's pilot slice
    (train and dev fingerprints), the student's weights, the pilot's settings, the source of the code
    that computes it, and the lift table it is compared with. Any change makes the stored figures stale."""
    import hashlib
    from pathlib import Path

    import helpers.data
    import helpers.evaluation
    import helpers.models
    import helpers.training
    from helpers.data import load_dataset
    from helpers.models import weights_fingerprint

    root = Path(__file__).resolve().parent.parent
    slices = {}
    for name in datasets:
        piece = pilot_slice(load_dataset(name))
        slices[name] = {s: piece.split(s).fingerprint() for s in ("train", "dev")}
    # the modules the pilot's figures come from: slicing, training, scoring, the model's files, this rule
    modules = (helpers.data, helpers.evaluation, helpers.models, helpers.training)
    code = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in modules) +
                          Path(__file__).read_bytes()).hexdigest()[:16]
    return {"slices": slices, "student": weights_fingerprint("minilm"),
            "settings": {"pairs": PILOT_PAIRS, "dev": PILOT_DEV, "docs": PILOT_DOCS, "min_lift": MIN_LIFT,
                         "train": asdict(TrainConfig(epochs=1))}, "code": code,
            "lift_table": hashlib.sha256((root / lift_table).read_bytes()).hexdigest()[:16]}
