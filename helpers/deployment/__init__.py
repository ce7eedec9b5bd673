"""Deployment discipline: ship a fine-tuned embedder without forgetting, mixing vectors, or a way back.

- **Forgetting check** (:func:`forgetting_check`): the candidate against its base model on the
  domain test set *and* on a general-domain set never trained on (``data/gcide``), both as
  paired lifts with 95% CIs.
- **Weight interpolation** (:func:`interpolate`, :func:`interpolation_sweep`): WiSE-FT /
  LM-Cocktail style ``(1 - a) * base + a * tuned``; the sweep traces domain gain against general
  loss and :func:`choose_alpha` picks the largest gain within the tolerance.
- **Release gate** (:func:`release_gate`, CLI ``python -m helpers gate``): pass or fail with
  reasons; the CLI exits non-zero on fail so CI can block a release.
- **Versioned models** (:class:`ModelRegistry`): each version carries its base model, data
  fingerprint, hyperparameters, metrics and gate verdict, in the model card and in
  ``release.json``; saved atomically, loaded by version.
- **Versioned indexes** (:class:`VectorIndex`, :func:`reembed`, :class:`IndexRegistry`): an index
  records the model that built it and refuses vectors from any other; re-embedding streams in
  shards, resumes after interruption, builds beside the live index, and switches (or rolls back)
  with one atomic write.
- **Query-side adapter** (:class:`QueryAdapter`): a linear map on frozen query embeddings, trained
  in seconds, that leaves the document index untouched -- the cheap alternative to re-embedding.

One module per concept (:mod:`~helpers.deployment.forgetting`, :mod:`~helpers.deployment.interpolation`,
:mod:`~helpers.deployment.gate`, :mod:`~helpers.deployment.registry`, :mod:`~helpers.deployment.index`,
:mod:`~helpers.deployment.adapter`); every public name is importable from ``helpers.deployment``.

>>> from helpers.evaluation import Lift
>>> report = ForgettingReport(Lift("recall@10", .70, .75, .05, .02, .08, 500), Lift("recall@10", .60, .58, -.02, -.04, 0., 500))
>>> gate = release_gate(report, GateConfig(min_domain_lift=2.0, max_general_drop=1.0))
>>> gate.passed, gate.reasons[-1]
(False, 'general recall@10 fell 2.0 points, more than the 1 allowed')
"""

from __future__ import annotations

from helpers.deployment.adapter import QueryAdapter, evaluate_adapted, fit_adapter
from helpers.deployment.forgetting import ForgettingReport, forgetting_check
from helpers.deployment.gate import GateConfig, GateResult, release_gate
from helpers.deployment.index import IndexRegistry, IndexVersionError, VectorIndex, reembed
from helpers.deployment.interpolation import choose_alpha, interpolate, interpolation_sweep, plot_interpolation
from helpers.deployment.registry import ModelRegistry

__all__ = [
    "ForgettingReport", "forgetting_check",
    "interpolate", "interpolation_sweep", "choose_alpha", "plot_interpolation",
    "GateConfig", "GateResult", "release_gate",
    "ModelRegistry",
    "IndexVersionError", "VectorIndex", "reembed", "IndexRegistry",
    "QueryAdapter", "evaluate_adapted", "fit_adapter",
]
