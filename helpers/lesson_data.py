"""The data a lesson runs on: a shipped dataset, your labelled folder, or a plain folder of documents.

Every lesson's parameter cell names its data, and :func:`load_lesson_data` reads it in any of the
forms a reader has it:

- a **shipped dataset** by name (``"icd10cm"``), or a folder of the **course layout**
  (``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``, optionally ``splits.json``);
- a **BEIR folder** (``corpus.jsonl``, ``queries.jsonl``, ``qrels/{train,dev,test}.tsv``, any of them,
  no ``meta.json`` needed): a missing dev set is carved from train, a missing train set is split out
  of the judged queries (:func:`helpers.data.load_dataset` says which in ``meta["notes"]``);
- **documents without labels**: a folder of ``.txt``/``.md``/``.html`` files, a ``.jsonl``/``.csv``
  file, or a BEIR folder with no qrels. The lesson then gets its queries the way
  ``python -m helpers finetune`` does: chunks held out at random get test (and dev) queries written by
  a local LLM, and no training query points at them; the training queries are label-free (crops of
  the other chunks, and their headings). The stages are the command's own
  (:class:`helpers.pipeline.Pipeline`, up to ``split``), kept under ``.cache/lesson_data/`` so a second
  run writes nothing again.

Too few labelled queries, a folder that is not a dataset, an empty folder: :class:`~helpers.data.DataError`
(or :class:`~helpers.corpus.CorpusError`) before any model loads, naming the file and what to do.

>>> ds = load_lesson_data("wordnet")
>>> print(ds.describe())  # doctest: +ELLIPSIS
wordnet (course layout): 2,879 documents; queries: 4,148 train, 200 dev, 500 test (known_corpus)
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.data import DEFAULT_PROTOCOL, DataError, RetrievalDataset, load_dataset, resolve_dataset_path
from helpers.io import COURSE_CACHE, fingerprint_texts

#: the fewest test, training and dev queries a lesson's figures can say anything with (the command's minimums;
#: dev: Lesson 1's pilot and Lesson 5's interpolation choose on it)
MIN_TEST_QUERIES = 20
MIN_TRAIN_QUERIES = 10
MIN_DEV_QUERIES = 5


def is_labelled(path: Path) -> bool:
    """Whether ``path`` is meant as a dataset with judged queries (course layout or BEIR) rather than
    documents alone: it holds queries or judgments (:func:`~helpers.data.load_dataset` then checks it)."""
    return path.is_dir() and any((path / name).exists() for name in ("queries.jsonl", "qrels.tsv", "qrels"))


def load_lesson_data(source: str | Path, sample: dict[str, int] | None = None, writer: str = "gemma3-270m",
                     work: str | Path | None = None, show_progress_bar: bool = True) -> RetrievalDataset:
    """The dataset a lesson runs on, with train, dev and test queries, from ``source`` in any of the
    forms of the module docstring; ``sample`` slices it for a quick run (:meth:`RetrievalDataset.subsample`).

    For documents without labels, ``writer`` (a local GGUF writer, :data:`helpers.writers.WRITERS`)
    writes the held-out test and dev queries, and ``work`` (default: a folder under ``.cache/lesson_data``
    named by the documents' path) keeps the stages' outputs.
    """
    path = Path(source)
    if not path.exists():
        path = resolve_dataset_path(source)  # a shipped name, or a clear error naming both places looked in
    if is_labelled(path):
        ds = load_dataset(path)
        _check_sizes(ds, path)
    elif path.is_dir() and not any(path.iterdir()):
        raise DataError(f"{path}: the folder is empty: give a folder of documents (.txt, .md, .html), a .jsonl or "
                        ".csv file of them, or a labelled dataset (corpus.jsonl, queries.jsonl and qrels)")
    else:
        ds = _from_documents(path, writer, work, show_progress_bar)
        if len(ds.splits[DEFAULT_PROTOCOL]["dev"]) < MIN_DEV_QUERIES:
            raise DataError(f"{path}: {len(ds.corpus)} chunks leave {len(ds.splits[DEFAULT_PROTOCOL]['dev'])} dev "
                            f"queries (at least {MIN_DEV_QUERIES} needed): give more documents")
    return ds if sample is None else ds.slice(sample)


def _check_sizes(ds: RetrievalDataset, path: Path) -> None:
    parts = ds.splits[DEFAULT_PROTOCOL]
    test, train, dev = (len(parts.get(s, [])) for s in ("test", "train", "dev"))
    if test < MIN_TEST_QUERIES or train < MIN_TRAIN_QUERIES or dev < MIN_DEV_QUERIES:
        raise DataError(
            f"{path}: {len(ds.queries)} labelled queries give {test} test, {train} training and {dev} dev queries; the "
            f"lessons need at least {MIN_TEST_QUERIES}, {MIN_TRAIN_QUERIES} and {MIN_DEV_QUERIES}. Judge more queries, or "
            "move queries.jsonl and the qrels out of the folder: the lessons then write their own (label-free "
            "training queries, held-out test queries by a local LLM), as `python -m helpers finetune` does")


def _from_documents(path: Path, writer: str, work: str | Path | None, show_progress_bar: bool) -> RetrievalDataset:
    """The command's stages up to ``split`` on documents without labels, read back as a dataset."""
    from helpers.pipeline import FinetuneConfig, Pipeline  # the pipeline imports much; only this path needs it

    work = Path(work) if work else COURSE_CACHE / "lesson_data" / f"{path.name}-{fingerprint_texts([str(path.resolve())])[:10]}"
    # keep_best_epoch: the split stage holds out dev queries too; judge=None: nothing here mines
    cfg = FinetuneConfig(corpus=str(path), out=str(work), llm=writer, judge=None, keep_best_epoch=True, until="split")
    pipe = Pipeline(cfg, show_progress_bar=show_progress_bar)  # preflight: bad input stops here, before any model
    pipe.chunks(), pipe.queries()
    info = pipe.split()["info"]
    rows = {name: pipe._read_jsonl(f"{name}_queries.jsonl") for name in ("train", "dev", "eval")}
    queries, relevant, split_ids = {}, {}, {}
    for split, name in (("train", "train"), ("dev", "dev"), ("test", "eval")):
        split_ids[split] = []
        for row in rows[name]:
            queries[row["_id"]] = row["text"]
            relevant[row["_id"]] = set(row.get("relevant") or row["chunks"])
            split_ids[split].append(row["_id"])
    training = ", ".join(f"{info[k]:,} {what}" for k, what in
                         (("crop training queries", "crops"), ("heading training queries", "headings")) if info.get(k))
    notes = [f"{len(pipe.corpus.documents):,} documents cut into {len(pipe.corpus.chunks):,} chunks of at most "
             f"{cfg.chunk_words} words; no labels, so the queries are made as `python -m helpers finetune` makes them",
             f"test and dev: {len(split_ids['test'])} and {len(split_ids['dev'])} queries written by {writer} for chunks "
             "held out at random (no training query points at them); scores on them are the writer's questions, "
             "not your users'",
             f"train: label-free queries of the other chunks ({training})",
             *pipe.corpus.notes]
    # the held-out chunks are never trained on: the split is both protocols at once
    splits = {protocol: {s: list(ids) for s, ids in split_ids.items()}
              for protocol in (DEFAULT_PROTOCOL, "unseen_documents")}
    return RetrievalDataset(name=path.stem if path.is_file() else path.name, corpus=pipe.corpus.texts,
                            queries=queries, relevant=relevant, splits=splits,
                            meta={"name": path.name, "layout": "documents", "notes": notes, "work": str(work),
                                  "writer": writer, "split": json.loads(json.dumps(
                                      {k: v for k, v in info.items() if k != "examples"}, default=str))},
                            path=path)


def write_example_folders(out: str | Path, dataset: str = "aws_docs", n_docs: int = 160,
                          beir_sample: dict[str, int] | None = None, seed: int = 0) -> dict[str, Path]:
    """Two folders as a reader would bring them, made from a shipped dataset's real text, for trying a
    lesson on data that is not shipped: ``beir`` (a BEIR folder with ``qrels/train.tsv`` and
    ``qrels/test.tsv``, no dev file, no ``meta.json``; of a slice ``beir_sample`` when given, as
    :meth:`~helpers.data.RetrievalDataset.slice` takes it) and ``documents`` (``n_docs`` of its documents as ``.txt`` files, one
    folder per id prefix, no labels).

    >>> import tempfile
    >>> folders = write_example_folders(tempfile.mkdtemp())
    >>> sorted(p.name for p in folders["beir"].iterdir()), len(list(folders["documents"].rglob("*.txt")))
    (['corpus.jsonl', 'qrels', 'queries.jsonl'], 160)
    """
    import random

    from helpers.data import write_beir

    shipped = load_dataset(dataset)
    out = Path(out)
    labelled = shipped.slice(beir_sample) if beir_sample else shipped
    beir = write_beir(out / f"{dataset}_beir", {s: labelled.split(s) for s in ("train", "test")})
    documents = out / f"{dataset}_documents"
    ids = sorted(shipped.corpus)
    random.Random(seed).shuffle(ids)
    for doc_id in ids[:n_docs]:
        # "s3.DeleteBucket" -> s3/DeleteBucket.txt: ids with a dot become a folder and a file name
        file = documents / (doc_id.replace(".", "/", 1) if "." in doc_id else doc_id)
        file = file.with_name(file.name.replace("/", "_") + ".txt")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(shipped.corpus[doc_id] + "\n", encoding="utf-8")
    return {"beir": beir, "documents": documents}
