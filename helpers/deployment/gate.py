"""The release gate: pass or fail with reasons (CLI ``python -m helpers gate``, which exits non-zero
on fail so that CI can block a release)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from helpers.deployment.forgetting import ForgettingReport


@dataclass
class GateConfig:
    min_domain_lift: float = 2.0     # points of recall@10
    require_ci_above_zero: bool = True
    max_general_drop: float = 1.0    # points of recall@10


@dataclass
class GateResult:
    passed: bool
    reasons: list[str]
    measurements: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("PASS" if self.passed else "FAIL") + "".join(f"\n  - {r}" for r in self.reasons)


def release_gate(report: ForgettingReport, config: GateConfig | None = None) -> GateResult:
    """Pass only if the domain gain is large enough (and its CI excludes zero, if required) and
    general recall@10 fell by no more than the tolerance. Every check is listed, passed or not."""
    cfg = config or GateConfig()
    d, g = report.domain, report.general
    checks = [
        (100 * d.delta >= cfg.min_domain_lift,
         f"domain recall@10 {'rose' if d.delta >= 0 else 'fell'} {abs(100 * d.delta):.1f} points "
         f"({'at least' if 100 * d.delta >= cfg.min_domain_lift else 'less than'} the {cfg.min_domain_lift:g} required)"),
    ]
    if cfg.require_ci_above_zero:
        checks.append((d.ci_low > 0, f"the domain gain's 95% CI [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}] "
                                     f"{'excludes' if d.ci_low > 0 else 'includes'} zero"))
    drop = -100 * g.delta
    within = drop <= cfg.max_general_drop
    checks.append((within, f"general recall@10 changed {-drop:+.1f} points, within the {cfg.max_general_drop:g} allowed"
                   if within else f"general recall@10 fell {drop:.1f} points, more than the {cfg.max_general_drop:g} allowed"))
    return GateResult(all(ok for ok, _ in checks), [msg for _, msg in checks],
                      {"report": report.to_dict(), "config": asdict(cfg)})
