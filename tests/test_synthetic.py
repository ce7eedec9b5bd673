"""Synthetic queries with real LLMs: the shipped GGUF model in-process, and the same model behind
llama-cpp-python's OpenAI-compatible server on loopback (started, killed and restarted here)."""

import json
import os
from dataclasses import replace

import pytest

from helpers.synthetic import (
    AS_EXAMPLES,
    GenerationError,
    Generated,
    LlamaCppBackend,
    OpenAIBackend,
    QueryCache,
    QueryPrompt,
    as_split,
    copied_fraction,
    examples_from_pairs,
    filter_queries,
    generate_queries,
    local_llm_path,
    parse_query,
    plan_jobs,
)

DOCS = {
    "J80": "Acute respiratory distress syndrome",
    "I06.0": "Rheumatic aortic stenosis",
    "K35.2": "Acute appendicitis with generalized peritonitis",
    "S72.3": "Fracture of shaft of femur",
    "E11.2": "Type 2 diabetes mellitus with kidney complications",
    "N92.6": "Irregular menstruation, unspecified",
}
from conftest import SERVER_KEY as SECRET  # noqa: E402


# ----------------------------------------------------------------------------- pure parts


def test_parse_query_takes_the_first_usable_line():
    assert parse_query('Query: "fractured femur shaft"\nDocument: x') == "fractured femur shaft"
    assert parse_query("\n\n  broken leg  \n") == "broken leg"
    for garbage in (None, "", "   \n ", '""', "?!...", "```"):
        assert parse_query(garbage) is None


def test_prompts_use_your_examples_when_given_and_reject_unknown_styles():
    own = examples_from_pairs([("lung failure", "Acute respiratory distress syndrome"),
                               ("aortic narrowing", "Rheumatic aortic stenosis")], n=2)
    text = QueryPrompt("expert", own).render("Fracture of shaft of femur")
    assert "Query: lung failure" in text and text.endswith("Document: Fracture of shaft of femur\nQuery:")
    assert "smoke alarm" in QueryPrompt("expert").render("x")  # built-in examples otherwise
    with pytest.raises(ValueError, match="unknown style"):
        QueryPrompt("poetic")


def test_promptagator_style_names_no_style_and_needs_your_own_examples():
    own = (("Acute respiratory distress syndrome", "ARDS"), ("Rheumatic aortic stenosis", "RAS"))
    text = QueryPrompt(AS_EXAMPLES, own).render("Fracture of shaft of femur")
    assert "like the example queries" in text and "Query: ARDS" in text
    assert not any(description in text for description in ("keyword search", "natural question", "specialist"))
    with pytest.raises(ValueError, match="your own examples"):
        QueryPrompt(AS_EXAMPLES)  # the generic examples would teach a style nobody asked for


def test_filters_count_every_reason():
    def rec(i, doc, q):
        return Generated(f"k{i}", doc, "keyword", 0, "m", q, q or "")

    recs = [rec(0, "J80", None), rec(1, "J80", "?"), rec(2, "I06.0", " ".join(["word"] * 30)),
            rec(3, "K35.2", "acute appendicitis with generalized peritonitis"),
            rec(4, "S72.3", "broken thigh bone"), rec(5, "S72.3", "Broken thigh bone!"), rec(6, "J80", "lungs fail")]
    kept, report = filter_queries(recs, DOCS)
    assert [r.key for r in kept] == ["k4", "k6"]
    assert report.dropped == {"malformed": 1, "empty": 1, "too long": 1, "copied": 1, "duplicate": 1}
    assert "kept 2 of 7" in str(report)
    table = report.examples(recs, DOCS)
    assert set(table["verdict"]) == {"kept (keyword)", "dropped: malformed", "dropped: empty", "dropped: too long",
                                     "dropped: copied", "dropped: duplicate"}
    assert copied_fraction("femur shaft", "Fracture of shaft of femur") == 0.5
    with pytest.raises(ValueError, match="'Z99.9'"):  # a query for a document that is not there is named
        filter_queries(recs + [rec(7, "Z99.9", "no such code")], DOCS)


def test_round_trip_filter_keeps_queries_that_find_their_document(minilm):
    recs = [Generated("a", "S72.3", "colloquial", 0, "m", "broken thigh bone", ""),
            Generated("b", "N92.6", "colloquial", 0, "m", "broken thigh bone fracture", "")]
    kept, report = filter_queries(recs, DOCS, model=minilm, top_k=1)
    assert [r.key for r in kept] == ["a"] and report.dropped["round-trip"] == 1
    split = as_split(kept, DOCS)
    assert split.pairs() == [("broken thigh bone", "Fracture of shaft of femur")]


def test_cache_survives_a_line_cut_short(tmp_path):
    path = tmp_path / "q.jsonl"
    cache = QueryCache(path)
    cache.add(Generated("k1", "J80", "keyword", 0, "m", "ards", "ards"))
    with open(path, "a") as f:
        f.write('{"key": "k2", "doc_id": "I0')  # a crash mid-write
    resumed = QueryCache(path)
    assert list(resumed.records) == ["k1"]
    resumed.add(Generated("k3", "I06.0", "keyword", 0, "m", "aortic stenosis", "aortic stenosis"))
    assert list(QueryCache(path).records) == ["k1", "k3"]  # the next record did not land on the broken line


def test_cache_keeps_only_the_planned_records(tmp_path):
    path = tmp_path / "q.jsonl"
    cache = QueryCache(path)
    for key, doc in (("k1", "J80"), ("k2", "I06"), ("k3", "I06.0")):
        cache.add(Generated(key, doc, "keyword", 0, "m", f"query {key}", f"query {key}"))
    planned = [replace(cache.records["k3"], doc_id="I06.8"), cache.records["k1"]]  # k3's text now asked for by I06.8
    assert cache.keep_only(planned) == 1
    on_disk = QueryCache(path).records
    assert list(on_disk) == ["k1", "k3"] and on_disk["k3"].doc_id == "I06.8"  # in their order there, rebound
    assert cache.keep_only(planned) == 0 and path.read_text().count("\n") == 2
    with pytest.raises(KeyError, match="k9"):
        cache.keep_only([replace(cache.records["k1"], key="k9")])


# ----------------------------------------------------------------------------- the local model


@pytest.fixture(scope="module")
def gemma():
    return LlamaCppBackend("gemma3-270m", n_ctx=1024)


def test_local_backend_writes_queries_and_a_rerun_costs_nothing(gemma, tmp_path):
    jobs = plan_jobs(dict(list(DOCS.items())[:3]), styles=("keyword", "question"), rotate_styles=True)
    assert [j.style for j in jobs] == ["keyword", "question", "keyword"]
    first = generate_queries(jobs, gemma, tmp_path / "q.jsonl", show_progress_bar=False)
    assert len(first) == 3 and all(r.model == "llama.cpp:gemma-3-270m-q4_k_m.gguf" for r in first)
    assert sum(r.query is not None for r in first) >= 2  # a 270M model may still answer badly
    calls = gemma.calls
    again = generate_queries(jobs, gemma, tmp_path / "q.jsonl", show_progress_bar=False)
    assert gemma.calls == calls and [r.query for r in again] == [r.query for r in first]
    # a changed prompt is a new job
    generate_queries(plan_jobs({"J80": DOCS["J80"]}, styles=("expert",)), gemma, tmp_path / "q.jsonl",
                     show_progress_bar=False)
    assert gemma.calls == calls + 1


def test_both_packaged_llms_are_found():
    assert local_llm_path("gemma3-270m").suffix == ".gguf"
    assert local_llm_path("smollm2-135m").stat().st_size > 50e6
    with pytest.raises(ValueError, match="unknown local LLM"):
        local_llm_path("gpt-5")


# ----------------------------------------------------------------------------- a real server


def test_server_backend_resumes_after_the_server_is_killed_mid_run(server, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_TEST_LLM_KEY", SECRET)
    backend = OpenAIBackend(server.url, "gemma-3-270m", api_key_env="COURSE_TEST_LLM_KEY", concurrency=1,
                            timeout=30, max_retries=1)
    jobs = plan_jobs(DOCS, styles=("keyword",))
    path = tmp_path / "q.jsonl"

    def kill_after_two(rec):
        if len(QueryCache(path)) == 2:
            server.stop()

    with pytest.raises(GenerationError, match=r"[23] of 6 jobs are cached") as failure:
        generate_queries(jobs, backend, path, show_progress_bar=False, on_record=kill_after_two)
    saved = len(QueryCache(path))  # 2, or 3 when the request in flight finished before the kill
    assert SECRET not in str(failure.value)
    server.start()
    calls = backend.calls
    records = generate_queries(jobs, backend, path, show_progress_bar=False)
    assert backend.calls - calls == 6 - saved  # only the missing jobs ran
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 6 and len({line["key"] for line in lines}) == 6  # nothing lost, nothing twice
    assert [r.doc_id for r in records] == list(DOCS)
    assert SECRET not in path.read_text() and SECRET not in repr(backend)


def test_server_backend_reports_a_wrong_key_and_a_timeout(server, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_TEST_LLM_KEY", "wrong")
    jobs = plan_jobs({"J80": DOCS["J80"]})
    bad_key = OpenAIBackend(server.url, "gemma-3-270m", api_key_env="COURSE_TEST_LLM_KEY", max_retries=0)
    with pytest.raises(GenerationError, match="'J80'.*AuthenticationError") as failure:
        generate_queries(jobs, bad_key, tmp_path / "q.jsonl", show_progress_bar=False)
    assert SECRET not in str(failure.value)
    monkeypatch.setenv("COURSE_TEST_LLM_KEY", SECRET)
    too_slow = OpenAIBackend(server.url, "gemma-3-270m", api_key_env="COURSE_TEST_LLM_KEY", timeout=0.001,
                             max_retries=1)
    with pytest.raises(GenerationError, match="Timeout"):
        generate_queries(jobs, too_slow, tmp_path / "q.jsonl", show_progress_bar=False)
    assert not (tmp_path / "q.jsonl").exists() or not (tmp_path / "q.jsonl").read_text().strip()


def test_chat_mode_against_the_same_server(server, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_TEST_LLM_KEY", SECRET)
    chat = OpenAIBackend(server.url, "gemma-3-270m", mode="chat", api_key_env="COURSE_TEST_LLM_KEY")
    recs = generate_queries(plan_jobs({"S72.3": DOCS["S72.3"]}, styles=("colloquial",)), chat,
                            tmp_path / "q.jsonl", show_progress_bar=False)
    assert len(recs) == 1 and recs[0].raw  # an answer came back through the chat endpoint


def test_the_local_writer_takes_the_threads_this_process_was_given(monkeypatch):
    # make test runs two one-thread workers: a writer on every core would busy-wait against the other worker
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert LlamaCppBackend("gemma3-270m")._options["n_threads"] == 1
    assert LlamaCppBackend("gemma3-270m", n_threads=2)._options["n_threads"] == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert LlamaCppBackend("gemma3-270m")._options["n_threads"] == len(os.sched_getaffinity(0))
