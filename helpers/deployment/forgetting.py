"""The forgetting check: a candidate against its base model on the domain test set *and* on a
general-domain set never trained on (``data/gcide``), both as paired lifts with 95% CIs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from helpers.evaluation import EmbeddingCache, Lift, evaluate, lift

# pandas is imported inside ForgettingReport.table, the one place that needs it: importing it costs
# ~0.5 s, which `python -m helpers --help` and the release gate's decision need not pay.


@dataclass
class ForgettingReport:
    """Paired lifts of a candidate over its base: on the domain, and on a general set."""

    domain: Lift
    general: Lift
    domain_name: str = "domain"
    general_name: str = "general"

    def table(self):
        import pandas as pd

        rows = []
        for name, lf in ((self.domain_name, self.domain), (self.general_name, self.general)):
            rows.append({"test set": name, "base R@10": round(100 * lf.before, 1), "candidate R@10": round(100 * lf.after, 1),
                         "change": round(100 * lf.delta, 1), "95% CI": f"[{100 * lf.ci_low:+.1f}, {100 * lf.ci_high:+.1f}]",
                         "queries": lf.n})
        return pd.DataFrame(rows).set_index("test set")

    def to_dict(self) -> dict:
        return {"domain": asdict(self.domain), "general": asdict(self.general),
                "domain_name": self.domain_name, "general_name": self.general_name}

    @classmethod
    def from_dict(cls, d: dict) -> "ForgettingReport":
        return cls(Lift(**d["domain"]), Lift(**d["general"]), d.get("domain_name", "domain"),
                   d.get("general_name", "general"))


def forgetting_check(candidate, base, domain_split, general_split, cache=None, domain_name: str = "domain",
                     general_name: str = "general") -> ForgettingReport:
    """Evaluate ``candidate`` and ``base`` on both test sets (same queries, full corpora)."""
    cache = cache or EmbeddingCache()
    out = []
    for split in (domain_split, general_split):
        out.append(lift(evaluate(candidate, split, cache, "candidate"), evaluate(base, split, cache, "base")))
    return ForgettingReport(out[0], out[1], domain_name, general_name)
