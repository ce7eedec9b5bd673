"""Lesson 1's pilot: the rule, a real (tiny) pilot run, and the stored validation being fresh."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers.data import load_dataset
from helpers.evaluation import Lift
from helpers.io import between
from helpers.pilot import MIN_LIFT, README_END, README_START, Pilot, pilot_inputs, pilot_slice, run_pilot

RESULTS = Path(__file__).resolve().parent.parent / "results"


def _pilot(delta: float, low: float, high: float) -> Pilot:
    return Pilot("x", 512, 200, 1500, 30.0, Lift("recall@10", 0.5, 0.5 + delta / 100, delta / 100, low / 100, high / 100, 200))


def test_the_rule_needs_a_ci_above_zero_and_the_gates_lift():
    assert _pilot(5.0, 2.0, 8.5).verdict().startswith("FINE-TUNE")
    assert "the CI reaches zero" in _pilot(3.0, -0.5, 6.0).verdict()
    assert "the lift is below 2 points" in _pilot(1.5, 0.5, 2.5).verdict()
    both = _pilot(1.0, 0.0, 2.5).verdict()
    assert both.startswith("NOT YET") and "the CI reaches zero and the lift is below" in both
    assert _pilot(MIN_LIFT, 0.1, 4.0).worth_it


def test_a_pilot_trains_on_training_pairs_and_scores_dev_only():
    ds = load_dataset("clinical_abbrev")
    piece = pilot_slice(ds, n_pairs=40, n_dev=20, n_docs=300)
    assert not set(piece.split("dev").queries) & set(piece.split("train").queries)
    assert set(piece.queries) == set(piece.split("dev").queries) | set(piece.split("train").queries)  # no test query
    assert len(piece.split("train").pairs()) >= 40 and len(piece.corpus) == 300
    pilot = run_pilot(ds, n_pairs=40, n_dev=20, n_docs=300)
    assert (pilot.pairs, pilot.dev_queries, pilot.documents) == (40, 20, 300)
    assert pilot.lift.n == 20 and pilot.lift.ci_low <= pilot.lift.delta <= pilot.lift.ci_high


def test_the_shipped_validation_is_fresh_and_its_table_follows_its_rows():
    stored = json.loads((RESULTS / "pilot.json").read_text())
    rows = list(csv.DictReader(open(RESULTS / "pilot.csv", encoding="utf-8")))
    now = pilot_inputs([r["dataset"] for r in rows])
    stale = [k for k in now if now[k] != stored["inputs"][k]]
    assert not stale, f"results/pilot.* are stale ({', '.join(stale)} changed): run python benchmarks/pilot.py"
    table = (RESULTS / "pilot.md").read_text()
    shown = between(RESULTS.parent / "README.md", README_START, README_END)
    assert shown.strip() and shown in table, "README's pilot table differs from results/pilot.md: run python benchmarks/pilot.py"
    for r in rows:
        assert f"| {r['dataset']} | {r['tier']} | {float(r['pilot_lift']):+.1f} [" in table
        assert r["verdict"] == ("fine-tune" if float(r["pilot_ci_low"]) > 0 and float(r["pilot_lift"]) >= MIN_LIFT
                                else "not yet")
