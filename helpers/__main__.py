"""Command line: ``python -m helpers <command>``.

    python -m helpers reproduce            # the lift table on the shipped data (~15 min on 2 cores)
    python -m helpers reproduce --recompute all   # retrain every rung of the recipe ladder (~1 h)
    python -m helpers reproduce --quick    # the same path on small slices (~3 min; numbers mean nothing)
    python -m helpers claims               # the course's seven claims, measured: results/claims.{json,md}
    python -m helpers gate --report forgetting.json                  # pass/fail a measured candidate
    python -m helpers gate --candidate runs/x/final --domain icd10cm  # measure it first, then gate
    python -m helpers finetune --corpus my_docs/ --out runs/my_docs  # your own documents, end to end

``gate`` and ``finetune`` exit 0 when the release gate passes, 1 when it fails, 2 on bad input:
a CI step can block a release with them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from helpers.data import PROTOCOLS, DataError, available_datasets, load_dataset  # DataError: CorpusError too
from helpers.deployment import ForgettingReport, GateConfig, forgetting_check, release_gate
from helpers.io import write_json
from helpers.ladder import RUNGS, LadderError, LadderSettings
from helpers.models import ModelNotFoundError, load_model
from helpers.pipeline import (LABEL_FREE, ROUND_TRIP, STAGES, SYNTHETIC_MIX, WITHOUT_NEGATIVE, FinetuneConfig,
                              PipelineError, config_from_args, run_pipeline)
from helpers.reproduce import DATASETS, LIVE_RUNGS, reproduce
from helpers.synthetic import STYLES

# transformers (its progress-bar switch) is imported inside the commands that load models: ~1 s at
# import, which `--help` and `gate --report` need not pay. The helpers modules above import no heavy
# library at their top (see the note in each).


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # one progress bar: ours
    ap = argparse.ArgumentParser(prog="python -m helpers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("reproduce", help="fine-tune on every shipped tier and write the lift table")
    rp.add_argument("--quick", action="store_true", help="small slices and 4 training steps: checks the path only")
    rp.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"default: {' '.join(DATASETS)}")
    rp.add_argument("--protocol", choices=PROTOCOLS, default="known_corpus",
                    help="known_corpus: test queries unseen, documents may have training queries (default); "
                         "unseen_documents: test queries' documents have no training queries")
    rp.add_argument("--out", default=None,
                    help="folder for the tables (default: results/; results/<protocol>/ for unseen_documents and "
                         "results/quick/ with --quick, so that the shipped table and its cached rungs stay as they are)")
    rp.add_argument("--runs", default=None, help="folder for the fine-tuned models, reused when unchanged (default: "
                                             "runs/ladder, runs/ladder-<protocol>, or runs/quick with --quick)")
    rp.add_argument("--recompute", nargs="+", default=list(LIVE_RUNGS), metavar="RUNG",
                    help=f"rungs to train and score now, or 'all'; the others are read from <out>/ladder/ when made "
                         f"from the same data and settings (default: {' '.join(LIVE_RUNGS)}; rungs: {', '.join(RUNGS)})")
    rp.add_argument("--max-pairs", type=int, default=3000, help="training pairs per dataset (default 3000)")
    rp.add_argument("--max-epochs", type=int, default=3, choices=range(1, 101), metavar="N",
                    help="the recipe rung's epoch budget, 1 or more (default 3)")
    rp.add_argument("--lr", type=float, default=5e-5)
    rp.add_argument("--batch-size", type=int, default=32)
    gp = sub.add_parser("gate", help="release gate: domain gain vs general-domain forgetting; exit 1 on fail")
    src = gp.add_mutually_exclusive_group(required=True)
    src.add_argument("--report", help="a forgetting report JSON (ForgettingReport.to_dict) to judge")
    src.add_argument("--candidate", help="a fine-tuned model folder to measure against --base first")
    gp.add_argument("--base", default="minilm", help="the model it would replace (default minilm)")
    gp.add_argument("--domain", help="the domain dataset whose test split measures the gain (with --candidate)")
    gp.add_argument("--general", default="gcide", help="held-out general dataset (default gcide)")
    gp.add_argument("--write-report", help="save the measured report here (with --candidate)")
    gp.add_argument("--min-lift", type=float, default=2.0, help="domain recall@10 points required (default 2)")
    gp.add_argument("--max-general-drop", type=float, default=1.0, help="general recall@10 points allowed to fall (default 1)")
    gp.add_argument("--allow-ci-zero", action="store_true", help="do not require the domain CI to exclude zero")
    cp = sub.add_parser("claims", help="measure the course's claims and write the ledger: results/claims.{json,md} "
                                       "and the README's copy")
    cp.add_argument("--ledger-only", action="store_true",
                    help="rewrite results/claims.md (and the README's copy) from the results files, measuring nothing")
    _add_finetune(sub)
    args = ap.parse_args(argv)

    if args.command == "gate":
        return _gate(args)
    if args.command == "finetune":
        return _finetune(args)
    if args.command == "claims":
        from helpers.claims import measure, update_readme, write_ledger

        if not args.ledger_only:
            measure()
        table = write_ledger()
        update_readme(table)
        print(table)
        return 0

    if args.command == "reproduce":
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        unknown = sorted(set(args.datasets) - set(available_datasets()))
        if unknown:
            print(f"error: unknown dataset(s) {unknown}; shipped: {available_datasets()}", file=sys.stderr)
            return 2
        try:
            suffix = "quick" if args.quick else "" if args.protocol == "known_corpus" else args.protocol
            out = args.out or "/".join(p for p in ("results", suffix) if p)
            runs = args.runs or ("runs/quick" if args.quick else "-".join(p for p in ("runs/ladder", suffix) if p))
            # rung names have spaces; on a command line "hard-negatives" is easier to type
            recompute = "all" if args.recompute == ["all"] else [
                {"hard-negatives": "hard negatives"}.get(r, r) for r in args.recompute]
            settings = LadderSettings(max_pairs=args.max_pairs, max_epochs=args.max_epochs, learning_rate=args.lr,
                                      batch_size=args.batch_size)
            reproduce(args.datasets, protocol=args.protocol, out_dir=out, runs_dir=runs, settings=settings,
                      recompute=recompute, quick=args.quick)
        except (DataError, LadderError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


def _gate(args) -> int:
    try:
        if args.report:
            report = ForgettingReport.from_dict(json.loads(open(args.report, encoding="utf-8").read()))
        else:
            if not args.domain:
                print("error: --candidate needs --domain (the dataset it was fine-tuned for)", file=sys.stderr)
                return 2
            report = forgetting_check(load_model(args.candidate), load_model(args.base),
                                      load_dataset(args.domain).split("test"), load_dataset(args.general).split("test"),
                                      domain_name=args.domain, general_name=args.general)
            if args.write_report:
                write_json(args.write_report, report.to_dict())
    except (OSError, ValueError, KeyError, LookupError, TypeError, AttributeError) as e:  # incl. bad JSON
        print(f"error: {args.report or args.candidate}: {e}", file=sys.stderr)
        return 2
    print(report.table().to_string())
    gate = release_gate(report, GateConfig(args.min_lift, not args.allow_ci_zero, args.max_general_drop))
    print(gate)
    return 0 if gate.passed else 1


FINETUNE_HELP = """\
Raw documents in, a fine-tuned, evaluated, gated model out: chunk the documents, have an LLM write
queries for them, filter those, mine hard negatives, fine-tune, evaluate against the base model
(with 95% CIs, on the domain and on a general set for forgetting), apply the release gate, and
write the model, its manifest and a report (Markdown + HTML with plots) to --out.

Each stage is skipped when its output exists for the same inputs: run it again after a crash or
a changed option and only what changed is redone. Bad input stops the run before any model loads.
Exit status: 0 when the release gate passes, 1 when it fails, 2 on bad input.

Scaling out (see docs/one-command.md): generation against vLLM with --llm-base-url; training on several
GPUs with `torchrun --nproc_per_node N -m helpers finetune ... --only train` (or `accelerate launch
--multi_gpu`) after a run with --until mine; corpus encoding on several devices with
--encode-devices cuda:0 cuda:1.
"""


def _add_finetune(sub) -> None:
    d = FinetuneConfig("", "")
    fp = sub.add_parser("finetune", help="your own documents to a gated, fine-tuned model (one command)",
                        description=FINETUNE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = fp.add_argument_group("input")
    g.add_argument("--corpus", required=True,
                   help="a folder of .txt/.md/.rst/.html files (recursive), a .jsonl or .csv/.tsv file with an id "
                        "and a text column, or a BEIR folder (corpus.jsonl [+ queries.jsonl, qrels/test.tsv])")
    g.add_argument("--out", required=True, help="folder for the model, report and every intermediate file")
    g.add_argument("--queries", help="gold queries, JSONL {\"_id\", \"text\"}: evaluate on these instead of held-out "
                                     "synthetic queries (needs --qrels)")
    g.add_argument("--qrels", help="TSV query-id<TAB>corpus-id<TAB>score; corpus ids may name documents or chunks")
    g.add_argument("--id-column", help="JSONL/CSV: the id column (default: _id or id)")
    g.add_argument("--text-column", default=d.text_column, help="JSONL/CSV: the text column (default: %(default)s)")
    g.add_argument("--chunk-words", type=int, default=d.chunk_words,
                   help="longest chunk, in words; 0 keeps documents whole (default: %(default)s)")
    g.add_argument("--overlap-words", type=int, default=d.overlap_words,
                   help="words shared by consecutive chunks (default: %(default)s)")
    g.add_argument("--skip-bad-files", action="store_true",
                   help="leave out binary or non-UTF-8 files of a folder (listed in the report) instead of stopping")
    g = fp.add_argument_group("your own training queries (a BEIR folder's qrels/train.tsv is read on its own)")
    g.add_argument("--query-log", help="a search log to train on: CSV, TSV or JSONL rows of (query, document or chunk "
                                       "id[, clicks]); repeated rows are summed")
    g.add_argument("--query-column", default=d.query_column, help="the log's query column (default: %(default)s)")
    g.add_argument("--doc-column", default=d.doc_column, help="the log's document-id column (default: %(default)s)")
    g.add_argument("--clicks-column", default=d.clicks_column,
                   help="the log's click or score column; 'none': every row counts once (default: %(default)s)")
    g.add_argument("--min-clicks", type=float, default=d.min_clicks,
                   help="a (query, document) pair needs this many clicks in all to be trained on (default: %(default)s)")
    g.add_argument("--train-queries", help="labelled training queries, JSONL {\"_id\", \"text\"} (needs --train-qrels)")
    g.add_argument("--train-qrels", help="their judgments, TSV query-id<TAB>corpus-id<TAB>score")
    g.add_argument("--split-by", choices=("query", "document"), default=d.split_by,
                   help="without gold test queries, test and dev are held out of the labelled ones: by query, or by "
                        "document (no test document is relevant to a training query) (default: %(default)s)")
    g.add_argument("--synthetic", choices=SYNTHETIC_MIX, default=d.synthetic,
                   help="with labelled training queries, which chunks the LLM still writes queries for: all, those "
                        "no labelled query points at, or none; 'none' was best on ICD-10-CM's dev queries with the "
                        "default 270M writer (benchmarks/own_labels.py) (default: %(default)s)")
    g = fp.add_argument_group("without labelled training queries")
    g.add_argument("--label-free", choices=LABEL_FREE, default=d.label_free,
                   help="what to train on: crops of the chunks (a random span of a chunk's words as its query; no "
                        "LLM), the LLM's queries, or both; or headings (each heading of a document, after its "
                        "title, as the query of the chunk it heads; no LLM). Without gold queries the LLM still "
                        "writes the held-out test queries (default: %(default)s)")
    g = fp.add_argument_group("synthetic queries")
    g.add_argument("--llm", default=d.llm, help="local GGUF writer: gemma3-270m, smollm2-135m, qwen2.5-coder-0.5b, "
                                                "qwen2.5-coder-1.5b (instruct: chat template) or a .gguf path "
                                                "(default: %(default)s)")
    g.add_argument("--llm-base-url", help="an OpenAI-compatible server instead (vLLM, llama.cpp, Ollama...), "
                                          "e.g. http://localhost:8000/v1")
    g.add_argument("--llm-model", help="the model name that server serves")
    g.add_argument("--llm-mode", choices=("completions", "chat"), default=d.llm_mode,
                   help="completions (few-shot prompt) or chat (messages) (default: %(default)s)")
    g.add_argument("--llm-api-key-env", default=d.llm_api_key_env,
                   help="environment variable holding the server's key; the key is never written anywhere "
                        "(default: %(default)s)")
    g.add_argument("--llm-concurrency", type=int, default=d.llm_concurrency,
                   help="requests in flight to the server (default: %(default)s)")
    g.add_argument("--llm-timeout", type=float, default=d.llm_timeout, help="seconds per request (default: %(default)s)")
    g.add_argument("--llm-cache", help="file of the LLM's answers, one per job; runs naming the same file share the answers "
                                       "already written (default: OUT/cache/llm_queries.jsonl)")
    g.add_argument("--styles", nargs="+", default=list(d.styles), choices=list(STYLES),
                   help="query styles; each chunk gets one, chosen by a hash of its id, so that adding documents "
                        "leaves every cached answer valid (default: %(default)s)")
    g.add_argument("--llm-examples", metavar="FILE",
                   help='your own few-shot examples, JSONL: {"query": ..., "document": <the passage\'s text>} per line, '
                        "1 to 8 of them; the LLM then writes queries like them (Promptagator) instead of --styles")
    g.add_argument("--round-trip", choices=ROUND_TRIP, default=d.round_trip,
                   help="keep an LLM training query only if the base model finds its chunk in its top 10. auto: for "
                        "queries that supplement labelled ones, not without labels (there dev preferred the "
                        "model-free filters alone: benchmarks/llm_filters.py) nor for --llm-examples' style "
                        "(default: %(default)s)")
    g.add_argument("--queries-per-chunk", type=int, default=d.queries_per_chunk,
                   help="queries written per chunk (default: %(default)s)")
    g.add_argument("--temperature", type=float, default=d.temperature,
                   help="LLM sampling temperature: higher gives more varied queries (default: %(default)s)")
    g.add_argument("--max-tokens", type=int, default=d.max_tokens, help="longest query, in tokens (default: %(default)s)")
    g = fp.add_argument_group("evaluation and gate")
    g.add_argument("--eval-fraction", type=float, default=d.eval_fraction,
                   help="without gold queries: share of synthetic queries held out, by chunk (default: %(default)s)")
    g.add_argument("--max-eval-queries", type=int, default=d.max_eval_queries,
                   help="cap on the held-out test queries; the rest train (default: %(default)s)")
    g.add_argument("--general", default=d.general,
                   help="held-out general-domain dataset for the forgetting check (default: %(default)s)")
    g.add_argument("--min-lift", type=float, default=d.min_lift,
                   help="domain recall@10 points the model must gain (default: %(default)s)")
    g.add_argument("--max-general-drop", type=float, default=d.max_general_drop,
                   help="general recall@10 points it may lose (default: %(default)s)")
    g.add_argument("--allow-ci-zero", action="store_true", help="do not require the domain gain's CI to exclude zero")
    g = fp.add_argument_group("mining and training")
    g.add_argument("--base-model", default=d.base_model, help="model to fine-tune: short name or folder (default: %(default)s)")
    g.add_argument("--judge", default=d.judge,
                   help="stronger model that rescores mined candidates before the margin; 'none' uses the base "
                        "model (default: %(default)s)")
    g.add_argument("--num-negatives", type=int, default=d.num_negatives,
                   help="hard negatives per training query (default: %(default)s)")
    g.add_argument("--range-max", type=int, default=d.range_max, help="deepest rank a negative comes from (default: %(default)s)")
    g.add_argument("--relative-margin", type=float, default=d.relative_margin,
                   help="a negative must score below (1 - margin) x the positive's score; negative: no margin "
                        "(default: %(default)s)")
    g.add_argument("--without-negative", choices=WITHOUT_NEGATIVE, default=d.without_negative,
                   help="a training query whose mined candidates all fell to the margin: train it with a random "
                        "document as its negative (as a plain pair trains), or drop it; chosen on the shipped "
                        "datasets' dev queries (results/mining_fill.md) (default: %(default)s)")
    g.add_argument("--epochs", type=float, default=d.epochs, help="passes over the training examples (default: %(default)s)")
    g.add_argument("--keep-best-epoch", action="store_true",
                   help="score the model on dev queries after every epoch and keep the best epoch's weights, so "
                        "--epochs is the most you will pay for. Dev: your labelled dev queries (a BEIR qrels/dev.tsv, "
                        "or held out of your labelled queries), or without labels held-out synthetic ones")
    g.add_argument("--learning-rate", type=float, default=d.learning_rate,
                   help="peak learning rate, after 10%% warm-up (default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="per process (default: %(default)s)")
    g.add_argument("--max-seq-length", type=int, default=d.max_seq_length, help="tokens per text in training (default: %(default)s)")
    g.add_argument("--save-steps", type=int, default=d.save_steps,
                   help="checkpoint every N steps so that a killed training resumes; 0: no checkpoints (default: %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed,
                   help="one seed for the held-out split, LLM sampling, mining and training (default: %(default)s)")
    g = fp.add_argument_group("engines and stages")
    g.add_argument("--encode-devices", nargs="+",
                   help="encode with sentence-transformers' multi-process pool on these devices, e.g. cuda:0 cuda:1")
    g.add_argument("--until", choices=STAGES, help="stop after this stage")
    g.add_argument("--only", choices=STAGES,
                   help="run just this stage (the earlier ones must be done): under torchrun / accelerate launch, --only train")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def _finetune(args) -> int:
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    if args.judge and args.judge.lower() == "none":
        args.judge = None
    if args.clicks_column and args.clicks_column.lower() == "none":
        args.clicks_column = None
    if args.relative_margin is not None and args.relative_margin < 0:
        args.relative_margin = None
    before = os.environ.get("TQDM_DISABLE")
    if args.quiet:
        os.environ["TQDM_DISABLE"] = "1"  # also the bars of libraries that offer no switch
    try:
        result = run_pipeline(config_from_args(args), show_progress_bar=not args.quiet)
    except (DataError, PipelineError, ModelNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: the stages that finished are kept in {args.out}/stages/ (and LLM answers and "
              "embeddings item by item); run the same command again to resume", file=sys.stderr)
        return 130
    finally:  # main() may be called in-process (tests, notebooks): leave the environment as it was
        if bars_were_on:
            hf_logging.enable_progress_bar()
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before
    if "report" in result.stages:
        print(f"report: {result.report_path}")
    return 0 if result.gate_passed in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main())
