"""Contrastive losses written out in plain torch, to read next to the library's.

Each function takes embeddings (rows = examples) and returns a scalar loss. Tests check that
they equal sentence-transformers' ``TripletLoss`` and ``MultipleNegativesRankingLoss``
(values *and* gradients), so they can be trusted as explanations -- and :class:`EmbeddingLoss`
wraps any of them so ``SentenceTransformerTrainer`` can train with the version you just read.

>>> import torch
>>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); d = q.clone()
>>> round(info_nce(q, d, scale=20.0).item(), 6)   # each query's own doc wins by 20 logits
0.0
>>> triplet_loss(q, d, d.flip(0), margin=0.5, distance="cosine").item()
0.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def cosine_matrix(a: Tensor, b: Tensor) -> Tensor:
    """All-pairs cosine similarity: ``[len(a), len(b)]``."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 5.0,
                 distance: str = "euclidean") -> Tensor:
    """``mean(max(d(a, p) - d(a, n) + margin, 0))``.

    The negative must be at least ``margin`` further from the anchor than the positive; once it
    is, the triplet contributes nothing. With ``distance="euclidean"`` the margin is in raw
    embedding units (the library's default is 5); with ``"cosine"`` (1 - cosine similarity) it
    lies in [0, 2] and 0.1-0.5 is typical.
    """
    if distance == "euclidean":
        d_pos = F.pairwise_distance(anchor, positive, p=2)
        d_neg = F.pairwise_distance(anchor, negative, p=2)
    elif distance == "cosine":
        d_pos = 1 - F.cosine_similarity(anchor, positive)
        d_neg = 1 - F.cosine_similarity(anchor, negative)
    else:
        raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")
    return F.relu(d_pos - d_neg + margin).mean()


def info_nce(anchor: Tensor, positive: Tensor, *negatives: Tensor, scale: float = 20.0,
             symmetric: bool = False) -> Tensor:
    """InfoNCE with in-batch negatives (``MultipleNegativesRankingLoss``).

    Row ``i`` of ``anchor`` must pick out its own positive (column ``i``) among *every*
    document in the batch: the other anchors' positives are free negatives, and optional
    hard-negative columns are appended as more candidates. The logits are cosine similarities
    times ``scale`` (``scale = 1 / temperature``; 20 means temperature 0.05), and the loss is
    the cross-entropy of picking the right column.

    ``symmetric=True`` adds the reverse task -- each positive must pick out its own anchor among
    all anchors -- and averages the two cross-entropies.
    """
    docs = torch.cat([positive, *negatives], dim=0)  # [B * (1 + n_negatives), dim]
    logits = scale * cosine_matrix(anchor, docs)  # [B, B * (1 + n_negatives)]
    labels = torch.arange(len(anchor), device=anchor.device)  # the diagonal
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        backward = scale * cosine_matrix(positive, anchor)  # [B, B]: each doc against all anchors
        loss = (loss + F.cross_entropy(backward, labels)) / 2
    return loss


class EmbeddingLoss(nn.Module):
    """Make a function of embeddings into a loss the sentence-transformers trainer accepts.

    The trainer calls ``loss(sentence_features, labels)`` with one tokenised batch per dataset
    column (anchor, positive, negatives...); this embeds each column with the model and passes
    the embeddings to ``fn``.

    >>> from functools import partial                                       # doctest: +SKIP
    >>> loss = EmbeddingLoss(model, partial(info_nce, scale=20.0))          # doctest: +SKIP
    """

    def __init__(self, model, fn: Callable[..., Tensor], name: str | None = None, **config):
        super().__init__()
        self.model = model
        self.fn = fn
        self.name = name or getattr(fn, "__name__", getattr(getattr(fn, "func", None), "__name__", "loss"))
        self.config = config

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        embeddings = [self.model(features)["sentence_embedding"] for features in sentence_features]
        return self.fn(*embeddings, **self.config)

    def get_config_dict(self) -> dict:
        return {"function": self.name, **self.config}
