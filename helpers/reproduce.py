"""The lift table: fine-tune the student on each shipped tier and measure what it gains.

``python -m helpers reproduce`` runs :func:`reproduce` and writes ``results/lift_table.md``,
``lift_table.csv``, ``lift_table.png`` and ``timings.json``. One row per dataset:

tier, corpus size, training pairs, recall@10 of the off-the-shelf student (minilm) and of the
5x larger mpnet, recall@10 after fine-tuning, the lift with its paired-bootstrap 95% CI,
nDCG@10 before/after, training seconds, and the change of recall@10 on the generic set
(WordNet) after domain fine-tuning -- the forgetting check.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from helpers.data import DEFAULT_PROTOCOL, load_dataset
from helpers.diagnosis import COURSE_LIFT_BANDS
from helpers.evaluation import EmbeddingCache, evaluate, lift
from helpers.io import atomic_write, write_json
from helpers.models import load_model, load_model_cached
from helpers.training import TrainConfig, fine_tune

# matplotlib is imported inside plot_lifts: ~1 s at import, and `python -m helpers --help`, which
# imports this module for DATASETS, plots nothing.

#: in the order of the course's table, least to most specialised
DATASETS = ("wordnet", "aws_docs", "icd10cm", "clinical_abbrev")
GENERIC_SET = "wordnet"
QUICK = {"n_docs": 300, "n_queries": {"train": 64, "dev": 0, "test": 60}, "max_steps": 4}


@dataclass
class LiftRow:
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
    ndcg10_before: float
    ndcg10_after: float
    train_seconds: float
    generic_recall10_change: float
    generic_ci_low: float
    generic_ci_high: float
    course_claim: str


def reproduce(
    datasets=DATASETS,
    protocol: str = DEFAULT_PROTOCOL,
    out_dir: str | Path = "results",
    runs_dir: str | Path = "runs/reproduce",
    max_pairs: int = 3000,
    config: TrainConfig | None = None,
    quick: bool = False,
    student: str = "minilm",
    reference: str = "mpnet",
    seed: int = 0,
) -> list[LiftRow]:
    """Fine-tune ``student`` on each dataset's training split and write the lift table.

    ``quick=True`` runs on small subsamples with a few training steps: it checks the whole
    path in about two minutes, and its numbers mean nothing.
    """
    started = time.perf_counter()
    config = config or TrainConfig(epochs=1)
    if quick:
        config = replace(config, max_steps=QUICK["max_steps"])
    out_dir, runs_dir = Path(out_dir), Path(runs_dir)
    cache = EmbeddingCache()
    timings: dict[str, dict[str, float]] = {}
    rows: list[LiftRow] = []

    def load(name):
        ds = load_dataset(name)
        return ds.subsample(QUICK["n_docs"], QUICK["n_queries"], seed=seed) if quick else ds

    generic = load(GENERIC_SET).split("test", protocol)
    base = load_model_cached(student)
    ref = load_model_cached(reference)
    generic_before = evaluate(base, generic, cache, student, GENERIC_SET)

    bar = tqdm(list(datasets), desc="lift table", unit="dataset")
    for name in bar:
        t: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            t[stage] = round(now - clock, 1)
            clock = now

        bar.set_postfix_str(f"{name}: loading")
        ds = load(name)
        test, train = ds.split("test", protocol), ds.split("train", protocol)
        pairs = train.pairs()[:max_pairs]
        lap("load")
        bar.set_postfix_str(f"{name}: baselines")
        before = evaluate(base, test, cache, student, name)
        lap("evaluate_minilm")
        ref_result = evaluate(ref, test, cache, reference, name)
        lap("evaluate_mpnet")
        bar.set_postfix_str(f"{name}: fine-tuning on {len(pairs)} pairs")
        model, info = fine_tune(load_model(student), pairs, runs_dir / name, config=config,
                                dataset_name=f"{name}/{protocol}/train", show_progress_bar=False)
        lap("train")
        bar.set_postfix_str(f"{name}: evaluating")
        after = evaluate(model, test, cache, f"{student}+{name}", name)
        lap("evaluate_finetuned")
        generic_after = evaluate(model, generic, cache, f"{student}+{name}", GENERIC_SET)
        lap("forgetting_check")
        timings[name] = t

        gain = lift(after, before, seed=seed)
        forget = lift(generic_after, generic_before, seed=seed)
        lo, hi = COURSE_LIFT_BANDS.get(ds.tier, (float("nan"), float("nan")))
        rows.append(LiftRow(
            tier=ds.tier, dataset=name, protocol=protocol, corpus_size=len(ds.corpus), test_queries=len(test.queries),
            train_pairs=len(pairs), minilm_recall10=pct(before.mean()), mpnet_recall10=pct(ref_result.mean()),
            finetuned_recall10=pct(after.mean()), lift=pct(gain.delta), lift_ci_low=pct(gain.ci_low),
            lift_ci_high=pct(gain.ci_high), ndcg10_before=pct(before.mean("ndcg@10")),
            ndcg10_after=pct(after.mean("ndcg@10")), train_seconds=info.seconds,
            generic_recall10_change=pct(forget.delta), generic_ci_low=pct(forget.ci_low),
            generic_ci_high=pct(forget.ci_high), course_claim=f"{lo}-{hi}",
        ))
        tqdm.write(f"{name:16s} {gain}  | generic {forget}")

    timings_doc = {"quick": quick, "total_seconds": round(time.perf_counter() - started, 1), "stages_seconds": timings}
    write_results(rows, timings_doc, out_dir, quick=quick, config=config, max_pairs=max_pairs)
    return rows


def pct(x: float) -> float:
    return round(100 * x, 1)


# ----------------------------------------------------------------------------- output

HEADER = ("| tier | dataset | docs | train pairs | minilm R@10 | mpnet R@10 | fine-tuned R@10 | lift (95% CI) "
          "| course claims | nDCG@10 before -> after | train s | generic R@10 change (95% CI) |")


def markdown_table(rows: list[LiftRow]) -> str:
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r.tier} | {r.dataset} | {r.corpus_size:,} | {r.train_pairs:,} | {r.minilm_recall10:.1f} "
            f"| {r.mpnet_recall10:.1f} | {r.finetuned_recall10:.1f} | **{r.lift:+.1f}** [{r.lift_ci_low:+.1f}, {r.lift_ci_high:+.1f}] "
            f"| {r.course_claim} | {r.ndcg10_before:.1f} -> {r.ndcg10_after:.1f} | {r.train_seconds:.0f} "
            f"| {r.generic_recall10_change:+.1f} [{r.generic_ci_low:+.1f}, {r.generic_ci_high:+.1f}] |"
        )
    return "\n".join(lines)


def plot_lifts(rows: list[LiftRow], path: str | Path, title: str = "") -> None:
    """Measured lift with its 95% CI per dataset, over the band the course claims for its tier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    xs = range(len(rows))
    for x, r in zip(xs, rows):
        lo, hi = COURSE_LIFT_BANDS.get(r.tier, (0, 0))
        ax.add_patch(plt.Rectangle((x - 0.4, lo), 0.8, hi - lo, color="0.85", zorder=0,
                                   label="course's claimed range" if x == 0 else None))
    ax.bar(xs, [r.lift for r in rows], width=0.5, color="tab:blue", zorder=2, label="measured lift")
    ax.errorbar(xs, [r.lift for r in rows],
                yerr=[[r.lift - r.lift_ci_low for r in rows], [r.lift_ci_high - r.lift for r in rows]],
                fmt="none", ecolor="black", capsize=4, zorder=3, label="95% CI")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(list(xs), [f"{r.dataset}\n({r.tier})" for r in rows])
    ax.set_ylabel("recall@10 lift (points)")
    ax.set_title(title or f"Fine-tuning lift by domain ({rows[0].protocol if rows else ''})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def write_results(rows: list[LiftRow], timings: dict, out_dir: Path, quick: bool, config: TrainConfig, max_pairs: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    note = ("QUICK RUN: subsampled corpora and a few training steps; these numbers only check the path.\n\n"
            if quick else "")
    settings = (f"Protocol `{rows[0].protocol}`; student minilm fine-tuned with MultipleNegativesRankingLoss, "
                f"{config.epochs:g} epoch(s), lr {config.learning_rate:g}, batch {config.batch_size}, "
                f"at most {max_pairs} pairs, seed {config.seed}. Recall and lifts in points (x100).\n\n")
    with atomic_write(out_dir / "lift_table.md") as f:
        f.write(f"# Lift table\n\n{note}{settings}{markdown_table(rows)}\n")
    with atomic_write(out_dir / "lift_table.csv") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        w.writeheader()
        w.writerows(asdict(r) for r in rows)
    plot_lifts(rows, out_dir / "lift_table.png", title="QUICK RUN (not a result)" if quick else "")
    write_json(out_dir / "timings.json", timings)
    print(f"\n{note}{settings}{markdown_table(rows)}\n\nwritten to {out_dir}/lift_table.(md|csv|png)")
