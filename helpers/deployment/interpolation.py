"""Weight interpolation (WiSE-FT / LM-Cocktail style): ``(1 - a) * base + a * tuned``.

:func:`interpolation_sweep` traces domain gain against general loss along the path and
:func:`choose_alpha` picks the largest gain within the tolerance."""

from __future__ import annotations

import copy

from tqdm.auto import tqdm

from helpers.evaluation import EmbeddingCache, evaluate, lift

# torch, pandas and matplotlib are imported inside functions: together they cost ~3 s at import, and
# the release gate, which imports this package, needs none of them.


def interpolate(base, tuned, alpha: float):
    """A new model with weights ``(1 - alpha) * base + alpha * tuned`` (``alpha=1``: the tuned model).

    Both must share one architecture (a fine-tune of ``base``): the same parameter names, shapes
    and dtypes, else :class:`ValueError` naming the first parameter that differs. Integer buffers
    are copied from ``tuned``. Neither input is modified.
    """
    import torch

    if not 0.0 <= alpha <= 1.0:  # also refuses NaN
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    sb, st = base.state_dict(), tuned.state_dict()
    mismatch = _architecture_mismatch(sb, st)
    if mismatch:
        raise ValueError(f"interpolate needs two models of one architecture (the base and its fine-tune): {mismatch}")
    mixed = copy.deepcopy(tuned)
    with torch.no_grad():
        mixed.load_state_dict({k: (torch.lerp(sb[k], st[k], alpha) if st[k].is_floating_point() else st[k])
                               for k in st})
    return mixed


def _architecture_mismatch(base_state: dict, tuned_state: dict) -> str | None:
    """The first difference between two state dicts that makes them impossible to mix, in words; ``None``
    if every parameter has the same name, shape and dtype in both.

    >>> import numpy as np
    >>> base = {"w": np.zeros((2, 3))}
    >>> _architecture_mismatch(base, {"w": np.zeros((3, 2))})
    "parameter 'w' has shape (2, 3) in the base model and (3, 2) in the tuned one"
    >>> _architecture_mismatch(base, {"w": np.zeros((2, 3)), "v": np.zeros(1)})
    "parameter 'v' is in the tuned model only (0 parameters are in the base only, 1 in the tuned model only)"
    >>> _architecture_mismatch(base, {"w": np.zeros((2, 3), np.float32)})
    "parameter 'w' is float64 in the base model and float32 in the tuned one"
    >>> _architecture_mismatch(base, base) is None
    True
    """
    only_base = [k for k in base_state if k not in tuned_state]
    only_tuned = [k for k in tuned_state if k not in base_state]
    if only_base or only_tuned:
        first, where = (only_base[0], "base") if only_base else (only_tuned[0], "tuned")
        return (f"parameter {first!r} is in the {where} model only ({len(only_base)} parameters are in the base "
                f"only, {len(only_tuned)} in the tuned model only)")
    for name, b in base_state.items():
        t = tuned_state[name]
        if b.shape != t.shape:
            return (f"parameter {name!r} has shape {tuple(b.shape)} in the base model and {tuple(t.shape)} in the "
                    "tuned one")
        if b.dtype != t.dtype:
            return f"parameter {name!r} is {b.dtype} in the base model and {t.dtype} in the tuned one"
    return None


def interpolation_sweep(base, tuned, domain_split, general_split, alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                        cache=None):
    """Domain and general recall@10 (with paired CIs against the base) along the interpolation path."""
    import pandas as pd

    cache = cache or EmbeddingCache()
    before = [evaluate(base, s, cache, "base") for s in (domain_split, general_split)]
    rows = []
    for a in tqdm(alphas, desc="interpolation sweep"):
        model = base if a == 0 else tuned if a == 1 else interpolate(base, tuned, a)
        after = [evaluate(model, s, cache, f"alpha={a}") for s in (domain_split, general_split)]
        dom, gen = lift(after[0], before[0]), lift(after[1], before[1])
        # exact values (points), so choose_alpha and the gate judge the same numbers; round to display
        rows.append({"alpha": a, "domain R@10": 100 * dom.after, "domain gain": 100 * dom.delta,
                     "domain CI low": 100 * dom.ci_low, "domain CI high": 100 * dom.ci_high,
                     "general R@10": 100 * gen.after, "general change": 100 * gen.delta,
                     "general CI low": 100 * gen.ci_low, "general CI high": 100 * gen.ci_high})
    return pd.DataFrame(rows)


def choose_alpha(sweep, max_general_drop: float = 1.0) -> float:
    """The alpha with the largest domain gain whose general change stays above ``-max_general_drop``
    points (ties: the smaller alpha, closer to the base)."""
    ok = sweep[sweep["general change"] >= -max_general_drop]
    if ok.empty:
        return 0.0
    best = ok["domain gain"].max()
    return float(ok[ok["domain gain"] == best]["alpha"].min())


def plot_interpolation(sweep, chosen: float | None = None, ax=None, title: str = ""):
    """Domain gain against general change along the path, each point labelled with its alpha."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4.2), dpi=100)[1]
    x, y = sweep["general change"], sweep["domain gain"]
    ax.errorbar(x, y, yerr=[y - sweep["domain CI low"], sweep["domain CI high"] - y],
                xerr=[x - sweep["general CI low"], sweep["general CI high"] - x], fmt="o-", color="tab:blue",
                ecolor="0.7", capsize=2)
    for a, xi, yi in zip(sweep["alpha"], x, y):
        ax.annotate(f"a={a:g}", (xi, yi), textcoords="offset points", xytext=(6, -10), fontsize=8)
    if chosen is not None:
        row = sweep[sweep["alpha"] == chosen].iloc[0]
        ax.plot([row["general change"]], [row["domain gain"]], "*", ms=16, color="tab:red", label=f"chosen a={chosen:g}")
        ax.legend(loc="lower left")
    ax.axvline(0, color="black", lw=0.7, ls="--")
    ax.axhline(0, color="black", lw=0.7, ls="--")
    ax.set_xlabel("general recall@10 change (points)")
    ax.set_ylabel("domain recall@10 gain (points)")
    if title:
        ax.set_title(title)
    return ax
