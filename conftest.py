"""How the lessons are tested (`make test` runs them under nbval): what is compared, and how.

nbval re-runs every notebook and compares each cell's output with the committed one, after the
regexes in `tests/nbval_sanitize.cfg` (durations, progress bars, temporary folders, hashes). That
is exact, and right for what every machine computes alike: counts, ids, texts, tables read from files.

Figures computed live (a recall measured by encoding, a lift after training) are reproducible on
one machine but not bit for bit across CPUs or thread counts. A cell that shows such figures starts
with ``# NBVAL_LIVE_FIGURES``: its output is compared with every number masked
(``helpers.checks.mask_numbers``), so its words, labels and row names still must match, and the cell
itself checks its figures by what they mean (``expect_near`` / ``expect_ci`` against the figures
the prose quotes). A cell so marked without such a check is an error.

Progress bars (tqdm's notebook widgets) are not results: whether one appears depends on what the
shared embedding cache already holds, so they are left out of every comparison.

nbval waits for a cell's outputs at most 5 seconds once the kernel has replied (a constant in nbval
0.11, not an option: nbval issues #136 and #231). On a loaded CI machine the kernel's output thread
can lag longer than that after a long cell, and the cell then fails with "Timeout of 5 seconds
exceeded waiting for output" although it ran; every cell gets ``OUTPUT_TIMEOUT_S`` instead.
"""

from __future__ import annotations

import copy

from helpers.checks import LIVE_MARKER, mask_numbers

CHECKS = ("expect_near(", "expect_ci(")
WIDGET = "application/vnd.jupyter.widget-view+json"
OUTPUT_TIMEOUT_S = 120


def _results_only(outputs, html_only_where_both: bool):
    outputs = [copy.deepcopy(o) for o in outputs if WIDGET not in o.get("data", {})]
    if html_only_where_both:
        # a DataFrame comes as text/plain and text/html; the plain form wraps its columns by width,
        # which follows the digits, so where both exist only the HTML (one number per cell) is compared
        for output in outputs:
            data = output.get("data", {})
            if "text/html" in data and "text/plain" in data:
                del data["text/plain"]
    return outputs


def _compare_results(item, live: bool) -> None:
    sanitize, compare = item.sanitize, item.compare_outputs
    if live:
        item.sanitize = lambda s: mask_numbers(sanitize(s)) if isinstance(s, str) else s
    item.compare_outputs = lambda test, ref, skip_compare=None: compare(
        _results_only(test, live), _results_only(ref, live), skip_compare)


def pytest_collection_modifyitems(config, items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None:
            continue
        item.output_timeout = OUTPUT_TIMEOUT_S
        live = cell.source.lstrip().startswith(LIVE_MARKER)
        if live and not any(check in cell.source for check in CHECKS):
            raise ValueError(f"{item.nodeid}: a {LIVE_MARKER} cell must check its figures with "
                             "expect_near or expect_ci (helpers.checks)")
        _compare_results(item, live)
