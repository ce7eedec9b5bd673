import re

import numpy as np
import pytest

from helpers.data import load_dataset
from helpers.deployment import (
    ForgettingReport,
    GateConfig,
    IndexRegistry,
    IndexVersionError,
    ModelRegistry,
    QueryAdapter,
    VectorIndex,
    choose_alpha,
    interpolate,
    reembed,
    release_gate,
)
from helpers.evaluation import Lift
from helpers.models import load_model, model_fingerprint


def report(domain_delta, domain_ci, general_delta):
    return ForgettingReport(Lift("recall@10", 0.7, 0.7 + domain_delta, domain_delta, *domain_ci, 500),
                            Lift("recall@10", 0.6, 0.6 + general_delta, general_delta, general_delta - .02,
                                 general_delta + .02, 500))


@pytest.mark.parametrize("domain, ci, general, passed, failing", [
    (0.05, (0.02, 0.08), -0.005, True, []),
    (0.05, (0.02, 0.08), +0.010, True, []),
    (0.015, (0.001, 0.03), 0.0, False, ["less than the 2 required"]),
    (0.03, (-0.005, 0.06), 0.0, False, ["includes zero"]),
    (0.05, (0.02, 0.08), -0.015, False, ["more than the 1 allowed"]),
    (-0.01, (-0.03, 0.01), -0.03, False, ["fell 1.0 points (less than", "includes zero", "fell 3.0 points"]),
])
def test_release_gate_decisions(domain, ci, general, passed, failing):
    gate = release_gate(report(domain, ci, general), GateConfig(min_domain_lift=2.0, max_general_drop=1.0))
    assert gate.passed is passed and bool(gate) is passed
    assert len(gate.reasons) == 3  # every check is reported, passed or not
    for text in failing:
        assert any(text in r for r in gate.reasons), (text, gate.reasons)


def test_gate_without_the_ci_requirement():
    gate = release_gate(report(0.03, (-0.005, 0.06), 0.0), GateConfig(require_ci_above_zero=False))
    assert gate.passed and len(gate.reasons) == 2


def test_gate_cli_exits_non_zero_on_fail(tmp_path):
    import json
    import subprocess
    import sys

    for name, rep, code in (("good", report(0.05, (0.02, 0.08), 0.0), 0), ("bad", report(0.05, (0.02, 0.08), -0.05), 1)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(rep.to_dict()))
        proc = subprocess.run([sys.executable, "-m", "helpers", "gate", "--report", str(path)], capture_output=True,
                              text=True)
        assert proc.returncode == code, proc.stderr
        assert ("PASS" if code == 0 else "FAIL") in proc.stdout
    torn = tmp_path / "torn.json"
    torn.write_text('{"domain": {"metric": "recall@10", "before')
    proc = subprocess.run([sys.executable, "-m", "helpers", "gate", "--report", str(torn)], capture_output=True, text=True)
    assert proc.returncode == 2 and f"error: {torn}:" in proc.stderr


def test_choose_alpha_keeps_the_general_drop_within_tolerance():
    import pandas as pd

    sweep = pd.DataFrame({"alpha": [0, .25, .5, .75, 1], "domain gain": [0, 3, 5, 6, 6],
                          "general change": [0, 0, -0.5, -1.5, -3]})
    assert choose_alpha(sweep, max_general_drop=1.0) == 0.5
    assert choose_alpha(sweep, max_general_drop=5.0) == 0.75  # ties go to the smaller alpha


@pytest.fixture(scope="module")
def two_models():
    """The base and a copy with perturbed weights (a stand-in fine-tune that costs no training)."""
    import torch

    base = load_model("minilm")
    tuned = load_model("minilm")
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for p in tuned.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=g))
    return base, tuned


def test_interpolation_endpoints_and_midpoint(two_models):
    base, tuned = two_models
    assert model_fingerprint(interpolate(base, tuned, 0.0)) == model_fingerprint(base)
    assert model_fingerprint(interpolate(base, tuned, 1.0)) == model_fingerprint(tuned)
    mid = interpolate(base, tuned, 0.5)
    name = next(n for n, _ in base.named_parameters())
    np.testing.assert_allclose(dict(mid.named_parameters())[name].detach().numpy(),
                               0.5 * (dict(base.named_parameters())[name] + dict(tuned.named_parameters())[name]).detach().numpy(),
                               atol=1e-6)
    for alpha in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            interpolate(base, tuned, alpha)


def test_interpolation_refuses_two_architectures_naming_the_first_difference(two_models):
    import copy

    from sentence_transformers.sentence_transformer.modules import Dense

    base, tuned = two_models
    before = model_fingerprint(base), model_fingerprint(tuned)
    projected = copy.deepcopy(base).append(Dense(384, 64))  # the same encoder with a projection head
    head = next(n for n in projected.state_dict() if n not in base.state_dict())
    with pytest.raises(ValueError, match=re.escape(f"parameter '{head}' is in the tuned model only")):
        interpolate(base, projected, 0.5)
    with pytest.raises(ValueError, match=re.escape(f"parameter '{head}' is in the base model only")):
        interpolate(projected, base, 0.5)
    narrower = copy.deepcopy(base).append(Dense(384, 32))
    with pytest.raises(ValueError, match=re.escape(f"parameter '{head}' has shape (64, 384) in the base model and "
                                                   "(32, 384) in the tuned one")):
        interpolate(projected, narrower, 0.5)
    half = copy.deepcopy(tuned).half()
    first = next(iter(base.state_dict()))
    with pytest.raises(ValueError, match=re.escape(f"parameter '{first}' is torch.float32 in the base model and "
                                                   "torch.float16 in the tuned one")):
        interpolate(base, half, 0.5)
    assert (model_fingerprint(base), model_fingerprint(tuned)) == before  # the refused calls changed neither input


def test_model_registry_versions_and_loads_an_older_one(two_models, tmp_path):
    base, tuned = two_models
    reg = ModelRegistry(tmp_path)
    gate = release_gate(report(0.05, (0.02, 0.08), 0.0))
    v1 = reg.register(base, "icd", base_model="minilm", metrics={"recall@10": 69.8})
    v2 = reg.register(tuned, "icd", base_model="minilm", training={"data_fingerprint": "abc", "n_pairs": 10},
                      metrics={"recall@10": 74.0}, gate=gate)
    assert (v1, v2) == ("v0001", "v0002") and reg.versions("icd") == ["v0001", "v0002"]
    old, release = reg.load("icd", "v0001")
    assert model_fingerprint(old) == model_fingerprint(base) and release["metrics"] == {"recall@10": 69.8}
    latest, release = reg.load("icd")
    assert release["version"] == "v0002" and release["gate"]["passed"] and release["training"]["data_fingerprint"] == "abc"
    card = (tmp_path / "icd" / "v0002" / "README.md").read_text()
    assert "Release icd v0002 (gate PASSED)" in card
    assert not list((tmp_path / "icd" / "v0002").glob("*.bin")) and list((tmp_path / "icd" / "v0002").glob("*.safetensors"))
    with pytest.raises(LookupError, match="no version"):
        reg.load("icd", "v0009")


@pytest.fixture(scope="module")
def corpus():
    ds = load_dataset("icd10cm")
    return dict(list(ds.corpus.items())[:300])


def test_index_refuses_vectors_from_another_model(two_models, corpus, tmp_path):
    base, tuned = two_models
    index = reembed(corpus, base, tmp_path / "idx", model_version="v0001", shard_size=128, show_progress_bar=False)
    assert len(index) == 300 and index.manifest["model_version"] == "v0001"
    ids, _ = index.search_texts(base, ["Acute respiratory distress syndrome"], k=3)
    assert len(ids[0]) == 3
    with pytest.raises(IndexVersionError, match="built by model v0001"):
        index.search_texts(tuned, ["Acute respiratory distress syndrome"])
    with pytest.raises(IndexVersionError):
        index.search(np.zeros((1, 384), np.float32), model_fingerprint(tuned))


def test_reembedding_resumes_without_loss_or_duplicates(two_models, corpus, tmp_path):
    base, _ = two_models
    folder = tmp_path / "idx"

    class Interrupted(Exception):
        pass

    def crash_after_two(i):
        if i == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        reembed(corpus, base, folder, shard_size=64, show_progress_bar=False, on_shard=crash_after_two)
    with pytest.raises(FileNotFoundError, match="no finished index"):
        VectorIndex(folder)  # a half-built index cannot be opened
    redone = []
    index = reembed(corpus, base, folder, shard_size=64, show_progress_bar=False, on_shard=redone.append)
    assert redone == [2, 3, 4]  # shards 0 and 1 were kept, the rest encoded once
    assert index.doc_ids == list(corpus) and len(index) == len(corpus)
    fresh = reembed(corpus, base, tmp_path / "fresh", shard_size=300, show_progress_bar=False)
    a = index.index.reconstruct_n(0, len(index))
    b = fresh.index.reconstruct_n(0, len(fresh))
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert reembed(corpus, base, folder, shard_size=64, show_progress_bar=False, on_shard=redone.append)
    assert redone == [2, 3, 4]  # a finished index is not rebuilt
    with pytest.raises(ValueError, match="another corpus or model"):
        reembed(dict(list(corpus.items())[:20]), base, folder, shard_size=64, show_progress_bar=False)


def test_blue_green_switch_and_rollback(two_models, corpus, tmp_path):
    base, tuned = two_models
    reg = IndexRegistry(tmp_path)
    small = dict(list(corpus.items())[:50])
    reg.build("v0001", small, base, show_progress_bar=False)
    reg.switch("v0001")
    reg.build("v0002", small, tuned, show_progress_bar=False)
    assert reg.live_version() == "v0001"  # building the new index did not touch the live one
    reg.switch("v0002")
    assert reg.live().manifest["model_version"] == "v0002"
    reg.build("v0003", small, base, show_progress_bar=False)
    reg.switch("v0003")
    assert reg.rollback() == "v0002" and reg.live_version() == "v0002"
    assert reg.rollback() == "v0001" and reg.live_version() == "v0001"  # further back, not forward again
    with pytest.raises(LookupError, match="nothing to roll back"):
        reg.rollback()
    with open(tmp_path / "history.jsonl", "a") as f:
        f.write('{"action": "swi')  # a crash mid-line does not break the history
    assert [e["action"] for e in reg.history()] == ["switch", "switch", "switch", "rollback", "rollback"]
    reg.switch("v0003")
    assert reg.history()[-1]["to"] == "v0003" and reg.live_version() == "v0003"
    with pytest.raises(FileNotFoundError):
        reg.switch("v0009")


def test_query_adapter_starts_as_identity_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    d = rng.normal(size=(256, 16)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    rotation = np.linalg.qr(rng.normal(size=(16, 16)))[0].astype(np.float32)
    q = d @ rotation.T  # queries are the documents, rotated: a linear map can undo it
    adapter = QueryAdapter(16)
    np.testing.assert_allclose(adapter.transform(q), q / np.linalg.norm(q, axis=1, keepdims=True), atol=1e-6)
    before = (np.argmax(adapter.transform(q) @ d.T, axis=1) == np.arange(256)).mean()
    adapter.fit(q, d, epochs=60, batch_size=64, lr=1e-2)
    after = (np.argmax(adapter.transform(q) @ d.T, axis=1) == np.arange(256)).mean()
    assert adapter.history[-1] < adapter.history[0] and after > max(before, 0.9)
    adapter.save(tmp_path / "adapter.safetensors")
    again = QueryAdapter.load(tmp_path / "adapter.safetensors")
    np.testing.assert_allclose(again.transform(q), adapter.transform(q), atol=1e-6)
