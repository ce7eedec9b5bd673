import math

import numpy as np
import pytest

from helpers.data import load_dataset
from helpers.evaluation import (EmbeddingCache, evaluate, lift, paired_bootstrap, query_clusters, retrieval_metrics,
                                score_rankings, search)


def test_metrics_by_hand():
    ranked = [["a", "b", "c"], ["x", "y", "z"], ["p", "q", "r"]]
    relevant = [{"b"}, {"y", "z"}, {"nope"}]
    m = retrieval_metrics(ranked, relevant, ks=(1, 3))
    assert m["recall@1"].tolist() == [0.0, 0.0, 0.0]
    assert m["recall@3"].tolist() == [1.0, 1.0, 0.0]
    assert m["mrr@10"].tolist() == [0.5, 0.5, 0.0]
    # query 1: one hit at rank 2 -> (1/log2 3) / (1/log2 2)
    assert m["ndcg@10"][0] == pytest.approx(1 / math.log2(3))
    # query 2: hits at ranks 2 and 3, two relevant -> (1/log2 3 + 1/log2 4) / (1 + 1/log2 3)
    assert m["ndcg@10"][1] == pytest.approx((1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))


def test_metrics_refuse_unscorable_query():
    with pytest.raises(ValueError, match="no relevant document"):
        retrieval_metrics([["a"]], [set()])


def test_bootstrap_is_paired_and_reproducible():
    rng = np.random.default_rng(1)
    before = rng.random(400)
    after = before + 0.05  # every query gains exactly 5 points: a paired CI collapses to 0.05
    d, lo, hi = paired_bootstrap(after, before)
    assert d == pytest.approx(0.05) and lo == pytest.approx(0.05) and hi == pytest.approx(0.05)
    noisy = before + rng.normal(0.02, 0.1, 400)
    assert paired_bootstrap(noisy, before, seed=3) == paired_bootstrap(noisy, before, seed=3)
    d, lo, hi = paired_bootstrap(noisy, before)
    assert lo < d < hi and hi - lo < 0.05
    # a null effect: the interval straddles zero
    d, lo, hi = paired_bootstrap(before[::-1].copy(), before)
    assert lo < 0 < hi
    with pytest.raises(ValueError):
        paired_bootstrap(np.ones(3), np.ones(4))


def test_queries_that_share_a_document_form_one_cluster():
    # q0-q2-q3 are linked through documents a and c; q1 and q4 stand alone
    assert query_clusters([{"a"}, {"b"}, {"c", "a"}, {"c"}, {"d"}]).tolist() == [0, 1, 0, 0, 2]
    assert query_clusters([{"x"}, {"y"}]).tolist() == [0, 1]


def test_cluster_bootstrap_widens_the_interval_when_queries_move_together():
    rng = np.random.default_rng(0)
    # 100 documents with 5 queries each; a document's queries all succeed or fail together
    per_doc = rng.choice([-1.0, 0.0, 1.0], size=100, p=[0.2, 0.5, 0.3])
    diff = np.repeat(per_doc, 5)
    clusters = np.repeat(np.arange(100), 5)
    d, lo, hi = paired_bootstrap(diff, np.zeros(500))
    dc, loc, hic = paired_bootstrap(diff, np.zeros(500), clusters=clusters)
    assert dc == d
    # 100 independent units, not 500: the interval is about sqrt(5) = 2.2 times as wide
    assert 1.8 < (hic - loc) / (hi - lo) < 2.7
    # every query its own cluster: the per-query bootstrap, draw for draw
    assert paired_bootstrap(diff, np.zeros(500), clusters=np.arange(500)) == (d, lo, hi)
    with pytest.raises(ValueError, match="one cluster label per query"):
        paired_bootstrap(diff, np.zeros(500), clusters=np.arange(10))


def test_lift_resamples_the_clusters_of_the_split():
    split = load_dataset("icd10cm").split("test", limit=200)
    qids = list(split.queries)
    right = score_rankings([sorted(split.relevant[q]) for q in qids], split, "oracle")
    wrong = score_rankings([["nothing"] for _ in qids], split, "blank")
    assert right.clusters is not None and len(set(right.clusters.tolist())) < len(qids)  # ICD codes have synonyms
    gain = lift(right, wrong)
    assert gain.clusters == len(set(right.clusters.tolist())) and f"in {gain.clusters} clusters" in str(gain)
    # a retriever right on every other cluster: the queries of a cluster succeed or fail together,
    # and the interval lift reports is the cluster bootstrap's, not the per-query one
    half = score_rankings([sorted(split.relevant[q]) if c % 2 else ["nothing"] for q, c in zip(qids, right.clusters)],
                          split, "half")
    gain = lift(half, wrong)
    per_query = paired_bootstrap(half.per_query["recall@10"], wrong.per_query["recall@10"])
    clustered = paired_bootstrap(half.per_query["recall@10"], wrong.per_query["recall@10"], clusters=right.clusters)
    assert (gain.ci_low, gain.ci_high) == clustered[1:] != per_query[1:]


def test_search_is_exact_cosine():
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(50, 8)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[:5] + 0.01
    scores, idx = search(queries, docs, k=3)
    assert idx[:, 0].tolist() == [0, 1, 2, 3, 4]
    brute = np.argsort(-(queries @ docs.T), axis=1)[:, :3]
    assert (idx == brute).all()
    # a corpus smaller than k returns the whole corpus
    assert search(queries, docs[:2], k=10)[1].shape == (5, 2)


@pytest.fixture(scope="module")
def small_split():
    ds = load_dataset("clinical_abbrev").subsample(300, {"test": 60})
    return ds.split("test")


def test_matches_sentence_transformers_evaluator(minilm, small_split):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    ours = evaluate(minilm, small_split)
    st = InformationRetrievalEvaluator(
        small_split.queries, small_split.corpus, small_split.relevant, name="t",
        show_progress_bar=False, write_csv=False,
    )(minilm)
    for metric in ("recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10"):
        st_key = next(k for k in st if k.endswith(f"cosine_{metric}"))
        assert ours.mean(metric) == pytest.approx(st[st_key], abs=1e-9), metric


def test_cache_encodes_each_corpus_once_per_model(minilm, small_split):
    cache = EmbeddingCache()
    a = evaluate(minilm, small_split, cache)
    assert cache.misses == 2  # corpus + queries
    b = evaluate(minilm, small_split, cache)
    assert cache.misses == 2 and cache.hits == 2
    assert a.per_query["recall@10"].tolist() == b.per_query["recall@10"].tolist()
    assert lift(a, b).delta == 0


def test_disk_cache_round_trip(minilm, tmp_path):
    texts = ["renal failure", "hypertension"]
    first = EmbeddingCache(tmp_path).encode(minilm, texts)
    again = EmbeddingCache(tmp_path)
    assert np.array_equal(again.encode(minilm, texts), first) and again.hits == 1


class CountingModel:
    """minilm, counting the texts it is asked to encode."""

    def __init__(self, model):
        self.model, self.encoded = model, []

    def encode_document(self, texts, **kw):
        self.encoded += texts
        return self.model.encode_document(texts, **kw)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_cache_encodes_each_text_once_whatever_list_it_comes_in(minilm, tmp_path):
    counting, fp = CountingModel(minilm), "minilm-test"
    cache = EmbeddingCache(tmp_path)
    # nothing cached yet: the list is encoded as given, so the vectors are those of an uncached run
    first = cache.encode(counting, ["a cat", "a dog", "a cat"], model_fp=fp)
    assert counting.encoded == ["a cat", "a dog", "a cat"] and cache.misses == 1
    np.testing.assert_array_equal(first, minilm.encode_document(["a cat", "a dog", "a cat"], normalize_embeddings=True))
    mixed = cache.encode(counting, ["a dog", "a bird"], model_fp=fp)
    assert counting.encoded[3:] == ["a bird"] and cache.misses == 2
    np.testing.assert_array_equal(mixed[0], first[1])
    assert cache.encode(counting, [], model_fp=fp).shape == (0, 384)
    # another process, same folder: nothing to encode; another model: everything
    again = EmbeddingCache(tmp_path, memory=False)
    np.testing.assert_array_equal(again.encode(counting, ["a bird", "a cat"], model_fp=fp), np.stack([mixed[1], first[0]]))
    assert again.hits == 1 and len(counting.encoded) == 4
    again.encode(counting, ["a cat"], model_fp="another-model")
    assert counting.encoded[-1] == "a cat"


def test_an_unreadable_cache_shard_is_encoded_again_with_a_warning(minilm, tmp_path):
    EmbeddingCache(tmp_path).encode(minilm, ["renal failure"], model_fp="m")
    (shard,) = tmp_path.glob("m-*/*.npz")
    shard.write_bytes(b"torn")
    counting = CountingModel(minilm)
    with pytest.warns(UserWarning, match="unreadable"):
        EmbeddingCache(tmp_path).encode(counting, ["renal failure"], model_fp="m")
    assert counting.encoded == ["renal failure"]


def test_multi_process_encoding_matches_one_process(minilm):
    # sentence-transformers' own pool, here with two CPU processes (on a GPU box: one per device)
    texts = [f"definition number {i}: a word that means something else" for i in range(200)]
    one = EmbeddingCache(memory=False).encode(minilm, texts)
    pooled = EmbeddingCache(memory=False, devices=["cpu", "cpu"]).encode(minilm, texts)
    assert pooled.shape == one.shape and np.allclose(pooled, one, atol=1e-5)
