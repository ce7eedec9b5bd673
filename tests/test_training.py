import json

import numpy as np
import pytest

from helpers.data import load_dataset
from helpers.training import TrainConfig, fine_tune, read_manifest, triplets_with_random_negatives


@pytest.fixture(scope="module")
def pairs():
    return load_dataset("clinical_abbrev").split("train").pairs()[:48]


def test_tiny_real_fine_tune_changes_weights_and_records_data(tmp_path, minilm, pairs):
    model, info = fine_tune("minilm", pairs, tmp_path / "run", TrainConfig(max_steps=3, batch_size=16),
                            dataset_name="abbrev-test", show_progress_bar=False)
    assert info.steps == 3 and info.n_pairs == 48
    final = tmp_path / "run" / "final"
    assert (final / "model.safetensors").exists()
    assert not list(final.glob("*.bin"))  # safetensors only
    manifest = read_manifest(final)
    assert manifest["data_fingerprint"] == info.data_fingerprint and manifest["base_model"] == "minilm"
    assert info.data_fingerprint in (final / "README.md").read_text()  # model card names the data
    a = model.encode(["2VD"], normalize_embeddings=True)
    b = minilm.encode(["2VD"], normalize_embeddings=True)
    assert not np.allclose(a, b)


def test_training_is_reproducible(tmp_path, pairs):
    cfg = dict(max_steps=2, batch_size=16)
    m1, i1 = fine_tune("minilm", pairs, tmp_path / "a", TrainConfig(**cfg), show_progress_bar=False)
    m2, i2 = fine_tune("minilm", pairs, tmp_path / "b", TrainConfig(**cfg), show_progress_bar=False)
    e1, e2 = m1.encode(["CABG"]), m2.encode(["CABG"])
    assert np.allclose(e1, e2, atol=1e-5)


def test_interrupted_run_resumes_from_checkpoint(tmp_path, pairs):
    run = tmp_path / "resumable"
    _, first = fine_tune("minilm", pairs, run, TrainConfig(max_steps=2, save_steps=1, batch_size=16),
                         show_progress_bar=False)
    assert first.resumed_from is None and (run / "checkpoint-2").is_dir()
    # asking for more steps continues from the last checkpoint instead of starting over
    _, second = fine_tune("minilm", pairs, run, TrainConfig(max_steps=3, save_steps=1, batch_size=16),
                          show_progress_bar=False)
    assert second.resumed_from.endswith("checkpoint-2") and second.steps == 3
    state = json.loads((run / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_bad_training_input_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        fine_tune("minilm", [], "unused")
    with pytest.raises(ValueError, match="same length"):
        fine_tune("minilm", [("a", "b"), ("c",)], "unused")
    with pytest.raises(TypeError, match="unknown training option"):
        fine_tune("minilm", [("a", "b")], "unused", epochz=1)


def test_triplets_train_and_negatives_are_never_relevant(tmp_path):
    split = load_dataset("clinical_abbrev").split("train", limit=40)
    triplets = triplets_with_random_negatives(split, seed=1)
    relevant_texts = {q: {split.corpus[d] for d in split.relevant[qid]} for qid, q in split.queries.items()}
    assert all(len(t) == 3 and t[2] not in relevant_texts[t[0]] for t in triplets)
    _, info = fine_tune("minilm", triplets, tmp_path / "trip", TrainConfig(max_steps=1, batch_size=16),
                        show_progress_bar=False)
    assert info.steps == 1 and info.n_pairs == len(triplets)


def test_resume_refuses_checkpoints_of_other_data(tmp_path, pairs):
    run = tmp_path / "shared"
    fine_tune("minilm", pairs, run, TrainConfig(max_steps=1, save_steps=1, batch_size=16), show_progress_bar=False)
    with pytest.raises(ValueError, match="checkpoints of a run on other data"):
        fine_tune("minilm", pairs[::-1], run, TrainConfig(max_steps=2, save_steps=1, batch_size=16),
                  show_progress_bar=False)


def test_caller_config_is_not_changed_and_eval_length_is_restored(tmp_path, pairs):
    cfg = TrainConfig(max_steps=1, batch_size=16, max_seq_length=32)
    model, _ = fine_tune("minilm", pairs, tmp_path / "r", cfg, show_progress_bar=False, learning_rate=1e-5)
    assert cfg.learning_rate == 5e-5 and cfg.max_steps == 1
    assert model.max_seq_length == 128  # trained at 32 tokens, evaluated like the base model


def test_random_negatives_need_a_document_that_is_not_relevant():
    from helpers.data import RetrievalSplit

    split = RetrievalSplit("train", "t", {"q": "a query"}, {"d1": "one", "d2": "two"}, {"q": {"d1", "d2"}})
    with pytest.raises(ValueError, match="every document is relevant"):
        triplets_with_random_negatives(split)
