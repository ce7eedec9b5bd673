"""Reading a click log: seconds and peak memory for 10,000 and 1,000,000 lines.

    python benchmarks/query_log.py                      # both sizes; ~1 min on 2 cores
    python benchmarks/query_log.py --lines 10000        # one size

Writes a CSV log to a temporary folder (deleted afterwards) and reads it with
:func:`helpers.labelled.read_query_log`, twice: once for the time (no tracing, the best of
``--repeats``), once under ``tracemalloc`` for the peak of Python allocations during the read (the
file is streamed, never held whole; tracing makes that read slower, so its time is not reported).

The log is shaped like a real one: 20,000 distinct queries over 5,000 documents, query popularity
following Zipf's law (a few queries make most rows), one row in ten spelt otherwise (upper case,
doubled spaces), clicks 0-3 per row (a pair whose clicks sum to 0 is dropped: ``min_clicks=1``).

Measured with ``--repeats 1`` on 2 cores while another job ran on them, Python 3.11:

     lines  file MB  seconds  peak MB  queries    pairs  dropped
    10,000      0.5     0.08      4.2    2,680    3,084      782
 1,000,000     49.0     4.21     26.0   19,887   36,913    1,375

About 4 microseconds a row. Memory follows the distinct (query, document) pairs (12 times as
many), not the rows (100 times as many), and stays a fraction of the file's size.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

import _common  # noqa: F401  (the course's benchmark environment; nothing here loads a model)

from helpers.labelled import read_query_log

N_QUERIES, N_DOCUMENTS = 20_000, 5_000


def write_log(path: Path, lines: int, seed: int = 0) -> set[str]:
    """A ``lines``-row CSV log (plus its header) at ``path``; returns the document ids it may name."""
    rng = random.Random(seed)
    documents = [f"doc-{i:05d}" for i in range(N_DOCUMENTS)]
    # each query has one to three documents it leads to; which one a row clicks is drawn among them
    targets = [rng.sample(documents, rng.randint(1, 3)) for _ in range(N_QUERIES)]
    texts = [f"how do I {rng.choice(['reset', 'renew', 'open', 'close', 'move'])} item {i} in the "
             f"{rng.choice(['portal', 'app', 'vpn', 'printer'])}" for i in range(N_QUERIES)]
    weights = [1 / (rank + 1) for rank in range(N_QUERIES)]  # Zipf: query k is 1/k as popular as the first
    chosen = rng.choices(range(N_QUERIES), weights=weights, k=lines)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("query,doc_id,clicks\n")
        for k in chosen:
            text = texts[k]
            if rng.random() < 0.1:
                text = text.upper().replace(" ", "  ")
            f.write(f"{text},{rng.choice(targets[k])},{rng.randint(0, 3)}\n")
    return set(documents)


def measure(lines: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"log-{lines}.csv"
        documents = write_log(path, lines)
        size_mb = path.stat().st_size / 1e6
        seconds = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pairs = read_query_log(path, documents)
            seconds.append(time.perf_counter() - t0)
        tracemalloc.start()
        read_query_log(path, documents)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"lines": lines, "file MB": size_mb, "seconds": min(seconds), "peak MB": peak / 1e6,
            "queries": len(pairs), "pairs": pairs.n_pairs,
            "dropped pairs (0 clicks)": pairs.dropped["pairs below min_clicks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="timed reads per size (the best is reported)")
    args = parser.parse_args()
    rows = [measure(n, args.repeats) for n in args.lines]
    print(f"{'lines':>10} {'file MB':>8} {'seconds':>8} {'peak MB':>8} {'queries':>8} {'pairs':>8} {'dropped':>8}")
    for r in rows:
        print(f"{r['lines']:>10,} {r['file MB']:>8.1f} {r['seconds']:>8.2f} {r['peak MB']:>8.1f} {r['queries']:>8,} "
              f"{r['pairs']:>8,} {r['dropped pairs (0 clicks)']:>8,}")


if __name__ == "__main__":
    main()
