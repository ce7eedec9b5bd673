"""Lesson 6's measured example: a shipped dataset run through ``python -m helpers finetune`` as if it
were a team's own labelled set, beside the same documents with LLM-written queries only.

    python benchmarks/own_labels.py                        # icd10cm: three runs, about an hour on 2 cores
    python benchmarks/own_labels.py --dataset clinical_abbrev

The dataset is written as a standard BEIR folder (:func:`helpers.data.write_beir`): the ladder's
training queries (its first train queries, at most 3,000 pairs) as ``qrels/train.tsv``, its 200 dev
queries as ``qrels/dev.tsv``, its 500 test queries as ``qrels/test.tsv``. Then the command runs three
times, each with the course's recipe (one mined hard negative, mpnet-judged, 95% margin; up to 3
epochs, the best kept on dev with ``--keep-best-epoch``):

* ``labelled only``: the train queries, no LLM (``--synthetic none``);
* ``labelled + synthetic``: plus LLM queries for the documents no train query points at
  (``--synthetic uncovered``);
* ``synthetic only``: the folder without train and dev judgments, so every training query is
  written by the LLM (Gemma 3 270M) and dev is held-out LLM queries: no label is read but the test's.

Each scores the same 500 test queries once. The dev column (the kept epoch's dev recall@10) is what
chose ``--synthetic``'s default between the two labelled runs; the test column was not read to
choose. The ladder's recipe row for the dataset (``results/ladder.csv``) is the same data and
recipe through the Python API: the command's lift should fall inside its CI. The runs share one
LLM answer cache (``--llm-cache``), so a rerun writes no query twice; every stage is cached in
``runs/own_labels/<dataset>/``. Rows go to ``data/lesson6/own_labels_<dataset>.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sets the offline environment; before any Hugging Face import)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "lesson6"
RECIPE = ["--epochs", "3", "--keep-best-epoch"]  # the rest of the course's recipe is the command's default
VARIANTS = {  # name -> (folder, extra flags)
    "labelled only": ("labelled", ["--synthetic", "none"]),
    "labelled + synthetic": ("labelled", ["--synthetic", "uncovered"]),
    "synthetic only": ("unlabelled", ["--label-free", "llm"]),  # the LLM's queries, not the default crops
}


def export(dataset: str, runs: Path) -> dict[str, Path]:
    """The dataset as two BEIR folders: with train, dev and test judgments, and with test only."""
    from helpers.data import load_dataset, write_beir
    from helpers.ladder import LadderSettings, training_split

    ds = load_dataset(dataset)
    test, dev = ds.split("test"), ds.split("dev")
    train = training_split(ds.split("train"), LadderSettings().max_pairs)  # the ladder's training queries
    return {"labelled": write_beir(runs / "beir-labelled", {"train": train, "dev": dev, "test": test}),
            "unlabelled": write_beir(runs / "beir-unlabelled", {"test": test})}


def run_command(folder: Path, out: Path, extra: list[str], llm_cache: Path) -> int:
    argv = [sys.executable, "-m", "helpers", "finetune", "--corpus", str(folder), "--out", str(out), *RECIPE,
            "--llm-cache", str(llm_cache), "--quiet", *extra]
    print("$", " ".join(argv[1:]), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(argv, cwd=ROOT).returncode
    if rc not in (0, 1):  # 1: the run finished and the gate said no
        raise SystemExit(f"the command failed (exit {rc}): {' '.join(argv)}")
    print(f"exit {rc} after {time.perf_counter() - t0:.0f} s (stages reused from an earlier run cost nothing)")
    return rc


def row_of(name: str, out: Path, rc: int) -> dict:
    stages = {p.stem: json.loads(p.read_text()) for p in (out / "stages").glob("*.json")}
    split, train, evaluate = (stages[s]["info"] for s in ("split", "train", "evaluate"))
    domain, general = evaluate["report"]["domain"], evaluate["report"]["general"]
    gate = json.loads((out / "gate.json").read_text())
    with open(out / "generated.jsonl", encoding="utf-8") as f:  # the LLM's time, as each answer was written
        llm_seconds = sum(json.loads(line)["seconds"] for line in f if line.strip())
    kept = train["kept epoch"]
    dev_score = next(score for epoch, _, score in train["dev curve"] if epoch == kept)
    # the column names of Lessons 2-4's rows (helpers.experiments.plot_rows draws them)
    return {
        "name": name, "pairs": train["n_pairs"],
        "labelled_train_queries": split.get("labelled training queries", 0),
        "synthetic_train_queries": split.get("synthetic training queries", split["training queries"]),
        "dev_set": split["dev set"], "dev_queries": train["dev queries"],
        "kept_epoch": kept, "dev_recall@10": round(100 * dev_score, 1),
        "recall@10_before": round(100 * domain["before"], 1), "recall@10": round(100 * domain["after"], 1),
        "lift": round(100 * domain["delta"], 1), "ci_low": round(100 * domain["ci_low"], 1),
        "ci_high": round(100 * domain["ci_high"], 1),
        "general_change": round(100 * general["delta"], 1), "general_ci_low": round(100 * general["ci_low"], 1),
        "general_ci_high": round(100 * general["ci_high"], 1),
        "gate": "PASS" if gate["passed"] else "FAIL", "exit_code": rc,
        # seconds each stage took when it ran (a rerun reuses them); the LLM's, as each answer was written
        "stage_seconds": {s: round(r["seconds"]) for s, r in stages.items()},
        "llm_seconds": round(llm_seconds), "seconds": round(sum(r["seconds"] for r in stages.values())),
    }


def per_query_recall(dataset: str, rows: list[dict], outs: dict[str, Path], ladder: dict | None):
    """Every row's recall@10 per test query (for paired comparisons, ``helpers.experiments.compare_rows``):
    each run's saved model scored again on the dataset's test split, which must give the mean the run
    reported; the ladder's recipe row from its cache file."""
    import numpy as np

    from helpers.data import load_dataset
    from helpers.evaluation import course_cache, evaluate, split_clusters
    from helpers.models import load_model

    test, cache = load_dataset(dataset).split("test"), course_cache()
    models = {"no fine-tuning": "minilm", **{name: out / "model" for name, out in outs.items()}}
    arrays = {}
    for row in rows:
        if row["name"] in models:
            arrays[row["name"]] = evaluate(load_model(models[row["name"]]), test, cache).per_query["recall@10"]
            if abs(100 * arrays[row["name"]].mean() - row["recall@10"]) > 0.1:
                raise SystemExit(f"{row['name']}: the run reported recall@10 {row['recall@10']}, the same model scores "
                                 f"{100 * arrays[row['name']].mean():.1f} on {dataset}'s test split: not the same test")
    if ladder is not None:
        cached = json.loads((ROOT / "results" / "ladder" / f"{dataset}.json").read_text())
        by_id = dict(zip(cached["test_query_ids"], cached["rungs"]["recipe"]["test_recall10"]))
        arrays[ladder["name"]] = np.array([by_id[q] for q in test.queries])
    return list(test.queries), arrays, split_clusters(test)


def ladder_recipe(dataset: str) -> dict | None:
    """The ladder's recipe rung for ``dataset`` (``results/ladder.csv``) as a row of this table."""
    with open(ROOT / "results" / "ladder.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["dataset"] == dataset and r["rung"] == "recipe":
                return {"name": "the ladder's recipe row (Python API)", "pairs": int(r["train_pairs"]),
                        "recall@10": float(r["recall10"]), "lift": float(r["lift"]),
                        "ci_low": float(r["lift_ci_low"]), "ci_high": float(r["lift_ci_high"]),
                        "gate": "-", "source": "results/ladder.csv, " + r["source"]}
    return None


def main() -> None:
    import numpy as np

    from helpers.evaluation import bootstrap_name
    from helpers.experiments import compare_rows, save_rows
    from helpers.io import atomic_write

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="icd10cm")
    args = ap.parse_args()
    runs = ROOT / "runs" / "own_labels" / args.dataset
    folders = export(args.dataset, runs)
    rows, outs = [], {}
    for name, (folder, extra) in VARIANTS.items():
        outs[name] = out = runs / name.replace(" + ", "-plus-").replace(" ", "-")
        rc = run_command(folders[folder], out, extra, runs / "llm_queries.jsonl")
        rows.append(row_of(name, out, rc))
        print({k: v for k, v in rows[-1].items() if k != "stage_seconds"}, flush=True)
    labelled = [r for r in rows if r["labelled_train_queries"]]
    chosen = max(labelled, key=lambda r: r["dev_recall@10"])  # ties: the first, labelled only
    ladder = ladder_recipe(args.dataset)
    for r in rows:
        r["stage_seconds"] = json.dumps(r["stage_seconds"])
    base = {"name": "no fine-tuning", "pairs": 0, "recall@10": rows[0]["recall@10_before"], "lift": 0.0,
            "ci_low": 0.0, "ci_high": 0.0, "gate": "-"}
    rows = [base, *rows, *([ladder] if ladder else [])]
    query_ids, recall, clusters = per_query_recall(args.dataset, rows, outs, ladder)
    path = OUT / f"own_labels_{args.dataset}.csv"
    with atomic_write(path.with_suffix(".per_query.npz"), "wb") as f:  # the layout of Experiment.save
        np.savez_compressed(f, query_ids=np.array(query_ids), clusters=clusters, names=np.array(list(recall)),
                            recall_at_10=np.stack(list(recall.values())))
    # the same data and recipe through two doors: the difference, paired over the same test queries
    doors = None if ladder is None else compare_rows(path, "labelled only", ladder["name"])
    save_rows(rows, path, {
        "dataset": args.dataset, "protocol": "known_corpus", "student": "minilm",
        "command": "python benchmarks/own_labels.py" + (f" --dataset {args.dataset}" if args.dataset != "icd10cm" else ""),
        "finetune_flags": RECIPE + ["--llm-cache", "<shared>"], "variants": {k: v[1] for k, v in VARIANTS.items()},
        "scored_on": "test", "chosen_on": "dev", "bootstrap": bootstrap_name(clusters),
        "synthetic_mix_chosen_on_dev": chosen["name"],
        "labelled_only_minus_ladder_recipe": doors,
    })
    print("labelled only - the ladder's recipe row:", doors)
    print(f"dev chose: {chosen['name']}; written to {OUT}")


if __name__ == "__main__":
    main()
