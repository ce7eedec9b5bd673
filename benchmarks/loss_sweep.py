"""Lesson 2's sweeps: losses, temperature, batch size (in-batch negatives) and training-set size.

    python benchmarks/loss_sweep.py                 # ~20 min on 2 cores; writes data/lesson2/
    python benchmarks/loss_sweep.py --only curve    # one part: losses | temperature | batch | curve
    python benchmarks/loss_sweep.py --dataset my_beir_folder --out runs/lesson2-mine   # on your data

Every row is a real fine-tune of minilm on ICD-10-CM's known-corpus training split, evaluated on
its 500 test queries against the full corpus (recall@10, paired-bootstrap 95% CI of the lift
over no fine-tuning). All rows: 1 epoch, lr 5e-5, warmup 10%, seed 12, max 64 tokens; the sweep
over batch size keeps epochs fixed, so smaller batches also take more optimiser steps.
The notebook reads the CSVs this writes; their ``.json`` sidecars record how they were made.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from pathlib import Path

import _common  # (sets the offline environment; before any Hugging Face import)

OUT = Path(__file__).resolve().parent.parent / "data" / "lesson2"
DATASET = "icd10cm"
MAX_PAIRS = 2000
CURVE = (100, 300, 1000, 2000, 3350)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["losses", "temperature", "batch", "curve"], action="append")
    _common.dataset_arguments(ap, DATASET, OUT)
    args = ap.parse_args()
    parts = args.only or ["losses", "temperature", "batch", "curve"]

    from transformers.utils import logging as hf_logging
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    from helpers.experiments import Experiment
    from helpers.losses import EmbeddingLoss, info_nce, triplet_loss
    from helpers.training import TrainConfig, triplets_with_random_negatives

    hf_logging.disable_progress_bar()
    base = TrainConfig(epochs=1, learning_rate=5e-5, batch_size=32)

    for part in parts:
        exp = Experiment(args.dataset, runs_dir=f"runs/lesson2/{part}")
        pairs = exp.train.pairs()[:MAX_PAIRS]
        if part == "losses":
            exp.run("triplet (random negatives)", triplets_with_random_negatives(exp.train, MAX_PAIRS), base,
                    loss=lambda m: EmbeddingLoss(m, partial(triplet_loss, margin=0.3, distance="cosine"),
                                                 name="triplet_loss", margin=0.3, distance="cosine"))
            exp.run("InfoNCE, hand-written", pairs, base,
                    loss=lambda m: EmbeddingLoss(m, info_nce, scale=20.0))
            exp.run("MultipleNegativesRankingLoss", pairs, base)
        elif part == "temperature":
            for scale in (5.0, 20.0, 50.0):
                exp.run(f"scale {scale:g} (temperature {1 / scale:g})", pairs, base,
                        loss=lambda m, s=scale: MultipleNegativesRankingLoss(m, scale=s), scale=scale)
        elif part == "batch":
            for bs in (8, 32, 128):
                exp.run(f"batch {bs} ({bs - 1} in-batch negatives)", pairs, replace(base, batch_size=bs),
                        batch_size=bs, negatives=bs - 1)
            exp.run("batch 32 x 4 accumulation (31 negatives)", pairs,
                    replace(base, batch_size=32, gradient_accumulation_steps=4), batch_size=128, negatives=31)
            exp.run("cached MNRL, batch 128 (127 negatives)", pairs, replace(base, batch_size=128),
                    loss=lambda m: CachedMultipleNegativesRankingLoss(m, mini_batch_size=32, show_progress_bar=False),
                    batch_size=128, negatives=127)
        elif part == "curve":
            all_pairs = exp.train.pairs()
            for n in CURVE:
                exp.run(f"{min(n, len(all_pairs))} pairs", all_pairs[:n], base)
        exp.save(args.out / f"{part}.csv", _common.command_line("loss_sweep.py", args, DATASET, f"--only {part}"), base)
        print(exp.table().to_string(), "\n", flush=True)


if __name__ == "__main__":
    main()
