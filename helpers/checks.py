"""Checks for the live figures a lesson quotes: by what they mean, within a tolerance.

Training and encoding are reproducible on one machine but not bit for bit across machines:
CPUs with and without AVX-512, or another thread count, sum floating-point numbers in another
order, and a query whose relevant document sat at rank 10 by a hair moves to rank 11. So the
notebooks' tests compare exactly only what every machine computes alike (counts, ids, texts,
tables read from files), and each figure computed live is checked here instead: close to the
figure the lesson's prose quotes, with a tolerance far smaller than a real regression, and a
confidence interval on the side of zero the prose says it is on.

On other data the quoted figures are not yours. Each lesson's parameter cell says whether it runs
with the defaults its prose quotes; when it does not, :func:`quote_figures` turns the quoted-figure
checks off and each prints the lesson's figure beside yours instead, so that you see where your data
differs (checks of a property that holds on any data, ``quoted_figure=False``, keep running).

>>> expect_near(69.6, 69.8, tol=1.5, what="recall@10")
>>> expect_near(66.0, 69.8, tol=1.5, what="recall@10")
Traceback (most recent call last):
...
AssertionError: recall@10 is 66.0, the lesson quotes 69.8 (tolerance 1.5): a real change, not CPU noise
>>> expect_ci((+9.7, +15.7), excludes_zero=True, what="domain lift")
>>> expect_ci((-0.4, +4.0), excludes_zero=True, what="general change")
Traceback (most recent call last):
...
AssertionError: general change: 95% CI [-0.4, +4.0] includes zero, the lesson says it excludes it
"""

from __future__ import annotations

import re

from helpers.evaluation import Lift

#: the first line of a notebook cell whose figures are checked here rather than compared digit by digit
LIVE_MARKER = "# NBVAL_LIVE_FIGURES"
_NUMBER = re.compile(r"[-+\u2212]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?")
_SPACE = re.compile(r"\s+")


#: whether the lesson runs with the parameters its prose quotes (see :func:`quote_figures`)
_QUOTED_RUN = {"on": True}


def quote_figures(on: bool) -> None:
    """Check live figures against the ones the prose quotes only when ``on``: a lesson calls it with
    "are my parameters the defaults?", so the same cells run on another dataset or your corpus.

    >>> quote_figures(False)
    >>> expect_near(12.04, 69.8, tol=1.0, what="recall@10")      # another dataset: not the quoted run
    recall@10: the lesson measured 69.8; your data: 12.04
    >>> expect_near(0.5, 0.2, tol=1e-3, quoted_figure=False)  # a property of any run: still checked
    Traceback (most recent call last):
    ...
    AssertionError: figure is 0.5, the lesson quotes 0.2 (tolerance 0.001): a real change, not CPU noise
    >>> quote_figures(True)
    """
    _QUOTED_RUN["on"] = bool(on)


def expect_near(measured: float, quoted: float, tol: float, what: str = "figure", quoted_figure: bool = True) -> None:
    """Assert that a live figure is within ``tol`` of the figure the lesson quotes -- skipped when the
    lesson runs with other parameters (:func:`quote_figures`), unless ``quoted_figure=False`` (what is
    compared then holds on any data, e.g. a loss equal to the library's)."""
    if quoted_figure and not _QUOTED_RUN["on"]:
        print(f"{what}: the lesson measured {quoted}; your data: {'none' if measured is None else f'{float(measured):.4g}'}")
        return
    if not abs(float(measured) - float(quoted)) <= tol:
        raise AssertionError(f"{what} is {round(float(measured), 4)}, the lesson quotes {quoted} (tolerance {tol}): "
                             "a real change, not CPU noise")


def expect_ci(ci: Lift | tuple[float, float], excludes_zero: bool, what: str = "lift") -> None:
    """Assert which side of zero a 95% CI is on, as the prose says.

    ``ci`` is a :class:`~helpers.evaluation.Lift` (fractions) or a ``(low, high)`` pair in points.
    Skipped, like :func:`expect_near`, when the lesson runs with other parameters.
    """
    low, high = (100 * ci.ci_low, 100 * ci.ci_high) if isinstance(ci, Lift) else map(float, ci)
    excludes = low > 0 or high < 0
    if not _QUOTED_RUN["on"]:
        print(f"{what}: the lesson's 95% CI {'excludes' if excludes_zero else 'includes'} zero; your data: "
              f"[{low:+.1f}, {high:+.1f}], which {'excludes' if excludes else 'includes'} it")
        return
    if excludes != excludes_zero:
        said = "excludes" if excludes_zero else "includes"
        raise AssertionError(f"{what}: 95% CI [{low:+.1f}, {high:+.1f}] {'excludes' if excludes else 'includes'} "
                             f"zero, the lesson says it {said} it")


def mask_numbers(text: str) -> str:
    """What the tests compare of a live cell's output: every number becomes '#', and runs of
    whitespace one space (column widths follow the digits). Words, labels and layout stay.

    >>> mask_numbers("recall@10  69.8 (95% CI [-1.4, +2.6])") == mask_numbers("recall@10 70.2 (95% CI [-1.0, +2.8])")
    True
    >>> mask_numbers("gate: PASS, +12.7") == mask_numbers("gate: FAIL, +12.7")
    False
    """
    return _SPACE.sub(" ", _NUMBER.sub("#", text)).strip()
