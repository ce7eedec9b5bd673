"""``python -m helpers finetune`` on a reader's files as they change and as they come: a stage is never
reused after something it reads changed, a reader's file is never written, judgments are read as what
they are (TREC or BEIR, scores of 0 or less), no labelled file is left unused without a word, and bad
options stop before any work (exit 2, no traceback)."""

import json
import shutil

import pytest

from test_pipeline import GIT_DOCS, finetune
from test_pipeline import stage_lines as stage_states

from helpers.data import load_dataset, save_dataset
from helpers.pipeline import STAGES

QUICK = ["--judge", "none", "--batch-size", "8", "--quiet"]


def _jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def icd():
    return load_dataset("icd10cm")


@pytest.fixture(scope="module")
def general(tmp_path_factory):
    root = tmp_path_factory.mktemp("general")
    small = load_dataset("gcide").subsample(300, {"train": 0, "dev": 0, "test": 60})
    save_dataset(root / "gcide-small", small.corpus, small.queries, small.relevant, {"name": "gcide-small"},
                 "GCIDE subsample for tests", n_test=60, n_dev=0)
    return root / "gcide-small"


def labelled_beir(root, icd, n_train=48, n_test=24, extra=12):
    """A BEIR folder of real ICD-10-CM text: training and test queries with their codes, and some other codes."""
    split = icd.splits["known_corpus"]
    train, test = split["train"][:n_train], split["test"][:n_test]
    docs = sorted({d for q in [*train, *test] for d in icd.relevant[q]})
    docs += sorted(set(icd.corpus) - set(docs))[:extra]
    (root / "qrels").mkdir(parents=True)
    _jsonl(root / "corpus.jsonl", ({"_id": d, "text": icd.corpus[d]} for d in docs))
    _jsonl(root / "queries.jsonl", ({"_id": q, "text": icd.queries[q]} for q in [*train, *test]))
    for name, qids in (("train", train), ("test", test)):
        (root / "qrels" / f"{name}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t1\n" for q in qids for d in sorted(icd.relevant[q])))
    return root, test


def rewrite_documents(root, icd, ids, n_new=5):
    """Give ``ids`` the texts of codes the corpus does not hold, and add ``n_new`` more such codes."""
    rows = [json.loads(line) for line in open(root / "corpus.jsonl")]
    have = {r["_id"] for r in rows}
    others = iter(sorted(set(icd.corpus) - have, reverse=True))
    for r in rows:
        if r["_id"] in ids:
            r["text"] = icd.corpus[next(others)]
    rows += [{"_id": d, "text": icd.corpus[d]} for d in (next(others) for _ in range(n_new))]
    _jsonl(root / "corpus.jsonl", rows)
    return len(rows)


def test_an_edited_document_reruns_every_stage_that_reads_it_and_the_report_is_the_new_corpus(
        tmp_path, icd, general, capsys):
    beir, test = labelled_beir(tmp_path / "beir", icd)
    out = tmp_path / "out"
    run = ["--corpus", beir, "--out", out, "--general", general, *QUICK]
    finetune(*run)
    first = json.loads((out / "evaluation.json").read_text())
    printed = capsys.readouterr()
    assert set(stage_states(printed.out).values()) == {"ran"}
    assert "Computing widget examples" not in printed.out + printed.err  # --quiet is quiet
    finetune(*run)  # nothing changed: nothing runs
    assert set(stage_states(capsys.readouterr().out).values()) == {"cached"}

    # five documents that test queries need are rewritten, five new ones added: the case
    tested = sorted({d for q in test[:5] for d in icd.relevant[q]})
    n_docs = rewrite_documents(beir, icd, tested)
    finetune(*run)
    assert stage_states(capsys.readouterr().out) == dict.fromkeys(STAGES[:-1], "ran")
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation != first
    assert f"{n_docs} documents" in (out / "report.md").read_text()
    # the reported figure is what the stored model scores on the corpus as it is now
    from helpers.models import load_model
    from helpers.pipeline import FinetuneConfig, Pipeline, evaluate_domain

    pipe = Pipeline(FinetuneConfig(str(beir), str(out), general=str(general)), show_progress_bar=False)
    split, level = pipe.eval_split()
    now = evaluate_domain(load_model(out / "model"), split, pipe.corpus.source_of, pipe.cache, "fine-tuned", level)
    assert now.summary()["recall@10"] == evaluation["metrics"]["domain/fine-tuned"]["recall@10"]
    texts = {r["_id"]: r["text"] for r in map(json.loads, open(beir / "corpus.jsonl"))}
    assert all(any(t == texts[d] for t in pipe.corpus.texts.values()) for d in tested)


@pytest.mark.parametrize("path", ["query log", "crops with gold", "llm queries"])
def test_each_training_path_redoes_its_split_and_mining_after_a_document_edit(tmp_path, icd, general, capsys, path):
    beir, test = labelled_beir(tmp_path / "beir", icd)
    if path == "query log":  # the folder's train.tsv as a click log, and no train.tsv
        rows = [f'"{icd.queries[q]}",{d},3' for q in icd.splits["known_corpus"]["train"][:48] for d in icd.relevant[q]]
        (tmp_path / "log.csv").write_text("query,doc_id,clicks\n" + "\n".join(rows) + "\n")
        (beir / "qrels" / "train.tsv").unlink()
        extra = ["--query-log", tmp_path / "log.csv"]
    elif path == "crops with gold":
        (beir / "qrels" / "train.tsv").unlink()
        extra = ["--label-free", "crops"]
    else:
        (beir / "qrels" / "train.tsv").unlink()
        extra = ["--label-free", "llm", "--llm-cache", tmp_path / "llm_answers.jsonl"]
    run = ["--corpus", beir, "--out", tmp_path / "out", "--general", general, *QUICK, *extra, "--until", "mine"]
    assert finetune(*run) == 0
    capsys.readouterr()
    rewrite_documents(beir, icd, {json.loads(open(beir / "corpus.jsonl").readline())["_id"]}, n_new=2)
    assert finetune(*run) == 0
    states = stage_states(capsys.readouterr().out)
    assert states["chunks"] == states["split"] == states["mine"] == "ran", states
    assert finetune(*run) == 0
    assert set(stage_states(capsys.readouterr().out).values()) == {"cached"}


def test_a_new_base_model_under_the_same_name_is_a_new_input(tmp_path, icd, general, capsys):
    beir, _ = labelled_beir(tmp_path / "beir", icd)
    from helpers.models import load_model

    load_model("minilm").save(str(tmp_path / "student"))
    run = ["--corpus", beir, "--out", tmp_path / "out", "--general", general, *QUICK, "--base-model",
           tmp_path / "student", "--until", "mine"]
    assert finetune(*run) == 0
    capsys.readouterr()
    weights = tmp_path / "student" / "model.safetensors"
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    name = next(k for k in tensors if k.endswith("LayerNorm.weight"))
    tensors[name] = tensors[name] * 1.01  # other weights, same folder name
    save_file(tensors, weights)
    assert finetune(*run) == 0
    states = stage_states(capsys.readouterr().out)
    assert states["chunks"] == "cached" and states["split"] == states["mine"] == "ran", states


# ----------------------------------------------------------------------------- the reader's files


@pytest.mark.parametrize("option, inside", [
    ("--corpus", "chunks.jsonl"), ("--train-queries", "train_queries.jsonl"), ("--general", "general")])
def test_an_input_inside_out_is_refused_and_left_as_it_was(tmp_path, icd, general, capsys, option, inside):
    beir, _ = labelled_beir(tmp_path / "beir", icd)
    out = tmp_path / "out"
    out.mkdir()
    if option == "--corpus":
        shutil.copyfile(beir / "corpus.jsonl", out / inside)
        args = ["--corpus", out / inside]
    elif option == "--train-queries":
        shutil.copyfile(beir / "queries.jsonl", out / inside)
        shutil.copyfile(beir / "qrels" / "train.tsv", out / "train.tsv")
        (beir / "qrels" / "train.tsv").unlink()
        args = ["--corpus", beir, "--train-queries", out / inside, "--train-qrels", out / "train.tsv"]
    else:
        shutil.copytree(general, out / inside)
        args = ["--corpus", beir, "--general", out / inside]
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert finetune(*args, "--out", out, *QUICK) == 2
    assert f"is inside --out {out}" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("args, message", [
    (["--epochs", "inf"], "--epochs must be a finite number, got inf"),
    (["--min-lift", "nan"], "--min-lift must be a finite number, got nan"),
    (["--max-general-drop", "nan"], "--max-general-drop must be a finite number"),
    (["--until", "mine", "--only", "train"], "give --until or --only, not both"),
    (["--chunk-words", "0", "--overlap-words", "10"], "--overlap-words 10 needs chunks"),
    (["--without-negative", "hardest"], "invalid choice: 'hardest'"),
])
def test_bad_options_stop_before_any_work_with_exit_2(tmp_path, capsys, args, message):
    code = None
    try:
        code = finetune("--corpus", GIT_DOCS, "--out", tmp_path / "out", *args)
    except SystemExit as e:  # argparse's own refusal (a choice it does not know): exit 2 too
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_out_that_cannot_be_made_is_exit_2_not_a_traceback(tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    assert finetune("--corpus", GIT_DOCS, "--out", tmp_path / "a-file" / "run") == 2
    assert "is a file, so no folder can be made under it" in capsys.readouterr().err
    assert finetune("--corpus", GIT_DOCS, "--out", "/proc/embedding-course-run") == 2
    assert "cannot be written to" in capsys.readouterr().err


# ----------------------------------------------------------------------------- judgments


def test_trec_qrels_with_numeric_ids_are_read_as_trec_never_as_relevant_to_document_0(tmp_path, capsys):
    # numeric document ids, "0" among them: TREC's second column would name it if read as BEIR
    docs = {str(i): t for i, t in enumerate(load_dataset("gcide").corpus.values()) if i < 120}
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    _jsonl(beir / "corpus.jsonl", ({"_id": d, "text": t} for d, t in docs.items()))
    queries = {f"q{i}": " ".join(docs[str(i + 1)].split()[:6]) for i in range(40)}
    _jsonl(beir / "queries.jsonl", ({"_id": q, "text": t} for q, t in queries.items()))
    (beir / "qrels" / "test.tsv").write_text("".join(f"q{i} 0 {i + 1} 1\n" for i in range(40)))
    out = tmp_path / "out"
    assert finetune("--corpus", beir, "--out", out, "--label-free", "crops", "--until", "split", *QUICK) == 0
    rows = [json.loads(line) for line in open(out / "eval_queries.jsonl")]
    assert {r["_id"]: r["relevant"] for r in rows} == {f"q{i}": [str(i + 1)] for i in range(40)}
    # a file whose layout changes halfway is refused, naming the line
    (beir / "qrels" / "test.tsv").write_text("q0 0 1 1\nq1\t2\t1\n")
    assert finetune("--corpus", beir, "--out", tmp_path / "out2", "--label-free", "crops", *QUICK) == 2
    assert "test.tsv:2: 3 columns, but the file's first judgment (line 1) has 4" in capsys.readouterr().err


def test_scores_of_zero_or_less_are_judged_not_relevant_and_counted_and_nan_is_refused(tmp_path):
    from helpers.data import read_qrels

    path = tmp_path / "q.tsv"
    path.write_text("query-id\tcorpus-id\tscore\na\td1\t1\nb\td1\t0\nc\td2\t-1\nd\td3\tnan\n")
    problems = []
    assert read_qrels(path, problems) == [(2, "a", "d1", 1.0), (3, "b", "d1", 0.0), (4, "c", "d2", -1.0)]
    assert problems == [f"{path}:5: score 'nan' is not a finite number"]


# ----------------------------------------------------------------------------- labelled files


def test_a_beir_train_file_left_unused_for_a_query_log_is_named(tmp_path, icd, general, recwarn):
    beir, _ = labelled_beir(tmp_path / "beir", icd)
    rows = [f'"{icd.queries[q]}",{d},3' for q in icd.splits["known_corpus"]["train"][:48] for d in icd.relevant[q]]
    (tmp_path / "log.csv").write_text("query,doc_id,clicks\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"qrels/train.tsv \(48 judged queries\) is not trained on: --query-log"):
        assert finetune("--corpus", beir, "--out", out, "--query-log", tmp_path / "log.csv", "--until", "split",
                        *QUICK) == 0
    split = json.loads((out / "stages" / "split.json").read_text())["info"]
    assert any("is not trained on: --query-log" in n for n in split["labelled"]["notes"])


def test_a_dev_file_is_the_dev_set_with_or_without_a_test_file(tmp_path, icd):
    from helpers.pipeline import FinetuneConfig, Pipeline

    beir, test = labelled_beir(tmp_path / "beir", icd, n_train=80)
    dev = icd.splits["known_corpus"]["dev"][:20]
    rows = [json.loads(line) for line in open(beir / "queries.jsonl")]
    _jsonl(beir / "queries.jsonl", rows + [{"_id": q, "text": icd.queries[q]} for q in dev])
    docs = [json.loads(line) for line in open(beir / "corpus.jsonl")]
    have = {d["_id"] for d in docs}
    _jsonl(beir / "corpus.jsonl", docs + [{"_id": d, "text": icd.corpus[d]} for d in
                                          sorted({d for q in dev for d in icd.relevant[q]} - have)])
    (beir / "qrels" / "dev.tsv").write_text("".join(f"{q}\t{d}\t1\n" for q in dev for d in sorted(icd.relevant[q])))
    (beir / "qrels" / "test.tsv").unlink()  # test is then held out of train.tsv; dev.tsv stays the dev set
    run = Pipeline(FinetuneConfig(str(beir), str(tmp_path / "out")), show_progress_bar=False)
    assert set(run.labelled.dev.queries) == set(dev) and run.labelled.test.queries
    assert not set(run.labelled.test.queries) & set(dev)
    (beir / "qrels" / "train.tsv").unlink()  # judged dev queries only: no labels to train on, dev.tsv is dev
    run = Pipeline(FinetuneConfig(str(beir), str(tmp_path / "out2")), show_progress_bar=False)
    assert run.labelled is None and set(run.corpus.gold_dev.queries) == set(dev)


def test_the_same_id_in_two_files_for_two_texts_is_two_queries(tmp_path, icd):
    from helpers.pipeline import FinetuneConfig, Pipeline

    beir, test = labelled_beir(tmp_path / "beir", icd)
    (beir / "qrels" / "train.tsv").unlink()
    # training queries in files of their own whose ids are the test file's ids, for other texts
    train = icd.splits["known_corpus"]["train"][48:96]
    docs = {json.loads(line)["_id"] for line in open(beir / "corpus.jsonl")}
    rows = [json.loads(line) for line in open(beir / "corpus.jsonl")]
    _jsonl(beir / "corpus.jsonl", rows + [{"_id": d, "text": icd.corpus[d]} for d in
                                          sorted({d for q in train for d in icd.relevant[q]} - docs)])
    _jsonl(tmp_path / "train.jsonl", ({"_id": test[i % len(test)] + f"-{i // len(test)}" if i >= len(test) else test[i],
                                       "text": icd.queries[q]} for i, q in enumerate(train)))
    ids = [json.loads(line)["_id"] for line in open(tmp_path / "train.jsonl")]
    (tmp_path / "train.tsv").write_text("".join(f"{i}\t{d}\t1\n" for i, q in zip(ids, train) for d in icd.relevant[q]))
    run = Pipeline(FinetuneConfig(str(beir), str(tmp_path / "out"), train_queries=str(tmp_path / "train.jsonl"),
                                  train_qrels=str(tmp_path / "train.tsv")), show_progress_bar=False)
    shared = set(run.labelled.train.queries) & set(run.labelled.test.queries)
    assert len(shared) == len(test) and all(run.labelled.train.queries[q] != run.labelled.test.queries[q] for q in shared)


def test_split_by_where_gold_queries_are_the_test_set_says_it_changes_nothing(tmp_path, icd):
    from helpers.pipeline import FinetuneConfig, preflight

    beir, _ = labelled_beir(tmp_path / "beir", icd)
    with pytest.warns(UserWarning, match="--split-by document chooses how test and dev are held out"):
        preflight(FinetuneConfig(str(beir), str(tmp_path / "out"), split_by="document"))
