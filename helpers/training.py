"""Fine-tuning with the sentence-transformers trainer.

:func:`fine_tune` is the one training entry point of the course: ``SentenceTransformerTrainer``
with ``MultipleNegativesRankingLoss`` (InfoNCE with in-batch negatives) by default,
``NO_DUPLICATES`` batches (a duplicate text in a batch would be a false negative), fixed
seeds, CPU-sized defaults, checkpoints that resume, and a model card plus
``training_manifest.json`` that record the training data's fingerprint.

The same code scales out unchanged: the trainer is Hugging Face's, so
``accelerate launch`` / ``torchrun`` run it on several GPUs.

>>> from helpers.training import fine_tune                              # doctest: +SKIP
>>> model, info = fine_tune("minilm", [("query", "document"), ...],     # doctest: +SKIP
...                         output_dir="runs/demo", epochs=1)
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from helpers.io import atomic_folder, fingerprint_texts, write_json
from helpers.models import declared_prompts, load_model, model_fingerprint

# torch, transformers, sentence-transformers and datasets are imported inside the functions that use
# them: importing them costs ~10 s, which the CLI's --help and the pipeline's preflight must not pay.


@dataclass
class TrainConfig:
    """Hyperparameters with CPU-sized defaults (measured on 2 cores; see the README)."""

    epochs: float = 2.0
    learning_rate: float = 5e-5
    batch_size: int = 32
    gradient_accumulation_steps: int = 1  # a bigger optimiser step, but NOT more in-batch negatives
    warmup_ratio: float = 0.1
    max_seq_length: int = 64
    seed: int = 12
    save_steps: int = 0  # 0 = save only at the end; >0 = checkpoint every N steps (resumable)
    max_steps: int = -1  # >0 overrides epochs (tests)


@dataclass
class TrainResult:
    output_dir: str
    base_model: str
    n_pairs: int
    data_fingerprint: str
    steps: int
    seconds: float
    final_loss: float | None
    config: dict = field(default_factory=dict)
    resumed_from: str | None = None
    world_size: int = 1  # processes that trained it (accelerate launch / torchrun)
    loss_history: list = field(default_factory=list)  # [step, loss] every logging_steps
    reused: bool = False  # True: loaded from an earlier run under the same training key, not trained now


def triplets_with_random_negatives(split, limit: int | None = None, seed: int = 0) -> list[tuple[str, str, str]]:
    """(query, relevant document, random non-relevant document) triplets from a split.

    The simplest negatives there are: the baseline that mined hard negatives must beat.
    """

    rng = random.Random(seed)
    doc_ids = sorted(split.corpus)
    out = []
    for qid in split.queries:
        if len(split.relevant[qid]) >= len(doc_ids):
            raise ValueError(f"query {qid!r}: every document is relevant, so none can be its random negative")
        for pos in sorted(split.relevant[qid]):
            neg = rng.choice(doc_ids)
            while neg in split.relevant[qid]:
                neg = rng.choice(doc_ids)
            out.append((split.queries[qid], split.corpus[pos], split.corpus[neg]))
    return out[:limit]


TRAINING_KEY_FILE = "training_key.json"
# fields that change how a checkpoint was reached; save_steps only changes how often it is written
_KEY_CONFIG_FIELDS = [f for f in asdict(TrainConfig()) if f != "save_steps"]


def training_key(data_fingerprint: str, cfg: TrainConfig, loss_module, base_fingerprint: str,
                 world_size: int = 1, callbacks=()) -> dict:
    """What a checkpoint (or a final model) depends on: resuming or reusing is only sound when every
    part is equal.

    The data (pairs and their order), every hyperparameter that shapes the optimisation (the
    step count too: it sets the learning-rate schedule), the loss (its class and its settings,
    e.g. MNRL's scale), the base weights, the number of processes (it multiplies the batch), and
    the callbacks that change which weights are kept (those with a ``training_key()`` method, such
    as :class:`KeepBestOnDev`; a callback that only watches is left out).
    """
    config = asdict(cfg)
    key = {
        "data": data_fingerprint,
        "config": {f: config[f] for f in _KEY_CONFIG_FIELDS},
        "loss": _describe_loss(loss_module),
        "base_model": base_fingerprint,
        "world_size": int(world_size),
    }
    shaping = [{"class": type(c).__qualname__, "settings": c.training_key()}
               for c in callbacks or () if hasattr(c, "training_key")]
    if shaping:
        key["callbacks"] = json.loads(json.dumps(shaping, default=str, sort_keys=True))
    return key


def _describe_loss(loss_module) -> dict:
    """A loss module's class and settings: sentence-transformers losses report theirs through
    ``get_config_dict``; for a hand-written loss, its plain (number, string, bool) attributes."""
    cls = type(loss_module)
    if hasattr(loss_module, "get_config_dict"):
        settings = loss_module.get_config_dict()
    else:
        settings = {k: v for k, v in vars(loss_module).items()
                    if not k.startswith("_") and isinstance(v, (int, float, str, bool))}
    return {"class": f"{cls.__module__}.{cls.__qualname__}",
            "settings": json.loads(json.dumps(settings, default=str, sort_keys=True))}


def key_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """The parts of two training keys that differ, one readable line per setting.

    >>> key_differences({"data": "a", "config": {"learning_rate": 5e-05, "seed": 12}},
    ...                 {"data": "a", "config": {"learning_rate": 0.0001, "seed": 12}})
    ['config.learning_rate: 5e-05 -> 0.0001']
    """
    lines = []
    for part in sorted(set(old) | set(new)):
        a, b = old.get(part), new.get(part)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += key_differences(a, b, f"{prefix}{part}.")
        elif a != b:
            lines.append(f"{prefix}{part}: {a} -> {b}")
    return lines


def _resumable_checkpoint(output_dir: Path, key: dict, resume: bool, is_main: bool = True) -> str | None:
    """The last checkpoint in ``output_dir`` if ``resume`` and it was written under ``key``. Otherwise
    ``None``, and every checkpoint there is moved aside (never deleted; by the main process) with the
    reason given: the checkpoints left in ``output_dir`` are always those of the key stamped there."""
    from transformers.trainer_utils import get_last_checkpoint

    checkpoint = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if checkpoint is None:
        return None
    stamp = output_dir / TRAINING_KEY_FILE
    try:
        old = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        old = None
    if resume and old == key:
        return checkpoint
    if is_main:
        if not resume:
            why = "resume=False, or no checkpoints asked for (save_steps=0)"
        elif old is None:
            legacy = (output_dir / "data_fingerprint.txt").exists()
            why = (f"{stamp.name} is missing (a run from before training keys: data_fingerprint.txt only)"
                   if legacy else f"{stamp.name} is missing or unreadable")
        else:
            why = "; ".join(key_differences(old, key))
        aside = Path(tempfile.mkdtemp(prefix="superseded-", dir=output_dir))
        for ckpt in sorted(output_dir.glob("checkpoint-*")):
            shutil.move(str(ckpt), aside / ckpt.name)
        warnings.warn(f"{output_dir} holds checkpoints that this run does not resume ({why}): starting fresh; "
                      f"the old checkpoints are in {aside}", stacklevel=3)
    return None


def fine_tune(
    base_model,
    pairs: list[tuple[str, str]],
    output_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    loss=None,
    dataset_name: str = "pairs",
    resume: bool = True,
    show_progress_bar: bool = True,
    final_dir: str | os.PathLike | None = None,
    callbacks: list | None = None,
    reuse: bool = False,
    **overrides,
):
    """Fine-tune ``base_model`` (short name, folder, or a loaded model) on (anchor, positive) pairs.

    ``loss`` is a loss *factory* ``model -> loss module`` (default:
    ``MultipleNegativesRankingLoss``), so the lessons can pass their own hand-written loss.
    Extra columns (hard negatives) can be given as tuples longer than 2, and a number as the last
    element is a ``label`` column (a teacher's margin for ``MarginMSELoss``, as in GPL).

    With ``config.save_steps > 0`` checkpoints are written to ``output_dir`` and, with
    ``resume=True``, an interrupted run continues from the last one -- but only when its *training
    key* (data, hyperparameters, loss, base weights, number of processes; see :func:`training_key`)
    equals this run's. Otherwise the run starts fresh, says which parts differ, and moves the old
    checkpoints to a new ``output_dir/superseded-*`` folder rather than deleting them. ``callbacks`` are
    ``transformers.TrainerCallback`` objects handed to the trainer. The final model is saved
    to ``final_dir`` (default ``output_dir/final``; safetensors) with its model card,
    ``training_manifest.json`` and its training key. With ``reuse=True`` a final model already
    there under an equal key is loaded instead of trained (``TrainResult.reused`` says so): a
    second run of a script costs no training, and a changed setting always trains anew.
    Returns ``(model, TrainResult)``.

    Launched by ``accelerate launch`` or ``torchrun``, the trainer runs data-parallel on every
    process and only the main process writes files.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import set_seed

    unknown = set(overrides) - set(asdict(TrainConfig()))
    if unknown:
        raise TypeError(f"unknown training option(s) {sorted(unknown)}; options: {list(asdict(TrainConfig()))}")
    cfg = replace(config or TrainConfig(), **overrides)  # never mutate the caller's config
    if not pairs:
        raise ValueError("fine_tune needs at least one training pair")
    width = len(pairs[0])
    if width < 2 or any(len(p) != width for p in pairs):
        raise ValueError("every training example must be a tuple of the same length >= 2 (anchor, positive, negatives...)")
    # a number last is a label (a teacher's margin for MarginMSELoss, a score for CoSENT...): its own column
    labelled = not isinstance(pairs[0][-1], str)
    if labelled and (width < 3 or any(isinstance(p[-1], str) for p in pairs)):
        raise ValueError("a labelled example is (texts..., label) with at least two texts, and every example has a label")

    set_seed(cfg.seed)
    base_name = base_model if isinstance(base_model, (str, os.PathLike)) else (
        base_model.model_card_data.model_name or "model")
    model = load_model(base_model) if isinstance(base_model, (str, os.PathLike)) else base_model
    eval_length = model.max_seq_length
    model.max_seq_length = min(cfg.max_seq_length, eval_length)  # shorter texts train faster

    n_texts = width - labelled
    columns = ["anchor", "positive"] + [f"negative_{i}" for i in range(1, n_texts - 1)] + ["label"] * labelled
    train = Dataset.from_dict({c: [p[i] for p in pairs] for i, c in enumerate(columns)})
    fp = fingerprint_texts(tuple(map(str, p)) for p in pairs)  # str(text) is the text: unlabelled keys unchanged
    model.model_card_data.train_datasets = [{"name": f"{dataset_name} ({len(pairs)} pairs, fingerprint {fp})"}]

    output_dir = Path(output_dir)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a ratio of total steps
        seed=cfg.seed,
        data_seed=cfg.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        save_steps=cfg.save_steps if cfg.save_steps > 0 else 500,
        save_total_limit=2,
        logging_steps=_logging_steps(len(pairs), cfg),
        report_to="none",
        dataloader_pin_memory=False,  # CPU: pinning only warns
        disable_tqdm=not show_progress_bar,
        use_cpu=not _has_accelerator(),
        prompts=_column_prompts(model, columns) or None,
    )
    loss_module = loss(model) if loss is not None else MultipleNegativesRankingLoss(model)
    if not show_progress_bar:
        # the model card's "Computing widget examples" bar, drawn when the trainer is made: sentence-transformers'
        # own switch for it, generate_widget_examples, is not read by the base model card (6.2), so it is
        # honoured here
        card = model.model_card_data
        card.generate_widget_examples = False
        card.set_widget_examples = lambda dataset: None
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=loss_module,
                                         callbacks=callbacks)
    if not show_progress_bar:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # keeps the loss history, stops printing it
    key = training_key(fp, cfg, loss_module, model_fingerprint(model), args.world_size, callbacks)
    final = Path(final_dir) if final_dir is not None else output_dir / "final"
    if reuse and _saved_under(final, key):
        model.max_seq_length = eval_length
        return load_model(final), TrainResult(**{**read_manifest(final), "reused": True})
    is_main = args.process_index == 0
    # a callback that chooses weights (KeepBestOnDev) keeps its choice in memory, not in checkpoints:
    # a resumed run could only choose among the epochs after the resume, so such runs start fresh
    choosing = any(hasattr(c, "training_key") for c in callbacks or ())
    checkpoint = _resumable_checkpoint(output_dir, key, resume=resume and cfg.save_steps > 0 and not choosing,
                                       is_main=is_main)
    trainer.accelerator.wait_for_everyone()  # every process sees the same checkpoints before training
    if is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json(output_dir / TRAINING_KEY_FILE, key)
    t0 = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - t0
    model.max_seq_length = eval_length  # evaluate and save with the same text limit as the base model
    history = [[h["step"], round(h["loss"], 4)] for h in trainer.state.log_history if "loss" in h]
    losses = [loss for _, loss in history]

    result = TrainResult(
        output_dir=str(final), base_model=str(base_name), n_pairs=len(pairs),
        data_fingerprint=fp, steps=int(out.global_step), seconds=round(seconds, 1),
        final_loss=round(losses[-1], 4) if losses else None, config=asdict(cfg), resumed_from=checkpoint,
        world_size=args.world_size, loss_history=history,
    )
    if is_main:
        save_model(model, final, result, key)
    trainer.accelerator.wait_for_everyone()  # no process returns before the model is on disk
    return model, result


class KeepBestOnDev:
    """Model selection on dev: score the model on a dev split at the end of every epoch and keep the
    weights of the best epoch (recall@10 by default; ties go to the earlier epoch). Every epoch is
    trained (the learning-rate schedule is the full run's); only the weights kept differ.

    Hand it to :func:`fine_tune` (``callbacks=[keep]``) with the most epochs you are willing to
    pay for; the saved model is the best epoch's, and ``keep.curve`` holds ``[epoch, step, dev
    score]`` per epoch -- the learning curve, measured on dev only, so the test split stays
    unread until the chosen model is scored once. Scoring uses the model's full text length
    (``eval_length``), not the shorter training length.

    Written for transformers' callback protocol without subclassing ``TrainerCallback``, so that
    importing this module stays light: the trainer calls the ``on_*`` methods it finds.
    """

    def __init__(self, dev_split, eval_length: int, metric: str = "recall@10"):
        self.dev, self.eval_length, self.metric = dev_split, eval_length, metric
        self.curve: list[list] = []
        self.best_epoch: int | None = None
        self._best_score = -1.0
        self._best_state = None

    def training_key(self) -> dict:
        """What makes the kept weights differ from a plain run's (see :func:`training_key`): the dev
        queries, their relevant documents and the corpus they are searched in, the metric, the length."""
        return {"metric": self.metric, "eval_length": self.eval_length, "dev": self.dev.fingerprint()}

    def on_train_begin(self, args, state, control, **kwargs):
        self.curve, self.best_epoch, self._best_score, self._best_state = [], None, -1.0, None
        return control

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        from helpers.evaluation import evaluate

        # scored as it will be used: full text length, eval mode (encode switches it); put back after
        train_length, was_training = model.max_seq_length, model.training
        model.max_seq_length = self.eval_length
        score = evaluate(model, self.dev).mean(self.metric)
        model.max_seq_length = train_length
        model.train(was_training)
        epoch = round(state.epoch, 2)  # a fraction when max_steps ends training mid-epoch
        self.curve.append([epoch, int(state.global_step), round(score, 4)])
        if score > self._best_score:
            self._best_score, self.best_epoch = score, epoch
            self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
        return control

    def __getattr__(self, name):
        if name.startswith("on_"):  # every other event of the protocol: nothing to do
            return lambda args, state, control, **kwargs: control
        raise AttributeError(name)


def save_model(model, folder: str | os.PathLike, result: TrainResult | None = None, key: dict | None = None) -> Path:
    """Save as safetensors with the model card, then ``training_manifest.json`` (and the training key,
    when given); atomic by folder rename (:func:`helpers.io.atomic_folder`: a folder already at
    ``folder`` is replaced whole)."""
    folder = Path(folder)
    with atomic_folder(folder) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        write_json(tmp / "training_manifest.json", asdict(result) if result else {})
        if key is not None:
            write_json(tmp / TRAINING_KEY_FILE, key)
    return folder


def _saved_under(final: Path, key: dict) -> bool:
    """Whether ``final`` holds a complete model saved under exactly ``key``."""
    try:
        return (json.loads((final / TRAINING_KEY_FILE).read_text()) == key
                and (final / "training_manifest.json").is_file() and (final / "model.safetensors").is_file())
    except (OSError, json.JSONDecodeError):
        return False


def read_manifest(folder: str | os.PathLike) -> dict:
    return json.loads((Path(folder) / "training_manifest.json").read_text())


def _column_prompts(model, columns: list[str]) -> dict[str, str]:
    """The model's declared query prompt for the anchor column and document prompt for the others,
    so that training sees texts as ``encode_query``/``encode_document`` (evaluation, mining) do.

    >>> class E5: prompts = {"query": "query: ", "document": "passage: "}
    >>> _column_prompts(E5(), ["anchor", "positive", "negative_1"])
    {'anchor': 'query: ', 'positive': 'passage: ', 'negative_1': 'passage: '}
    """
    prompts = declared_prompts(model)
    chosen = {c: prompts.get("query" if c == "anchor" else "document", "") for c in columns if c != "label"}
    return {c: p for c, p in chosen.items() if p}


def _logging_steps(n_examples: int, cfg: TrainConfig) -> int:
    """Log the loss every 10 steps, or often enough for ~10 points on a short run."""

    per_epoch = math.ceil(n_examples / (cfg.batch_size * cfg.gradient_accumulation_steps))
    total = cfg.max_steps if cfg.max_steps > 0 else math.ceil(per_epoch * cfg.epochs)
    return max(1, min(10, total // 10))


def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available()
