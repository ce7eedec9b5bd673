import numpy as np
import pytest

from helpers.data import load_dataset
from helpers.mining import (
    Candidates,
    MiningError,
    bm25_candidates,
    dedupe_documents,
    dense_candidates,
    fused_candidates,
    mine,
    rescore,
    select_negatives,
    stream_top_k,
)


def toy(scores, positive_scores=(0.9,), doc_ids=None, qids=("q",)):
    """Candidates for one or more queries from a score matrix (ranks = column order)."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
    doc_ids = doc_ids or [f"d{j}" for j in range(scores.shape[1])]
    idx = np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    pos = [np.atleast_1d(np.asarray(p, np.float32)) for p in
           (positive_scores if len(qids) > 1 else [positive_scores])]
    return Candidates(list(qids), doc_ids, idx, scores, pos, "toy")


# ----------------------------------------------------------------------------- streaming search


@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_stream_top_k_equals_one_exact_search(chunk, k):
    rng = np.random.default_rng(chunk * 100 + k)
    q, d = rng.normal(size=(6, 16)).astype("f4"), rng.normal(size=(20, 16)).astype("f4")
    s, i = stream_top_k(q, [d[sl] for sl in (slice(a, a + chunk) for a in range(0, 20, chunk))], k)
    full = q @ d.T
    want = np.argsort(-full, axis=1, kind="stable")[:, :k]
    assert (i == want).all()
    np.testing.assert_allclose(s, np.take_along_axis(full, want, 1), atol=1e-5)


def test_stream_top_k_pads_when_corpus_is_smaller_than_k():
    q, d = np.eye(3, dtype="f4"), np.eye(3, dtype="f4")[:2]
    s, i = stream_top_k(q, [d], k=4)
    assert i.shape == (3, 4) and (i[:, 2:] == -1).all() and np.isneginf(s[:, 2:]).all()


# ----------------------------------------------------------------------------- selection


def test_rank_window_counts_ranks_without_the_positives():
    c = toy([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])
    m = select_negatives(c, {"q": {"d1"}}, num_negatives=2, range_min=2, range_max=5)
    # without the positive d1 the ranking is d0 d2 d3 d4 d5: the window [2, 5) holds d3 d4 d5
    assert m.negatives["q"] == ["d3", "d4"]
    assert m.negative_ranks["q"] == [2, 3]  # ranks in the list with positives removed
    assert m.stats["skipped"]["positive"] == 1


def test_a_copy_of_the_positive_under_another_id_is_never_a_negative():
    c = toy([[0.9, 0.9, 0.7, 0.6]])  # d1 is d0's text under another id: the same score, the top candidate
    corpus = {"d0": "same text", "d1": "same text", "d2": "other", "d3": "third"}
    m = select_negatives(c, {"q": {"d0"}}, num_negatives=1, corpus=corpus)
    assert m.negatives["q"] == ["d2"] and m.negative_ranks["q"] == [0]
    assert m.stats["skipped"]["positive"] == 1 and m.stats["skipped"]["positive_text"] == 1
    assert "the text of a positive under another id" in m.report()
    # without the texts only ids can be compared: the copy is what it looks like, the best negative
    assert select_negatives(c, {"q": {"d0"}}, num_negatives=1).negatives["q"] == ["d1"]


def test_random_sampling_stays_in_window_and_is_seeded():
    c = toy([np.linspace(0.9, 0.1, 30)])
    picks = [select_negatives(c, {"q": {"d0"}}, 3, 5, 15, "random", seed=s).negatives["q"] for s in (1, 1, 2)]
    window = {f"d{j}" for j in range(6, 16)}
    assert all(set(p) <= window and len(p) == 3 for p in picks)
    assert picks[0] == picks[1] and picks[0] != picks[2]


def test_absolute_and_relative_margins():
    c = toy([[0.85, 0.79, 0.70, 0.50]], positive_scores=(0.8,))
    rel = select_negatives(c, {"q": {"x"}}, 4, relative_margin=0.05)  # threshold 0.8 - 0.04 = 0.76
    assert rel.negatives["q"] == ["d2", "d3"] and rel.stats["skipped"]["relative_margin"] == 2
    ab = select_negatives(c, {"q": {"x"}}, 4, absolute_margin=0.2)  # threshold 0.6
    assert ab.negatives["q"] == ["d3"] and ab.stats["skipped"]["absolute_margin"] == 3
    capped = select_negatives(c, {"q": {"x"}}, 4, max_score=0.75, min_score=0.6)
    assert capped.negatives["q"] == ["d2"]


def test_relative_margin_with_a_negative_positive_score_still_lowers_the_bar():
    c = toy([[-0.1, -0.15, -0.2, -0.3]], positive_scores=(-0.2,))
    m = select_negatives(c, {"q": {"x"}}, 4, relative_margin=0.1)  # threshold -0.2 - 0.02 = -0.22
    assert m.negatives["q"] == ["d3"]  # (1 - 0.1) * -0.2 = -0.18 would wrongly keep d2 (-0.2) too


def test_multiple_positives_are_all_excluded_and_the_weakest_sets_the_margin():
    c = toy([[0.9, 0.8, 0.78, 0.75, 0.7, 0.3]], positive_scores=(0.9, 0.8))
    m = select_negatives(c, {"q": {"d0", "d1"}}, 3, relative_margin=0.05, queries={"q": "query"},
                         corpus={f"d{j}": f"doc {j}" for j in range(6)})
    # the weakest positive (0.8) sets the threshold 0.76: d2 (0.78) goes, though the strongest (0.9) would keep it
    assert m.negatives["q"] == ["d3", "d4", "d5"]
    assert m.stats["skipped"]["positive"] == 2
    triplets = m.examples("triplet")
    assert len(triplets) == 2 * 3 and {t[1] for t in triplets} == {"doc 0", "doc 1"}
    assert len(m.examples("n-tuple")) == 2
    labels = [t[2] for t in m.examples("labeled-pair")]
    assert labels.count(1) == 2 and labels.count(0) == 3


def test_empty_candidate_lists_are_counted_not_fatal():
    c = Candidates(["q1", "q2"], ["a", "b", "c"], np.array([[1, 2], [-1, -1]]),
                   np.array([[2.0, 1.0], [-np.inf, -np.inf]], np.float32), None, "bm25")
    m = select_negatives(c, {"q1": {"a"}, "q2": {"a"}}, 1, queries={"q1": "x", "q2": "y"},
                         corpus={"a": "A", "b": "B", "c": "C"})
    assert m.negatives == {"q1": ["b"], "q2": []}
    assert m.stats["empty_queries"] == 1 and m.stats["short_queries"] == 1
    assert m.examples("triplet") == [("x", "A", "B")]
    assert "(1 got none)" in m.report()


def test_bad_options_fail_clearly():
    c = toy([[0.5, 0.4]])
    with pytest.raises(MiningError, match="range_min < range_max"):
        select_negatives(c, {"q": {"x"}}, 1, range_min=2, range_max=2)
    with pytest.raises(MiningError, match="window of 1"):
        select_negatives(c, {"q": {"x"}}, 2, range_min=1, range_max=2)
    no_scores = Candidates(["q"], ["a", "b"], np.array([[0, 1]]), np.array([[3.0, 1.0]], np.float32), None, "bm25")
    with pytest.raises(MiningError, match="rescore"):
        select_negatives(no_scores, {"q": {"x"}}, 1, relative_margin=0.05)


# ----------------------------------------------------------------------------- with real models


@pytest.fixture(scope="module")
def small():
    """ICD-10-CM cut to ~150 documents and 40 training queries. Some ICD codes share a description:
    one document per text is kept, because the library keys documents by their text."""
    split = load_dataset("icd10cm").subsample(150, {"train": 40, "dev": 0, "test": 0}).split("train")
    return dedupe_documents(split)


def test_dense_candidates_stream_like_one_search_and_score_positives(small, minilm):
    from helpers.evaluation import dense_search

    one = dense_candidates(minilm, small.queries, small.corpus, small.relevant, depth=20, chunk_size=10_000)
    many = dense_candidates(minilm, small.queries, small.corpus, small.relevant, depth=20, chunk_size=17)
    assert (one.indices == many.indices).all()
    ranked, _ = dense_search(minilm, small, k=20)
    assert one.ranked_ids() == ranked
    q_emb = minilm.encode_query([small.queries[q] for q in one.query_ids], normalize_embeddings=True)
    for i, q in enumerate(one.query_ids):
        d_emb = minilm.encode_document([small.corpus[d] for d in sorted(small.relevant[q])], normalize_embeddings=True)
        np.testing.assert_allclose(one.positive_scores[i], d_emb @ q_emb[i], atol=1e-4)


def test_corpus_smaller_than_depth_falls_back_to_all_documents(minilm):
    class Tiny:
        corpus = {"a": "fracture of femur", "b": "fracture of tibia", "c": "asthma"}
        queries = {"q": "broken thigh bone"}
        relevant = {"q": {"a"}}

    m = mine(Tiny, minilm, range_max=50, num_negatives=5)
    assert sorted(m.negatives["q"]) == ["b", "c"] and m.stats["short_queries"] == 1

    class OneDoc(Tiny):
        corpus = {"a": "fracture of femur"}

    with pytest.raises(MiningError, match="1 document"):
        mine(OneDoc, minilm)


def test_inputs_are_checked_before_any_work():
    class Missing:
        corpus = {"a": "text"}
        queries = {"q": "query"}
        relevant = {"q": {"zz"}}

    class Untouchable:  # any use of the model (encoding, fingerprinting) fails the test
        def __getattr__(self, name):
            raise AssertionError(f"the model was used ({name}) before the inputs were checked")

    with pytest.raises(MiningError, match="not in the corpus"):
        mine(Missing, Untouchable())
    Missing.corpus = {}
    with pytest.raises(MiningError, match="corpus is empty"):
        mine(Missing, Untouchable())
    with pytest.raises(MiningError, match="skips every candidate"):
        select_negatives(toy([[0.5, 0.4]]), {"q": {"x"}}, 1, range_min=2, range_max=5)


def test_bm25_and_fused_candidates(small, minilm):
    sparse = bm25_candidates(small.queries, small.corpus, small.relevant, depth=10)
    dense = dense_candidates(minilm, small.queries, small.corpus, small.relevant, depth=10)
    fused = fused_candidates(dense, sparse)
    agreeing = [i for i in range(len(small.queries)) if dense.indices[i, 0] == sparse.indices[i, 0]]
    assert agreeing, "no query whose first document is the same in both lists: nothing checked"
    for i in agreeing:  # a document first in both lists is first after fusion
        assert fused.indices[i, 0] == dense.indices[i, 0]
    assert fused.positive_scores is None
    judged = mine(small, minilm, source="fused", relative_margin=0.05, range_max=10)
    assert judged.positive_scores is not None and judged.stats["skipped"]["positive"] > 0


def test_rescoring_uses_the_judges_scale_for_candidates_and_positives(small, minilm):
    from helpers.models import load_model_cached

    mpnet = load_model_cached("mpnet")
    sub = small.subset(lambda t: True)
    sub.queries = dict(list(sub.queries.items())[:8])
    dense = dense_candidates(minilm, sub.queries, sub.corpus, sub.relevant, depth=5)
    judged = rescore(dense, mpnet, sub.queries, sub.corpus, sub.relevant)
    q = judged.query_ids[0]
    q_emb = mpnet.encode_query([sub.queries[q]], normalize_embeddings=True)[0]
    d_emb = mpnet.encode_document([sub.corpus[judged.doc_ids[j]] for j in judged.indices[0]],
                                  normalize_embeddings=True)
    np.testing.assert_allclose(judged.scores[0], d_emb @ q_emb, atol=1e-4)
    assert (np.diff(judged.scores, axis=1) <= 1e-6).all()  # re-sorted by the judge
    for i, q in enumerate(judged.query_ids):
        qe = mpnet.encode_query([sub.queries[q]], normalize_embeddings=True)[0]
        pe = mpnet.encode_document([sub.corpus[d] for d in sorted(sub.relevant[q])], normalize_embeddings=True)
        np.testing.assert_allclose(judged.positive_scores[i], pe @ qe, atol=1e-4)


@pytest.mark.parametrize("options", [
    {"range_min": 0, "range_max": 10, "num_negatives": 3},
    {"range_min": 4, "range_max": 12, "num_negatives": 2},
    {"range_min": 0, "range_max": 30, "num_negatives": 2, "relative_margin": 0.05},
    {"range_min": 0, "range_max": 30, "num_negatives": 1, "absolute_margin": 0.02, "max_score": 0.7},
])
def test_same_negatives_as_the_librarys_mine_hard_negatives(small, minilm, options):
    """Identical triplets, except where the library's window reaches one rank deeper (documented in
    helpers.mining): with filters, for a query whose positive it did not retrieve."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    pairs = small.pairs()
    lib = mine_hard_negatives(Dataset.from_dict({"anchor": [p[0] for p in pairs], "positive": [p[1] for p in pairs]}),
                              minilm, corpus=list(small.corpus.values()), output_format="triplet", batch_size=64,
                              sampling_strategy="top", verbose=False, use_faiss=True, **options)
    ours = mine(small, minilm, **options)
    got = set(ours.examples("triplet"))
    want = set(zip(lib["anchor"], lib["positive"], lib["negative"]))
    assert got and got <= want
    extra = want - got
    if "relative_margin" not in options and "absolute_margin" not in options:
        assert not extra
    depth = options["range_max"]
    cands = dense_candidates(minilm, small.queries, small.corpus, small.relevant, depth=depth + 1)
    by_text = {t: q for q, t in small.queries.items()}
    for query, _, negative in extra:
        i = cands.query_ids.index(by_text[query])
        ranked = [small.corpus[cands.doc_ids[j]] for j in cands.indices[i]]
        assert not set(small.relevant[by_text[query]]) & set(cands.ranked_ids()[i])  # positive not retrieved
        assert ranked.index(negative) == depth  # the one rank past the window
        assert len(ours.negatives[by_text[query]]) < options["num_negatives"]  # ours ran short inside the window


def test_audit_of_nothing_is_an_empty_table():
    c = toy([[0.95, 0.9]], positive_scores=(0.5,))
    m = select_negatives(c, {"q": {"x"}}, 1, relative_margin=0.05)
    assert m.negatives == {"q": []} and m.audit().empty and "gap" in m.audit().columns


def test_a_query_left_without_a_negative_trains_with_a_random_one_never_a_positive_or_excluded():
    from helpers.mining import MinedNegatives

    corpus = {f"d{i}": f"document {i}" for i in range(6)}
    mined = MinedNegatives({"q1": "one", "q2": "two"}, corpus, {"q1": ["d0"], "q2": ["d1"]},
                           {"q1": ["d2"], "q2": []}, {"q1": [0.5], "q2": []}, {"q1": [3], "q2": []}, None)
    assert mined.examples("triplet") == [("one", "document 0", "document 2")]  # q2 dropped, as the library does
    filled = mined.examples("triplet", fill="random", exclude={"q2": ["d3", "d4"]})
    assert filled[0] == ("one", "document 0", "document 2") and len(filled) == 2
    assert filled[1][:2] == ("two", "document 1") and filled[1][2] in {"document 0", "document 2", "document 5"}
    assert filled == mined.examples("triplet", fill="random", exclude={"q2": ["d3", "d4"]})  # seeded
    with pytest.raises(ValueError, match="fill must be None or 'random'"):
        mined.examples("triplet", fill="hardest")
