"""The lift table: the course's recipe on each shipped tier, rung by rung, against the course's bands.

``python -m helpers reproduce`` climbs the recipe ladder (:mod:`helpers.ladder`) on every dataset
and writes, in ``results/``:

- ``lift_table.{md,csv,png}`` -- the headline, one row per dataset: recall@10 of the off-the-shelf
  student (minilm) and of the 5x larger mpnet, recall@10 with the course's recipe (the ladder's top
  rung), its lift with a paired-bootstrap 95% CI, the course's band for the tier and where the lift
  falls, the 1-epoch in-batch lift beside it, nDCG@10, training seconds, and the change of recall@10
  on GCIDE, a general set no run trains on (the forgetting check);
- ``ladder.{md,csv,png}`` -- every rung: its lift over off-the-shelf *and* its gain over the rung
  below, each with its CI, which split chose its setting and which scored it, and the recipe's dev
  learning curve;
- ``ladder/<dataset>.json`` -- every rung's per-query scores with the data and settings they were
  made under: the cache the next run reads;
- ``timings.json``.

Training every rung takes about an hour on 2 cores, so a run recomputes only the rungs in
``recompute`` (by default the off-the-shelf and in-batch rungs, as the table always did) and
reads the others from ``ladder/<dataset>.json`` when the data and settings they were made under
are this run's; otherwise it trains them too, with a warning. The reference model's (mpnet's)
test scores are kept there as well, with its weights' fingerprint. Tables say which rows were
recomputed and when the others were made. ``--recompute all`` recomputes everything.
"""

from __future__ import annotations

import csv
import json
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from helpers.data import DEFAULT_PROTOCOL, load_dataset
from helpers.diagnosis import COURSE_LIFT_BANDS
from helpers.evaluation import EmbeddingCache, bootstrap_name, course_cache, evaluate, paired_bootstrap, split_clusters
from helpers.io import atomic_write, write_between, write_json
from helpers.ladder import RUNGS, LadderSettings, RungResult, check_rungs, climb, data_key, pct
from helpers.models import load_model_cached, model_fingerprint

# matplotlib is imported inside the plotting functions: ~1 s at import, and `python -m helpers
# --help`, which imports this module for DATASETS, plots nothing.

#: in the order of the course's table, least to most specialised
DATASETS = ("wordnet", "aws_docs", "aws_examples", "icd10cm", "licences", "clinical_abbrev")
GENERAL_SET = "gcide"  # held out: never trained on, by any rung or lesson
LIVE_RUNGS = ("off-the-shelf", "in-batch")
QUICK = {"n_docs": 300, "n_queries": {"train": 64, "dev": 30, "test": 60}, "max_steps": 4}
COMMAND = "python -m helpers reproduce"
#: where the README shows the headline table (``readme_lift_table``; written by ``make lift``, checked by the tests)
README_LIFT_START, README_LIFT_END = "<!-- lift table: start -->", "<!-- lift table: end -->"


@dataclass
class LiftRow:
    """One dataset in the headline table: the recipe's lift, with what it is compared to."""

    tier: str
    dataset: str
    protocol: str
    corpus_size: int
    test_queries: int
    train_pairs: int
    minilm_recall10: float
    mpnet_recall10: float
    finetuned_recall10: float
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    course_claim: str
    verdict: str  # where the lift's point estimate falls: below / within / above the course's band
    in_batch_lift: float
    ndcg10_before: float
    ndcg10_after: float
    train_seconds: float
    generic_recall10_change: float
    generic_ci_low: float
    generic_ci_high: float
    recipe_chosen_on: str
    recipe_source: str  # "recomputed", or when and where the cached rung was made
    reference_source: str  # the same for the mpnet column
    bootstrap: str  # how the test queries were resampled for the CIs (bootstrap_name)


@dataclass
class LadderRow:
    tier: str
    dataset: str
    rung: str
    setting: str
    train_pairs: int
    recall10: float
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    gain_over_below: float
    below_ci_low: float
    below_ci_high: float
    ndcg10: float
    train_seconds: float
    generic_change: float
    generic_ci_low: float
    generic_ci_high: float
    chosen_on: str
    scored_on: str
    source: str


def reproduce(
    datasets=DATASETS,
    protocol: str = DEFAULT_PROTOCOL,
    out_dir: str | Path = "results",
    runs_dir: str | Path = "runs/ladder",
    settings: LadderSettings | None = None,
    recompute=LIVE_RUNGS,
    quick: bool = False,
    reference: str = "mpnet",
    cache: EmbeddingCache | None = None,
    seed: int = 0,
) -> list[LiftRow]:
    """Climb the ladder on each dataset and write the tables (see the module's docstring).

    ``quick=True`` runs every rung on small subsamples with a few training steps: it checks the
    whole path in a few minutes, and its numbers mean nothing. ``cache``: where embeddings are kept
    (default: the course's cache on disk, so a second run encodes nothing it encoded before).
    """
    started = time.perf_counter()
    settings = settings or LadderSettings()
    recompute = check_rungs(RUNGS if recompute == "all" else recompute)
    if quick:
        settings = replace(settings, max_steps=QUICK["max_steps"])
    out_dir, runs_dir = Path(out_dir), Path(runs_dir)
    cache = cache if cache is not None else course_cache()

    def load(name):
        ds = load_dataset(name)
        return ds.subsample(QUICK["n_docs"], QUICK["n_queries"], seed=seed) if quick else ds

    generic = load(GENERAL_SET).split("test", protocol)
    ref = load_model_cached(reference)
    ref_fp = model_fingerprint(ref)
    timings: dict[str, dict[str, float]] = {}
    rows: list[LiftRow] = []
    ladder_rows: list[LadderRow] = []
    curves: dict[str, list] = {}
    recomputed: set[str] = set()
    bar = tqdm(list(datasets), desc="lift table", unit="dataset")
    for name in bar:
        t0 = time.perf_counter()
        ds = load(name)
        test = ds.split("test", protocol)
        key = data_key(ds, protocol, settings, generic)
        ladder_file = out_dir / "ladder" / f"{name}.json"
        cached = read_cached_rungs(ladder_file, key)
        reference_row = read_cached_reference(ladder_file, key, ref_fp, list(test.queries))
        if set(recompute) == set(RUNGS):
            reference_row = None
        todo = [r for r in RUNGS if r in recompute or r not in cached]
        stale = [r for r in todo if r not in recompute]
        if stale:
            warnings.warn(f"{ladder_file}: no usable cached result for rung(s) {stale} (missing, or made from "
                          "other data or settings): training them now", stacklevel=2)
        bar.set_postfix_str(f"{name}: rungs {', '.join(todo)}")
        fresh = climb(ds, settings, generic, cache, runs_dir, rungs=todo, protocol=protocol, command=COMMAND)
        rungs = {r: fresh.get(r) or cached[r] for r in RUNGS}
        t1 = time.perf_counter()
        reference_source = f"cached, {reference_row['made']['written']}" if reference_row else "recomputed"
        if reference_row is None:  # off-the-shelf and never trained: cached like a rung (~5 min on licences)
            bar.set_postfix_str(f"{name}: {reference}")
            result = evaluate(ref, test, cache, reference, name)
            reference_row = {"model": reference, "fingerprint": ref_fp, "recall10": pct(result.mean()),
                             "test_recall10": [round(float(v), 4) for v in result.per_query["recall@10"]],
                             "made": {"written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": COMMAND}}
        write_ladder_file(ladder_file, key, list(test.queries), rungs, reference_row)
        trained = [r for r in fresh if r != "off-the-shelf" and not fresh[r].reused_model]
        timings[name] = {"ladder": round(t1 - t0, 1), "evaluate_mpnet": round(time.perf_counter() - t1, 1),
                         **{f"train {r}": rungs[r].train_seconds for r in trained}}
        recomputed |= set(fresh)

        source = {r: "recomputed" if r in fresh else f"cached, {rungs[r].made.get('written', '?')}" for r in RUNGS}
        clusters = split_clusters(test)
        ladder_rows += ladder_table_rows(ds.tier, rungs, source, seed, clusters, split_clusters(generic))
        curves[name] = rungs["recipe"].dev_curve
        base, top = rungs["off-the-shelf"], rungs["recipe"]
        gain = forget = next(r for r in ladder_rows if r.dataset == name and r.rung == "recipe")
        lo, hi = COURSE_LIFT_BANDS.get(ds.tier, (float("nan"), float("nan")))
        rows.append(LiftRow(
            tier=ds.tier, dataset=name, protocol=protocol, corpus_size=len(ds.corpus), test_queries=len(test.queries),
            train_pairs=top.train_pairs, minilm_recall10=base.recall10, mpnet_recall10=reference_row["recall10"],
            finetuned_recall10=top.recall10, lift=gain.lift, lift_ci_low=gain.lift_ci_low,
            lift_ci_high=gain.lift_ci_high, course_claim=f"{lo}-{hi}", verdict=band_verdict(gain.lift, lo, hi),
            in_batch_lift=next(r.lift for r in ladder_rows if r.dataset == name and r.rung == "in-batch"),
            ndcg10_before=base.ndcg10, ndcg10_after=top.ndcg10, train_seconds=top.train_seconds,
            generic_recall10_change=forget.generic_change, generic_ci_low=forget.generic_ci_low,
            generic_ci_high=forget.generic_ci_high, recipe_chosen_on=top.chosen_on, recipe_source=source["recipe"],
            reference_source=reference_source, bootstrap=bootstrap_name(clusters),
        ))
        tqdm.write(f"{name:16s} recipe {gain.lift:+.1f} [{gain.lift_ci_low:+.1f}, {gain.lift_ci_high:+.1f}] "
                   f"({source['recipe']}) | in-batch {rows[-1].in_batch_lift:+.1f} | GCIDE {forget.generic_change:+.1f}")

    timings_doc = {"quick": quick, "recomputed_rungs": [r for r in RUNGS if r in recomputed],
                   "total_seconds": round(time.perf_counter() - started, 1), "stages_seconds": timings}
    write_results(rows, ladder_rows, curves, timings_doc, out_dir, quick=quick, settings=settings)
    return rows


def band_verdict(lift: float, lo: float, hi: float) -> str:
    """Where a lift's point estimate falls against the course's band for its tier.

    >>> band_verdict(6.4, 10, 25), band_verdict(12.0, 10, 25), band_verdict(30.5, 15, 30)
    ('below', 'within', 'above')
    """
    return "below" if lift < lo else "above" if lift > hi else "within"


def ladder_table_rows(tier: str, rungs: dict[str, RungResult], source: dict[str, str], seed: int = 0,
                      clusters=None, generic_clusters=None) -> list[LadderRow]:
    """Every rung's lift over off-the-shelf and gain over the rung below, each with a paired CI
    (resampling ``clusters`` of test queries, and ``generic_clusters`` of the general set's)."""
    base = rungs["off-the-shelf"]
    out, below = [], None
    for name in RUNGS:
        r = rungs[name]
        lift = _ci(r.test_recall10, base.test_recall10, seed, clusters)
        step = _ci(r.test_recall10, below.test_recall10, seed, clusters) if below else (0.0, 0.0, 0.0)
        generic = _ci(r.generic_recall10, base.generic_recall10, seed, generic_clusters)
        out.append(LadderRow(tier, r.dataset, name, r.setting, r.train_pairs, r.recall10, *lift, *step, r.ndcg10,
                             r.train_seconds, *generic, r.chosen_on, r.scored_on, source[name]))
        below = r
    return out


def _ci(after, before, seed: int, clusters=None) -> tuple[float, float, float]:
    return tuple(pct(x) for x in paired_bootstrap(after, before, seed=seed, clusters=clusters))


# ----------------------------------------------------------------------------- the rung cache


def read_cached_rungs(path: Path, key: dict) -> dict[str, RungResult]:
    """The rungs stored in ``path`` if they were made from the data and settings in ``key``;
    ``{}`` when there is no file. A file that cannot be read, or was made under another key, gives
    ``{}`` with a warning that names it and what differs: it is recomputed, never mixed in."""
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rungs = {name: RungResult(**r) for name, r in doc["rungs"].items()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"{path}: unreadable ({type(e).__name__}: {e}); its rungs will be recomputed", stacklevel=3)
        return {}
    if doc.get("key") != key:
        from helpers.training import key_differences

        diff = "; ".join(key_differences(doc.get("key") or {}, key)[:5])
        warnings.warn(f"{path}: made from other data or settings ({diff}); its rungs will be recomputed",
                      stacklevel=3)
        return {}
    return {name: r for name, r in rungs.items() if name in RUNGS}


def read_cached_reference(path: Path, key: dict, fingerprint: str, query_ids: list[str]) -> dict | None:
    """The reference model's stored test scores in ``path``, if made under ``key`` by a model with this
    ``fingerprint`` on these test queries; else ``None`` (it is evaluated again)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # read_cached_rungs has said why
    ref = doc.get("reference") if isinstance(doc, dict) else None
    if (not isinstance(ref, dict) or doc.get("key") != key or ref.get("fingerprint") != fingerprint
            or doc.get("test_query_ids") != query_ids or len(ref.get("test_recall10") or ()) != len(query_ids)):
        return None
    return ref


def write_ladder_file(path: Path, key: dict, query_ids: list[str], rungs: dict[str, RungResult],
                      reference: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"key": key, "test_query_ids": query_ids, "rungs": {n: asdict(r) for n, r in rungs.items()}}
    write_json(path, {**doc, "reference": reference} if reference else doc, indent=1)


# ----------------------------------------------------------------------------- output

HEADER = ("| tier | dataset | docs | train pairs | minilm R@10 | mpnet R@10 | recipe R@10 | lift (95% CI) "
          "| course's band | verdict | 1-epoch in-batch lift | nDCG@10 before -> after | train s "
          "| GCIDE R@10 change (95% CI) | recipe row | mpnet row |")


def markdown_table(rows: list[LiftRow]) -> str:
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r.tier} | {r.dataset} | {r.corpus_size:,} | {r.train_pairs:,} | {r.minilm_recall10:.1f} "
            f"| {r.mpnet_recall10:.1f} | {r.finetuned_recall10:.1f} | **{r.lift:+.1f}** [{r.lift_ci_low:+.1f}, "
            f"{r.lift_ci_high:+.1f}] | {r.course_claim} | {r.verdict} | {r.in_batch_lift:+.1f} "
            f"| {r.ndcg10_before:.1f} -> {r.ndcg10_after:.1f} | {r.train_seconds:.0f} "
            f"| {r.generic_recall10_change:+.1f} [{r.generic_ci_low:+.1f}, {r.generic_ci_high:+.1f}] "
            f"| {r.recipe_source} | {r.reference_source} |"
        )
    return "\n".join(lines)


LADDER_HEADER = ("| dataset | rung | adds | pairs | R@10 | lift over off-the-shelf (95% CI) | gain over rung below (95% CI) "
                 "| nDCG@10 | train s | GCIDE change (95% CI) | chosen on | scored on | row |")


def readme_lift_table(rows: list[dict]) -> str:
    """The README's compact copy of the lift table, from ``lift_table.csv``'s rows (strings, as
    ``csv.DictReader`` gives them): rendered, never typed, so the two cannot disagree.

    >>> row = {"tier": "heavy", "dataset": "x", "minilm_recall10": "70.0", "mpnet_recall10": "72.4",
    ...        "finetuned_recall10": "82.0", "lift": "12.0", "lift_ci_low": "9.1", "lift_ci_high": "15.2",
    ...        "course_claim": "10-25", "verdict": "within", "in_batch_lift": "6.4", "generic_recall10_change": "0.4",
    ...        "generic_ci_low": "-1.4", "generic_ci_high": "2.2"}
    >>> print(readme_lift_table([row]).splitlines()[-1])
    | heavy | x | 70.0 | 72.4 | 82.0 | **+12.0** [+9.1, +15.2] | 10-25 (within) | +6.4 | +0.4 [-1.4, +2.2] |
    """
    f = lambda v: f"{float(v):+.1f}"  # noqa: E731
    head = ("| tier | dataset | minilm R@10 | mpnet R@10 | recipe R@10 | lift (95% CI) | course's band | "
            "1-epoch in-batch lift | GCIDE change (95% CI) |\n|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r['tier']} | {r['dataset']} | {float(r['minilm_recall10']):.1f} | {float(r['mpnet_recall10']):.1f} | "
        f"{float(r['finetuned_recall10']):.1f} | **{f(r['lift'])}** [{f(r['lift_ci_low'])}, {f(r['lift_ci_high'])}] | "
        f"{r['course_claim']} ({r['verdict']}) | {f(r['in_batch_lift'])} | {f(r['generic_recall10_change'])} "
        f"[{f(r['generic_ci_low'])}, {f(r['generic_ci_high'])}] |\n" for r in rows)


def ladder_markdown(rows: list[LadderRow], curves: dict[str, list]) -> str:
    lines = [LADDER_HEADER, "|" + "---|" * (LADDER_HEADER.count("|") - 1)]
    for r in rows:
        step = "" if r.rung == RUNGS[0] else f"{r.gain_over_below:+.1f} [{r.below_ci_low:+.1f}, {r.below_ci_high:+.1f}]"
        lift = "" if r.rung == RUNGS[0] else f"**{r.lift:+.1f}** [{r.lift_ci_low:+.1f}, {r.lift_ci_high:+.1f}]"
        generic = "" if r.rung == RUNGS[0] else f"{r.generic_change:+.1f} [{r.generic_ci_low:+.1f}, {r.generic_ci_high:+.1f}]"
        lines.append(f"| {r.dataset} | {r.rung} | {r.setting} | {r.train_pairs:,} | {r.recall10:.1f} | {lift} | {step} "
                     f"| {r.ndcg10:.1f} | {r.train_seconds:.0f} | {generic} | {r.chosen_on} | {r.scored_on} | {r.source} |")
    lines += ["", "The recipe's learning curve, on **dev** (recall@10 after each epoch; epoch 0 = off-the-shelf):", ""]
    for name, curve in curves.items():
        points = ", ".join(f"{e}: {100 * s:.1f}" for e, _, s in curve) or "not recorded"
        lines.append(f"- {name}: {points}")
    return "\n".join(lines)


def _band_patches(ax, xs, tiers, width: float = 0.8) -> None:
    import matplotlib.pyplot as plt

    for i, (x, tier) in enumerate(zip(xs, tiers)):
        lo, hi = COURSE_LIFT_BANDS.get(tier, (0, 0))
        ax.add_patch(plt.Rectangle((x - width / 2, lo), width, hi - lo, color="0.88", zorder=0,
                                   label="course's band for the tier" if i == 0 else None))


def plot_lifts(rows: list[LiftRow], path: str | Path, title: str = "") -> None:
    """The recipe's lift with its 95% CI per dataset, the 1-epoch in-batch lift beside it, over the
    band the course claims for the tier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=110)
    xs = list(range(len(rows)))
    _band_patches(ax, xs, [r.tier for r in rows])
    ax.bar(xs, [r.lift for r in rows], width=0.5, color="tab:blue", zorder=2, label="course's recipe")
    ax.errorbar(xs, [r.lift for r in rows],
                yerr=[[r.lift - r.lift_ci_low for r in rows], [r.lift_ci_high - r.lift for r in rows]],
                fmt="none", ecolor="black", capsize=4, zorder=3, label="95% CI")
    ax.scatter(xs, [r.in_batch_lift for r in rows], marker="_", s=400, color="tab:orange", zorder=4,
               label="1 epoch, in-batch only")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(xs, [f"{r.dataset}\n({r.tier})" for r in rows])
    ax.set_ylabel("recall@10 lift (points)")
    ax.set_title(title or f"Fine-tuning lift by domain ({rows[0].protocol if rows else ''})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_ladder(rows: list[LadderRow], curves: dict[str, list], path: str | Path, title: str = "") -> None:
    """Left: each trained rung's lift with its CI, per dataset. Right: the recipe's dev learning curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r.dataset for r in rows))
    trained = [r for r in RUNGS if r != "off-the-shelf"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=110, gridspec_kw={"width_ratios": [2, 1]})
    _band_patches(ax, range(len(names)), [next(r.tier for r in rows if r.dataset == n) for n in names], width=0.9)
    width = 0.8 / len(trained)
    for j, rung in enumerate(trained):
        sel = [next(r for r in rows if r.dataset == n and r.rung == rung) for n in names]
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(names))]
        ax.bar(xs, [r.lift for r in sel], width=width * 0.9, zorder=2, label=rung)
        ax.errorbar(xs, [r.lift for r in sel], yerr=[[r.lift - r.lift_ci_low for r in sel],
                                                    [r.lift_ci_high - r.lift for r in sel]],
                    fmt="none", ecolor="black", capsize=2, zorder=3)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(list(range(len(names))), names)
    ax.set_ylabel("recall@10 lift over off-the-shelf (points)")
    ax.set_title(title or "The recipe ladder (test split, 95% CIs)")
    ax.legend(fontsize=8, loc="upper left")
    for name, curve in curves.items():
        if curve:
            ax2.plot([e for e, _, _ in curve], [100 * s for _, _, s in curve], marker="o", label=name)
    from matplotlib.ticker import MaxNLocator

    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_xlabel("epoch (0 = off-the-shelf)")
    ax2.set_ylabel("dev recall@10")
    ax2.set_title("Recipe rung: learning curve on dev")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path) -> None:
    import matplotlib.pyplot as plt

    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def _write_csv(path: Path, rows) -> None:
    with atomic_write(path) as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        w.writeheader()
        w.writerows(asdict(r) for r in rows)


def write_results(rows: list[LiftRow], ladder_rows: list[LadderRow], curves: dict[str, list], timings: dict,
                  out_dir: Path, quick: bool, settings: LadderSettings) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    note = ("QUICK RUN: subsampled corpora and a few training steps; these numbers only check the path.\n\n"
            if quick else "")
    recomputed = ", ".join(timings["recomputed_rungs"]) or "none"
    clustered = "; ".join(f"{r.dataset} {r.bootstrap}" for r in rows if r.bootstrap != "per query")
    clustered = (clustered + "; one query per group elsewhere") if clustered else "no two test queries share one here"
    about = (f"Protocol `{rows[0].protocol}`; student {settings.student}, at most {settings.max_pairs:,} training "
             f"pairs (whole queries), lr {settings.learning_rate:g}, batch {settings.batch_size}, seed {settings.seed}. "
             f"The recipe: MultipleNegativesRankingLoss with one mined hard negative per query ({settings.mining.describe()}), "
             f"up to {settings.max_epochs} epochs, keeping the epoch with the best recall@10 on the dev split; "
             "every other setting was fixed in advance. Every figure is scored once on the test split. "
             "Recall and lifts in points (x100), 95% CIs from a paired bootstrap over test queries that "
             "resamples together the queries sharing a relevant document (a cluster bootstrap: "
             f"{clustered}). "
             f"GCIDE: a general dictionary set no run trains on. Rungs recomputed by this run: {recomputed}; "
             f"the others are read from `ladder/<dataset>.json` (the date says when they were made; "
             f"`{COMMAND} --recompute all` recomputes them; a model already trained under the same training key "
             "is reused, not retrained).\n\n")
    with atomic_write(out_dir / "lift_table.md") as f:
        f.write(f"# Lift table\n\n{note}{about}{markdown_table(rows)}\n")
    with atomic_write(out_dir / "ladder.md") as f:
        f.write(f"# The recipe ladder\n\n{note}{about}{ladder_markdown(ladder_rows, curves)}\n")
    _write_csv(out_dir / "lift_table.csv", rows)
    _write_csv(out_dir / "ladder.csv", ladder_rows)
    plot_lifts(rows, out_dir / "lift_table.png", title="QUICK RUN (not a result)" if quick else "")
    plot_ladder(ladder_rows, curves, out_dir / "ladder.png", title="QUICK RUN (not a result)" if quick else "")
    write_json(out_dir / "timings.json", timings)
    readme = Path(__file__).resolve().parent.parent / "README.md"
    if not quick and out_dir.resolve() == readme.parent / "results":  # the shipped results: the README shows them
        with open(out_dir / "lift_table.csv", encoding="utf-8") as fh:
            write_between(readme, README_LIFT_START, README_LIFT_END, readme_lift_table(list(csv.DictReader(fh))))
    print(f"\n{note}{about}{markdown_table(rows)}\n\nwritten to {out_dir}/lift_table.(md|csv|png) and ladder.(md|csv|png)")
