import numpy as np
import pytest

from helpers.data import RetrievalSplit
from helpers.diagnosis import (
    ClusterReport,
    error_clusters,
    fine_tuning_verdict,
    fragmentation,
    separation,
    style_gap,
)
from helpers.evaluation import score_rankings


class FixedEncoder:
    """Vectors chosen by hand so that every similarity below can be checked on paper."""

    def __init__(self, vectors):
        self.vectors = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in vectors.items()}

    max_seq_length = 0  # with state_dict() below: what helpers.models.model_fingerprint reads

    def state_dict(self):
        return {}

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True, **_):
        return np.stack([self.vectors[t] for t in texts])

    encode_query = encode_document = encode


def test_separation_by_hand():
    enc = FixedEncoder({"a1": [1, 0, 0], "a2": [1, 0.1, 0], "b1": [0, 1, 0], "b2": [0, 1, 0.1]})
    rep = separation(enc, {"A": ["a1", "a2"], "B": ["b1", "b2"]}, n_unrelated=200)
    cos = 1 / np.sqrt(1.01)
    assert rep.within == pytest.approx([cos, cos], abs=1e-6)
    assert rep.score > 5  # siblings nearly identical, unrelated nearly orthogonal
    assert list(rep.most_collapsed(1)["group"]) in (["A"], ["B"])


def test_separation_refuses_single_member_groups():
    enc = FixedEncoder({"a": [1, 0], "b": [0, 1]})
    with pytest.raises(ValueError, match=r"at least two distinct terms.*\['lonely'\]"):
        separation(enc, {"ok": ["a", "b"], "lonely": ["a", "a"]})
    with pytest.raises(ValueError, match="two groups"):
        separation(enc, {"ok": ["a", "b"]})


def test_separation_with_real_model_sees_families(minilm):
    groups = {"kidney": ["acute kidney failure", "chronic kidney disease", "kidney stones"],
              "fracture": ["fracture of femur", "fracture of radius", "fracture of skull"],
              "tax": ["income tax return", "value added tax", "tax deduction"]}
    rep = separation(minilm, groups)
    assert rep.within.mean() > rep.unrelated.mean()


def test_style_gap_by_hand():
    enc = FixedEncoder({"q": [1, 1, 0], "d1": [1, 0, 0], "d2": [1, 0.2, 0], "d3": [0, 0, 1]})
    split = RetrievalSplit("t", "known_corpus", {"q1": "q"}, {"d1": "d1", "d2": "d2", "d3": "d3"}, {"q1": {"d1"}})
    gap = style_gap(enc, split)
    assert gap.query_to_own_doc == pytest.approx([1 / np.sqrt(2)], abs=1e-6)
    assert gap.doc_to_nearest_doc == pytest.approx([1 / np.sqrt(1.04)], abs=1e-6)


def test_fragmentation_real_tokenizer(minilm):
    tok = minilm.tokenizer
    general = fragmentation(tok, ["the patient has a broken leg"])
    jargon = fragmentation(tok, ["CABG", "HbA1c", "pyelonephritis"])
    assert general["pieces_per_word"] == 1.0 and general["share_3plus"] == 0.0
    assert jargon["pieces_per_word"] > 2 and jargon["share_3plus"] > 0.5
    with pytest.raises(ValueError):
        fragmentation(tok, [""])


def make_result(n_long=40, n_short=40, fail_long=0.9, fail_short=0.1):
    queries, relevant, rankings = {}, {}, []
    for i in range(n_long + n_short):
        long = i < n_long
        queries[f"q{i}"] = "a long query with many words" if long else "short"
        relevant[f"q{i}"] = {"d1"}
        fails = (i % 10) < (10 * (fail_long if long else fail_short))
        rankings.append(["d2"] if fails else ["d1"])
    split = RetrievalSplit("test", "known_corpus", queries, {"d1": "x", "d2": "y"}, relevant)
    return split, score_rankings(rankings, split, "m")


def test_error_clusters_detects_a_real_difference_and_not_a_null_one():
    features = {"length": lambda q: "long" if len(q.split()) > 1 else "short",
                "doc:section": lambda d: d[0]}
    split, result = make_result()
    rep = error_clusters(result, split, features)
    assert rep.tables["length"].loc["long", "failure_rate"] == 0.9
    assert rep.p_values["length"] < 1e-6 and rep.clustered() == ["length"]
    split, result = make_result(fail_long=0.5, fail_short=0.5)
    assert error_clusters(result, split, features).clustered() == []


def test_verdict_reasons():
    split, dense = make_result(fail_long=0.5, fail_short=0.5)
    clustered = ClusterReport({"length": None}, {"length": 1e-9}, {"length": 0.5})
    v = fine_tuning_verdict(dense, {"bm25": dense}, n_pairs=3000, clusters=clustered, tier="heavy")
    assert v.fine_tune and "FINE-TUNE" in str(v)
    v = fine_tuning_verdict(dense, {"bm25": dense}, n_pairs=300, clusters=clustered, tier="heavy")
    assert not v.fine_tune and not v.reasons["1,000+ training pairs"][0]
    v = fine_tuning_verdict(dense, {"bm25": dense}, n_pairs=3000, clusters=clustered, tier="generic")
    assert not v.fine_tune and not v.reasons["lift worth its cost"][0]
    v = fine_tuning_verdict(dense, {"bm25": dense}, n_pairs=3000, clusters=clustered, tier="moderate")
    assert not v.fine_tune, "the course's 3-8 points are not the double digits it asks for"
    v = fine_tuning_verdict(dense, {"bm25": dense}, 3000, clustered, "generic", measured_lift=12.0)
    assert v.fine_tune and "measured" in v.expected_lift
