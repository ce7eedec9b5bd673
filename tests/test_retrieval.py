import pytest

from helpers.data import RetrievalSplit, load_dataset
from helpers.evaluation import EmbeddingCache, evaluate, score_rankings
from helpers.retrieval import BM25Index, cheaper_wins, load_rankings, rerank, rrf, save_rankings, weighted_fusion

CORPUS = {"d1": "acute kidney failure", "d2": "chronic kidney disease", "d3": "fracture of the femur"}


def test_bm25_ranks_by_shared_terms_and_drops_non_matches():
    ids, scores = BM25Index(CORPUS).search(["kidney failure", "femur", "zebra", ""], k=10)
    assert ids[0][0] == "d1" and set(ids[0]) == {"d1", "d2"}  # d3 shares no term: left out
    assert ids[1] == ["d3"]
    assert ids[2] == [] and ids[3] == []
    assert scores[0][0] > scores[0][1] > 0


def test_bm25_refuses_empty_corpus():
    with pytest.raises(ValueError, match="non-empty"):
        BM25Index({})


def test_rrf_by_hand():
    # a: 1/61 + 1/62 ; b: 1/62 ; c: 1/63 + 1/61
    assert rrf([["a", "b", "c"], ["c", "a"]], k=60) == ["a", "c", "b"]
    assert rrf([[], ["x"]]) == ["x"]


def test_weighted_fusion_by_hand():
    dense = (["a", "b"], [0.9, 0.5])  # normalised: a 1, b 0
    sparse = (["b", "c"], [10.0, 2.0])  # normalised: b 1, c 0
    assert weighted_fusion(dense, sparse, alpha=0.7) == ["a", "b", "c"]  # a .7, b .3, c 0
    assert weighted_fusion(dense, sparse, alpha=0.2) == ["b", "a", "c"]  # b .8, a .2
    assert weighted_fusion(dense, ([], []), alpha=0.5)[:2] == ["a", "b"]


def test_rerank_reorders_only_the_head_and_encodes_only_the_candidates(minilm):
    split = RetrievalSplit("t", "known_corpus", {"q": "broken thigh bone"}, CORPUS, {"q": {"d3"}})
    cache = EmbeddingCache()
    assert rerank(minilm, split, [["d1", "d3", "d2"]], top_k=2, cache=cache) == [["d3", "d1", "d2"]]
    misses = cache.misses
    cache.encode(minilm, [CORPUS["d1"], CORPUS["d3"]], "document")
    assert cache.misses == misses  # the head was encoded...
    cache.encode(minilm, [CORPUS["d2"]], "document")
    assert cache.misses == misses + 1  # ...and the document below it was not


def test_saved_reranked_heads_give_the_live_table_and_only_for_their_split(minilm, tmp_path):
    ds = load_dataset("aws_docs").subsample(300, {"test": 40})
    test = ds.split("test")
    # minilm reranking its own dense ranking changes nothing; reranking the RRF fusion does
    live, table = cheaper_wins(test, minilm, reranker=minilm, reranker_name="minilm", top_k=5)
    assert live["dense -> minilm rerank top 5"].rankings == live["dense (minilm)"].rankings
    assert live["RRF -> minilm rerank top 5"].rankings != live["hybrid: RRF"].rankings
    heads = {name: [r[:5] for r in res.rankings] for name, res in live.items() if "rerank" in name}
    save_rankings(tmp_path / "reranked.json", test, heads, {"command": "this test"})
    saved, provenance = load_rankings(tmp_path / "reranked.json", test)
    assert provenance == {"command": "this test"}
    again, table_again = cheaper_wins(test, minilm, reranker_name="minilm", top_k=5, saved_heads=saved)
    assert table_again.equals(table)
    assert all(again[name].rankings == live[name].rankings for name in live)
    # other queries or another corpus: the file does not apply
    assert load_rankings(tmp_path / "reranked.json", test.subset(lambda q: len(q) > 20)) is None
    assert load_rankings(tmp_path / "reranked.json", ds.subsample(200, {"test": 40}).split("test")) is None
    assert load_rankings(tmp_path / "missing.json", test) is None


def test_bm25_rankings_are_scored_like_dense_ones(minilm):
    ds = load_dataset("aws_docs").subsample(300, {"test": 50})
    test = ds.split("test")
    ids, _ = BM25Index(test.corpus).search(list(test.queries.values()))
    bm25, dense = score_rankings(ids, test, "bm25"), evaluate(minilm, test)
    assert bm25.query_ids == dense.query_ids  # paired: lifts between them are valid
    # the AWS queries share words with their documents ("abort multipart upload"): BM25 finds most
    assert bm25.mean() > 0.5
    with pytest.raises(ValueError, match="rankings for"):
        score_rankings(ids[:-1], test, "short")
