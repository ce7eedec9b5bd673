"""``python -m helpers finetune`` end to end, on small real inputs: stages, caching, bad input,
gold queries from a real LLM server, and data-parallel training with ``torchrun`` on two CPU processes."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers.__main__ import main
from helpers.corpus import html_to_text
from helpers.data import DATA_DIR, load_dataset, save_dataset
from helpers.pipeline import STAGES, FinetuneConfig

GIT_DOCS = DATA_DIR / "raw" / "git-docs" / "docs"
FILES = ["git-merge.html", "git-clean.html", "git-reflog.html"]  # 84 chunks
# small and quick: no judge model, a large held-out share, small batches, crops only (the default adds the
# pages' headings, three times as many training queries here: tested at the split below)
FAST = ["--eval-fraction", "0.35", "--judge", "none", "--batch-size", "8", "--label-free", "crops", "--quiet"]


def finetune(*argv) -> int:
    return main(["finetune", *map(str, argv)])


def stage_lines(out: str) -> dict[str, str]:
    """'[stage] cached: ...' / '[stage] 12 s: ...' lines printed by a run -> {stage: 'cached' or 'ran'}
    (the report is rewritten on every run, from the stages' records: it is left out)."""
    states = {}
    for line in out.splitlines():
        if line.startswith("[") and "]" in line and line[1:line.index("]")] in STAGES[:-1]:
            stage = line[1:line.index("]")]
            states[stage] = "cached" if line[line.index("]") + 2:].startswith("cached") else "ran"
    return states


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("own_corpus")
    docs = root / "docs"
    docs.mkdir()
    for f in FILES:
        shutil.copyfile(GIT_DOCS / f, docs / f)
    # a small general set (GCIDE's first test queries) keeps the forgetting check quick
    small = load_dataset("gcide").subsample(300, {"train": 0, "dev": 0, "test": 60})
    save_dataset(root / "general", small.corpus, small.queries, small.relevant, {"name": "gcide-small"},
                 "GCIDE subsample for tests", n_test=60, n_dev=0)
    return root


@pytest.fixture(scope="module")
def mined(inputs):
    """A run up to and including mining, shared by the tests below. The LLM's answers for these chunks
    ship with the data (Gemma 3 270M, written by the same code): copied in, they are all cache hits."""
    out = inputs / "until_mine"
    (out / "cache").mkdir(parents=True)
    shutil.copyfile(GIT_DOCS.parent / "llm_queries.jsonl", out / "cache" / "llm_queries.jsonl")
    assert finetune("--corpus", inputs / "docs", "--out", out, "--general", inputs / "general", *FAST,
                    "--until", "mine") == 0
    return out


@pytest.mark.parametrize("make, args, message", [
    (lambda p: p.mkdir(), [], "the folder is empty"),
    (lambda p: (p.parent / "t.csv").write_text("name,body\nx,y\n"), [], r"t.csv:1: no column 'text'"),
    (lambda p: (p.mkdir(), (p / "a.md").write_text("just one short file")), [], "too small to split: 1 chunk"),
    (lambda p: shutil.copytree(GIT_DOCS, p), ["--general", "nowhere"], "no dataset 'nowhere'"),
    (lambda p: shutil.copytree(GIT_DOCS, p), ["--llm-base-url", "http://127.0.0.1:9/v1"], "needs --llm-model"),
    (lambda p: shutil.copytree(GIT_DOCS, p), ["--base-model", "no-such-model"], "no model 'no-such-model'"),
    (lambda p: shutil.copytree(GIT_DOCS, p), ["--overlap-words", "100"], "--overlap-words must be below --chunk-words"),
    (lambda p: shutil.copytree(GIT_DOCS, p), ["--max-eval-queries", "5"], "--max-eval-queries must be at least 20"),
])
def test_bad_input_stops_before_any_work(tmp_path, capsys, make, args, message):
    corpus = tmp_path / "in"
    make(corpus)
    if not corpus.exists():
        corpus = tmp_path / "t.csv"
    assert finetune("--corpus", corpus, "--out", tmp_path / "out", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written, nothing loaded


def test_full_run_writes_model_and_report_and_a_rerun_only_redoes_what_changed(mined, inputs, capsys, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(mined, out)
    args = ["--corpus", inputs / "docs", "--out", out, "--general", inputs / "general", *FAST]
    capsys.readouterr()
    rc = finetune(*args)
    first = stage_lines(capsys.readouterr().out)
    # exit 1 when the gate failed (a tiny training may well fail it), 0 when it passed
    assert rc == (0 if json.loads((out / "gate.json").read_text())["passed"] else 1)
    assert first == {**{s: "cached" for s in ("chunks", "queries", "split", "mine")}, "train": "ran", "evaluate": "ran"}
    assert (out / "model" / "model.safetensors").exists()
    manifest = json.loads((out / "model" / "training_manifest.json").read_text())
    assert manifest["world_size"] == 1 and manifest["n_pairs"] == sum(1 for _ in open(out / "train_examples.jsonl"))
    assert (rc == 0) == json.loads((out / "gate.json").read_text())["passed"]
    report = (out / "report.md").read_text()
    assert "held-out synthetic queries" in report and "![Recall@k" in report and "gcide-small" in report
    assert "training queries are crops" in report and "none of them trains" in report
    assert "data:image/png;base64," in (out / "report.html").read_text()
    eval_chunks = {r["relevant"][0] for r in map(json.loads, open(out / "eval_queries.jsonl"))}
    train_chunks = {c for r in map(json.loads, open(out / "train_queries.jsonl")) for c in r["chunks"]}
    assert eval_chunks and not eval_chunks & train_chunks  # held out by chunk
    # the default trains on crops of the other chunks; the LLM wrote the held-out test queries only
    assert {r["origin"] for r in map(json.loads, open(out / "train_queries.jsonl"))} == {"crop"}

    assert finetune(*args) == rc
    assert set(stage_lines(capsys.readouterr().out).values()) == {"cached"}  # the second run does nothing
    # a stage is skipped only if its outputs are still the bytes it recorded: an edited file is rebuilt,
    # and since mining rewrites the same triplets, the stages after it stay cached
    recorded = (out / "train_examples.jsonl").read_bytes()
    (out / "train_examples.jsonl").write_bytes(recorded + b"\n")
    with pytest.warns(UserWarning, match="mine: its outputs .* changed"):
        assert finetune(*args) == rc
    assert stage_lines(capsys.readouterr().out) == {**{s: "cached" for s in STAGES[:3]}, "mine": "ran",
                                                    "train": "cached", "evaluate": "cached"}
    assert (out / "train_examples.jsonl").read_bytes() == recorded
    # the gate is judged on every run from the stored evaluation: new thresholds re-measure nothing
    assert finetune(*args, "--min-lift", "-100", "--allow-ci-zero", "--max-general-drop", "100") == 0
    out_text = capsys.readouterr().out
    assert set(stage_lines(out_text).values()) == {"cached"} and "[gate] PASS" in out_text
    rc = finetune(*args, "--learning-rate", "1e-5")
    assert rc == (0 if json.loads((out / "gate.json").read_text())["passed"] else 1)
    assert stage_lines(capsys.readouterr().out) == {**{s: "cached" for s in STAGES[:4]}, "train": "ran",
                                                    "evaluate": "ran"}


def test_keep_best_epoch_without_labels_chooses_on_held_out_synthetic_queries(mined, inputs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(mined, out)
    assert finetune("--corpus", inputs / "docs", "--out", out, "--general", inputs / "general", *FAST,
                    "--keep-best-epoch", "--epochs", "2", "--until", "train") == 0
    rows = {name: [json.loads(line) for line in open(out / f"{name}_queries.jsonl")] for name in ("train", "dev", "eval")}
    chunks = {name: {c for r in part for c in r.get("chunks", r.get("relevant"))} for name, part in rows.items()}
    assert rows["dev"] and not chunks["dev"] & chunks["train"] and not chunks["dev"] & chunks["eval"]
    trained = json.loads((out / "stages" / "train.json").read_text())["info"]
    assert trained["dev queries"] == len(rows["dev"]) and [row[0] for row in trained["dev curve"]] == [0, 1, 2]
    assert trained["kept epoch"] in (1, 2)


@pytest.mark.parametrize("source", ["headings", "crops+headings"])
def test_headings_train_on_the_pages_own_structure_never_on_a_held_out_chunk(mined, inputs, tmp_path, source):
    assert FinetuneConfig("docs", "out").label_free == "crops+headings"  # the default without labels
    out = tmp_path / "run"
    shutil.copytree(mined, out)
    assert finetune("--corpus", inputs / "docs", "--out", out, "--general", inputs / "general", *FAST,
                    "--label-free", source, "--until", "split") == 0
    split = json.loads((out / "stages" / "split.json").read_text())["info"]
    rows = [json.loads(line) for line in open(out / "train_queries.jsonl")]
    headed = [r for r in rows if r["origin"] == "heading"]
    assert {r["origin"] for r in rows} == ({"heading"} if source == "headings" else {"heading", "crop"})
    assert len(headed) == split["heading training queries"] and len(rows) == split["training queries"]
    assert len(rows) - len(headed) == split["crop training queries"]
    titles = {f"{f.removesuffix('.html')}(1) Manual Page: " for f in FILES}
    assert headed and all(any(r["text"].startswith(t) for t in titles) for r in headed)
    eval_chunks = {r["relevant"][0] for r in map(json.loads, open(out / "eval_queries.jsonl"))}
    assert eval_chunks and not eval_chunks & {c for r in rows for c in r["chunks"]}


def test_only_needs_the_earlier_stages(tmp_path, inputs, capsys):
    assert finetune("--corpus", inputs / "docs", "--out", tmp_path, *FAST, "--only", "train") == 2
    assert "run the earlier stages first" in capsys.readouterr().err


def test_torchrun_trains_on_two_cpu_processes(mined, inputs, tmp_path):
    # the trainer's own data-parallel path (gloo on CPU here, NCCL on GPUs): the command the README gives
    # for several GPUs, with 2 CPU processes. (accelerate launch runs several CPU processes only through mpirun.)
    out = tmp_path / "ddp"
    shutil.copytree(mined, out)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "helpers",
           "finetune", "--corpus", str(inputs / "docs"), "--out", str(out), *FAST, "--only", "train"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "model" / "training_manifest.json").read_text())
    assert manifest["world_size"] == 2
    assert json.loads((out / "stages" / "train.json").read_text())["info"]["world_size"] == 2


def test_under_a_launcher_only_the_train_stage_runs(mined, inputs, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert finetune("--corpus", inputs / "docs", "--out", mined, *FAST, "--only", "evaluate") == 2
    assert "only the train stage runs distributed" in capsys.readouterr().err


def test_gold_queries_in_a_beir_folder_with_queries_from_a_real_server(server, tmp_path, monkeypatch):
    # the same documents as a BEIR folder, with three hand-written queries labelled at document level
    beir = tmp_path / "beir"
    beir.mkdir()
    docs = {f: html_to_text((GIT_DOCS / f).read_text()) for f in ("git-init.html", "git-clean.html",
                                                                   "git-reflog.html", "git-rm.html")}
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": f, "text": t}) + "\n" for f, t in docs.items()))
    gold = {"g1": ("remove untracked files from my working tree", "git-clean.html"),
            "g2": ("create an empty repository", "git-init.html"),
            "g3": ("delete a file from the index and the working tree", "git-rm.html")}
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in gold.items()))
    (beir / "qrels").mkdir()
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, (_, d) in gold.items()))
    monkeypatch.setenv("COURSE_TEST_LLM_KEY", server.api_key)
    out = tmp_path / "out"
    assert finetune("--corpus", beir, "--out", out, "--quiet", "--label-free", "llm", "--llm-base-url", server.url,
                    "--llm-model", "gemma-3-270m",
                    "--llm-api-key-env", "COURSE_TEST_LLM_KEY", "--llm-concurrency", "2", "--until", "split") == 0
    generated = [json.loads(line) for line in open(out / "generated.jsonl")]
    n_chunks = sum(1 for _ in open(out / "chunks.jsonl"))
    assert n_chunks > 3 and len(generated) == n_chunks  # one query per chunk (the default), none lost
    assert {g["model"] for g in generated} == {"openai:gemma-3-270m:completions"}
    eval_rows = [json.loads(line) for line in open(out / "eval_queries.jsonl")]
    assert {r["_id"] for r in eval_rows} == set(gold) and {r["level"] for r in eval_rows} == {"document"}
    # every synthetic query that survived the model-free filters trains: none is held out when gold queries
    # are given, and without labels the round trip is not applied (--round-trip auto)
    split = json.loads((out / "stages" / "split.json").read_text())["info"]
    assert not split["round trip applied"] and split["dropped (round trip)"] == 0
    assert sum(1 for _ in open(out / "train_queries.jsonl")) == split["training queries"] == split["training candidates"]
    # asked for, it is applied: the split is redone from the cached answers, and only what it kept trains
    assert finetune("--corpus", beir, "--out", out, "--quiet", "--label-free", "llm", "--llm-base-url", server.url,
                    "--llm-model", "gemma-3-270m", "--llm-api-key-env", "COURSE_TEST_LLM_KEY",
                    "--round-trip", "always", "--until", "split") == 0
    tripped = json.loads((out / "stages" / "split.json").read_text())["info"]
    assert tripped["round trip applied"] and tripped["training candidates"] == split["training candidates"]
    assert tripped["training queries"] == split["training queries"] - tripped["dropped (round trip)"]
    assert sum(1 for _ in open(out / "train_queries.jsonl")) == tripped["training queries"]
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl"):
            assert server.api_key not in path.read_text(errors="ignore")


def test_crops_with_gold_queries_need_no_llm_and_the_gold_dev_questions_are_the_dev_set(tmp_path):
    # the raw folder's hand-written gold questions: test.tsv is given, dev.tsv beside it is found
    gold = GIT_DOCS.parent / "gold"
    out = tmp_path / "out"
    assert finetune("--corpus", GIT_DOCS, "--queries", gold / "queries.jsonl", "--qrels", gold / "qrels" / "test.tsv",
                    "--out", out, "--label-free", "crops", "--llm", tmp_path / "no-such-writer.gguf",
                    "--until", "split", "--quiet") == 0  # the writer is never looked for
    assert not (out / "generated.jsonl").read_text()
    chunks = {r["id"]: r["text"] for r in map(json.loads, open(out / "chunks.jsonl"))}
    train = [json.loads(line) for line in open(out / "train_queries.jsonl")]
    assert {r["origin"] for r in train} == {"crop"} and len(train) == len(chunks)  # one crop per chunk
    for r in train:
        (chunk,) = r["chunks"]
        words = r["text"].split()
        assert r["text"] in " ".join(chunks[chunk].split()) and 0 < len(words) < len(chunks[chunk].split())
    dev = [json.loads(line) for line in open(out / "dev_queries.jsonl")]
    test = [json.loads(line) for line in open(out / "eval_queries.jsonl")]
    dev_ids = {line.split("\t")[0] for line in (gold / "qrels" / "dev.tsv").read_text().splitlines()[1:]}
    assert {r["_id"] for r in dev} == dev_ids and not dev_ids & {r["_id"] for r in test}
    split = json.loads((out / "stages" / "split.json").read_text())["info"]
    assert split["dev set"].startswith("gold dev queries") and split["crop training queries"] == len(train)


def test_a_gold_dev_file_that_shares_a_query_with_the_test_file_stops_before_any_work(tmp_path, capsys):
    gold = GIT_DOCS.parent / "gold"
    (tmp_path / "qrels").mkdir()
    test = (gold / "qrels" / "test.tsv").read_text()
    (tmp_path / "qrels" / "test.tsv").write_text(test)
    shared = test.splitlines()[1]  # a test judgment, repeated in dev
    (tmp_path / "qrels" / "dev.tsv").write_text((gold / "qrels" / "dev.tsv").read_text() + shared + "\n")
    assert finetune("--corpus", GIT_DOCS, "--queries", gold / "queries.jsonl", "--qrels", tmp_path / "qrels" / "test.tsv",
                    "--out", tmp_path / "out") == 2
    assert f"query {shared.split()[0]!r} is in test" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_your_own_examples_set_the_llms_style_and_skip_the_round_trip(inputs, tmp_path, capsys):
    # the raw folder's eight hand-written examples; Gemma's answers with them ship beside the pages (written
    # by benchmarks/label_free_command.py), so every job is a cache hit and the cache must not grow
    out = tmp_path / "out"
    (out / "cache").mkdir(parents=True)
    cache = out / "cache" / "llm_queries.jsonl"
    shutil.copyfile(GIT_DOCS.parent / "llm_queries.jsonl", cache)
    answers = cache.read_text()
    run = ["--corpus", inputs / "docs", "--out", out, "--general", inputs / "general", *FAST, "--label-free", "llm",
           "--llm-examples", GIT_DOCS.parent / "llm_examples.jsonl", "--until", "split"]
    assert finetune(*run) == 0
    assert cache.read_text() == answers  # all cached: the examples reached the prompt the answers were written for
    generated = [json.loads(line) for line in open(out / "generated.jsonl")]
    chunks = sum(1 for _ in open(out / "chunks.jsonl"))
    assert len(generated) == chunks and {r["style"] for r in generated} == {"as_examples"}
    split = json.loads((out / "stages" / "split.json").read_text())["info"]
    assert split["dropped (round trip)"] == 0
    assert split["synthetic training queries"] == split["training candidates"] > 0
    capsys.readouterr()
    assert finetune(*run) == 0
    assert set(stage_lines(capsys.readouterr().out).values()) == {"cached"}


EXAMPLE = {"query": "undo my last commit but keep the changes",
           "document": "git reset --soft HEAD~1 moves the current branch back one commit; the index and the working "
                       "tree keep the changes of the commit that was undone."}


@pytest.mark.parametrize("lines, message", [
    ([json.dumps(EXAMPLE), json.dumps({"query": "no passage"})], r"examples.jsonl:2: needs a non-empty"),
    ([json.dumps(EXAMPLE), '{"query": "cut short'], r"examples.jsonl:2: malformed JSON"),
    ([json.dumps(EXAMPLE)] * 9, "9 examples; give 1 to 8"),
    ([], "0 examples; give 1 to 8"),
])
def test_bad_examples_stop_before_any_work(inputs, tmp_path, capsys, lines, message):
    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(line + "\n" for line in lines))
    assert finetune("--corpus", inputs / "docs", "--out", tmp_path / "out", "--llm-examples", examples) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_document_level_relevance_ranks_a_document_where_its_best_chunk_ranks(minilm):
    from helpers.data import RetrievalSplit
    from helpers.evaluation import EmbeddingCache
    from helpers.pipeline import evaluate_domain

    chunks = {"a#0-9": "how to remove untracked files", "a#10-20": "cleaning the working tree",
              "b": "create an empty repository", "c": "delete a file from the index"}
    source_of = {"a#0-9": "a", "a#10-20": "a", "b": "b", "c": "c"}
    split = RetrievalSplit("gold", "evaluation", {"q": "remove untracked files"}, chunks, {"q": {"a"}})
    result = evaluate_domain(minilm, split, source_of, EmbeddingCache(), "base", level="document")
    assert result.rankings[0][0] == "a" and len(result.rankings[0]) == 3  # documents, each once
    assert result.per_query["recall@1"][0] == 1.0


def test_every_option_has_a_flag_with_help():
    import argparse
    from dataclasses import fields

    from helpers.__main__ import _add_finetune
    from helpers.pipeline import FinetuneConfig

    sub = argparse.ArgumentParser().add_subparsers()
    _add_finetune(sub)
    parser = sub.choices["finetune"]
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert {f.name for f in fields(FinetuneConfig)} <= set(flags)
    assert all(a.help for a in flags.values())


def test_an_out_folder_that_is_a_file_or_inside_the_corpus_is_refused_before_any_work(tmp_path, capsys):
    corpus = tmp_path / "docs"
    shutil.copytree(GIT_DOCS, corpus)
    (tmp_path / "taken").write_text("a file, not a folder")
    assert finetune("--corpus", corpus, "--out", tmp_path / "taken") == 2
    assert "is a file" in capsys.readouterr().err
    # the run's own report.md would be read back as a document on the next run
    assert finetune("--corpus", corpus, "--out", corpus / "run") == 2
    assert "is inside --corpus" in capsys.readouterr().err
    assert not (corpus / "run").exists()


@pytest.fixture(scope="module")
def labelled_inputs(tmp_path_factory):
    """A team's own data, made from a shipped set: ICD-10-CM documents as a JSONL corpus, and a click log
    built from their labelled queries (repeated rows, one spelled differently, one pair below the click
    threshold) -- real text, in the shape a search log has."""
    root = tmp_path_factory.mktemp("labelled")
    icd = load_dataset("icd10cm")
    qids = icd.splits["known_corpus"]["train"][:260]
    docs = sorted({d for q in qids for d in icd.relevant[q]})
    with open(root / "corpus.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps({"_id": d, "text": icd.corpus[d]}) + "\n")
    rows = ["query,doc_id,clicks"]
    for i, q in enumerate(qids):
        text = icd.queries[q].replace('"', "'")
        for d in sorted(icd.relevant[q]):
            rows.append(f'"{text}",{d},2')
            if i % 10 == 0:
                rows.append(f'"{text.upper()}",{d},1')  # the same query, typed differently: summed
    rows.append(f'"{icd.queries[qids[0]]}",{docs[-1]},0')  # a pair nobody clicked: dropped
    (root / "log.csv").write_text("\n".join(rows) + "\n")
    return root


def test_a_query_log_trains_without_an_llm_never_on_a_held_out_text_and_says_so(labelled_inputs, inputs, capsys,
                                                                              tmp_path):
    out = tmp_path / "run"
    rc = finetune("--corpus", labelled_inputs / "corpus.jsonl", "--query-log", labelled_inputs / "log.csv",
                  "--synthetic", "none", "--out", out, "--general", inputs / "general", "--judge", "none",
                  "--batch-size", "16", "--epochs", "2", "--keep-best-epoch", "--quiet")
    assert rc == (0 if json.loads((out / "gate.json").read_text())["passed"] else 1)
    split = json.loads((out / "stages" / "split.json").read_text())["info"]
    own = split["labelled"]
    assert split["synthetic training queries"] == 0 and split["labelled training queries"] == own["train"]["queries"]
    assert own["test"]["queries"] == split["evaluation queries"] == 65  # --eval-fraction 0.25 of the 260 queries
    assert own["dev"]["queries"] == 26 and own["train"]["queries"] == 169  # dev: 10%
    assert own["dropped"] == {"pairs below min_clicks": 1}
    train = [json.loads(line) for line in open(out / "train_queries.jsonl")]
    test = [json.loads(line) for line in open(out / "eval_queries.jsonl")]
    assert {r["origin"] for r in train} == {"labelled"}
    assert not {r["text"].lower() for r in train} & {r["text"].lower() for r in test}
    report = (out / "report.md").read_text()
    assert "Labelled queries from log.csv" in report and "No LLM-written queries" in report
    assert "labelled queries held out by query" in report
    # the epoch is chosen on the 26 dev queries: the base model (epoch 0), then each trained epoch
    trained = json.loads((out / "stages" / "train.json").read_text())["info"]
    assert trained["dev queries"] == 26 and [row[0] for row in trained["dev curve"]] == [0, 1, 2]
    best = max(trained["dev curve"][1:], key=lambda row: (row[2], -row[0]))
    assert trained["kept epoch"] == best[0] and f"epoch {best[0]:g} kept" in report

    # by document: no test document is relevant to any training query, and the report counts it
    out = tmp_path / "by-document"
    assert finetune("--corpus", labelled_inputs / "corpus.jsonl", "--query-log", labelled_inputs / "log.csv",
                    "--synthetic", "none", "--split-by", "document", "--out", out, "--until", "split", "--quiet") == 0
    own = json.loads((out / "stages" / "split.json").read_text())["info"]["labelled"]
    assert own["training queries sharing a document with a test query"] == 0
    test_docs = {d for line in open(out / "eval_queries.jsonl") for d in json.loads(line)["relevant"]}
    assert not test_docs & {c for line in open(out / "train_queries.jsonl") for c in json.loads(line)["chunks"]}


@pytest.mark.parametrize("extra, message", [
    (["--query-log", "{root}/log.csv", "--train-queries", "{root}/q.jsonl", "--train-qrels", "{root}/q.tsv"],
     "--query-log or --train-queries/--train-qrels, not both"),
    (["--query-log", "{root}/log.csv", "--queries", "{root}/gold.jsonl", "--qrels", "{root}/gold.tsv",
      "--keep-best-epoch"], "--keep-best-epoch chooses the epoch on dev queries and there are none"),
    (["--train-queries", "{root}/q.jsonl"], "--train-queries and --train-qrels go together"),
    (["--query-log", "{root}/bad.csv"], "bad.csv:3: 'nope' is neither a document nor a chunk of the corpus"),
    (["--query-log", "{root}/log.csv", "--min-clicks", "100"], "no (query, document) pair has 100 click(s) or more"),
])
def test_bad_labelled_input_stops_before_any_work(labelled_inputs, tmp_path, capsys, extra, message):
    root = labelled_inputs
    known = json.loads((root / "corpus.jsonl").read_text().splitlines()[0])["_id"]
    (root / "bad.csv").write_text(f"query,doc_id\nfine,{known}\nbroken,nope\n")
    (root / "gold.jsonl").write_text("".join(json.dumps({"_id": f"g{i}", "text": f"gold query {i}"}) + "\n"
                                             for i in range(20)))
    (root / "gold.tsv").write_text("".join(f"g{i}\t{known}\t1\n" for i in range(20)))
    args = [a.format(root=root) for a in extra]
    assert finetune("--corpus", root / "corpus.jsonl", "--out", tmp_path / "out", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mix", ["uncovered", "all"])
def test_split_by_document_never_writes_training_queries_for_held_out_documents(labelled_inputs, tmp_path, mix):
    from helpers.pipeline import FinetuneConfig, Pipeline

    cfg = FinetuneConfig(str(labelled_inputs / "corpus.jsonl"), str(tmp_path / "out"),
                         query_log=str(labelled_inputs / "log.csv"), split_by="document", synthetic=mix)
    run = Pipeline(cfg, show_progress_bar=False)
    held = {d for part in (run.labelled.test, run.labelled.dev) for ids in part.relevant.values() for d in ids}
    trained = {d for ids in run.labelled.train.relevant.values() for d in ids}
    written = set(run._synthetic_chunks())  # one chunk per document in this corpus: chunk id = document id
    assert held and not written & held
    assert (written & trained) == (trained if mix == "all" else set())
