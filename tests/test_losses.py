import warnings
from functools import partial

import pytest
import torch

from helpers.losses import EmbeddingLoss, info_nce, triplet_loss


def batch(n=8, dim=16, columns=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, dim, generator=g, requires_grad=True) for _ in range(columns)]


def same_value_and_grad(ours, theirs, embeddings):
    a = ours([e for e in embeddings])
    grads_a = torch.autograd.grad(a, embeddings)
    b = theirs([e for e in embeddings])
    grads_b = torch.autograd.grad(b, embeddings)
    assert a.item() == pytest.approx(b.item(), rel=1e-5, abs=1e-6)
    for ga, gb in zip(grads_a, grads_b):
        assert torch.allclose(ga, gb, atol=1e-6), (ga - gb).abs().max()
    return a.item()


@pytest.mark.parametrize("metric,margin", [("EUCLIDEAN", 5.0), ("EUCLIDEAN", 1.0), ("COSINE", 0.3)])
def test_triplet_matches_library(minilm, metric, margin):
    from sentence_transformers.sentence_transformer.losses import TripletDistanceMetric, TripletLoss

    lib = TripletLoss(minilm, distance_metric=getattr(TripletDistanceMetric, metric), triplet_margin=margin)
    emb = batch(columns=3)
    value = same_value_and_grad(
        lambda e: triplet_loss(*e, margin=margin, distance=metric.lower()),
        lambda e: lib.compute_loss_from_embeddings(e, None),
        emb,
    )
    assert value > 0  # random embeddings violate the margin: the comparison is not of zeros


@pytest.mark.parametrize("scale", [1.0, 20.0, 50.0])
@pytest.mark.parametrize("columns", [2, 3, 4])  # pairs, triplets, two hard negatives
def test_info_nce_matches_multiple_negatives_ranking_loss(minilm, scale, columns):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    lib = MultipleNegativesRankingLoss(minilm, scale=scale)
    emb = batch(columns=columns, seed=columns)
    same_value_and_grad(lambda e: info_nce(*e, scale=scale), lambda e: lib.compute_loss_from_embeddings(e, None), emb)


def test_symmetric_info_nce_matches_library(minilm):
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
        MultipleNegativesSymmetricRankingLoss,
    )

    emb = batch(columns=2, seed=7)
    current = MultipleNegativesRankingLoss(minilm, directions=("query_to_doc", "doc_to_query"),
                                           partition_mode="per_direction")
    same_value_and_grad(lambda e: info_nce(*e, symmetric=True),
                        lambda e: current.compute_loss_from_embeddings(e, None), emb)
    # the older class says it is deprecated in favour of the above, and computes the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = MultipleNegativesSymmetricRankingLoss(minilm)
    same_value_and_grad(lambda e: info_nce(*e, symmetric=True),
                        lambda e: legacy.compute_loss_from_embeddings(e, None), emb)


def test_temperature_sharpens_the_softmax():
    q, d = batch(columns=2, seed=3)
    q, d = q.detach(), d.detach()
    aligned = q + 0.3 * d  # each positive is a noisy copy of its anchor: the diagonal wins
    # when the right answer already wins, a higher scale (lower temperature) sharpens the softmax
    # towards it and lowers the loss; on random pairs it would raise it
    assert info_nce(q, aligned, scale=50) < info_nce(q, aligned, scale=5)
    assert info_nce(q, d, scale=50) > info_nce(q, d, scale=5)
    with pytest.raises(ValueError):
        triplet_loss(q, d, d, distance="manhattan")


def test_embedding_loss_trains_inside_the_trainer(tmp_path):
    from helpers.data import load_dataset
    from helpers.training import TrainConfig, fine_tune

    pairs = load_dataset("clinical_abbrev").split("train").pairs()[:32]
    _, info = fine_tune("minilm", pairs, tmp_path / "run", TrainConfig(max_steps=2, batch_size=16),
                        loss=lambda m: EmbeddingLoss(m, info_nce, scale=20.0), show_progress_bar=False)
    assert info.steps == 2
    assert "info_nce" in (tmp_path / "run" / "final" / "README.md").read_text()  # the card names the loss


def test_embedding_loss_name_from_partial():
    loss = EmbeddingLoss(None, partial(info_nce, scale=5.0))
    assert loss.name == "info_nce"
