"""The claims module: the measurements on small real inputs, the verdict rules, and the ledger
against the results files it is generated from (README included)."""

import csv
import json
import shutil

import numpy as np
import pytest

from helpers.claims import (CLAIMS, GOLD_STYLE, LEDGER_END, LEDGER_START, RESULTS_DIR, families_of, id_family, ledger,
                            ledger_markdown, lookalike_errors, random_vector_recall, rank_correlation, shuffled_query_recall,
                            signals_vs_lift, style_splits, write_ledger)
from helpers.data import DATA_DIR, RetrievalSplit
from helpers.evaluation import score_rankings
from helpers.synthetic import Generated

VERDICTS = {"agrees", "partly", "disagrees"}


def test_rank_correlation_is_exact_over_every_ordering():
    assert rank_correlation([1, 2, 3, 4], [1, 2, 3, 4]) == (1.0, round(2 / 24, 3))  # only two of 24 orders as extreme
    rho, p = rank_correlation([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert 0.8 < rho < 0.9 and 0.01 < p < 0.1
    with pytest.raises(ValueError, match="3\\+ paired points"):
        rank_correlation([1, 1, 1], [1, 2, 3])
    rho, p = rank_correlation(list(range(12)), list(range(12)))  # sampled orderings above 8 points
    assert rho == 1.0 and p < 0.001


def _split(n_docs=200, n_queries=100, dim=16, seed=7):  # not 0: random_vector_recall draws with seed 0
    rng = np.random.default_rng(seed)
    doc_ids = [f"d{i}" for i in range(n_docs)]
    docs = rng.standard_normal((n_docs, dim)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    split = RetrievalSplit("t", "p", {f"q{i}": f"q{i}" for i in range(n_queries)}, dict.fromkeys(doc_ids, "x"),
                           {f"q{i}": {f"d{i}"} for i in range(n_queries)})
    return split, docs, doc_ids


def test_random_floors_sit_at_chance_while_real_queries_find_their_documents():
    split, docs, doc_ids = _split()
    chance = 10 / len(doc_ids)
    assert abs(random_vector_recall(split, docs, doc_ids) - chance) < 0.02
    queries = docs[:100]  # each query is its own document's vector: recall 1 ...
    assert shuffled_query_recall(queries, split, docs, doc_ids, n_draws=1, seed=5) < 0.2  # ... until shuffled
    from helpers.claims import _recall10
    from helpers.evaluation import search
    assert _recall10(search(queries, docs, 10)[1], doc_ids, [split.relevant[q] for q in split.queries]) == 1.0


def test_lookalike_errors_counts_wrong_top1_in_the_same_family():
    corpus = {c: c for c in ["A01", "A01.1", "A01.2", "B02", "B02.1", "C03"]}
    split = RetrievalSplit("t", "p", {"q1": "x", "q2": "y", "q3": "z"}, corpus,
                           {"q1": {"A01.1"}, "q2": {"B02"}, "q3": {"C03"}})
    result = score_rankings([["A01.2", "A01.1"], ["C03", "B02"], ["C03"]], split, "m")
    out = lookalike_errors(result, split, lambda c: c[:3])
    assert out["wrong_top1"] == 2 and out["lookalike_share"] == 0.5  # q1 a sibling, q2 unrelated, q3 right
    # chance: q1 has 2 siblings among 5 wrong documents, q2 has 1 of 5
    assert out["chance_share"] == pytest.approx((2 / 5 + 1 / 5) / 2)


def test_documents_without_a_family_are_never_lookalikes():
    family = id_family(r"([^.]+)\.")  # AWS-like ids: "service.Operation"; "plain" has none
    corpus = {d: d for d in ["s3.Get", "s3.Put", "s3.List", "ec2.Run", "plain", "other"]}
    split = RetrievalSplit("t", "p", {"q1": "x", "q2": "y"}, corpus, {"q1": {"plain"}, "q2": {"s3.Get"}})
    result = score_rankings([["other", "plain"], ["s3.Put", "s3.Get"]], split, "m")
    out = lookalike_errors(result, split, family)
    assert out["wrong_top1"] == 2 and out["lookalike_share"] == 0.5  # "other" is no sibling of "plain"
    assert out["chance_share"] == pytest.approx((0 / 5 + 2 / 5) / 2)
    assert families_of(corpus, family, min_size=1) == {"s3": ["s3.Get", "s3.Put", "s3.List"], "ec2": ["ec2.Run"]}


def _rec(doc, style, query):
    return Generated(f"{doc}-{style}", doc, style, 0, "m", query, query, 0, 0, 0.0)


def test_style_splits_pair_styles_on_the_documents_they_share():
    corpus = {"d1": "alpha beta gamma delta", "d2": "epsilon zeta eta theta", "d3": "iota kappa"}
    records = [_rec("d1", "keyword", "alpha stuff"), _rec("d1", "colloquial", "the first one"),
               _rec("d2", "keyword", "zeta thing"), _rec("d2", "colloquial", None),  # malformed: dropped
               _rec("d3", "keyword", "iota"), _rec("d3", "colloquial", "kappa thing")]
    gold = RetrievalSplit("test", "p", {"g2": "gold one", "g1": "gold zero", "g3": "other"}, corpus,
                          {"g2": {"d1"}, "g1": {"d1"}, "g3": {"d9"}})
    splits = style_splits(records, corpus, ("keyword", "colloquial"), gold=gold)
    assert list(splits["keyword"].queries) == ["d1", "d2", "d3"] and list(splits["colloquial"].queries) == ["d1", "d3"]
    same = records + [_rec("d1", "expert", "alpha stuff")]  # the keyword query's words, in another style
    assert splits["keyword"].queries["d1"] == style_splits(same, corpus, ("keyword", "expert"))["expert"].queries["d1"]
    assert splits[GOLD_STYLE].queries == {"d1": "gold zero"}  # the first gold query by id; d9 was not asked for
    with pytest.raises(ValueError, match="colloquial"):
        style_splits(records[2:4], corpus, ("keyword", "colloquial"))


def test_the_ledger_covers_the_seven_claims_and_every_dataset_of_the_lift_table():
    rows = ledger()
    assert [r["claim"] for r in rows] == list(range(1, 8)) and {r["verdict"] for r in rows} <= VERDICTS
    lift_datasets = [r["dataset"] for r in csv.DictReader(open(RESULTS_DIR / "lift_table.csv"))]
    assert all(d in rows[6]["measured (95% CI)"] for d in lift_datasets)
    assert [r["dataset"] for r in signals_vs_lift()[0]] == list(json.loads((RESULTS_DIR / "claims.json").read_text())["signals"])


def _results_copy(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    for name in ("claims.json", "lift_table.csv", "ladder.csv"):
        shutil.copy(RESULTS_DIR / name, out / name)
    return out


def _rewrite_csv(path, change):
    rows = list(csv.DictReader(open(path)))
    for r in rows:
        change(r)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _edit_json(out, change):
    m = json.loads((out / "claims.json").read_text())
    change(m)
    (out / "claims.json").write_text(json.dumps(m))


def test_verdicts_follow_the_results_files(tmp_path):
    out = _results_copy(tmp_path)
    _rewrite_csv(out / "lift_table.csv", lambda r: r.update(verdict="within", train_pairs="5000"))
    _rewrite_csv(out / "ladder.csv", lambda r: r.update(gain_over_below="50.0") if r["rung"] == "hard negatives" else None)

    def supportive(m):
        m["lookalike"].update(lookalike_share=0.8, ci_low=0.7, ci_high=0.9)
        m["style"]["styles"]["colloquial"].update(difference=-5.0, ci_low=-9.0, ci_high=-1.0)
        m["jargon"].update(ci_low=0.0)
        for s in m["signals"].values():
            s["clustered"] = True

    _edit_json(out, supportive)
    curve = tmp_path / "data" / "lesson2"
    curve.mkdir(parents=True)
    (curve / "curve.csv").write_text("name,pairs,recall@10,lift,ci_low,ci_high\nnone,0,1,0,0,0\n"
                                     "300 pairs,300,1,0.5,-1.0,2.0\n1000 pairs,1000,1,3.0,1.0,5.0\n")
    v = {r["claim"]: r["verdict"] for r in ledger(out, tmp_path / "data")}
    assert v == dict.fromkeys(range(1, 8), "agrees")

    def against(m):
        m["lookalike"].update(lookalike_share=0.005, ci_low=0.0, ci_high=0.01)  # no more than chance
        m["style"]["styles"]["colloquial"].update(difference=5.0, ci_low=1.0, ci_high=9.0)
        m["jargon"].update(ci_low=5.0)
        for s in m["signals"].values():
            s["clustered"] = False

    _edit_json(out, against)
    _rewrite_csv(out / "lift_table.csv", lambda r: r.update(verdict="above", train_pairs="500"))
    _rewrite_csv(out / "ladder.csv", lambda r: r.update(gain_over_below="-1.0") if r["rung"] == "hard negatives" else None)
    v = {r["claim"]: r["verdict"] for r in ledger(out, tmp_path / "data")}
    assert v[1] == v[2] == v[3] == v[4] == v[6] == v[7] == "disagrees"
    assert v[5] == "partly"  # unclustered sets lifted, but the spread still ranks the lifts

    def in_between(m):
        m["lookalike"].update(lookalike_share=0.3, ci_low=0.2, ci_high=0.4)  # above chance, not most
        m["style"]["styles"]["colloquial"].update(difference=-2.0, ci_low=-6.0, ci_high=2.0)

    _edit_json(out, in_between)
    _rewrite_csv(out / "lift_table.csv", lambda r: r.update(verdict="within" if r["tier"] == "heavy" else "below",
                                                            train_pairs="5000"))
    (curve / "curve.csv").write_text("name,pairs,recall@10,lift,ci_low,ci_high\nnone,0,1,0,0,0\n300 pairs,300,1,2.0,0.5,3.5\n")
    v = {r["claim"]: r["verdict"] for r in ledger(out, tmp_path / "data")}
    assert v[1] == v[2] == v[4] == v[7] == "partly"


def test_ledger_names_a_dataset_missing_from_the_lift_table(tmp_path):
    out = _results_copy(tmp_path)
    _rewrite_csv(out / "lift_table.csv", lambda r: r.update(dataset="renamed") if r["dataset"] == "licences" else None)
    with pytest.raises(ValueError, match="licences"):
        ledger(out)


def test_readme_and_claims_md_show_the_ledger_of_the_results_files(tmp_path):
    table = ledger_markdown(ledger())
    readme = (DATA_DIR.parent / "README.md").read_text()
    assert LEDGER_START in readme and LEDGER_END in readme, "README lost the ledger's markers"
    shown = readme.split(LEDGER_START)[1].split(LEDGER_END)[0].strip()
    assert shown == table.strip(), "README's ledger differs from the results files: run python -m helpers claims --ledger-only"
    assert table in (RESULTS_DIR / "claims.md").read_text()
    out = _results_copy(tmp_path)
    assert write_ledger(out) == table and (out / "claims.md").read_text().endswith(table)


def test_terminology_signal_finds_failures_that_fall_on_abbreviations():
    from helpers.claims import terminology_signal
    from helpers.diagnosis import _WordPieceStub

    queries = {f"q{i}": (f"ABC{i} level" if i % 2 else f"plain words {i}") for i in range(60)}
    corpus = {f"d{i}": "x" for i in range(60)}
    split = RetrievalSplit("dev", "p", queries, corpus, {f"q{i}": {f"d{i}"} for i in range(60)})
    # every abbreviation query fails (its document ranked nowhere), every plain one succeeds
    rankings = [["d99"] if i % 2 else [f"d{i}"] for i in range(60)]
    out = terminology_signal(score_rankings(rankings, split, "m"), split, _WordPieceStub())
    assert out["failure_rate"] == 50.0 and out["terminology_spread"] == 100.0 and out["clustered"]
    assert out["feature"] in {"abbreviation", "fragmentation"} and out["p_value"] < 1e-6


def test_update_readme_replaces_only_the_block_between_the_markers(tmp_path):
    from helpers.claims import update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{LEDGER_START}\nold table\n{LEDGER_END}\nafter\n")
    update_readme("| new |\n", readme)
    assert readme.read_text() == f"before\n{LEDGER_START}\n| new |\n{LEDGER_END}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="README.md"):
        update_readme("| new |\n", readme)
