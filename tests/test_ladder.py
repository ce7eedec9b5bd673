import json

import numpy as np
import pytest

from helpers.data import load_dataset
from helpers.ladder import LadderError, LadderSettings, RungResult, check_rungs, data_key, splits_for, training_split
from helpers.reproduce import ladder_table_rows, read_cached_rungs, write_ladder_file


@pytest.fixture(scope="module")
def abbrev():
    return load_dataset("clinical_abbrev")


def test_training_split_keeps_whole_queries_within_the_pair_budget(abbrev):
    train = abbrev.split("train")
    part = training_split(train, 100)
    pairs = part.pairs()
    assert len(pairs) <= 100 and list(part.queries) == list(train.queries)[: len(part.queries)]
    next_query = list(train.queries)[len(part.queries)]
    assert len(pairs) + len(train.relevant[next_query]) > 100  # the next whole query would not fit
    with pytest.raises(LadderError, match="max_pairs=0"):
        training_split(train, 0)


def test_unknown_rungs_and_missing_dev_split_are_named(abbrev):
    assert check_rungs(["recipe", "in-batch"]) == ("in-batch", "recipe")  # always climbed in order
    with pytest.raises(LadderError, match=r"unknown rung\(s\) \['bigger batch'\]"):
        check_rungs(["bigger batch"])
    no_dev = abbrev.subsample(200, {"train": 10, "dev": 0, "test": 10})
    with pytest.raises(LadderError, match=r"clinical_abbrev: .*\['dev'\] missing or empty"):
        splits_for(no_dev)


def _rung(name, test, generic=(1.0, 0.0)):
    return RungResult("x", name, list(test), list(generic), 100 * float(np.mean(test)), 0.0, 10, 1.0, name, "dev")


def test_ladder_rows_give_each_rung_its_lift_and_its_gain_over_the_rung_below():
    rungs = {"off-the-shelf": _rung("off-the-shelf", [0, 0, 0, 0]), "in-batch": _rung("in-batch", [1, 0, 0, 0]),
             "hard negatives": _rung("hard negatives", [1, 1, 0, 0]),
             "recipe": _rung("recipe", [1, 1, 1, 0], generic=(0.0, 0.0))}
    rows = ladder_table_rows("heavy", rungs, {r: "recomputed" for r in rungs})
    assert [(r.lift, r.gain_over_below) for r in rows] == [(0.0, 0.0), (25.0, 25.0), (50.0, 25.0), (75.0, 25.0)]
    assert rows[-1].generic_change == -50.0 and rows[-1].source == "recomputed"


def test_cached_rungs_from_other_data_or_settings_are_refused_with_the_difference(tmp_path, abbrev):
    generic = load_dataset("gcide").split("test")
    key = data_key(abbrev, "known_corpus", LadderSettings(), generic)
    path = tmp_path / "x.json"
    rungs = {"recipe": _rung("recipe", [1, 0])}
    write_ladder_file(path, key, ["q1", "q2"], rungs)
    assert read_cached_rungs(path, key)["recipe"] == rungs["recipe"]
    other = data_key(abbrev, "known_corpus", LadderSettings(max_epochs=5), generic)
    with pytest.warns(UserWarning, match=r"x.json: made from other data or settings \(settings.max_epochs: 3 -> 5; "
                                         r"train_configs.recipe.epochs: 3 -> 5\)"):
        assert read_cached_rungs(path, other) == {}
    # the general set's documents count too, not only its queries
    smaller = generic.subset(lambda text: True)
    smaller.corpus = dict(list(generic.corpus.items())[:-1])
    assert data_key(abbrev, "known_corpus", LadderSettings(), smaller)["generic"] != key["generic"]
    doc = json.loads(path.read_text())
    doc["rungs"]["recipe"]["unknown_field"] = 1
    path.write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="x.json: unreadable"):
        assert read_cached_rungs(path, key) == {}
    assert read_cached_rungs(tmp_path / "absent.json", key) == {}


def test_dev_pair_curve_trains_each_size_scores_dev_only_and_reuses_its_models(tmp_path, abbrev, monkeypatch):
    import helpers.evaluation
    import helpers.ladder
    from helpers.evaluation import EmbeddingCache
    from helpers.ladder import dev_pair_curve
    from helpers.mining import MiningConfig

    scored = []  # which splits get scored: the real evaluate, watched (the curve's and KeepBestOnDev's)

    def watched(model, split, *args, **kwargs):
        scored.append(split.name)
        return real_evaluate(model, split, *args, **kwargs)

    real_evaluate = helpers.evaluation.evaluate
    monkeypatch.setattr(helpers.ladder, "evaluate", watched)
    monkeypatch.setattr(helpers.evaluation, "evaluate", watched)

    small = abbrev.subsample(200, {"train": 40, "dev": 20, "test": 5})
    # the student judges its own negatives here (mpnet, the ladder's judge, would only add minutes)
    settings = LadderSettings(max_epochs=2, max_steps=2, mining=MiningConfig(source="dense", relative_margin=0.05))
    cache = EmbeddingCache()
    rows = dev_pair_curve(small, settings, cache, sizes=(10, 30), runs_dir=tmp_path)
    assert [r["max_pairs"] for r in rows] == [10, 30] and rows[0]["train_pairs"] <= 10 < rows[1]["train_pairs"] <= 30
    for r in rows:
        assert [e for e, _, _ in r["dev_curve"]][0] == 0 and not r["reused_model"]
    assert scored and set(scored) == {"dev"}  # the test split is never scored
    again = dev_pair_curve(small, settings, cache, sizes=(10, 30), runs_dir=tmp_path)
    assert all(r["reused_model"] for r in again)  # same data and settings: nothing retrained
    assert [r["dev_curve"] for r in again] == [r["dev_curve"] for r in rows]
