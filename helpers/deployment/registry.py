"""Versioned models: each version carries its base model, data fingerprint, hyperparameters, metrics
and gate verdict, in the model card and in ``release.json``; saved atomically, loaded by version."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from helpers.deployment.gate import GateResult
from helpers.io import atomic_folder, write_json
from helpers.models import load_model, model_fingerprint


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
        with atomic_folder(self.root / name / version, replace=False) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            release = {"name": name, "version": version, "base_model": base_model, "training": training or {},
                       "metrics": metrics or {}, "gate": None if gate is None else
                       {"passed": gate.passed, "reasons": gate.reasons},
                       "model_fingerprint": model_fingerprint(model),
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
        return version

    def release(self, name: str, version: str | None = None) -> dict:
        version = version or self._latest(name)
        return json.loads((self.root / name / version / "release.json").read_text())

    def load(self, name: str, version: str | None = None):
        """``(model, release)`` of one version (default: the latest)."""
        version = version or self._latest(name)
        folder = self.root / name / version
        if not (folder / "release.json").exists():
            raise LookupError(f"{name} has no version {version!r}; versions: {self.versions(name)}")
        model = load_model(folder, max_seq_length=None)  # the text limit it was released with
        release = self.release(name, version)
        if model_fingerprint(model) != release["model_fingerprint"]:
            raise ValueError(f"{folder}: the weights do not match the fingerprint recorded at release")
        return model, release

    def _latest(self, name: str) -> str:
        versions = self.versions(name)
        if not versions:
            raise LookupError(f"no released versions of {name!r} under {self.root}")
        return versions[-1]

