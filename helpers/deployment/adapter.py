"""Query-side adapter: a linear map on frozen query embeddings, trained in seconds, that leaves the
document index untouched -- the cheap alternative to re-embedding."""

from __future__ import annotations

import os

import numpy as np

from helpers.evaluation import EmbeddingCache, encode_split, score_rankings, search
from helpers.io import atomic_write

# torch and safetensors are imported inside functions: they cost ~2 s at import, and the release gate,
# which imports this package, needs neither.


class QueryAdapter:
    """A linear map applied to *query* embeddings only: ``q' = normalize(W q + b)``, W starting at identity.

    Trained with in-batch InfoNCE on frozen (query, document) embeddings of the deployed model, it
    moves queries toward their documents without touching the document index -- no re-embedding.
    It can only re-aim queries within the space the frozen model built; a fine-tune can reshape
    the space. The notebook measures how much that costs.
    """

    def __init__(self, dim: int):
        import torch

        self.linear = torch.nn.Linear(dim, dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(dim))
            self.linear.bias.zero_()
        self.history: list[float] = []

    def transform(self, query_emb: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = torch.nn.functional.normalize(self.linear(torch.as_tensor(query_emb, dtype=torch.float32)), dim=-1)
        return out.numpy()

    def fit(self, query_emb: np.ndarray, doc_emb: np.ndarray, epochs: int = 20, batch_size: int = 128,
            lr: float = 1e-3, scale: float = 20.0, seed: int = 0) -> "QueryAdapter":
        """InfoNCE over in-batch documents (row ``i`` of ``doc_emb`` is query ``i``'s positive)."""
        import torch

        g = torch.Generator().manual_seed(seed)
        q, d = torch.as_tensor(query_emb, dtype=torch.float32), torch.as_tensor(doc_emb, dtype=torch.float32)
        opt = torch.optim.AdamW(self.linear.parameters(), lr=lr, weight_decay=0.0)
        for _ in range(epochs):
            order, total = torch.randperm(len(q), generator=g), 0.0
            for start in range(0, len(q), batch_size):
                idx = order[start:start + batch_size]
                qa = torch.nn.functional.normalize(self.linear(q[idx]), dim=-1)
                logits = scale * qa @ d[idx].T
                loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(idx)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            self.history.append(total / len(q))
        return self

    def save(self, path: str | os.PathLike) -> None:
        """Write the weights as safetensors, atomically."""
        from safetensors.torch import save

        with atomic_write(path, "wb") as f:
            f.write(save({k: v.contiguous() for k, v in self.linear.state_dict().items()}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "QueryAdapter":
        from safetensors.torch import load_file

        state = load_file(str(path))
        adapter = cls(state["weight"].shape[0])
        adapter.linear.load_state_dict(state)
        return adapter


def evaluate_adapted(model, adapter: QueryAdapter, split, cache=None, name: str = "adapter"):
    """Like :func:`helpers.evaluation.evaluate`, with ``adapter`` applied to the query vectors only
    (the document vectors are the deployed model's, as in the live index)."""
    doc_ids, doc_emb, q_emb = encode_split(model, split, cache)
    _, idx = search(adapter.transform(q_emb), doc_emb, k=100)
    return score_rankings([[doc_ids[j] for j in row if j >= 0] for row in idx], split, name)


def fit_adapter(model, pairs: list[tuple[str, str]], cache=None, **fit_options) -> QueryAdapter:
    """A :class:`QueryAdapter` for ``model`` trained on (query, document) text pairs."""
    cache = cache or EmbeddingCache()
    q = cache.encode(model, [p[0] for p in pairs], "query")
    d = cache.encode(model, [p[1] for p in pairs], "document")
    return QueryAdapter(q.shape[1]).fit(q, d, **fit_options)
