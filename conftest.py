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

A kernel that dies in a cell (a segfault in a compiled library, the out-of-memory killer) sends no
reply, and nbval would wait out its cell timeout (2,000 s) for one. Here the wait polls the kernel
process every ``KERNEL_POLL_S`` seconds: a dead kernel fails its cell at once with the signal that
killed it, the notebook's later cells fail with nbval's "Kernel dead on test start", and the rest
of the suite goes on.
"""

from __future__ import annotations

import copy
import time
from queue import Empty

from nbval.kernel import RunningKernel

from helpers.checks import LIVE_MARKER, mask_numbers
from helpers.writers import describe_signal

CHECKS = ("expect_near(", "expect_ci(")
WIDGET = "application/vnd.jupyter.widget-view+json"
OUTPUT_TIMEOUT_S = 120
KERNEL_POLL_S = 2.0


class KernelDied(RuntimeError):
    """The notebook's kernel process ended while a cell was running."""


def _kernel_exit(kernel: RunningKernel) -> str:
    process = getattr(getattr(kernel.km, "provisioner", None), "process", None)
    code = None if process is None else process.poll()
    if code is None:
        return "its exit status is unknown"
    return describe_signal(code) if code < 0 else f"exit status {code}"


_await_reply = RunningKernel.await_reply


def _await_reply_while_alive(self: RunningKernel, msg_id, timeout=None):
    """nbval's wait for a cell's reply, in short waits with a look at the kernel process between them."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = KERNEL_POLL_S if deadline is None else min(KERNEL_POLL_S, deadline - time.monotonic())
        if wait <= 0:
            raise Empty  # nbval's own timeout, as before
        try:
            return _await_reply(self, msg_id, timeout=wait)
        except Empty:
            if not self.is_alive():
                raise KernelDied(f"the notebook's kernel died while this cell ran: {_kernel_exit(self)}") from None


RunningKernel.await_reply = _await_reply_while_alive


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
