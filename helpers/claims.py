"""The course's seven checkable claims, each measured as the course states it, and a ledger of verdicts.

``python -m helpers claims`` (run by ``make lift`` after the lift table) measures what the lift
table does not -- claims 1-3 and the pre-training signals of claim 5 -- into
``results/claims.json``, then writes the ledger, ``results/claims.md``: one row per claim with the
figure, its 95% CI and a verdict, read from that file, the lift table, the ladder and Lesson 2's
learning curve. The README's copy of the ledger is checked against a fresh one by the tests, so
neither can drift from the results files.

Each verdict follows a rule written next to it (:func:`ledger`): *agrees* when the measurement
supports the claim as stated, *disagrees* when it contradicts it, *partly* in between; the figure
column says what was measured.

>>> rank_correlation([1, 2, 3, 4], [10, 20, 30, 40])
(1.0, 0.083)
>>> rank_correlation([1, 2, 3], [3, 2, 1])[0]
-1.0
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.data import DATA_DIR, RetrievalSplit, load_dataset
from helpers.diagnosis import default_query_features, error_clusters, separation
from helpers.evaluation import EvalResult, encode_split, evaluate, paired_bootstrap, recall_ci, retrieval_metrics, search
from helpers.io import COURSE_CACHE, atomic_write, write_between, write_json

RESULTS_DIR = DATA_DIR.parent / "results"
STYLE_QUERIES = DATA_DIR / "claims" / "icd10cm_styles.jsonl"  # Gemma's answers, cached (see SOURCE.md there)
STYLE_DOCS = 500  # at most this many test documents queried in every style (ICD-10-CM has 432)
TERMINOLOGY_FEATURES = ("abbreviation", "code-like", "fragmentation")  # of default_query_features
COMMAND = "python -m helpers claims"
LEDGER_START, LEDGER_END = "<!-- claims ledger: start -->", "<!-- claims ledger: end -->"


@dataclass(frozen=True)
class Claim:
    number: int
    claim: str  # the course's claim, in our words
    measured_by: str  # the lesson section that measures it


CLAIMS = (
    Claim(1, "Lookalike collapse: domain terms with distinct meanings sit so close that a query for one "
             "retrieves the others", "01 § Failure mode 1"),
    Claim(2, "Style mismatch: queries worded unlike the documents lose recall", "01 § Failure mode 2"),
    Claim(3, "Out-of-distribution jargon is embedded as essentially random vectors", "01 § Failure mode 3"),
    Claim(4, "Fine-tuning needs 1,000+ realistic (query, document) pairs; with fewer it underfits or memorizes",
          "02 § 4, pairs; results/lift_table.md"),
    Claim(5, "Errors that cluster on terminology (not uniform ones) say fine-tuning will help",
          "01 § Do the errors cluster?"),
    Claim(6, "Hard-negative mining is the most important step", "03; results/ladder.md"),
    Claim(7, "Recall@10 lift by tier: generic 0-3, moderate 3-8, heavy 10-25, exotic 15-30",
          "results/lift_table.md"),
)


# ----------------------------------------------------------------------------- claim 1: lookalikes


def icd_family(code: str) -> str:
    """An ICD-10-CM code's 3-character category: its siblings differ by one qualifier.

    >>> icd_family("Q87.19"), icd_family("J80")
    ('Q87', 'J80')
    """
    return code[:3]


def id_family(pattern: str):
    """A family rule from a regular expression on document ids, for a lesson's parameter cell: two
    documents are lookalikes when the pattern matches the start of both ids alike (its first group,
    if it has one); an id it does not match has no family (``None``).

    >>> icd, aws = id_family(r".{3}"), id_family(r"([^.]+)\\.")
    >>> icd("Q87.19"), aws("s3.AbortMultipartUpload"), aws("no-dot")
    ('Q87', 's3', None)
    """
    rule = re.compile(pattern)

    def family(doc_id: str) -> str | None:
        m = rule.match(doc_id)
        return None if m is None else m.group(1 if rule.groups else 0)

    return family


def families_of(corpus: dict[str, str], family=icd_family, min_size: int = 3, max_size: int = 12) -> dict[str, list[str]]:
    """Documents' texts grouped by ``family(doc id)``, keeping families of ``min_size``-``max_size``
    members (pairs are too few to measure, the largest families would dominate): the groups
    :func:`helpers.diagnosis.separation` compares. Documents without a family (``None``) are left out."""
    groups: dict[str, list[str]] = {}
    for doc_id, text in corpus.items():
        if (f := family(doc_id)) is not None:
            groups.setdefault(f, []).append(text)
    return {f: t for f, t in groups.items() if min_size <= len(t) <= max_size}


def lookalike_errors(result: EvalResult, split: RetrievalSplit, family) -> dict:
    """Of the queries whose top-ranked document is wrong, the share where it is a *lookalike* -- a
    document of the same family as a relevant one -- with a (cluster) bootstrap CI, against the share
    chance would give (a wrong document drawn at random from the corpus). ``family`` maps a document
    id to its family (for ICD-10-CM :func:`icd_family`); on your corpus, write the rule that makes two
    documents lookalikes there -- a prefix of the id only means something where ids are codes."""
    size: dict[str, int] = {}
    for d in split.corpus:
        size[family(d)] = size.get(family(d), 0) + 1
    n_docs = len(split.corpus)
    lookalike, chance, wrong = [], [], []
    for i, (qid, ranked) in enumerate(zip(result.query_ids, result.rankings)):
        rel = split.relevant[qid]
        if not ranked or ranked[0] in rel:
            continue
        wrong.append(i)
        fams = {family(d) for d in rel} - {None}  # a document without a family has no lookalikes
        lookalike.append(float(family(ranked[0]) in fams))
        siblings = sum(size[f] for f in fams) - sum(family(d) in fams for d in rel)
        chance.append(siblings / (n_docs - len(rel)))
    if not lookalike:
        raise ValueError(f"{split.name}: no query has a wrong top-1 document")
    clusters = result.clusters[wrong] if result.clusters is not None else None  # queries sharing a document resample together
    share, lo, hi = paired_bootstrap(np.array(lookalike), np.zeros(len(lookalike)), clusters=clusters)
    return {"wrong_top1": len(lookalike), "queries": result.n, "lookalike_share": share, "ci_low": lo,
            "ci_high": hi, "chance_share": float(np.mean(chance))}


# ----------------------------------------------------------------------------- claim 2: style


GOLD_STYLE = "gold (clinicians' terms)"


def style_queries(dataset, split: RetrievalSplit, llm=None, cache_path: str | Path | None = None,
                  n_docs: int = STYLE_DOCS, show_progress_bar: bool = False) -> list:
    """Four queries (one per style of :data:`helpers.synthetic.STYLES`) for each of ``n_docs``
    documents labelled with a query of ``split`` (seed 0), written by ``llm`` (default: Gemma 3 270M,
    in-process) -- or read from ``cache_path``, where every answer is kept: with all of them there,
    no model is loaded. By default the answers shipped in ``data/claims/`` for the full ICD-10-CM set,
    and ``.cache/style_queries/<dataset>.jsonl`` for any other (a slice of ICD-10-CM included)."""
    from helpers.synthetic import STYLES, LlamaCppBackend, generate_queries, plan_jobs

    if cache_path is None:
        shipped = dataset.name == "icd10cm" and "subsample" not in dataset.meta
        cache_path = STYLE_QUERIES if shipped else COURSE_CACHE / "style_queries" / f"{dataset.name}.jsonl"

    pool = sorted({d for q in split.queries for d in split.relevant[q]})
    docs = sorted(np.random.default_rng(0).choice(pool, size=min(n_docs, len(pool)), replace=False).tolist())
    jobs = plan_jobs({d: dataset.corpus[d] for d in docs}, styles=tuple(STYLES))
    return generate_queries(jobs, llm or LlamaCppBackend("gemma3-270m"), cache_path, show_progress_bar=show_progress_bar)


def style_splits(records, corpus: dict[str, str], styles: tuple[str, ...],
                 gold: RetrievalSplit | None = None) -> dict[str, RetrievalSplit]:
    """One split per query style: each document's query in that style where it survived the
    model-free filters (no model judges them, so the model being measured favours no style) --
    and, given ``gold``, the first gold query (by id) of each of these documents, as one more
    "style" (:data:`GOLD_STYLE`). Query ids are document ids, so two styles pair document by
    document on the documents both have (:func:`style_recall`)."""
    from helpers.synthetic import filter_queries

    by_style: dict[str, dict[str, str]] = {}
    for style in styles:  # each style on its own: one style's query never makes another's a "duplicate"
        kept, _ = filter_queries([r for r in records if r.style == style], corpus)  # malformed, empty, long, copied, duplicate
        by_style[style] = {r.doc_id: r.query for r in kept}
    if gold is not None:
        asked = {r.doc_id for r in records}
        first: dict[str, str] = {}
        for q in sorted(gold.queries):
            for d in gold.relevant[q]:
                if d in asked:
                    first.setdefault(d, gold.queries[q])
        by_style[GOLD_STYLE] = first
    empty = [s for s, qs in by_style.items() if not qs]
    if empty:
        raise ValueError(f"no query in style(s) {empty} survived the filters")
    return {s: RetrievalSplit(f"style:{s}", "styles", dict(sorted(qs.items())), corpus, {d: {d} for d in qs})
            for s, qs in by_style.items()}


def style_recall(model, splits: dict[str, RetrievalSplit], cache, baseline: str) -> dict:
    """Each style against ``baseline`` on the documents both have a query for: recall@10 of both
    and the paired difference (points, 95% CI)."""
    results = {s: evaluate(model, split, cache, s) for s, split in splits.items()}
    base = dict(zip(results[baseline].query_ids, results[baseline].per_query["recall@10"]))
    out = {"baseline": baseline, "styles": {}}
    for s, res in results.items():
        mine = dict(zip(res.query_ids, res.per_query["recall@10"]))
        both = [d for d in res.query_ids if d in base]
        a, b = np.array([mine[d] for d in both]), np.array([base[d] for d in both])
        d, lo, hi = paired_bootstrap(a, b)
        out["styles"][s] = {"documents": len(both), "recall10": 100 * a.mean(), f"{baseline} recall10": 100 * b.mean(),
                            "difference": 100 * d, "ci_low": 100 * lo, "ci_high": 100 * hi}
    return out


# ----------------------------------------------------------------------------- claim 3: jargon


def random_vector_recall(split: RetrievalSplit, doc_emb: np.ndarray, doc_ids: list[str], n_draws: int = 20,
                         seed: int = 0) -> float:
    """Recall@10 when every query is a random unit vector: the floor of "embedded at random".

    Directions are drawn isotropically; real embeddings fill a cone, so :func:`shuffled_query_recall`
    is the other, harder floor.
    """
    rng = np.random.default_rng(seed)
    relevant = [split.relevant[q] for q in split.queries]
    scores = []
    for _ in range(n_draws):
        q = rng.standard_normal((len(relevant), doc_emb.shape[1])).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        scores.append(_recall10(search(q, doc_emb, 10)[1], doc_ids, relevant))
    return float(np.mean(scores))


def shuffled_query_recall(q_emb: np.ndarray, split: RetrievalSplit, doc_emb: np.ndarray, doc_ids: list[str],
                          n_draws: int = 20, seed: int = 0) -> float:
    """Recall@10 when each query is given another query's embedding: a vector from the same region
    of the space as real queries, carrying none of this query's meaning."""
    rng = np.random.default_rng(seed)
    relevant = [split.relevant[q] for q in split.queries]
    scores = []
    for _ in range(n_draws):
        order = rng.permutation(len(q_emb))
        other = np.empty_like(order)
        other[order] = np.roll(order, 1)  # a shuffle with no fixed point: never a query's own vector
        scores.append(_recall10(search(q_emb[other], doc_emb, 10)[1], doc_ids, relevant))
    return float(np.mean(scores))


def _recall10(idx: np.ndarray, doc_ids: list[str], relevant: list[set[str]]) -> float:
    """Mean recall@10 of faiss result indices, scored like every other run (:func:`retrieval_metrics`)."""
    ranked = [[doc_ids[j] for j in row if j >= 0] for row in idx]
    return float(retrieval_metrics(ranked, relevant, ks=(10,))["recall@10"].mean())


def jargon_recall(model, split: RetrievalSplit, cache, min_pieces: int = 3) -> dict:
    """Recall@10 of the queries with a word split into ``min_pieces``+ word pieces (the jargon the
    tokenizer does not know), with its CI, against the two random floors."""
    from helpers.diagnosis import word_pieces

    jargon = split.subset(lambda q: max(word_pieces(model.tokenizer, q) or [0]) >= min_pieces)
    result = evaluate(model, jargon, cache)
    lo, hi = recall_ci(result)
    doc_ids, d_emb, q_emb = encode_split(model, jargon, cache)
    return {"queries": result.n, "of": len(split.queries), "min_pieces": min_pieces, "recall10": 100 * result.mean(),
            "ci_low": 100 * lo, "ci_high": 100 * hi,
            "random_vectors": 100 * random_vector_recall(jargon, d_emb, doc_ids),
            "shuffled_queries": 100 * shuffled_query_recall(q_emb, jargon, d_emb, doc_ids)}


# ----------------------------------------------------------------------------- claim 5: signals vs lift


def terminology_signal(result: EvalResult, split: RetrievalSplit, tokenizer) -> dict:
    """What is known before fine-tuning: the failure rate (no relevant document in the top 10), and
    how unevenly failures fall on terminology -- the largest failure-rate spread between the values
    of one terminology feature (abbreviations, codes/numbers, fragmented words), with its p-value."""
    features = {k: v for k, v in default_query_features(tokenizer).items() if k in TERMINOLOGY_FEATURES}
    report = error_clusters(result, split, features)
    top = max(features, key=lambda f: report.spread[f])
    return {"queries": result.n, "recall10": 100 * result.mean(), "failure_rate": 100 * float((result.per_query["recall@10"] == 0).mean()),
            "terminology_spread": 100 * report.spread[top], "feature": top, "p_value": report.p_values[top],
            "clustered": bool(report.clustered())}


def rank_correlation(x, y, max_exact: int = 8, n_resamples: int = 100_000, seed: int = 0) -> tuple[float, float]:
    """Spearman's rho and its two-sided permutation p-value: exact over every ordering of ``y`` up
    to ``max_exact`` points (the handful of datasets here: no large-sample approximation), from
    ``n_resamples`` random orderings above that."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if len(rx) != len(ry) or len(rx) < 3 or np.ptp(rx) == 0 or np.ptp(ry) == 0:
        raise ValueError("need 3+ paired points with varying values for a rank correlation")

    def rho(r):
        return float(np.corrcoef(rx, r)[0, 1])

    observed = rho(ry)
    if len(ry) <= max_exact:
        orderings = (np.array(p) for p in itertools.permutations(ry))
    else:
        rng = np.random.default_rng(seed)
        orderings = (rng.permutation(ry) for _ in range(n_resamples))
    p = float(np.mean([abs(rho(r)) >= abs(observed) - 1e-12 for r in orderings]))
    return round(observed, 3), round(p, 3)


# ----------------------------------------------------------------------------- measuring


def measure(out: str | Path = RESULTS_DIR / "claims.json", datasets=None, cache=None, llm=None,
            show_progress_bar: bool = True) -> dict:
    """Measure claims 1, 2, 3 and claim 5's pre-training signals with the off-the-shelf student;
    write ``out`` (atomically, with provenance) and return it. Choices: none are tuned -- the
    documents, styles and features are fixed here in advance. Claim 5's signals are read on each
    dataset's **dev** split; everything else is scored on **test**."""
    from helpers.evaluation import course_cache
    from helpers.models import load_model_cached
    from helpers.reproduce import DATASETS
    from helpers.synthetic import STYLES

    started = time.time()
    cache = cache if cache is not None else course_cache()
    model = load_model_cached("minilm")
    icd = load_dataset("icd10cm")
    test = icd.split("test")
    dense = evaluate(model, test, cache, "minilm")
    sep = separation(model, families_of(icd.corpus))
    lookalike = {"dataset": "icd10cm", "separation_sd": round(sep.score, 2), **lookalike_errors(dense, test, icd_family)}

    # claim 2: the same test documents, one query per style, all written by one LLM
    records = style_queries(icd, test, llm, show_progress_bar=show_progress_bar)
    splits = style_splits(records, icd.corpus, tuple(STYLES), gold=test)
    style = {"dataset": "icd10cm", "writer": records[0].model, "documents_asked": len({r.doc_id for r in records}),
             **style_recall(model, splits, cache, "expert")}

    # claim 3: the exotic tier's jargon against random vectors
    abbrev = load_dataset("clinical_abbrev")
    jargon = {"dataset": "clinical_abbrev", **jargon_recall(model, abbrev.split("test"), cache)}

    # claim 5: error signals known before fine-tuning, on dev
    signals = {}
    for name in datasets or DATASETS:
        ds = load_dataset(name)
        dev = ds.split("dev")
        signals[name] = {"tier": ds.tier, **terminology_signal(evaluate(model, dev, cache, "minilm"), dev, model.tokenizer)}

    report = {"command": COMMAND, "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "model": "minilm (off-the-shelf)", "seconds": round(time.time() - started, 1),
              "chosen_on": "nothing chosen: documents, styles and features fixed in advance",
              "scored_on": {"lookalike": "test", "style": "test", "jargon": "test", "signals": "dev"},
              "lookalike": lookalike, "style": style, "jargon": jargon, "signals": signals}
    write_json(out, _rounded(report))
    return report


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- the ledger


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _ci(x, lo, hi) -> str:
    return f"{float(x):+.1f} [{float(lo):+.1f}, {float(hi):+.1f}]"


def signals_vs_lift(results_dir: str | Path = RESULTS_DIR) -> tuple[list[dict], dict[str, tuple[float, float]]]:
    """Claim 5, one row per dataset: the error signals known before fine-tuning (``claims.json``,
    dev) beside the recipe's measured lift (``lift_table.csv``, test), and the rank correlation of
    each signal with the lift: ``{signal: (rho, exact p)}``."""
    results_dir = Path(results_dir)
    signals = json.loads((results_dir / "claims.json").read_text())["signals"]
    lifts = {r["dataset"]: r for r in _csv(results_dir / "lift_table.csv")}
    missing = sorted(set(signals) - set(lifts))
    if missing:
        raise ValueError(f"{results_dir / 'lift_table.csv'} has no row for {missing}: run make lift")
    table = [{"dataset": n, "tier": s["tier"], "dev R@10": round(s["recall10"], 1),
              "dev failure rate": round(s["failure_rate"], 1), "terminology spread": round(s["terminology_spread"], 1),
              "by": s["feature"], "p": s["p_value"], "clustered": s["clustered"],
              "recipe lift (test)": float(lifts[n]["lift"])} for n, s in signals.items()]
    lift = [r["recipe lift (test)"] for r in table]
    corr = {"terminology_spread": rank_correlation([r["terminology spread"] for r in table], lift),
            "failure_rate": rank_correlation([r["dev failure rate"] for r in table], lift)}
    return table, corr


def ledger(results_dir: str | Path = RESULTS_DIR, data_dir: str | Path = DATA_DIR) -> list[dict]:
    """The seven claims with figure and verdict, from the results files alone (no model runs)."""
    results_dir, data_dir = Path(results_dir), Path(data_dir)
    m = json.loads((results_dir / "claims.json").read_text())
    lift_rows = {r["dataset"]: r for r in _csv(results_dir / "lift_table.csv")}
    ladder_rows = _csv(results_dir / "ladder.csv")
    curve = [r for r in _csv(data_dir / "lesson2" / "curve.csv") if int(r["pairs"]) > 0]

    # 1. most wrong top-1s a lookalike: agrees; more than chance but not most: partly
    lk = m["lookalike"]
    v1 = "agrees" if lk["ci_low"] > 0.5 else "partly" if lk["ci_low"] > lk["chance_share"] else "disagrees"
    f1 = (f"ICD-10-CM: siblings sit {lk['separation_sd']:.1f} SD closer than unrelated codes; of {lk['wrong_top1']} "
          f"wrong top-1 answers, {100 * lk['lookalike_share']:.0f}% [{100 * lk['ci_low']:.0f}, {100 * lk['ci_high']:.0f}] are a "
          f"sibling code (chance {100 * lk['chance_share']:.1f}%)")

    # 2. everyday wording loses recall against the field's wording for the same documents: CI below
    #    zero agrees; a loss whose CI includes zero, partly; no loss, disagrees
    st = m["style"]
    col, qn, gold = st["styles"]["colloquial"], st["styles"]["question"], st["styles"][GOLD_STYLE]
    v2 = "agrees" if col["ci_high"] < 0 else "partly" if col["difference"] < 0 else "disagrees"
    f2 = (f"the same ICD-10-CM documents asked for by {st['writer'].split(':')[-1]} in everyday words vs in the field's "
          f"terms ({col['documents']} documents): R@10 {col['recall10']:.1f} vs {col['expert recall10']:.1f}, "
          f"{_ci(col['difference'], col['ci_low'], col['ci_high'])}; as questions {_ci(qn['difference'], qn['ci_low'], qn['ci_high'])} "
          f"({qn['documents']}); clinicians' gold queries {_ci(gold['difference'], gold['ci_low'], gold['ci_high'])} "
          f"({gold['documents']})")

    # 3. near-random: the jargon's recall CI reaches down to the random floors
    jg = m["jargon"]
    floor = max(jg["random_vectors"], jg["shuffled_queries"])
    v3 = "agrees" if jg["ci_low"] <= floor else "disagrees"
    f3 = (f"{jg['queries']} clinical abbreviations split into {jg['min_pieces']}+ word pieces: R@10 {jg['recall10']:.1f} "
          f"[{jg['ci_low']:.1f}, {jg['ci_high']:.1f}]; random vectors {jg['random_vectors']:.1f}, "
          f"another query's vector {jg['shuffled_queries']:.1f}")

    # 4. a dataset trained on fewer than 1,000 pairs whose lift reaches its tier's band: disagrees;
    #    else a lift (CI above zero) below 1,000 pairs on the learning curve: partly; else agrees
    few = {d: r for d, r in lift_rows.items() if int(r["train_pairs"]) < 1000 and r["verdict"] in ("within", "above")}
    small = [r for r in curve if int(r["pairs"]) < 1000 and float(r["ci_low"]) > 0]
    v4 = "disagrees" if few else "partly" if small else "agrees"
    f4 = ("; ".join(f"{d}: {int(r['train_pairs']):,} pairs, {_ci(r['lift'], r['lift_ci_low'], r['lift_ci_high'])} "
                    f"({r['verdict']} the {r['course_claim']} band)" for d, r in few.items())
          + ("; " if few else "") + "ICD-10-CM's curve, 1 epoch: "
          + "; ".join(f"{int(r['pairs']):,} pairs {_ci(r['lift'], r['ci_low'], r['ci_high'])}" for r in curve))

    # 5. the course's rule, both ways: (a) datasets whose errors did not cluster on terminology (dev,
    #    before training) did not lift; (b) the more they cluster, the larger the lift (rank
    #    correlation). Both hold: agrees; one: partly; neither: disagrees
    table, corr = signals_vs_lift(results_dir)
    rho, p = corr["terminology_spread"]
    lifted_unclustered = [r["dataset"] for r in table if not r["clustered"] and float(lift_rows[r["dataset"]]["lift_ci_low"]) > 0]
    held = [not lifted_unclustered, rho > 0 and p < 0.05]
    v5 = "agrees" if all(held) else "partly" if any(held) else "disagrees"
    f5 = (f"errors clustered on terminology on dev (p < 0.01, spread 15+ points) in {sum(r['clustered'] for r in table)} of "
          f"{len(table)} datasets, yet {len(lifted_unclustered)} unclustered ones lifted (CI above zero); the spread ranks "
          f"the recipe's lifts: Spearman rho {rho:+.2f} (exact p {p:.2f}; the plain failure rate: "
          f"{corr['failure_rate'][0]:+.2f}, p {corr['failure_rate'][1]:.2f})")

    # 6. the hard-negative rung is the largest of the three training steps, dataset by dataset
    steps: dict[str, dict[str, dict]] = {}
    for r in ladder_rows:
        steps.setdefault(r["dataset"], {})[r["rung"]] = r
    largest = [d for d, s in steps.items() if float(s["hard negatives"]["gain_over_below"])
               > max(float(s["in-batch"]["gain_over_below"]), float(s["recipe"]["gain_over_below"]))]
    v6 = "agrees" if len(largest) == len(steps) else "partly" if largest else "disagrees"
    over_epochs = [d for d, s in steps.items()
                   if float(s["hard negatives"]["gain_over_below"]) > float(s["recipe"]["gain_over_below"])]
    hn = [f"{d} {_ci(s['hard negatives']['gain_over_below'], s['hard negatives']['below_ci_low'], s['hard negatives']['below_ci_high'])}"
          for d, s in steps.items()]
    f6 = (f"the largest of the three steps (1st in-batch epoch, mining, more epochs) on {len(largest)} of {len(steps)} "
          f"datasets, larger than the epochs' step on {len(over_epochs)}; mined negatives over in-batch "
          "(on the pairs the margin leaves a negative, fewer on some sets): " + ", ".join(hn))

    # 7. every dataset's recipe lift inside its tier's band
    within = [d for d, r in lift_rows.items() if r["verdict"] == "within"]
    v7 = "agrees" if len(within) == len(lift_rows) else "partly" if within else "disagrees"
    f7 = "; ".join(f"{d} ({r['tier']}, {r['course_claim']}) {_ci(r['lift'], r['lift_ci_low'], r['lift_ci_high'])} {r['verdict']}"
                   for d, r in lift_rows.items())

    return [{"claim": claim.number, "the course says": claim.claim, "measured in": claim.measured_by,
             "measured (95% CI)": figure, "verdict": verdict}
            for claim, figure, verdict in zip(CLAIMS, (f1, f2, f3, f4, f5, f6, f7), (v1, v2, v3, v4, v5, v6, v7))]


def ledger_markdown(rows: list[dict]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_ledger(results_dir: str | Path = RESULTS_DIR, data_dir: str | Path = DATA_DIR) -> str:
    """Write ``results/claims.md`` from the results files; return the table."""
    table = ledger_markdown(ledger(results_dir, data_dir))
    m = json.loads((Path(results_dir) / "claims.json").read_text())
    text = (f"# The course's claims, measured\n\nGenerated by `{COMMAND}` from `claims.json` ({m['written']}), "
            "`lift_table.csv`, `ladder.csv` and `data/lesson2/curve.csv`; figures in recall@10 points unless said "
            "otherwise. Claim 5's signals were read on dev, everything else scored on test.\n\n" + table)
    with atomic_write(Path(results_dir) / "claims.md") as f:
        f.write(text)
    return table


def update_readme(table: str, readme: str | Path = DATA_DIR.parent / "README.md") -> None:
    """Put ``table`` between the README's ledger markers (the tests compare the two)."""
    write_between(readme, LEDGER_START, LEDGER_END, table)
