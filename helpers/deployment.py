"""Deployment discipline: ship a fine-tuned embedder without forgetting, mixing vectors, or a way back.

- **Forgetting check** (:func:`forgetting_check`): the candidate against its base model on the
  domain test set *and* on a general-domain set never trained on (``data/gcide``), both as
  paired lifts with 95% CIs.
- **Weight interpolation** (:func:`interpolate`, :func:`interpolation_sweep`): WiSE-FT /
  LM-Cocktail style ``(1 - a) * base + a * tuned``; the sweep traces domain gain against general
  loss and :func:`choose_alpha` picks the largest gain within the tolerance.
- **Release gate** (:func:`release_gate`, CLI ``python -m helpers gate``): pass or fail with
  reasons; the CLI exits non-zero on fail so CI can block a release.
- **Versioned models** (:class:`ModelRegistry`): each version carries its base model, data
  fingerprint, hyperparameters, metrics and gate verdict, in the model card and in
  ``release.json``; saved atomically, loaded by version.
- **Versioned indexes** (:class:`VectorIndex`, :func:`reembed`, :class:`IndexRegistry`): an index
  records the model that built it and refuses vectors from any other; re-embedding streams in
  shards, resumes after interruption, builds beside the live index, and switches (or rolls back)
  with one atomic write.
- **Query-side adapter** (:class:`QueryAdapter`): a linear map on frozen query embeddings, trained
  in seconds, that leaves the document index untouched -- the cheap alternative to re-embedding.

>>> from helpers.evaluation import Lift
>>> report = ForgettingReport(Lift("recall@10", .70, .75, .05, .02, .08, 500), Lift("recall@10", .60, .58, -.02, -.04, 0., 500))
>>> gate = release_gate(report, GateConfig(min_domain_lift=2.0, max_general_drop=1.0))
>>> gate.passed, gate.reasons[-1]
(False, 'general recall@10 fell 2.0 points, more than the 1 allowed')
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from helpers.evaluation import Lift, evaluate, lift
from helpers.io import atomic_write, write_json


# ----------------------------------------------------------------------------- forgetting


@dataclass
class ForgettingReport:
    """Paired lifts of a candidate over its base: on the domain, and on a general set."""

    domain: Lift
    general: Lift
    domain_name: str = "domain"
    general_name: str = "general"

    def table(self):
        import pandas as pd

        rows = []
        for name, lf in ((self.domain_name, self.domain), (self.general_name, self.general)):
            rows.append({"test set": name, "base R@10": round(100 * lf.before, 1), "candidate R@10": round(100 * lf.after, 1),
                         "change": round(100 * lf.delta, 1), "95% CI": f"[{100 * lf.ci_low:+.1f}, {100 * lf.ci_high:+.1f}]",
                         "queries": lf.n})
        return pd.DataFrame(rows).set_index("test set")

    def to_dict(self) -> dict:
        return {"domain": asdict(self.domain), "general": asdict(self.general),
                "domain_name": self.domain_name, "general_name": self.general_name}

    @classmethod
    def from_dict(cls, d: dict) -> "ForgettingReport":
        return cls(Lift(**d["domain"]), Lift(**d["general"]), d.get("domain_name", "domain"),
                   d.get("general_name", "general"))


def forgetting_check(candidate, base, domain_split, general_split, cache=None, domain_name: str = "domain",
                     general_name: str = "general") -> ForgettingReport:
    """Evaluate ``candidate`` and ``base`` on both test sets (same queries, full corpora)."""
    from helpers.evaluation import EmbeddingCache

    cache = cache or EmbeddingCache()
    out = []
    for split in (domain_split, general_split):
        out.append(lift(evaluate(candidate, split, cache, "candidate"), evaluate(base, split, cache, "base")))
    return ForgettingReport(out[0], out[1], domain_name, general_name)


# ----------------------------------------------------------------------------- interpolation


def interpolate(base, tuned, alpha: float):
    """A new model with weights ``(1 - alpha) * base + alpha * tuned`` (``alpha=1``: the tuned model).

    Both must share one architecture (a fine-tune of ``base``); integer buffers are copied from
    ``tuned``. Neither input is modified.
    """
    import copy

    import torch

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    sb, st = base.state_dict(), tuned.state_dict()
    if sb.keys() != st.keys() or any(sb[k].shape != st[k].shape for k in sb):
        raise ValueError("interpolate needs two models of one architecture (the base and its fine-tune)")
    mixed = copy.deepcopy(tuned)
    with torch.no_grad():
        mixed.load_state_dict({k: (torch.lerp(sb[k], st[k], alpha) if st[k].is_floating_point() else st[k])
                               for k in st})
    return mixed


def interpolation_sweep(base, tuned, domain_split, general_split, alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                        cache=None):
    """Domain and general recall@10 (with paired CIs against the base) along the interpolation path."""
    import pandas as pd
    from tqdm.auto import tqdm

    from helpers.evaluation import EmbeddingCache

    cache = cache or EmbeddingCache()
    before = [evaluate(base, s, cache, "base") for s in (domain_split, general_split)]
    rows = []
    for a in tqdm(alphas, desc="interpolation sweep"):
        model = base if a == 0 else tuned if a == 1 else interpolate(base, tuned, a)
        after = [evaluate(model, s, cache, f"alpha={a}") for s in (domain_split, general_split)]
        dom, gen = lift(after[0], before[0]), lift(after[1], before[1])
        # exact values (points), so choose_alpha and the gate judge the same numbers; round to display
        rows.append({"alpha": a, "domain R@10": 100 * dom.after, "domain gain": 100 * dom.delta,
                     "domain CI low": 100 * dom.ci_low, "domain CI high": 100 * dom.ci_high,
                     "general R@10": 100 * gen.after, "general change": 100 * gen.delta,
                     "general CI low": 100 * gen.ci_low, "general CI high": 100 * gen.ci_high})
    return pd.DataFrame(rows)


def choose_alpha(sweep, max_general_drop: float = 1.0) -> float:
    """The alpha with the largest domain gain whose general change stays above ``-max_general_drop``
    points (ties: the smaller alpha, closer to the base)."""
    ok = sweep[sweep["general change"] >= -max_general_drop]
    if ok.empty:
        return 0.0
    best = ok["domain gain"].max()
    return float(ok[ok["domain gain"] == best]["alpha"].min())


def plot_interpolation(sweep, chosen: float | None = None, ax=None, title: str = ""):
    """Domain gain against general change along the path, each point labelled with its alpha."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4.2), dpi=100)[1]
    x, y = sweep["general change"], sweep["domain gain"]
    ax.errorbar(x, y, yerr=[y - sweep["domain CI low"], sweep["domain CI high"] - y],
                xerr=[x - sweep["general CI low"], sweep["general CI high"] - x], fmt="o-", color="tab:blue",
                ecolor="0.7", capsize=2)
    for a, xi, yi in zip(sweep["alpha"], x, y):
        ax.annotate(f"a={a:g}", (xi, yi), textcoords="offset points", xytext=(6, -10), fontsize=8)
    if chosen is not None:
        row = sweep[sweep["alpha"] == chosen].iloc[0]
        ax.plot([row["general change"]], [row["domain gain"]], "*", ms=16, color="tab:red", label=f"chosen a={chosen:g}")
        ax.legend(loc="lower left")
    ax.axvline(0, color="black", lw=0.7, ls="--")
    ax.axhline(0, color="black", lw=0.7, ls="--")
    ax.set_xlabel("general recall@10 change (points)")
    ax.set_ylabel("domain recall@10 gain (points)")
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------- gate


@dataclass
class GateConfig:
    min_domain_lift: float = 2.0     # points of recall@10
    require_ci_above_zero: bool = True
    max_general_drop: float = 1.0    # points of recall@10


@dataclass
class GateResult:
    passed: bool
    reasons: list[str]
    measurements: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("PASS" if self.passed else "FAIL") + "".join(f"\n  - {r}" for r in self.reasons)


def release_gate(report: ForgettingReport, config: GateConfig | None = None) -> GateResult:
    """Pass only if the domain gain is large enough (and its CI excludes zero, if required) and
    general recall@10 fell by no more than the tolerance. Every check is listed, passed or not."""
    cfg = config or GateConfig()
    d, g = report.domain, report.general
    checks = [
        (100 * d.delta >= cfg.min_domain_lift,
         f"domain recall@10 {'rose' if d.delta >= 0 else 'fell'} {abs(100 * d.delta):.1f} points "
         f"({'at least' if 100 * d.delta >= cfg.min_domain_lift else 'less than'} the {cfg.min_domain_lift:g} required)"),
    ]
    if cfg.require_ci_above_zero:
        checks.append((d.ci_low > 0, f"the domain gain's 95% CI [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}] "
                                     f"{'excludes' if d.ci_low > 0 else 'includes'} zero"))
    drop = -100 * g.delta
    within = drop <= cfg.max_general_drop
    checks.append((within, f"general recall@10 changed {-drop:+.1f} points, within the {cfg.max_general_drop:g} allowed"
                   if within else f"general recall@10 fell {drop:.1f} points, more than the {cfg.max_general_drop:g} allowed"))
    return GateResult(all(ok for ok, _ in checks), [msg for _, msg in checks],
                      {"report": report.to_dict(), "config": asdict(cfg)})


# ----------------------------------------------------------------------------- model versions


class ModelRegistry:
    """Versions of one model family under ``root/<name>/v0001``, ``v0002``, ...

    Each version folder holds the sentence-transformers model (safetensors, with its model card
    extended by a release section) and ``release.json``: base model, training manifest (data
    fingerprint, hyperparameters), metrics and gate verdict. A version is written to a temporary
    folder and renamed into place, so a crash never leaves half a version.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        return sorted(p.name for p in folder.glob("v[0-9][0-9][0-9][0-9]") if (p / "release.json").exists())

    def register(self, model, name: str, base_model: str, training: dict | None = None, metrics: dict | None = None,
                 gate: GateResult | None = None) -> str:
        existing = self.versions(name)
        version = f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"
        target = self.root / name / version
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{version}."))
        try:
            model.save_pretrained(str(tmp), safe_serialization=True)
            release = {"name": name, "version": version, "base_model": base_model, "training": training or {},
                       "metrics": metrics or {}, "gate": None if gate is None else
                       {"passed": gate.passed, "reasons": gate.reasons},
                       "model_fingerprint": _fingerprint(model),
                       "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
            write_json(tmp / "release.json", release)
            card = tmp / "README.md"
            verdict = "not gated" if gate is None else ("gate PASSED" if gate.passed else "gate FAILED")
            lines = [f"\n## Release {name} {version} ({verdict})\n", f"- base model: `{base_model}`"]
            lines += [f"- {k}: {v}" for k, v in (training or {}).items() if k in ("data_fingerprint", "n_pairs", "config")]
            lines += [f"- metric {k}: {v}" for k, v in (metrics or {}).items()]
            lines += [f"- gate: {r}" for r in (gate.reasons if gate else [])]
            with open(card, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return version

    def release(self, name: str, version: str | None = None) -> dict:
        version = version or self._latest(name)
        return json.loads((self.root / name / version / "release.json").read_text())

    def load(self, name: str, version: str | None = None):
        """``(model, release)`` of one version (default: the latest)."""
        from helpers.models import load_model

        version = version or self._latest(name)
        folder = self.root / name / version
        if not (folder / "release.json").exists():
            raise LookupError(f"{name} has no version {version!r}; versions: {self.versions(name)}")
        model = load_model(folder, max_seq_length=None)  # the text limit it was released with
        release = self.release(name, version)
        if _fingerprint(model) != release["model_fingerprint"]:
            raise ValueError(f"{folder}: the weights do not match the fingerprint recorded at release")
        return model, release

    def _latest(self, name: str) -> str:
        versions = self.versions(name)
        if not versions:
            raise LookupError(f"no released versions of {name!r} under {self.root}")
        return versions[-1]


def _fingerprint(model) -> str:
    from helpers.models import model_fingerprint

    return model_fingerprint(model)


# ----------------------------------------------------------------------------- indexes


class IndexVersionError(RuntimeError):
    """Vectors from one model were about to be searched in an index built by another."""


class VectorIndex:
    """A faiss index of document vectors that knows which model built it.

    ``search`` takes the querying model's fingerprint and refuses a mismatch: vectors from two
    models live in different spaces, and mixing them returns confident nonsense, not an error.
    """

    def __init__(self, folder: str | os.PathLike):
        import faiss

        self.folder = Path(folder)
        manifest = self.folder / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{self.folder} holds no finished index (no manifest.json)")
        self.manifest = json.loads(manifest.read_text())
        self.doc_ids = json.loads((self.folder / "ids.json").read_text())
        self.index = faiss.read_index(str(self.folder / "index.faiss"))

    def __len__(self) -> int:
        return self.index.ntotal

    def check(self, model_fingerprint: str) -> None:
        built = self.manifest["model_fingerprint"]
        if model_fingerprint != built:
            raise IndexVersionError(
                f"index {self.folder} was built by model {self.manifest.get('model_version', '?')} "
                f"(fingerprint {built}); the query vectors come from fingerprint {model_fingerprint}. "
                "Re-embed the corpus with this model (reembed) or query with the model that built it.")

    def search(self, query_emb: np.ndarray, model_fingerprint: str, k: int = 10) -> tuple[list[list[str]], np.ndarray]:
        self.check(model_fingerprint)
        scores, idx = self.index.search(np.ascontiguousarray(query_emb, dtype=np.float32), min(k, len(self)))
        return [[self.doc_ids[j] for j in row if j >= 0] for row in idx], scores

    def search_texts(self, model, queries: list[str], k: int = 10):
        """Encode ``queries`` with ``model`` and search, after checking the model built this index."""
        fp = _fingerprint(model)
        self.check(fp)
        emb = model.encode_query(queries, normalize_embeddings=True, convert_to_numpy=True)
        return self.search(emb, fp, k)


def reembed(corpus: dict[str, str], model, folder: str | os.PathLike, model_version: str = "",
            shard_size: int = 1024, batch_size: int = 64, show_progress_bar: bool = True,
            on_shard=None) -> VectorIndex:
    """Embed ``corpus`` into a new index at ``folder``, shard by shard, resuming where it stopped.

    Each shard's vectors are written atomically under ``folder/shards``; a rerun of the same job
    (same corpus, model and shard size, recorded in ``job.json`` and checked) skips finished
    shards, so an interrupted job loses at most one shard of work and never writes a document
    twice; a rerun of a finished job returns the index at once. The faiss index and
    its manifest are written last: until then ``VectorIndex(folder)`` refuses to open it.
    ``on_shard(i)`` is called after shard ``i`` is saved.
    """
    import faiss
    from tqdm.auto import tqdm

    from helpers.io import fingerprint_texts

    if not corpus:
        raise ValueError("the corpus is empty: nothing to index")
    folder = Path(folder)
    shards = folder / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    fp = _fingerprint(model)
    doc_ids = list(corpus)
    plan = [doc_ids[i:i + shard_size] for i in range(0, len(doc_ids), shard_size)]
    job = {"model_fingerprint": fp, "shard_size": shard_size,
           "corpus_fingerprint": fingerprint_texts((d, corpus[d]) for d in doc_ids)}
    job_file = folder / "job.json"
    if job_file.exists() and json.loads(job_file.read_text()) != job:
        raise ValueError(f"{folder} holds a re-embedding of another corpus or model; use a new folder")
    write_json(job_file, job)
    if (folder / "manifest.json").exists():
        return VectorIndex(folder)  # finished earlier: nothing to redo
    bar = tqdm(total=len(doc_ids), desc="re-embedding", unit="doc", disable=not show_progress_bar)
    vectors = []
    for i, ids in enumerate(plan):
        path = shards / f"{i:05d}.npy"
        if path.exists():
            emb = np.load(path)
        else:
            emb = model.encode_document([corpus[d] for d in ids], batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True).astype(np.float32)
            with atomic_write(path, "wb") as f:
                np.save(f, emb)
            if on_shard is not None:
                on_shard(i)
        vectors.append(emb)
        bar.update(len(ids))
    bar.close()
    emb = np.concatenate(vectors)
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(emb)
    tmp = folder / "index.faiss.tmp"
    faiss.write_index(index, str(tmp))
    os.replace(tmp, folder / "index.faiss")
    write_json(folder / "ids.json", doc_ids, indent=None)
    write_json(folder / "manifest.json", {"model_fingerprint": fp, "model_version": model_version,
                                          "documents": len(doc_ids), "dim": int(emb.shape[1]),
                                          "corpus_fingerprint": job["corpus_fingerprint"],
                                          "built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
    shutil.rmtree(shards)
    return VectorIndex(folder)


class IndexRegistry:
    """Blue/green indexes: ``root/indexes/<version>/`` side by side, ``root/LIVE`` names the one in use.

    :meth:`build` re-embeds into a new folder while the live index keeps serving; :meth:`switch`
    points ``LIVE`` at a finished index with one atomic file replace; :meth:`rollback` points it
    back at the previous one, and again at the one before. ``root/history.jsonl`` records every
    switch and rollback.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def build(self, version: str, corpus: dict[str, str], model, **kwargs) -> VectorIndex:
        return reembed(corpus, model, self.root / "indexes" / version, model_version=version, **kwargs)

    def live_version(self) -> str | None:
        live = self.root / "LIVE"
        return live.read_text().strip() if live.exists() else None

    def live(self) -> VectorIndex:
        version = self.live_version()
        if version is None:
            raise LookupError(f"no live index under {self.root}: build one and switch to it")
        return VectorIndex(self.root / "indexes" / version)

    def switch(self, version: str) -> None:
        """Make ``version`` (a finished index) the live one."""
        self._point_live_at(version, "switch")

    def history(self) -> list[dict]:
        """Every switch and rollback, oldest first (an unreadable line, e.g. cut by a crash, is skipped)."""
        path = self.root / "history.jsonl"
        out = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def rollback(self) -> str:
        """Return to the index that was live before the current one (repeatable: each rollback goes
        one release further back); returns its version."""
        stack = self._stack()
        if len(stack) < 2:
            raise LookupError("nothing to roll back to: no earlier live index")
        self._point_live_at(stack[-2], "rollback")
        return stack[-2]

    def _stack(self) -> list[str]:
        """The live versions as a stack: a switch pushes, a rollback pops."""
        stack: list[str] = []
        for event in self.history():
            if event.get("action") == "rollback" and stack:
                stack.pop()
            elif event.get("action") == "switch":
                stack.append(event["to"])
        return stack

    def _point_live_at(self, version: str, action: str) -> None:
        VectorIndex(self.root / "indexes" / version)  # refuses an unfinished or missing index
        event = {"action": action, "from": self.live_version(), "to": version,
                 "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        # the history line first, then LIVE in one atomic replace: a crash in between leaves the
        # old index live and at worst one history line too many, never a LIVE pointing nowhere
        path = self.root / "history.jsonl"
        torn = path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
        with open(path, "a", encoding="utf-8") as f:
            f.write(("\n" if torn else "") + json.dumps(event) + "\n")  # never continue a torn line
            f.flush()
            os.fsync(f.fileno())
        with atomic_write(self.root / "LIVE") as f:
            f.write(version + "\n")


# ----------------------------------------------------------------------------- query adapter


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
        from safetensors.torch import save_file

        tmp = Path(str(path) + ".tmp")
        save_file({k: v.contiguous() for k, v in self.linear.state_dict().items()}, str(tmp))
        os.replace(tmp, path)

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
    from helpers.evaluation import encode_split, score_rankings, search

    doc_ids, doc_emb, q_emb = encode_split(model, split, cache)
    _, idx = search(adapter.transform(q_emb), doc_emb, k=100)
    return score_rankings([[doc_ids[j] for j in row if j >= 0] for row in idx], split, name)


def fit_adapter(model, pairs: list[tuple[str, str]], cache=None, **fit_options) -> QueryAdapter:
    """A :class:`QueryAdapter` for ``model`` trained on (query, document) text pairs."""
    from helpers.evaluation import EmbeddingCache

    cache = cache or EmbeddingCache()
    q = cache.encode(model, [p[0] for p in pairs], "query")
    d = cache.encode(model, [p[1] for p in pairs], "document")
    return QueryAdapter(q.shape[1]).fit(q, d, **fit_options)

