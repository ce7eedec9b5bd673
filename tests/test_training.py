import json
from dataclasses import replace

import numpy as np
import pytest
from transformers import TrainerCallback

from helpers.data import load_dataset
from helpers.training import TRAINING_KEY_FILE, TrainConfig, fine_tune, read_manifest, triplets_with_random_negatives


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


class CrashAfterStep(TrainerCallback):
    """Raises once ``crash_after`` optimiser steps are done and checkpointed: a real interruption."""

    def __init__(self, crash_after: int):
        self.crash_after = crash_after

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.crash_after:
            raise KeyboardInterrupt(f"simulated crash after step {state.global_step}")


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, pairs):
    cfg = TrainConfig(max_steps=3, save_steps=1, batch_size=16)  # 48 pairs: 3 batches, one epoch
    straight, info = fine_tune("minilm", pairs, tmp_path / "straight", cfg, show_progress_bar=False)
    assert info.resumed_from is None

    run = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        fine_tune("minilm", pairs, run, cfg, show_progress_bar=False, callbacks=[CrashAfterStep(2)])
    assert (run / "checkpoint-2").is_dir() and not (run / "final").exists()
    resumed, info = fine_tune("minilm", pairs, run, cfg, show_progress_bar=False)
    assert info.resumed_from.endswith("checkpoint-2") and info.steps == 3
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-6, f"resumed weights differ from the uninterrupted run's by up to {worst}"


@pytest.mark.parametrize("change", [dict(learning_rate=1e-4), dict(max_steps=3), dict(loss_scale=10.0),
                                    dict(data="reversed")])
def test_a_changed_run_starts_fresh_and_says_why(tmp_path, pairs, change):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    run = tmp_path / "shared"
    first = TrainConfig(max_steps=2, save_steps=1, batch_size=16)
    fine_tune("minilm", pairs, run, first, show_progress_bar=False)
    cfg = replace(first, **{k: v for k, v in change.items() if k in ("learning_rate", "max_steps")})
    loss = (lambda m: MultipleNegativesRankingLoss(m, scale=change["loss_scale"])) if "loss_scale" in change else None
    data = pairs[::-1] if "data" in change else pairs
    with pytest.warns(UserWarning, match="holds checkpoints that this run does not resume") as caught:
        _, info = fine_tune("minilm", data, run, cfg, loss=loss, show_progress_bar=False)
    reason = str(caught[0].message)
    expected = {"learning_rate": "config.learning_rate: 5e-05 -> 0.0001", "max_steps": "config.max_steps: 2 -> 3",
                "loss_scale": "loss.settings.scale: 20.0 -> 10.0", "data": "data: "}[next(iter(change))]
    assert expected in reason, reason
    assert info.resumed_from is None
    assert list((run).glob("superseded-*/checkpoint-2")), "the old checkpoints are kept aside, not deleted"


def test_checkpoints_a_run_does_not_resume_never_stay_under_its_key(tmp_path, pairs):
    run = tmp_path / "shared"
    fine_tune("minilm", pairs, run, TrainConfig(max_steps=2, save_steps=1, batch_size=16, learning_rate=5e-5),
              show_progress_bar=False)
    # a run without checkpoints stamps its key on the folder: the old checkpoints must not stay under it
    later = TrainConfig(max_steps=2, save_steps=0, batch_size=16, learning_rate=1e-4)
    with pytest.warns(UserWarning, match=r"does not resume \(resume=False, or no checkpoints asked for"):
        fine_tune("minilm", pairs, run, later, show_progress_bar=False)
    assert not list(run.glob("checkpoint-*")) and len(list(run.glob("superseded-*/checkpoint-2"))) == 1
    # so the same settings with checkpoints (save_steps is not in the key) start fresh instead of resuming them
    _, info = fine_tune("minilm", pairs, run, replace(later, save_steps=1), show_progress_bar=False)
    assert info.resumed_from is None


def test_the_same_run_resumes_only_with_an_equal_key(tmp_path, pairs):
    run = tmp_path / "same"
    cfg = TrainConfig(max_steps=2, save_steps=1, batch_size=16)
    fine_tune("minilm", pairs, run, cfg, show_progress_bar=False)
    # save_steps is not part of the key: writing checkpoints more or less often changes no weight
    _, info = fine_tune("minilm", pairs, run, replace(cfg, save_steps=2), show_progress_bar=False)
    assert info.resumed_from.endswith("checkpoint-2")
    key = json.loads((run / TRAINING_KEY_FILE).read_text())
    assert set(key) == {"data", "config", "loss", "base_model", "world_size"}
    assert key["loss"]["class"].endswith("MultipleNegativesRankingLoss")


def test_bad_training_input_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        fine_tune("minilm", [], "unused")
    with pytest.raises(ValueError, match="same length"):
        fine_tune("minilm", [("a", "b"), ("c",)], "unused")
    with pytest.raises(TypeError, match="unknown training option"):
        fine_tune("minilm", [("a", "b")], "unused", epochz=1)
    with pytest.raises(ValueError, match="at least two texts"):
        fine_tune("minilm", [("a", 0.5)], "unused")
    with pytest.raises(ValueError, match="every example has a label"):
        fine_tune("minilm", [("a", "b", "c", 0.5), ("a", "b", "c", "d")], "unused")


def test_triplets_train_and_negatives_are_never_relevant(tmp_path):
    split = load_dataset("clinical_abbrev").split("train", limit=40)
    triplets = triplets_with_random_negatives(split, seed=1)
    relevant_texts = {q: {split.corpus[d] for d in split.relevant[qid]} for qid, q in split.queries.items()}
    assert all(len(t) == 3 and t[2] not in relevant_texts[t[0]] for t in triplets)
    _, info = fine_tune("minilm", triplets, tmp_path / "trip", TrainConfig(max_steps=1, batch_size=16),
                        show_progress_bar=False)
    assert info.steps == 1 and info.n_pairs == len(triplets)


def test_a_number_last_is_a_label_column_for_margin_mse(tmp_path, pairs):
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss

    labelled = [(q, d, pairs[(i + 1) % len(pairs)][1], 0.3) for i, (q, d) in enumerate(pairs[:32])]
    first = fine_tune("minilm", labelled, tmp_path / "a", TrainConfig(max_steps=2, batch_size=16),
                      loss=MarginMSELoss, show_progress_bar=False)[1]
    relabelled = [(q, p, n, 0.1) for q, p, n, _ in labelled]
    second = fine_tune("minilm", relabelled, tmp_path / "b", TrainConfig(max_steps=2, batch_size=16),
                       loss=MarginMSELoss, show_progress_bar=False)[1]
    assert first.steps == 2 and first.final_loss > 0
    # the label is data: another margin is another training set, and the loss sees it
    assert first.data_fingerprint != second.data_fingerprint and first.final_loss != second.final_loss


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


def test_declared_prompts_are_used_by_evaluation_mining_and_training(tmp_path, minilm, pairs):
    """An E5-style model declares a query and a document prompt; every path must apply them alike:
    the same vectors, scores and trained weights as texts with the prompts written in by hand."""
    from helpers.evaluation import EmbeddingCache
    from helpers.mining import dense_candidates
    from helpers.models import load_model, model_fingerprint

    prompts = {"query": "query: ", "document": "passage: "}
    original, minilm.prompts = minilm.prompts, prompts
    try:
        minilm.save(str(tmp_path / "e5-style"))
    finally:
        minilm.prompts = original  # the model is shared by the whole session
    e5 = load_model(tmp_path / "e5-style")
    assert e5.prompts["query"] == "query: " and model_fingerprint(e5) != model_fingerprint(minilm)

    # evaluation (and anything else that encodes through EmbeddingCache)
    cache = EmbeddingCache()
    np.testing.assert_array_equal(cache.encode(e5, ["CABG"], "query"),
                                  minilm.encode(["query: CABG"], normalize_embeddings=True))
    np.testing.assert_array_equal(cache.encode(e5, ["coronary artery bypass graft"], "document"),
                                  minilm.encode(["passage: coronary artery bypass graft"], normalize_embeddings=True))

    # mining: candidate and positive scores are cosines of the prompted texts
    split = load_dataset("clinical_abbrev").subsample(50, {"train": 8, "dev": 0, "test": 0}).split("train")
    cands = dense_candidates(e5, split.queries, split.corpus, split.relevant, depth=5)
    q = minilm.encode([prompts["query"] + t for t in split.queries.values()], normalize_embeddings=True)
    d = minilm.encode([prompts["document"] + t for t in split.corpus.values()], normalize_embeddings=True)
    np.testing.assert_allclose(cands.scores, np.take_along_axis(q @ d.T, cands.indices, 1), atol=1e-5)

    # training: the trainer gets the prompts per column, so the weights equal a run on hand-prompted texts
    cfg = TrainConfig(max_steps=2, batch_size=16)
    by_prompt, _ = fine_tune(tmp_path / "e5-style", pairs, tmp_path / "a", cfg, show_progress_bar=False)
    by_hand, _ = fine_tune("minilm", [("query: " + a, "passage: " + b) for a, b in pairs], tmp_path / "b", cfg,
                           show_progress_bar=False)
    a, b = _weights(by_prompt), _weights(by_hand)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    assert by_prompt.prompts["query"] == "query: "  # saved with the fine-tuned model


def test_reuse_loads_a_final_model_only_under_an_equal_key(tmp_path, pairs):
    cfg = TrainConfig(max_steps=2, batch_size=16)
    first, info = fine_tune("minilm", pairs, tmp_path / "run", cfg, show_progress_bar=False, reuse=True)
    assert not info.reused and json.loads((tmp_path / "run" / "final" / TRAINING_KEY_FILE).read_text())
    again, info2 = fine_tune("minilm", pairs, tmp_path / "run", cfg, show_progress_bar=False, reuse=True)
    assert info2.reused and info2.seconds == info.seconds  # the first run's manifest, not a new run
    assert np.array_equal(first.encode(["CABG"]), again.encode(["CABG"]))
    changed, info3 = fine_tune("minilm", pairs, tmp_path / "run", replace(cfg, learning_rate=1e-4),
                               show_progress_bar=False, reuse=True)
    assert not info3.reused and not np.allclose(changed.encode(["CABG"]), first.encode(["CABG"]))
    # the default trains anew even under an equal key
    _, info4 = fine_tune("minilm", pairs, tmp_path / "run", replace(cfg, learning_rate=1e-4), show_progress_bar=False)
    assert not info4.reused


def test_keep_best_on_dev_saves_the_best_epoch_and_is_part_of_the_key(tmp_path, pairs):
    from helpers.evaluation import evaluate
    from helpers.models import load_model
    from helpers.training import KeepBestOnDev

    dev = load_dataset("clinical_abbrev").subsample(200, {"train": 0, "dev": 40, "test": 0}).split("dev")
    student = load_model("minilm")
    keep = KeepBestOnDev(dev, eval_length=student.max_seq_length)
    # a learning rate far too high for this model: later epochs are unlikely to be the best, which
    # is what the callback must cope with
    model, info = fine_tune(student, pairs, tmp_path / "run", TrainConfig(epochs=3, batch_size=16, learning_rate=5e-4),
                            show_progress_bar=False, callbacks=[keep])
    assert [row[0] for row in keep.curve] == [1, 2, 3]
    best = max(row[2] for row in keep.curve)
    assert keep.best_epoch == next(row[0] for row in keep.curve if row[2] == best)
    assert keep.best_epoch < 3  # measured here: epoch 1 is best, so the weights must be put back
    saved = load_model(tmp_path / "run" / "final")
    assert round(evaluate(saved, dev).mean(), 4) == best  # the saved weights are the best epoch's
    key = json.loads((tmp_path / "run" / "final" / TRAINING_KEY_FILE).read_text())
    assert key["callbacks"][0]["class"] == "KeepBestOnDev" and key["callbacks"][0]["settings"]["metric"] == "recall@10"
