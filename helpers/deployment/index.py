"""Versioned indexes: an index records the model that built it and refuses vectors from any other;
re-embedding streams in shards, resumes after interruption, builds beside the live index, and
switches (or rolls back) with one atomic write."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from helpers.io import atomic_write, fingerprint_texts, write_json
from helpers.models import model_fingerprint

# faiss is imported inside functions: it costs ~0.3 s at import, and the release gate, which imports
# this package, searches nothing.


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
        fp = model_fingerprint(model)
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

    if not corpus:
        raise ValueError("the corpus is empty: nothing to index")
    folder = Path(folder)
    shards = folder / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    fp = model_fingerprint(model)
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
    with atomic_write(folder / "index.faiss", "wb") as f:
        f.write(faiss.serialize_index(index).tobytes())
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
