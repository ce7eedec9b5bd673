import time

import pytest

from helpers.models import ModelNotFoundError, load_model, model_fingerprint, resolve_model


def test_short_names_resolve_to_safetensors_folders():
    for name in ("minilm", "mpnet"):
        path = resolve_model(name)
        assert (__import__("pathlib").Path(path) / "model.safetensors").exists(), name


def test_mpnet_is_reassembled_once_and_verified():
    from helpers.models import MPNET_ZIP_SHA256, _mpnet_path

    path = _mpnet_path()
    assert (path / ".verified").read_text().strip() == MPNET_ZIP_SHA256
    assert not list(path.rglob("desktop.ini"))  # junk from the zip is dropped


@pytest.mark.parametrize("name", ["minilmm", "org/not-a-model", "./no/such/folder"])
def test_unknown_names_fail_fast_listing_short_names(name):
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="known short names: minilm"):
        resolve_model(name)
    assert time.perf_counter() - t0 < 10  # no hang in the hub client


def test_folder_without_model_is_refused(tmp_path):
    with pytest.raises(ModelNotFoundError, match="holds no model"):
        resolve_model(tmp_path)


def test_fingerprint_tracks_weights(minilm):
    import torch

    model = load_model("minilm")
    assert model_fingerprint(model) == model_fingerprint(minilm)
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert model_fingerprint(model) != model_fingerprint(minilm)
    # half precision has its own fingerprint, bfloat16 too (numpy cannot hold it: its bytes are hashed)
    fingerprints = {model_fingerprint(load_model("minilm").to(dtype)) for dtype in (torch.float16, torch.bfloat16)}
    assert len(fingerprints | {model_fingerprint(minilm)}) == 3


def test_minilm_embeds_offline(minilm):
    emb = minilm.encode(["acute renal failure", "kidney injury", "tax return"], normalize_embeddings=True)
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_pickle_only_weights_are_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelNotFoundError, match="safetensors only"):
        resolve_model(tmp_path)
