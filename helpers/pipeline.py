"""Your own corpus, end to end: raw documents in, a fine-tuned, evaluated, gated model out.

The stages are the course's lessons, in order, each a call into its own module (what each
writes under ``out``):

- ``chunks``   -- read, check and chunk the documents (:mod:`helpers.corpus`): ``chunks.jsonl``
- ``queries``  -- an LLM writes queries for the chunks, where any are needed (:mod:`helpers.synthetic`):
  ``generated.jsonl``. Without gold queries they are the held-out test set; they train only with
  ``label_free="llm"`` or ``"crops+llm"``, or for chunks ``synthetic`` names beside labelled queries
- ``split``    -- filters; hold out an evaluation set unless gold queries are given; the training queries:
  labelled ones; without labels, crops of the other chunks and their documents' headings (the default:
  :func:`helpers.label_free.crops`, :func:`~helpers.label_free.heading_queries`), or the LLM's:
  ``train_queries.jsonl``, ``eval_queries.jsonl``, ``dev_queries.jsonl``
- ``mine``     -- hard negatives with false-negative control (:mod:`helpers.mining`): ``train_examples.jsonl``
- ``train``    -- fine-tune the base model (:mod:`helpers.training`): ``model/``
- ``evaluate`` -- base vs fine-tuned with CIs, forgetting check, release gate (:mod:`helpers.deployment`):
  ``evaluation.json``
- ``report``   -- Markdown and HTML with the plots (:mod:`helpers.report`): ``report.md``, ``report.html``

Each stage records a key (a hash of its inputs: its own options and the *contents* of what the
stage before it wrote) in ``out/stages/<stage>.json`` when it finishes, and is skipped when the
key matches: a rerun after a crash or a changed option redoes only what changed, and a redone
stage whose output comes out the same does not redo the stages after it. LLM answers and
embeddings are also cached item by item (``out/cache/``). The release gate is judged on every run
from the stored evaluation, so new thresholds re-measure nothing.

>>> from helpers.pipeline import FinetuneConfig, run_pipeline             # doctest: +SKIP
>>> run_pipeline(FinetuneConfig(corpus="my_docs/", out="runs/my_docs"))   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from helpers.corpus import Corpus, CorpusError, load_corpus
from helpers.data import RetrievalSplit, available_datasets, load_dataset, resolve_dataset_path
from helpers.deployment import ForgettingReport, GateConfig, release_gate
from helpers.evaluation import EmbeddingCache, dense_search, evaluate, lift, score_rankings
from helpers.io import corpus_name, fingerprint_texts, write_json, write_jsonl
from helpers.label_free import crops, heading_queries
from helpers.labelled import (
    LabelledPairs,
    LabelledSplits,
    beir_qrels_files,
    check_disjoint,
    drop_leaks,
    read_beir_qrels,
    read_query_log,
    read_train_qrels,
    split_labelled,
    take_groups,
)
from helpers.mining import MiningConfig, MiningError, mine
from helpers.models import load_model, load_model_cached, resolve_model, weights_fingerprint
from helpers.report import write_report
from helpers.synthetic import (
    AS_EXAMPLES,
    STYLES,
    FilterReport,
    Generated,
    GenerationError,
    LlamaCppBackend,
    filter_queries,
    generate_queries,
    make_backend,
    plan_jobs,
    read_examples,
)
from helpers.training import KeepBestOnDev, TrainConfig, fine_tune
from helpers.writers import WriterNotFoundError

# The stages import their heavy libraries (torch, sentence-transformers, llama-cpp) inside functions,
# through the helpers they call: preflight must report bad input in a second, before any of them loads.

STAGES = ("chunks", "queries", "split", "mine", "train", "evaluate", "report")


@dataclass
class FinetuneConfig:
    """Every option of a run (the command line's flags, one for one; see ``python -m helpers finetune --help``)."""

    corpus: str
    out: str
    # input
    queries: str | None = None
    qrels: str | None = None
    id_column: str | None = None
    text_column: str = "text"
    chunk_words: int = 100
    overlap_words: int = 0
    skip_bad_files: bool = False
    # your own labelled training queries (a search log, or training qrels; a BEIR folder's qrels/train.tsv)
    query_log: str | None = None
    query_column: str = "query"
    doc_column: str = "doc_id"
    clicks_column: str | None = "clicks"
    min_clicks: float = 1.0
    train_queries: str | None = None
    train_qrels: str | None = None
    split_by: str = "query"
    synthetic: str = "none"
    # without labelled training queries: what to train on (crops, headings, the LLM's queries; see LABEL_FREE)
    label_free: str = "crops+headings"
    # synthetic queries
    llm: str = "gemma3-270m"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_mode: str = "completions"
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_concurrency: int = 8
    llm_timeout: float = 60.0
    llm_cache: str | None = None  # the LLM's answers, one per job (default: OUT/cache/llm_queries.jsonl)
    styles: tuple[str, ...] = ("keyword", "question", "colloquial")
    # a JSONL file of your own {"query", "document"} examples: Promptagator's prompt instead of the styles
    llm_examples: str | None = None
    # which LLM training queries face the round trip (see ROUND_TRIP)
    round_trip: str = "auto"
    queries_per_chunk: int = 1
    temperature: float = 0.7
    max_tokens: int = 32
    # evaluation
    eval_fraction: float = 0.25
    max_eval_queries: int = 500
    general: str = "gcide"
    # mining
    base_model: str = "minilm"
    judge: str | None = "mpnet"
    num_negatives: int = 1
    range_max: int = 50
    relative_margin: float | None = 0.05
    # a query whose every candidate fell to the margin: trained with a random negative, or dropped (WITHOUT_NEGATIVE)
    without_negative: str = "random"
    # training
    epochs: float = 1.0
    keep_best_epoch: bool = False  # score every epoch on dev queries, keep the best (epochs = the most to train)
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_seq_length: int = 128
    save_steps: int = 0
    # gate
    min_lift: float = 2.0
    max_general_drop: float = 1.0
    allow_ci_zero: bool = False
    # engines and stages
    encode_devices: tuple[str, ...] | None = None
    seed: int = 0
    until: str | None = None
    only: str | None = None

    def __post_init__(self):
        self.styles = tuple(self.styles)
        self.encode_devices = tuple(self.encode_devices) if self.encode_devices else None

    def pick(self, *names: str) -> dict:
        return {n: getattr(self, n) for n in names}


#: Minimum sizes below which a held-out evaluation would say nothing (checked before any work).
MIN_EVAL_QUERIES = 20
MIN_TRAIN_QUERIES = 40
#: With labelled training queries: which chunks the LLM still writes queries for -- every chunk, only
#: those no labelled training query points at, or none (default: labelled queries only, no LLM). The
#: default was measured, on dev: on ICD-10-CM, Gemma 3 270M's queries for the uncovered documents
#: lowered dev recall@10 from 83.5 to 82.0 (benchmarks/own_labels.py; data/lesson6/).
SYNTHETIC_MIX = ("all", "uncovered", "none")
#: Without labelled training queries: train on crops of the chunks (a random 30-70% span of a chunk's
#: words as the query, Contriever-style), on the documents' headings (helpers.label_free.heading_queries:
#: a heading, under its document's title, is the query of the chunk it heads), on the LLM's queries, or
#: on a mix. The default, crops+headings, was chosen on dev among the sources that train on any corpus
#: (headings alone give nothing where documents have none): crops led on clinical abbreviations' dev when it
#: was chosen (benchmarks/label_free.py; the re-run of 2026-12-06, five pairs fewer after the leak guard, has
#: crops+llm ahead there, 22.3 to 20.0, the dev evidence now split) and trailed crops+llm on ICD-10-CM, corpora of one-line documents
#: where crops+headings is crops; on the raw folder's hand-written dev questions crops+headings led
#: (benchmarks/label_free_command.py: MRR@10 86.0, crops 84.2; headings alone 86.9). None needs an LLM to
#: train. Test scores: data/lesson4/label_free_*.csv, data/lesson6/label_free_command.csv.
LABEL_FREE = ("crops+headings", "crops", "headings", "llm", "crops+llm")
#: The round trip keeps an LLM-written training query only if the base model already finds its chunk
#: in its top 10. "auto" applies it to LLM queries that supplement labelled ones (--synthetic) and
#: skips it without labels: there, dev preferred the model-free rules alone on ICD-10-CM and clinical
#: abbreviations (200 dev queries each; benchmarks/llm_filters.py: the round trip keeps the queries the
#: student already answers). The raw folder's 26 gold dev questions leaned the other way for Gemma's
#: queries alone (benchmarks/label_free_command.py), within what 26 questions can tell apart. Queries
#: in the style of --llm-examples skip it under "auto" too: the base model cannot judge a style it has
#: not learned. "always" and "never" override.
ROUND_TRIP = ("auto", "always", "never")
#: A training query left without a mined negative (every candidate within the margin of its positive, so
#: perhaps relevant) trains with a random document as its negative -- as easy as an in-batch one, so it
#: trains as a plain pair would -- or is dropped, as sentence-transformers' mine_hard_negatives does. The
#: default keeps every labelled pair unless dev says dropping is better (a rule fixed before measuring):
#: on the six shipped datasets' dev queries (benchmarks/mining_fill.py, results/mining_fill.md) no
#: difference cleared zero either way; clinical abbreviations, where 861 of 2,666 pairs had no negative,
#: leaned to random (+1.7 [-1.2, +4.7]), four others to dropping (-2.5 to -0.8, CIs reaching zero).
WITHOUT_NEGATIVE = ("random", "drop")
#: Share of a single labelled file held out as dev queries (test: --eval-fraction), at most
#: MAX_DEV_QUERIES: kept apart for choices made on dev, and checked for leaks like test.
DEV_FRACTION = 0.1
MAX_DEV_QUERIES = 200


class PipelineError(RuntimeError):
    """A run cannot go on as asked (a missing earlier stage, a wrong launcher); the message says what to do."""


# ----------------------------------------------------------------------------- stage bookkeeping


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.blake2b(digest_size=10)
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class StageLog:
    """``out/stages/<name>.json``: the key a stage finished with, its outputs (and a hash of their
    contents, which the next stage's key is made of) and how long it took."""

    def __init__(self, out: Path):
        self.out = out
        self.dir = out / "stages"

    def get(self, name: str, key: str) -> dict | None:
        """The stage's record if it finished with ``key`` and its outputs are still, byte for byte,
        the ones it recorded; ``None`` (the stage runs again) otherwise."""
        path = self.dir / f"{name}.json"
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None  # torn by a crash: the stage runs again
        outputs = [self.out / o for o in record.get("outputs", [])]
        if record.get("key") != key or "output_hash" not in record or not all(p.is_file() for p in outputs):
            return None
        if _hash_files(outputs) != record["output_hash"]:
            warnings.warn(f"{name}: its outputs in {self.out} ({', '.join(record['outputs'])}) changed since the "
                          "stage recorded them; running it again", stacklevel=2)
            return None
        return record

    def record(self, name: str, key: str, outputs: list[str], seconds: float, info: dict) -> dict:
        return {"stage": name, "key": key, "outputs": outputs, "output_hash": _hash_files([self.out / o for o in outputs]),
                "seconds": round(seconds, 1), "info": info}

    def put(self, record: dict) -> None:
        write_json(self.dir / f"{record['stage']}.json", record)


def _world() -> tuple[int, int]:
    """(rank, world size) under ``accelerate launch`` / ``torchrun``; (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


# ----------------------------------------------------------------------------- checks before work


def preflight(cfg: FinetuneConfig) -> tuple[Corpus, LabelledSplits | None]:
    """Every check that needs no model: options, the documents, labelled queries, the sizes, the
    models' names. Returns the corpus and the labelled queries (:func:`labelled_queries`) it read.
    Raises :class:`CorpusError` / :class:`PipelineError` / ``ModelNotFoundError`` with what to fix."""

    for name in (cfg.until, cfg.only):
        if name is not None and name not in STAGES:
            raise PipelineError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    unknown = [s for s in cfg.styles if s not in STYLES]
    if unknown:
        raise PipelineError(f"unknown query style(s) {unknown}; styles: {', '.join(STYLES)}")
    if cfg.llm_examples:
        try:
            read_examples(cfg.llm_examples)
        except ValueError as e:
            raise PipelineError(f"--llm-examples: {e}") from e
    checks = [
        (0 < cfg.eval_fraction < 1, f"--eval-fraction must be between 0 and 1, got {cfg.eval_fraction}"),
        (cfg.max_eval_queries >= MIN_EVAL_QUERIES,
         f"--max-eval-queries must be at least {MIN_EVAL_QUERIES}, got {cfg.max_eval_queries}"),
        (cfg.chunk_words >= 0, f"--chunk-words must be 0 (whole documents) or more, got {cfg.chunk_words}"),
        (cfg.overlap_words >= 0 and (cfg.chunk_words == 0 or cfg.overlap_words < cfg.chunk_words),
         f"--overlap-words must be below --chunk-words ({cfg.chunk_words}), got {cfg.overlap_words}"),
        (cfg.queries_per_chunk >= 1, f"--queries-per-chunk must be at least 1, got {cfg.queries_per_chunk}"),
        (cfg.num_negatives >= 1, f"--num-negatives must be at least 1, got {cfg.num_negatives}"),
        (cfg.range_max >= cfg.num_negatives, f"--range-max must be at least --num-negatives, got {cfg.range_max}"),
        (cfg.batch_size >= 2, f"--batch-size must be at least 2 (in-batch negatives), got {cfg.batch_size}"),
        (cfg.epochs > 0 and cfg.learning_rate > 0, "--epochs and --learning-rate must be positive"),
        (cfg.synthetic in SYNTHETIC_MIX, f"--synthetic must be one of {', '.join(SYNTHETIC_MIX)}, got {cfg.synthetic!r}"),
        (cfg.label_free in LABEL_FREE, f"--label-free must be one of {', '.join(LABEL_FREE)}, got {cfg.label_free!r}"),
        (cfg.round_trip in ROUND_TRIP, f"--round-trip must be one of {', '.join(ROUND_TRIP)}, got {cfg.round_trip!r}"),
        (cfg.without_negative in WITHOUT_NEGATIVE,
         f"--without-negative must be one of {', '.join(WITHOUT_NEGATIVE)}, got {cfg.without_negative!r}"),
        (cfg.split_by in ("query", "document"), f"--split-by must be 'query' or 'document', got {cfg.split_by!r}"),
        (cfg.min_clicks >= 0, f"--min-clicks must be 0 or more, got {cfg.min_clicks}"),
        (not (cfg.query_log and (cfg.train_queries or cfg.train_qrels)),
         "give --query-log or --train-queries/--train-qrels, not both"),
        ((cfg.train_queries is None) == (cfg.train_qrels is None), "--train-queries and --train-qrels go together"),
    ]
    for ok, message in checks:
        if not ok:
            raise PipelineError(message)
    _check_numbers(cfg)
    _check_conflicts(cfg)
    _check_paths(cfg)
    _, world = _world()
    if world > 1 and cfg.keep_best_epoch:
        raise PipelineError("--keep-best-epoch scores the model on dev in one process; under a launcher train a "
                            "fixed --epochs (choose it on dev with a single-process run first)")
    if world > 1 and cfg.only != "train":
        raise PipelineError(f"started as {world} processes (accelerate launch / torchrun): only the train stage "
                            "runs distributed. Run the other stages once without the launcher, e.g. --until mine, "
                            "then launch with --only train")
    corpus = load_corpus(cfg.corpus, cfg.chunk_words, cfg.overlap_words, cfg.id_column, cfg.text_column,
                         cfg.queries, cfg.qrels, cfg.skip_bad_files)
    if corpus.gold is not None and corpus.gold_dev is not None:  # a dev.tsv found beside the gold qrels
        check_disjoint({"test": LabelledPairs.from_gold(corpus.gold), "dev": LabelledPairs.from_gold(corpus.gold_dev)})
    labelled = labelled_queries(cfg, corpus)
    if cfg.keep_best_epoch and labelled is not None and not labelled.dev.queries:
        raise PipelineError("--keep-best-epoch chooses the epoch on dev queries and there are none: add "
                            "qrels/dev.tsv to the BEIR folder, or leave out the gold --queries/--qrels so that test "
                            "and dev are both held out of your labelled queries")
    if labelled is None and (cfg.split_by != FinetuneConfig.split_by or cfg.synthetic != FinetuneConfig.synthetic):
        warnings.warn("--split-by and --synthetic apply to labelled training queries (--query-log, --train-queries, "
                      "or a BEIR folder's qrels/train.tsv); there are none here, so they change nothing", stacklevel=2)
    elif corpus.gold is not None and cfg.split_by != FinetuneConfig.split_by:
        warnings.warn(f"--split-by {cfg.split_by} chooses how test and dev are held out of labelled queries; the gold "
                      f"queries ({corpus.gold.source}) are the test set here, so it changes nothing", stacklevel=2)
    n = len(corpus.chunks) * cfg.queries_per_chunk
    if labelled is not None:
        pass  # labelled_queries checked the sizes: the test set and the training queries need no LLM
    elif corpus.gold is None:
        n_eval = min(cfg.max_eval_queries, round(n * cfg.eval_fraction))
        if n_eval < MIN_EVAL_QUERIES or n - n_eval < MIN_TRAIN_QUERIES:
            need = max(MIN_EVAL_QUERIES / cfg.eval_fraction, MIN_TRAIN_QUERIES / (1 - cfg.eval_fraction))
            raise CorpusError(
                f"corpus {cfg.corpus}: too small to split: {len(corpus.chunks)} chunk(s) from "
                f"{len(corpus.documents)} document(s) give {n} synthetic queries, {n_eval} of them held out for "
                f"evaluation; at least {need:.0f} are needed (more documents, --queries-per-chunk, smaller "
                "--chunk-words, or gold --queries/--qrels)" + "".join(f"; {n}" for n in corpus.notes))
    elif n < MIN_TRAIN_QUERIES:
        raise CorpusError(f"corpus {cfg.corpus}: too small to train on: {len(corpus.chunks)} chunk(s) give {n} "
                          f"synthetic queries; at least {MIN_TRAIN_QUERIES} are needed" + "".join(f"; {n}" for n in corpus.notes))
    resolve_model(cfg.base_model)
    if cfg.judge:
        resolve_model(cfg.judge)
    if cfg.general not in available_datasets():
        resolve_dataset_path(cfg.general)  # a folder of the course layout is fine too
    if labelled is not None and cfg.label_free != FinetuneConfig.label_free:
        warnings.warn("--label-free applies only without labelled training queries; with them, --synthetic says "
                      "what the LLM adds", stacklevel=2)
    if not needs_llm(cfg, corpus, labelled):
        pass  # no query is written: no LLM is needed
    elif cfg.llm_base_url is None:
        try:
            LlamaCppBackend(cfg.llm)  # finds the file; the model loads only when a query is written
        except (ValueError, OSError, WriterNotFoundError) as e:
            raise PipelineError(f"--llm {cfg.llm}: {e}") from None
    elif not cfg.llm_model:
        raise PipelineError("--llm-base-url needs --llm-model (the model name the server serves)")
    return corpus, labelled


def _check_numbers(cfg: FinetuneConfig) -> None:
    """Every number option is finite: ``--epochs inf`` would pass a ``> 0`` check and crash after mining,
    ``--min-lift nan`` would make every gate comparison false."""
    for f in fields(FinetuneConfig):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise PipelineError(f"--{f.name.replace('_', '-')} must be a finite number, got {value}")


def _check_conflicts(cfg: FinetuneConfig) -> None:
    """Options that cannot apply together are named, never silently ignored."""
    if cfg.until and cfg.only:
        raise PipelineError(f"give --until or --only, not both (--until {cfg.until} --only {cfg.only})")
    if cfg.overlap_words and cfg.chunk_words == 0:
        raise PipelineError(f"--overlap-words {cfg.overlap_words} needs chunks: --chunk-words 0 keeps documents whole")


def _input_paths(cfg: FinetuneConfig) -> dict[str, Path]:
    """The files and folders the run reads, by option: given paths, and names that are paths."""
    given = {"--corpus": cfg.corpus, "--queries": cfg.queries, "--qrels": cfg.qrels, "--query-log": cfg.query_log,
             "--train-queries": cfg.train_queries, "--train-qrels": cfg.train_qrels,
             "--llm-examples": cfg.llm_examples}
    named = {"--general": cfg.general, "--base-model": cfg.base_model, "--judge": cfg.judge, "--llm": cfg.llm}
    paths = {k: Path(v) for k, v in given.items() if v}
    paths.update({k: Path(v) for k, v in named.items() if v and Path(v).exists()})
    return {k: p.resolve() for k, p in paths.items()}


def _check_paths(cfg: FinetuneConfig) -> None:
    """``--out`` can be written, and nothing the run reads is in it: every file of ``--out`` may be rewritten
    (``chunks.jsonl``, ``train_queries.jsonl``, ``model/`` ...), and a reader's own file must never be."""
    out = Path(cfg.out).resolve()
    if out.exists() and not out.is_dir():
        raise PipelineError(f"--out {cfg.out} is a file: name a folder (new or from an earlier run)")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise PipelineError(f"--out {cfg.out}: {existing} is a file, so no folder can be made under it")
    try:  # a folder made and removed: the one test that holds for root, read-only mounts and /proc alike
        tempfile.TemporaryDirectory(dir=existing, prefix=".write-test-").cleanup()
    except OSError as e:
        raise PipelineError(f"--out {cfg.out}: {existing} cannot be written to ({e.strerror or e}); "
                            "name a folder you can write") from None
    inputs = _input_paths(cfg)
    source = inputs["--corpus"]
    if source.is_dir() and out.is_relative_to(source):
        raise PipelineError(f"--out {cfg.out} is inside --corpus {cfg.corpus}: the run's own report would be read "
                            "back as a document next time; put it elsewhere")
    for option, path in inputs.items():
        if path == out or path.is_relative_to(out):
            raise PipelineError(f"{option} {path} is inside --out {cfg.out}: the run writes its own files there and "
                                f"could overwrite it; move it out, or choose another --out")
    if cfg.llm_cache:
        cache = Path(cfg.llm_cache).resolve()
        clash = next((o for o, p in inputs.items() if cache == p or (p.is_dir() and cache.is_relative_to(p))), None)
        if clash:
            raise PipelineError(f"--llm-cache {cfg.llm_cache} is {clash}'s own file or inside it: the cache is "
                                "appended to; name a file of its own")


def label_free_sources(cfg: FinetuneConfig) -> set[str]:
    """What ``--label-free`` trains on, as parts: ``"crops+headings"`` -> ``{"crops", "headings"}``."""
    return set(cfg.label_free.split("+"))


def round_trip_applies(cfg: FinetuneConfig, labelled: bool) -> bool:
    """Whether the LLM's training queries face the round trip (:data:`ROUND_TRIP`).

    >>> round_trip_applies(FinetuneConfig(corpus="docs", out="run"), labelled=False)
    False
    >>> round_trip_applies(FinetuneConfig(corpus="docs", out="run"), labelled=True)
    True
    """
    if cfg.round_trip != "auto":
        return cfg.round_trip == "always"
    return labelled and not cfg.llm_examples


def needs_llm(cfg: FinetuneConfig, corpus: Corpus, labelled: LabelledSplits | None) -> bool:
    """Whether the LLM writes any query: for training (``--synthetic``, or ``--label-free`` llm or crops+llm),
    or, without labels, for the held-out test set (no gold queries) or dev set (``--keep-best-epoch`` and no
    gold ``qrels/dev.tsv``)."""
    if labelled is not None:
        return cfg.synthetic != "none"
    return ("llm" in label_free_sources(cfg) or corpus.gold is None
            or (cfg.keep_best_epoch and corpus.gold_dev is None))  # dev: held-out LLM queries


def labelled_queries(cfg: FinetuneConfig, corpus: Corpus) -> LabelledSplits | None:
    """The team's own labelled queries, split into train, dev and test; ``None`` when there are none.

    Training queries come from ``--query-log``, from ``--train-queries/--train-qrels``, or from a
    BEIR folder's ``qrels/train.tsv`` (:mod:`helpers.labelled`). The test set is the gold queries
    when there are some (``--queries/--qrels``, or the BEIR folder's test qrels; its dev qrels are
    the dev set); otherwise test and dev are held out of the labelled queries, by query or, with
    ``--split-by document``, by document. Either way no query id is in two splits, and a training
    query with the text of a test or dev query is dropped and counted. Reads files only: it runs in
    :func:`preflight`, before any model loads.
    """
    beir = {}
    if corpus.format == "beir" and beir_qrels_files(cfg.corpus).keys() & {"train", "dev"}:
        beir = read_beir_qrels(cfg.corpus, corpus)
    unused = []  # judgment files found or given that this run does not read, each said with why
    if cfg.query_log:
        train = read_query_log(cfg.query_log, corpus, cfg.query_column, cfg.doc_column, cfg.clicks_column,
                               cfg.min_clicks)
    elif cfg.train_queries:
        train = read_train_qrels(cfg.train_queries, cfg.train_qrels, corpus)
    else:
        train = beir.get("train")
    if "train" in beir and train is not beir["train"]:
        given = "--query-log" if cfg.query_log else "--train-queries/--train-qrels"
        unused.append(f"{Path(cfg.corpus) / 'qrels' / 'train.tsv'} ({len(beir['train'])} judged queries) is not "
                      f"trained on: {given} was given instead")
    if train is None:
        return None
    dev = beir.get("dev")
    if corpus.gold is None:
        dev_fraction = 0.0 if dev is not None else DEV_FRACTION  # a dev.tsv is the dev set whenever there is one
        if cfg.eval_fraction + dev_fraction >= 1:
            raise PipelineError(f"--eval-fraction {cfg.eval_fraction} leaves nothing to train on beside the "
                                f"{DEV_FRACTION:g} of labelled queries held out for dev; use at most {1 - DEV_FRACTION - 0.05:g}")
        splits = split_labelled(train, cfg.split_by, cfg.eval_fraction, dev_fraction, cfg.max_eval_queries,
                                max_dev=MAX_DEV_QUERIES, seed=cfg.seed, source_of=corpus.source_of)
        if dev is not None:
            splits.dev = dev
    else:
        dev = beir.get("dev") or (LabelledPairs.from_gold(corpus.gold_dev) if corpus.gold_dev else
                                  LabelledPairs({}, {}, train.level, "no dev queries"))
        splits = LabelledSplits(train, dev, LabelledPairs.from_gold(corpus.gold), "given (gold test queries)",
                                cfg.seed, train.source, Counter(train.dropped), list(train.notes))
    for note in unused:
        warnings.warn(note, stacklevel=3)
        splits.notes.append(note)
    check_disjoint({"train": splits.train, "dev": splits.dev, "test": splits.test})
    splits.train, leaked = drop_leaks(splits.train, [*splits.test.queries.values(), *splits.dev.queries.values()])
    if leaked:
        splits.dropped["training queries with a test or dev query's text"] += leaked
    if len(splits.train) < MIN_TRAIN_QUERIES or len(splits.test) < MIN_EVAL_QUERIES:
        remedies = ["more labelled queries"] + (["a lower --min-clicks"] if cfg.query_log else []) + (
            [] if corpus.gold is not None else ["another --eval-fraction"])
        raise CorpusError(f"{splits.source}: {len(splits.train)} training and {len(splits.test)} test queries (split "
                          f"{splits.by}); at least {MIN_TRAIN_QUERIES} and {MIN_EVAL_QUERIES} are needed: "
                          f"{', '.join(remedies[:-1]) + ' or ' + remedies[-1] if len(remedies) > 1 else remedies[0]}")
    return splits


# ----------------------------------------------------------------------------- the run


@dataclass
class PipelineResult:
    out: Path
    stages: dict[str, dict] = field(default_factory=dict)  # name -> record (with "cached": bool)
    gate: dict | None = None
    gate_passed: bool | None = None

    @property
    def report_path(self) -> Path:
        return self.out / "report.md"


class Pipeline:
    """The stages as methods, for a notebook to call one by one; :func:`run_pipeline` runs them all."""

    def __init__(self, cfg: FinetuneConfig, corpus: Corpus | None = None, show_progress_bar: bool = True):
        self.cfg = cfg
        self.out = Path(cfg.out)
        # preflight reads the labelled queries once; a corpus handed in has had no preflight
        self.corpus, self.labelled = preflight(cfg) if corpus is None else (corpus, labelled_queries(cfg, corpus))
        self.log = StageLog(self.out)
        self.outputs: dict[str, str] = {}  # stage -> hash of what it wrote, in this session
        self.result = PipelineResult(self.out)
        self.progress = show_progress_bar
        self._cache = None
        self._fingerprints: dict[str, str | None] = {}

    # -- helpers

    @property
    def cache(self):
        if self._cache is None:
            self._cache = EmbeddingCache(self.out / "cache" / "embeddings", devices=self.cfg.encode_devices,
                                         progress=None if self.progress else False)
        return self._cache

    def _stage_key(self, name: str, after: tuple[str, ...] = (), reads: tuple[str, ...] = (),
                   options: tuple[str, ...] = (), derived: tuple = ()) -> str:
        """A stage's key, made the same way for every stage of what it reads: the outputs of the earlier
        stages ``after`` (by content), the run's inputs ``reads`` (by content: see :meth:`_inputs`), the
        options it uses, and ``derived`` values computed from them. A stage that reads something its key
        does not name would be reused after that thing changed: name it here."""
        return _key(name, {s: self._after(s) for s in after}, self._inputs(*reads), self.cfg.pick(*options), derived)

    def _stage(self, name: str, run, outputs: list[str], **reads) -> dict:
        """Run ``run() -> info`` unless the stage finished before with the same key (:meth:`_stage_key`
        of ``reads``)."""
        key = self._stage_key(name, **reads)
        done = self.log.get(name, key)
        first, _ = self._bounds()
        if done is not None:
            record = {**done, "cached": True}
        elif STAGES.index(name) < first:
            raise PipelineError(f"stage {name!r} has no output for these inputs in {self.out} (or its output "
                                "was changed since it was written): run the earlier stages first (without --only), "
                                f"e.g. --until {STAGES[first - 1]}")
        else:
            t0 = time.perf_counter()
            info = run()
            record = self.log.record(name, key, outputs, time.perf_counter() - t0, info or {})
            if _world()[0] == 0:
                self.log.put(record)
            record["cached"] = False
        self.outputs[name] = record["output_hash"]
        self.result.stages[name] = record
        if _world()[0] == 0:
            state = "cached" if record["cached"] else f"{record['seconds']:.0f} s"
            print(f"[{name}] {state}: {_headline(name, record['info'])}", flush=True)
        return record

    def _bounds(self) -> tuple[int, int]:
        cfg = self.cfg
        if cfg.only:
            i = STAGES.index(cfg.only)
            return i, i
        return 0, STAGES.index(cfg.until) if cfg.until else len(STAGES) - 1

    def wanted(self, name: str) -> bool:
        return STAGES.index(name) <= self._bounds()[1]

    def _inputs(self, *names: str) -> dict[str, str | None]:
        """Fingerprints of the run's inputs, by content, computed once per run: ``corpus`` (the chunks),
        ``gold`` (the gold test and dev queries and their judgments), ``labelled`` (the labelled
        queries of every split), ``examples`` (``--llm-examples``), and the files of ``base_model``,
        ``judge`` and the ``general`` set -- never their names alone, which may point at other weights
        or data by the next run."""
        cfg, known = self.cfg, {
            "corpus": lambda: self.corpus.fingerprint(), "gold": self._gold_fp, "labelled": self._labelled_fp,
            "examples": lambda: fingerprint_texts(self._examples or ()),
            "base_model": lambda: weights_fingerprint(cfg.base_model),
            "judge": lambda: weights_fingerprint(cfg.judge) if cfg.judge else None,
            "general": lambda: load_dataset(cfg.general).split("test").fingerprint()}
        for name in names:
            if name not in self._fingerprints:
                self._fingerprints[name] = known[name]()
        return {name: self._fingerprints[name] for name in names}

    def _after(self, stage: str) -> str:
        """What ``stage`` wrote (a hash of it), for the key of a stage that reads it: stages run in order."""
        if stage not in self.outputs:
            raise PipelineError(f"run the {stage!r} stage first (stages: {', '.join(STAGES)})")
        return self.outputs[stage]

    def _read_jsonl(self, name: str) -> list[dict]:
        with open(self.out / name, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    # -- stages

    def chunks(self) -> dict:
        c = self.corpus

        def run():
            write_jsonl(self.out / "chunks.jsonl", (asdict(ch) for ch in c.chunks))
            return {"corpus": c.path, "format": c.format, "documents": len(c.documents), "chunks": len(c.chunks),
                    "mean words": round(sum(len(ch.text.split()) for ch in c.chunks) / len(c.chunks), 1),
                    "notes": c.notes, "describe": c.describe(),
                    "gold": None if c.gold is None else {"queries": len(c.gold.queries), "level": c.gold.level,
                                                         "source": c.gold.source},
                    "gold dev": None if c.gold_dev is None else {"queries": len(c.gold_dev.queries),
                                                                 "source": c.gold_dev.source}}

        return self._stage("chunks", run, ["chunks.jsonl"], reads=("corpus", "gold"))

    def _gold_fp(self) -> str:
        """A fingerprint of the gold test and dev queries and their judgments (not in ``chunks.jsonl``, so
        the split stage keys on it too: an edited qrels file redoes the split and all after it)."""
        return fingerprint_texts(str(None if g is None else sorted((q, t, sorted(g.relevant[q])) for q, t in g.queries.items()))
                                 for g in (self.corpus.gold, self.corpus.gold_dev))

    @property
    def llm_cache(self) -> Path:
        """Where the LLM's answers are kept, one per job (keyed by prompt, document, model and sampling):
        runs that name the same file share every answer already written."""
        return Path(self.cfg.llm_cache) if self.cfg.llm_cache else self.out / "cache" / "llm_queries.jsonl"

    @property
    def _examples(self) -> tuple[tuple[str, str], ...] | None:
        """Your own (document, query) examples (``--llm-examples``), or ``None`` for the built-in ones."""
        return read_examples(self.cfg.llm_examples) if self.cfg.llm_examples else None

    @property
    def _styles(self) -> tuple[str, ...]:
        return (AS_EXAMPLES,) if self.cfg.llm_examples else self.cfg.styles

    def _llm_id(self) -> str:
        cfg = self.cfg
        return f"{cfg.llm_base_url}|{cfg.llm_model}|{cfg.llm_mode}" if cfg.llm_base_url else cfg.llm

    def _labelled_fp(self) -> str | None:
        """A fingerprint of the labelled queries of every split (``None`` without any)."""
        if self.labelled is None:
            return None
        return fingerprint_texts((name, q, t, *sorted(part.relevant[q]))
                                 for name, part in zip(("train", "dev", "test"), self.labelled) for q, t in part.queries.items())

    def _synthetic_chunks(self) -> dict[str, str]:
        """The chunks the LLM writes queries for. With labelled training queries, as ``--synthetic`` says
        (all, those no labelled training query points at, or none). Without: every chunk when its queries
        train (``--label-free`` llm or crops+llm); under crops, only the held-out test and dev chunks
        (none when gold queries are the test set)."""
        texts = self.corpus.texts
        if not needs_llm(self.cfg, self.corpus, self.labelled):
            return {}
        if self.labelled is None:
            if "llm" in label_free_sources(self.cfg):
                return texts
            # crops or headings train: the LLM writes only the held-out test (and dev) queries
            held = set().union(*self._held_out_groups())
            return {c: t for c, t in texts.items() if self._group[c] in held}
        if self.cfg.synthetic == "none":
            return {}
        if self.cfg.synthetic == "all":
            return {c: t for c, t in texts.items() if c not in self._held_out_chunks()}
        train = self.labelled.train
        ids = set().union(*train.relevant.values())
        if train.level == "document":
            chunks_of = self.corpus.chunks_of
            ids = {c for d in ids for c in chunks_of.get(d, [])}
        return {c: t for c, t in texts.items() if c not in ids and c not in self._held_out_chunks()}

    @property
    def _group(self) -> dict[str, str]:
        """What is held out together: a chunk, or with overlapping chunks (which share text) its document."""
        return self.corpus.source_of if self.cfg.overlap_words else {c: c for c in self.corpus.texts}

    def _held_out_groups(self) -> tuple[set[str], set[str]]:
        """Without labels: (the groups whose LLM queries are the test set -- none with gold queries --, the
        groups whose queries are dev -- only for ``--keep-best-epoch`` without gold dev queries). Chosen
        from the chunk ids alone, before any query is written; no training query points at them."""
        if self.labelled is not None:
            return set(), set()
        cfg, c = self.cfg, self.corpus
        groups = [g for g in self._group.values() for _ in range(cfg.queries_per_chunk)]  # one entry per query
        test = set() if c.gold else hold_out_chunks(groups, cfg.eval_fraction, cfg.max_eval_queries, cfg.seed)
        dev = set()
        if cfg.keep_best_epoch and c.gold_dev is None:
            dev = hold_out_chunks([g for g in groups if g not in test], DEV_FRACTION, MAX_DEV_QUERIES, cfg.seed + 1)
        return test, dev

    def _held_out_chunks(self) -> set[str]:
        """Chunks no training query may point at: with ``--split-by document``, every chunk of a document
        relevant to a test or dev query (under a split by query, test documents may have training queries)."""
        if self.labelled is None or self.labelled.by != "document":
            return set()
        source_of, held = self.corpus.source_of, set()
        for part in (self.labelled.test, self.labelled.dev):
            held |= set().union(*part.relevant.values()) if part.relevant else set()
        docs = {source_of.get(i, i) for i in held}
        return {c for c, d in source_of.items() if d in docs}

    def queries(self) -> dict:
        cfg = self.cfg

        def run():
            texts = self._synthetic_chunks()
            if not texts:  # --synthetic none, or every chunk has a labelled query
                write_jsonl(self.out / "generated.jsonl", [])
                return {"llm": "none", "jobs": 0, "malformed": 0, "seconds": 0.0, "seconds per query (as written)": 0}
            backend = make_backend(cfg.llm, cfg.llm_base_url, cfg.llm_model, mode=cfg.llm_mode,
                                   api_key_env=cfg.llm_api_key_env, concurrency=cfg.llm_concurrency,
                                   timeout=cfg.llm_timeout)
            # styles follow chunk ids, not positions: adding documents leaves every cached answer valid
            jobs = plan_jobs(texts, self._styles, cfg.queries_per_chunk, rotate_styles=True, rotate_by="id",
                             examples=self._examples)
            t0 = time.perf_counter()
            try:
                records = generate_queries(jobs, backend, self.llm_cache, cfg.max_tokens,
                                           cfg.temperature, cfg.seed, show_progress_bar=self.progress)
            except GenerationError as e:
                raise PipelineError(f"query generation stopped: {e}") from e
            write_jsonl(self.out / "generated.jsonl", (asdict(r) for r in records))
            fresh = [r for r in records if r.seconds]
            return {"llm": backend.name, "jobs": len(jobs), "malformed": sum(r.query is None for r in records),
                    "seconds": round(time.perf_counter() - t0, 1),
                    "seconds per query (as written)": round(sum(r.seconds for r in fresh) / max(1, len(fresh)), 3)}

        return self._stage("queries", run, ["generated.jsonl"], after=("chunks",), reads=("labelled", "examples"),
                           options=("queries_per_chunk", "temperature", "max_tokens", "seed", "synthetic"),
                           derived=(fingerprint_texts(sorted(self._synthetic_chunks())), self._llm_id(), self._styles))

    def _labelled_rows(self) -> list[dict]:
        """The labelled training queries as rows of ``train_queries.jsonl``, each with the chunks it trains
        toward: its chunks as labelled or, for a label that names a document of several chunks, the chunk
        of it the base model finds closest to the query (the others may not say what the query asks)."""
        train = self.labelled.train
        chunks_of = self.corpus.chunks_of if train.level == "document" else {}
        several = sorted({d for ids in train.relevant.values() for d in ids if len(chunks_of.get(d, ())) > 1})
        best: dict[tuple[str, str], str] = {}
        if several:
            model = load_model_cached(self.cfg.base_model)
            pairs = [(q, d) for q in train.queries for d in sorted(train.relevant[q]) if d in several]
            candidates = sorted({c for d in several for c in chunks_of[d]})
            c_emb = dict(zip(candidates, self.cache.encode(model, [self.corpus.texts[c] for c in candidates], "document")))
            q_ids = sorted({q for q, _ in pairs})
            q_emb = dict(zip(q_ids, self.cache.encode(model, [train.queries[q] for q in q_ids], "query")))
            for q, d in pairs:
                best[q, d] = max(chunks_of[d], key=lambda c: float(q_emb[q] @ c_emb[c]))
        rows = []
        for q, text in train.queries.items():
            ids = sorted(train.relevant[q])
            chunks = ids if train.level == "chunk" else [best.get((q, d)) or chunks_of[d][0] for d in ids]
            row = {"_id": f"lab-{q}", "text": text, "chunks": sorted(set(chunks)), "origin": "labelled"}
            others = sorted({c for d in ids for c in chunks_of.get(d, ())} - set(chunks))
            if others:  # the labelled document's other chunks: relevant too, so never a negative
                row["exclude"] = others
            rows.append(row)
        return rows

    def split(self) -> dict:
        cfg = self.cfg

        def run():
            texts, group = self.corpus.texts, self._group
            records = [Generated(**r) for r in self._read_jsonl("generated.jsonl")]
            cheap, cheap_report = filter_queries(records, texts)  # model-free rules, on every query
            labelled, held, dev_rows, dev_source = self.labelled, set(), [], "none"
            # without labels, the LLM's queries train only under --label-free llm or crops+llm
            llm_trains = labelled is not None or "llm" in label_free_sources(cfg)
            if labelled is not None:
                eval_rows = list(labelled.test.rows())
                level = labelled.test.level
                eval_source = (f"gold queries ({self.corpus.gold.source})" if self.corpus.gold else
                               f"labelled queries held out by {labelled.by} ({labelled.source})")
                held_texts = [*labelled.test.queries.values(), *labelled.dev.queries.values()]
                held = self._held_out_chunks()  # already left out of generation; kept out here too
                cheap = [r for r in cheap if r.doc_id not in held]
                dev_rows, dev_source = list(labelled.dev.rows()), labelled.dev.source
            elif self.corpus.gold is None:
                # hold out whole chunks: their queries are the evaluation set, and no training query
                # points at them. The round-trip filter is NOT applied to these: it keeps only the
                # queries the base model already answers, which would rig the comparison.
                held_groups, _ = self._held_out_groups()
                held = {c for c in texts if group[c] in held_groups}
                eval_rows = [{"_id": f"eval-{r.key[:12]}", "text": r.query, "relevant": [r.doc_id], "style": r.style}
                             for r in cheap if r.doc_id in held]
                cheap = [r for r in cheap if r.doc_id not in held]
                level, eval_source = "chunk", "held-out synthetic queries"
                held_texts = [r["text"] for r in eval_rows]
            else:
                g = self.corpus.gold
                eval_rows = [{"_id": q, "text": t, "relevant": sorted(g.relevant[q])} for q, t in g.queries.items()]
                level, eval_source, held_texts = g.level, f"gold queries ({g.source})", list(g.queries.values())
            gd = self.corpus.gold_dev
            if labelled is None and gd is not None:  # gold dev queries: the ruler for choices, never trained on
                dev_rows = [{"_id": q, "text": t, "relevant": sorted(gd.relevant[q]), "level": gd.level}
                            for q, t in gd.queries.items()]
                dev_source, held_texts = f"gold dev queries ({gd.source})", [*held_texts, *gd.queries.values()]
            dev_chunks: set[str] = set()
            if labelled is None and not dev_rows:
                if cfg.keep_best_epoch:  # no labels: dev, like test above, is queries held out by chunk
                    _, dev_groups = self._held_out_groups()
                    dev_rows = [{"_id": f"dev-{r.key[:12]}", "text": r.query, "relevant": [r.doc_id], "level": "chunk"}
                                for r in cheap if group[r.doc_id] in dev_groups]
                    dev_chunks = {c for c in texts if group[c] in dev_groups}
                    cheap = [r for r in cheap if group[r.doc_id] not in dev_groups]
                    dev_source = "held-out synthetic queries"
                    held_texts = [*held_texts, *(r["text"] for r in dev_rows)]
            # an LLM can write a test or dev query word for word: it must not be trained on
            train, leaked = drop_leaks(cheap if llm_trains else [], held_texts, text_of=lambda r: r.query)
            shown = {r.key for r in train} | {r.key for r in records if r.key in cheap_report.reasons}
            unusable = f"most of the LLM's answers were unusable, see {self.out / 'generated.jsonl'}"
            if labelled is None and self.corpus.gold is None and len(eval_rows) < MIN_EVAL_QUERIES:
                raise PipelineError(f"after the filters, {len(eval_rows)} evaluation queries are left (at least "
                                    f"{MIN_EVAL_QUERIES} needed): {unusable}")
            if labelled is None and cfg.label_free == "llm" and len(train) < MIN_TRAIN_QUERIES // 4:
                raise PipelineError(f"after the filters, {len(train)} training queries are left (at least "
                                    f"{MIN_TRAIN_QUERIES // 4} needed): {unusable}")
            # the round trip judges the LLM's queries only: human labels are not re-decided by the base model
            trip_applies = round_trip_applies(cfg, labelled is not None)
            if train and trip_applies:
                kept, trip_report = filter_queries(train, texts, model=load_model_cached(cfg.base_model), cache=self.cache)
            else:
                kept, trip_report = train, FilterReport(len(train), len(train), Counter())
            if labelled is None and cfg.label_free == "llm" and len(kept) < MIN_TRAIN_QUERIES // 4:
                raise PipelineError(f"only {len(kept)} of {len(train)} training queries found their own chunk in the "
                                    f"base model's top 10 (at least {MIN_TRAIN_QUERIES // 4} needed): the LLM's "
                                    f"queries do not fit these documents, see {self.out / 'generated.jsonl'}")
            crop_rows, heading_rows, own_leaks = [], [], 0  # own_leaks: crops and headings with a test query's text
            sources = label_free_sources(cfg) if labelled is None else set()
            # chunks held out for test or dev give no crop and no heading query
            pool = {c: t for c, t in texts.items() if c not in held and c not in dev_chunks}
            if "crops" in sources:  # a crop of a chunk is its query
                spans, own_leaks = drop_leaks(list(crops(pool, seed=cfg.seed).items()), held_texts,
                                               text_of=lambda item: item[1])
                crop_rows = [{"_id": f"crop-{c}", "text": span, "chunks": [c], "origin": "crop"} for c, span in spans]
            if "headings" in sources:  # a heading, under its document's title, is the query of the chunk it heads
                pairs = [(c, q) for c, q in heading_queries(self.corpus.documents, self.corpus.chunks) if c in pool]
                pairs, heading_leaks = drop_leaks(pairs, held_texts, text_of=lambda item: item[1])
                own_leaks += heading_leaks
                heading_rows = [{"_id": f"heading-{i}", "text": q, "chunks": [c], "origin": "heading"}
                                for i, (c, q) in enumerate(pairs)]
            if sources - {"llm"} and len(crop_rows) + len(heading_rows) + len(kept) < MIN_TRAIN_QUERIES // 4:
                what = ("headings (a document's title and at least one heading below it)" if "headings" in sources
                        else "crops of chunks of two words or more")
                raise PipelineError(f"{len(crop_rows) + len(heading_rows) + len(kept)} training queries ({what}) are "
                                    f"left; at least {MIN_TRAIN_QUERIES // 4} are needed: give more documents")
            labelled_rows = self._labelled_rows() if labelled is not None else []
            write_jsonl(self.out / "train_queries.jsonl", [
                *labelled_rows, *crop_rows, *heading_rows,
                *({"_id": f"syn-{r.key[:12]}", "text": r.query, "chunks": [r.doc_id], "style": r.style,
                   "origin": "synthetic"} for r in kept)])
            write_jsonl(self.out / "eval_queries.jsonl", ({**row, "level": level} for row in eval_rows))
            write_jsonl(self.out / "dev_queries.jsonl", dev_rows)
            return {"generated": len(records), "after cheap filters": cheap_report.kept,
                    "dropped (cheap)": dict(cheap_report.dropped), "evaluation queries": len(eval_rows),
                    "evaluation set": eval_source, "level": level, "dev queries": len(dev_rows),
                    "dev set": dev_source, "training candidates": len(train),
                    "dropped (a test query's text)": leaked + own_leaks,
                    "training queries": len(kept) + len(labelled_rows) + len(crop_rows) + len(heading_rows),
                    **({} if labelled is not None else {
                        "label-free source": cfg.label_free, "synthetic training queries": len(kept),
                        "crop training queries": len(crop_rows),
                        **({"heading training queries": len(heading_rows)} if "headings" in sources else {})}),
                    **({} if labelled is None else {
                        "synthetic training queries": len(kept), "labelled training queries": len(labelled_rows),
                        "labelled": labelled.describe(self.corpus.source_of)}),
                    "round trip applied": trip_applies, "dropped (round trip)": trip_report.dropped.get("round-trip", 0),
                    "examples": _filter_examples([r for r in records if r.key in shown], texts, cheap_report,
                                                 trip_report)}

        return self._stage("split", run, ["train_queries.jsonl", "eval_queries.jsonl", "dev_queries.jsonl"],
                           after=("chunks", "queries"), reads=("gold", "labelled", "base_model"),
                           options=("eval_fraction", "max_eval_queries", "seed", "keep_best_epoch", "label_free",
                                    "round_trip", "overlap_words", "queries_per_chunk"),
                           derived=(round_trip_applies(cfg, self.labelled is not None),))

    def mine(self) -> dict:
        cfg = self.cfg

        def run():
            rows = self._read_jsonl("train_queries.jsonl")
            # a row's "exclude" chunks count as relevant while mining (never a negative), not as positives
            split = RetrievalSplit("train", "own", {r["_id"]: r["text"] for r in rows}, self.corpus.texts,
                                   {r["_id"]: set(r["chunks"]) | set(r.get("exclude", ())) for r in rows})
            try:
                mined = mine(split, load_model_cached(cfg.base_model),
                             MiningConfig(num_negatives=cfg.num_negatives, range_max=cfg.range_max,
                                          relative_margin=cfg.relative_margin, judge=cfg.judge, seed=cfg.seed),
                             cache=self.cache)
            except MiningError as e:
                raise PipelineError(f"mining: {e}") from e
            positives = {r["_id"]: [c for c in mined.positives[r["_id"]] if c in r["chunks"]] for r in rows}
            trained = replace(mined, positives=positives)
            fill = None if cfg.without_negative == "drop" else cfg.without_negative
            # a query's other relevant chunks ("exclude") are never drawn as its random negative
            examples = trained.examples("n-tuple" if cfg.num_negatives > 1 else "triplet", fill=fill,
                                        exclude=mined.positives, seed=cfg.seed)
            write_jsonl(self.out / "train_examples.jsonl", ({"texts": list(e)} for e in examples))
            audit = mined.audit(5)[["query", "positive", "mined negative", "positive score", "negative score"]] \
                if mined.positive_scores is not None else None
            given = sum(len(p) for p in positives.values())
            trained_on = sum(len(p) for q, p in positives.items() if len(mined.negatives[q]) >= cfg.num_negatives or fill)
            return {"queries": len(rows), "examples": len(examples), "pairs given": given, "pairs trained on": trained_on,
                    "without a negative": cfg.without_negative, "queries without a negative": mined.stats["empty_queries"],
                    "summary": mined.summary(), "report": mined.report(),
                    "audit": None if audit is None else audit.to_dict("records")}

        return self._stage("mine", run, ["train_examples.jsonl"], after=("chunks", "split"), reads=("base_model", "judge"),
                           options=("num_negatives", "range_max", "relative_margin", "seed", "without_negative"))

    def train(self) -> dict:
        cfg = self.cfg

        def run():
            examples = [tuple(r["texts"]) for r in self._read_jsonl("train_examples.jsonl")]
            _, world = _world()
            if len(examples) < cfg.batch_size * world:
                raise PipelineError(f"{len(examples)} training examples do not fill one batch of {cfg.batch_size} x "
                                    f"{world} process(es): lower --batch-size, or give more documents")
            keep, dev_start = None, []
            if cfg.keep_best_epoch:
                dev = self.dev_split()
                base = load_model_cached(cfg.base_model)
                keep = KeepBestOnDev(dev, eval_length=base.max_seq_length)
                dev_start = [0, 0, round(evaluate(base, dev, self.cache).mean(), 4)]  # epoch 0: the base model
            # checkpoints of a run with other data or settings must never be resumed: one folder per key
            _, info = fine_tune(cfg.base_model, examples, self.out / "training" / key[:12], final_dir=self.out / "model",
                                config=TrainConfig(epochs=cfg.epochs, learning_rate=cfg.learning_rate,
                                                   batch_size=cfg.batch_size, max_seq_length=cfg.max_seq_length,
                                                   seed=cfg.seed, save_steps=cfg.save_steps),
                                dataset_name=f"training queries for {cfg.corpus}", show_progress_bar=self.progress,
                                callbacks=[keep] if keep else None)
            info = asdict(info)
            if keep:
                info.update({"dev curve": [dev_start, *keep.curve], "kept epoch": keep.best_epoch,
                             "dev queries": len(keep.dev.queries)})
            return info

        train = dict(after=("chunks", "split", "mine"), reads=("base_model",),
                     options=("epochs", "keep_best_epoch", "learning_rate", "batch_size", "max_seq_length", "seed"))
        key = self._stage_key("train", **train)
        return self._stage("train", run, ["model/training_manifest.json", "model/model.safetensors"], **train)

    def evaluate(self) -> dict:
        cfg = self.cfg

        def run():
            base, tuned = load_model_cached(cfg.base_model), load_model(self.out / "model")
            domain, level = self.eval_split()
            general_set = load_dataset(cfg.general)
            general = general_set.split("test")
            results = {}
            for name, model in (("base", base), ("fine-tuned", tuned)):
                results[("domain", name)] = evaluate_domain(model, domain, self.corpus.source_of, self.cache, name, level)
                results[("general", name)] = evaluate(model, general, self.cache, name, general_set.name)
            report = ForgettingReport(lift(results[("domain", "fine-tuned")], results[("domain", "base")]),
                                      lift(results[("general", "fine-tuned")], results[("general", "base")]),
                                      f"{corpus_name(cfg.corpus)} ({domain.name})", general_set.name)
            info = {"report": report.to_dict(),
                    "metrics": {f"{where}/{name}": r.summary() for (where, name), r in results.items()}}
            write_json(self.out / "evaluation.json", info)
            return info

        return self._stage("evaluate", run, ["evaluation.json"], after=("chunks", "split", "train"),
                           reads=("base_model", "general"))

    def gate(self) -> dict:
        """Lesson 5's release gate on the stored evaluation (cheap: judged on every run, never cached)."""

        if "evaluate" not in self.result.stages:
            raise PipelineError("run the 'evaluate' stage first")
        cfg = self.cfg
        config = GateConfig(cfg.min_lift, not cfg.allow_ci_zero, cfg.max_general_drop)
        result = release_gate(ForgettingReport.from_dict(self.result.stages["evaluate"]["info"]["report"]), config)
        gate = {"passed": result.passed, "reasons": result.reasons, "config": asdict(config)}
        if _world()[0] == 0:
            write_json(self.out / "gate.json", gate)
            print(f"[gate] {result}", flush=True)
        self.result.gate, self.result.gate_passed = gate, result.passed
        return gate

    def dev_split(self):
        """The dev queries (``dev_queries.jsonl``: labelled, or held-out synthetic ones) as a
        :class:`~helpers.data.RetrievalSplit` over the chunks; a document labelled relevant makes each of
        its chunks relevant."""

        rows = self._read_jsonl("dev_queries.jsonl")
        if not rows:
            raise PipelineError(f"no dev queries in {self.out / 'dev_queries.jsonl'}: run the split stage with "
                                "--keep-best-epoch")
        chunks_of = self.corpus.chunks_of
        relevant = {r["_id"]: set(r["relevant"]) if r["level"] == "chunk" else
                    {c for d in r["relevant"] for c in chunks_of.get(d, ())} for r in rows}
        return RetrievalSplit("dev", "own", {r["_id"]: r["text"] for r in rows}, self.corpus.texts, relevant)

    def eval_split(self):
        """(the evaluation queries as a :class:`~helpers.data.RetrievalSplit` over the chunks, the level
        their relevance is labelled at: ``"chunk"`` or ``"document"``)."""

        rows = self._read_jsonl("eval_queries.jsonl")
        name = "gold" if self.corpus.gold else "held-out labelled" if self.labelled else "held-out synthetic"
        split = RetrievalSplit(name, "evaluation", {r["_id"]: r["text"] for r in rows}, self.corpus.texts,
                               {r["_id"]: set(r["relevant"]) for r in rows})
        return split, rows[0]["level"]

    def report(self) -> dict:
        t0 = time.perf_counter()
        if self.result.gate is None:
            self.gate()
        paths = write_report(self.out, self.cfg, self.result.stages, self.result.gate)
        record = {"stage": "report", "outputs": [str(p.relative_to(self.out)) for p in paths],
                  "seconds": round(time.perf_counter() - t0, 1), "info": {"files": [p.name for p in paths]},
                  "cached": False}
        self.result.stages["report"] = record
        print(f"[report] {self.out / 'report.md'} and report.html", flush=True)
        return record

    def run(self) -> PipelineResult:
        for name in STAGES:
            if not self.wanted(name):
                break
            if name != "report":
                getattr(self, name)()
            elif "evaluate" in self.result.stages:
                self.gate()
                self.report()
        return self.result


def evaluate_domain(model, split, source_of: dict[str, str], cache, name: str, level: str = "chunk"):
    """Dense retrieval over the chunks; with ``level="document"`` chunk rankings become document
    rankings (a document ranks where its best chunk does; ``source_of`` maps chunk to document)."""

    rankings, _ = dense_search(model, split, cache, k=100)
    if level == "document":
        rankings = [list(dict.fromkeys(source_of[c] for c in ranking)) for ranking in rankings]
    return score_rankings(rankings, split, name, "domain")


def hold_out_chunks(query_chunks: list[str], fraction: float, max_queries: int, seed: int = 0) -> set[str]:
    """Chunks, in a seeded random order, until their queries (one entry of ``query_chunks`` per query)
    reach ``fraction`` of all queries, or ``max_queries``.

    >>> held = hold_out_chunks(["a", "a", "b", "c", "d"], 0.4, 100)
    >>> sum(c in held for c in ["a", "a", "b", "c", "d"]) >= 2
    True
    """

    per_chunk = Counter(query_chunks)
    order = sorted(per_chunk)
    random.Random(seed).shuffle(order)
    return take_groups(order, per_chunk, min(max_queries, round(len(query_chunks) * fraction)))


def _filter_examples(records, texts, cheap, trip) -> list[dict]:
    """One record per outcome of both filter passes (the held-out test queries are not shown)."""

    if not records:  # labelled queries only (--synthetic none)
        return []
    both = FilterReport(len(records), trip.kept, cheap.dropped + trip.dropped, {**cheap.reasons, **trip.reasons})
    table = both.examples(records, texts)
    return table.assign(document=table["document"].str.slice(0, 300)).to_dict("records")


def _headline(stage: str, info: dict) -> str:
    if stage == "chunks":  # what was left out or cut by length is worth a line: it may explain a small corpus
        return "; ".join([info.get("describe", ""), *info.get("notes", [])])
    if stage == "queries":
        if not info.get("jobs"):
            return "no LLM-written queries (none needed: labelled queries, or crops or headings with gold queries)"
        return f"{info.get('jobs', 0)} queries by {info.get('llm')}, {info.get('malformed', 0)} malformed"
    if stage == "split":
        own = ", ".join(f"{info[k]} {k.split()[0]}" for k in ("labelled training queries", "crop training queries",
                                                              "heading training queries", "synthetic training queries")
                        if info.get(k))
        own = f" ({own})" if own else ""
        return (f"{info.get('training queries')} training queries{own} (after the filters), "
                f"{info.get('evaluation queries')} evaluation queries: {info.get('evaluation set')}")
    if stage == "mine":
        mined = info.get('report', '').splitlines()[0] if info.get('report') else ''
        given = (f" ({info['pairs trained on']} of {info['pairs given']} (query, chunk) pairs trained on; "
                 f"{info['queries without a negative']} queries without a mined negative: {info['without a negative']})"
                 if "pairs given" in info else "")
        return f"{info.get('examples')} training examples{given}; {mined}"
    if stage == "train":
        kept = f"; kept epoch {info['kept epoch']} (best on dev)" if info.get("kept epoch") is not None else ""
        return f"{info.get('steps')} steps on {info.get('n_pairs')} examples, final loss {info.get('final_loss')}{kept}"
    if stage == "evaluate":
        d, g = info["report"]["domain"], info["report"]["general"]
        return (f"domain recall@10 {100 * d['before']:.1f} -> {100 * d['after']:.1f}, general "
                f"{100 * g['before']:.1f} -> {100 * g['after']:.1f}")
    return ""


def run_pipeline(cfg: FinetuneConfig, show_progress_bar: bool = True) -> PipelineResult:
    """Check everything (:func:`preflight`), then run the stages, skipping those already done."""
    return Pipeline(cfg, show_progress_bar=show_progress_bar).run()


def config_from_args(args) -> FinetuneConfig:
    names = {f.name for f in fields(FinetuneConfig)}
    return FinetuneConfig(**{k: v for k, v in vars(args).items() if k in names})
