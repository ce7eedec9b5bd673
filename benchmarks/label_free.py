"""Label-free training sources compared on gold queries (issue #15; Lesson 4 reads the table).

    python scripts/generate_synthetic.py icd10cm     # first, where the dataset has no synthetic set yet
    python benchmarks/label_free.py                  # ICD-10-CM: six fine-tunes, ~7 min on 2 cores
    python benchmarks/label_free.py --sources gold crops --dataset clinical_abbrev --n 1600
    python benchmarks/label_free.py --writers gemma3-270m qwen2.5-coder-1.5b   # each LLM row once per writer

Every row fine-tunes the student from the same start with Lesson 4's settings, fixed in advance
(MNRL unless said, 1 epoch, lr 5e-5, batch 32, seed 12), on the same number of examples ``N`` (by
default the number of the LLM's queries that survive Lesson 4's filters), and is scored twice on
gold queries no source ever saw: recall@10 on the **dev** split (what a choice between sources may
read) and on the **test** split, with the paired (cluster) bootstrap CI of the lift over no
fine-tuning. The sources:

- ``gold``: N gold training pairs. The reference: it needs labels, the others do not.
- ``llm``: the LLM's queries that pass Lesson 4's filters (round trip with minilm, top 10), MNRL.
- ``promptagator``: the same LLM prompted Promptagator's way (Dai et al., 2022): 8 of the dataset's own
  training pairs are the only examples, so it copies the domain's query style
  (``scripts/generate_synthetic.py --shots 8``, ``data/<dataset>/synthetic_shots/``). Not label-free:
  it stands for a reader who writes 8 queries by hand. Filtered by the model-free rules only, the
  filter dev preferred in ``benchmarks/llm_filters.py`` (on abbreviations the round trip would keep
  298 of 3,482: minilm cannot tell what an abbreviation stands for, which is what training should
  teach it). Where fewer than N pass, the row trains on all that pass (``pairs`` says how many).
- ``gpl``: GPL (Wang et al., 2022) with the course's parts: N of the LLM's queries *unfiltered*, one
  negative sampled from minilm's top 50 for each, and mpnet's margin
  ``cos(q, pos) - cos(q, neg)`` as the target of ``MarginMSELoss``. The teacher judges noisy queries
  instead of a filter dropping them.
- ``crops``: a random span (30-70 % of the words) of N documents as the query, the document as its
  positive (Contriever's cropping; no LLM at all, made in milliseconds).
- ``crops+llm``: N/2 of each.
- ``gold+llm``: the N gold pairs and every filtered LLM query besides: does the writer add to labels?
  Compared with ``gold``, paired (not label-free: the reference for ``--synthetic`` with labels).
- ``distil``: mpnet distilled into the student on domain text alone: GPL's recipe with the crops as
  queries (one negative from minilm's top 50, mpnet's margin, ``MarginMSELoss``). No LLM, no labels.

Every LLM row is made once per ``--writers`` (Gemma 3 270M by default; another writer's set is
``data/<dataset>/synthetic-<writer>/``, its rows named ``llm (<writer>)`` and so on), from the same N.
An LLM query that is a dev or test query of the dataset -- the same text with case, spacing and
punctuation folded, or a near duplicate (:class:`helpers.labelled.LeakGuard`) -- never trains: such
queries are dropped before anything else and counted (``leaks_dropped`` in the ``.json``).

``source_s`` is the compute to make a source's examples on these 2 cores: the LLM's seconds as
recorded in its cache, plus mining and mpnet's encoding for ``gpl`` and ``distil`` as this run measured
them (vectors an earlier run left in the course's embedding cache cost nothing: a cold ``distil`` on
ICD-10-CM took 29 s). ``train_s`` is the fine-tune's. A dataset without a synthetic set measures the other sources with
``--n`` and ``--sources gold crops distil``.
Writes ``label_free_<dataset>.csv`` (+ ``.json`` provenance, ``.per_query.npz``) to ``--out``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path

import _common  # (sets the offline environment; before any Hugging Face import)

OUT = Path(__file__).resolve().parent.parent / "data" / "lesson4"
DATASET = "icd10cm"
SOURCES = ("gold", "llm", "promptagator", "gpl", "crops", "crops+llm", "distil", "gold+llm")
PER_WRITER = ("llm", "promptagator", "gpl", "crops+llm", "gold+llm")  # the rows made once per writer
SYNTHETIC = {"llm": "synthetic", "promptagator": "synthetic_shots"}  # the folder of each LLM set in the dataset
WRITER = "gemma3-270m"  # whose sets keep the plain folder names and row names
SEED = 0  # for every sample drawn here (which queries, which documents, which negatives)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.dataset_arguments(ap, DATASET, OUT)
    ap.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES))
    ap.add_argument("--n", type=int, help="examples per row (default: the LLM's queries that survive the filters)")
    ap.add_argument("--writers", nargs="+", default=[WRITER],
                    help="the LLM rows once per writer (default: %(default)s); the first one's filtered queries set N")
    args = ap.parse_args()

    from transformers.utils import logging as hf_logging

    from helpers.data import RetrievalSplit
    from helpers.evaluation import course_cache, evaluate
    from helpers.experiments import Experiment
    from helpers.label_free import crop_pairs, teacher_margins
    from helpers.labelled import drop_leaks
    from helpers.mining import mine
    from helpers.models import load_model_cached
    from helpers.synthetic import QueryCache, as_split, filter_queries
    from helpers.training import TrainConfig

    hf_logging.disable_progress_bar()
    config = TrainConfig(epochs=1, learning_rate=5e-5, batch_size=32)
    exp = Experiment(args.dataset, runs_dir="runs/label_free", cache=course_cache())
    ds, dev = exp.dataset, exp.dataset.split("dev", exp.protocol)
    student = load_model_cached(exp.student)

    held_out = [t for split in ("dev", "test") for t in ds.split(split, exp.protocol).queries.values()]
    leaks: dict[str, int] = {}

    def llm_set(source: str, writer: str):
        """An LLM set's answered records (a dev or test query's text dropped and counted), those its filters
        keep (the round trip for ``llm``, the model-free rules for ``promptagator``), and its seconds per query
        as recorded."""
        folder = SYNTHETIC[source] + ("" if writer == WRITER else f"-{writer}")
        cache_file = ds.path / folder / "queries.jsonl"
        if not cache_file.exists():
            options = (" --shots 8" if source != "llm" else "") + ("" if writer == WRITER else f" --llm {writer}")
            raise SystemExit(f"{cache_file} is missing: run python scripts/generate_synthetic.py {args.dataset}{options} "
                             f"(or pass --n and leave out the LLM's sources)")
        answered = [r for r in QueryCache(cache_file).records.values() if r.query is not None]
        answered, leaks[folder] = drop_leaks(answered, held_out, text_of=lambda r: r.query)
        passed, report = filter_queries(answered, ds.corpus, model=student if source == "llm" else None, cache=exp.cache)
        print(f"{folder}: {leaks[folder]} dev or test queries dropped; {report}", flush=True)
        return answered, passed, sum(r.seconds for r in answered) / max(len(answered), 1)

    uses_llm = {"llm", "gpl", "crops+llm", "gold+llm"} & set(args.sources)
    sets = {w: llm_set("llm", w) for w in args.writers} if uses_llm or args.n is None else {}
    n = args.n or len(sets[args.writers[0]][1])

    def llm_pairs(k: int, passed) -> list[tuple[str, str]]:
        """``k`` of the filtered queries (all of them where fewer pass: the row's ``pairs`` says how many)."""
        k = min(k, len(passed))
        return as_split(random.Random(SEED).sample(passed, k) if k < len(passed) else passed, ds.corpus).pairs()

    ids_of = defaultdict(set)  # every id of a text: a document's duplicate is never its negative
    for doc_id, text in ds.corpus.items():
        ids_of[text].add(doc_id)

    def margins(pairs: list[tuple[str, str]]) -> list[tuple]:
        """GPL's labels: one negative from minilm's top 50 for each pair, mpnet's margin."""
        split = RetrievalSplit("margins", exp.protocol, {f"q{i}": q for i, (q, _) in enumerate(pairs)}, ds.corpus,
                               {f"q{i}": ids_of[doc] for i, (_, doc) in enumerate(pairs)})
        mined = mine(split, student, range_max=50, sampling="random", num_negatives=1, seed=SEED, cache=exp.cache)
        # one row per pair: a document and its duplicates share a text, so their rows are one row
        triplets = list(dict.fromkeys(mined.examples("triplet")))
        return teacher_margins(triplets, load_model_cached("mpnet"), exp.cache)

    def gpl(records) -> list[tuple]:
        return margins(as_split(random.Random(SEED).sample(records, min(n, len(records))), ds.corpus).pairs())

    def timed(make, llm_queries: int = 0, per_query: float = 0.0):
        t0 = time.perf_counter()
        examples = make()
        return examples, time.perf_counter() - t0 + llm_queries * per_query

    from sentence_transformers.sentence_transformer.losses import MarginMSELoss

    def has_set(source: str, writer: str) -> bool:
        return (ds.path / (SYNTHETIC[source] + ("" if writer == WRITER else f"-{writer}")) / "queries.jsonl").exists()

    rows, not_measured = [], []
    for source in args.sources:
        for writer in (args.writers if source in PER_WRITER else [None]):
            if source == "promptagator" and writer != args.writers[0] and not has_set(source, writer):
                # Promptagator's set is written per writer and costs an hour here: measured where it exists
                not_measured.append(f"promptagator ({writer}): no {SYNTHETIC[source]}-{writer} set; "
                                    f"python scripts/generate_synthetic.py {args.dataset} --shots 8 --llm {writer}")
                print(f"not measured: {not_measured[-1]}", flush=True)
                continue
            rows.append((source, writer))
    for source, writer in rows:
        loss = None
        records, kept, per_query = sets.get(writer, ([], [], 0.0))
        if source == "gold":
            examples, seconds = exp.dataset.split("train", exp.protocol).pairs()[:n], 0.0
        elif source == "llm":
            examples, seconds = timed(lambda: llm_pairs(n, kept), min(n, len(kept)), per_query)
        elif source == "promptagator":
            _, passed, per_query = llm_set(source, writer)
            examples, seconds = timed(lambda: llm_pairs(n, passed), min(n, len(passed)), per_query)
        elif source == "gpl":
            (examples, seconds), loss = timed(lambda: gpl(records), min(n, len(records)), per_query), MarginMSELoss
        elif source == "distil":
            (examples, seconds), loss = timed(lambda: margins(crop_pairs(ds.corpus, n=n, seed=SEED))), MarginMSELoss
        elif source == "gold+llm":
            examples, seconds = timed(lambda: exp.dataset.split("train", exp.protocol).pairs()[:n] + llm_pairs(len(kept), kept),
                                      len(kept), per_query)
        elif source == "crops":
            examples, seconds = timed(lambda: crop_pairs(ds.corpus, n=n, seed=SEED))
        else:
            examples, seconds = timed(lambda: crop_pairs(ds.corpus, n=n - n // 2, seed=SEED) + llm_pairs(n // 2, kept),
                                      n // 2, per_query)
        data = {"gold": "gold", "gold+llm": "gold", "promptagator": "8 labels"}.get(source, "label-free")  # labels used
        name = source if writer in (None, WRITER) else f"{source} ({writer})"
        row = exp.run(name, examples, config, loss=loss, data=data, source_s=round(seconds, 1),
                      **({"writer": writer} if writer else {}))
        row["dev_recall@10"] = round(100 * evaluate(exp.last_model, dev, exp.cache, name, ds.name).mean(), 1)
        print(f"{'':40s} dev recall@10 {row['dev_recall@10']:5.1f}", flush=True)

    exp.rows[0]["dev_recall@10"] = round(100 * evaluate(student, dev, exp.cache, exp.student, ds.name).mean(), 1)
    extra = ([f"--sources {' '.join(args.sources)}"] if list(args.sources) != list(SOURCES) else []) + (
        [f"--n {args.n}"] if args.n else []) + ([f"--writers {' '.join(args.writers)}"] if args.writers != [WRITER] else [])
    exp.save(args.out / f"label_free_{ds.name}.csv", _common.command_line("label_free.py", args, DATASET, *extra), config,
             leaks_dropped=leaks, not_measured=not_measured)


if __name__ == "__main__":
    main()
