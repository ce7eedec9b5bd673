"""The run report of ``python -m helpers finetune``: one set of blocks, written as Markdown and as HTML.

Everything in it comes from the stage records in ``out/stages/`` (so a rerun that skips every
stage writes the same report without loading a model). The plots are PNG files next to the
Markdown, and embedded in the HTML so that it is one file to mail or attach to a CI run.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from helpers.deployment import ForgettingReport
from helpers.evaluation import KS
from helpers.io import atomic_write, corpus_name

# matplotlib and pandas are imported inside functions: together they cost ~1.3 s at import, and only
# writing a report needs them.


def _plots(out: Path, stages: dict, cfg) -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    ev = stages["evaluate"]["info"]
    report = ev["report"]

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, where, title in ((axes[0], "domain", report["domain_name"]), (axes[1], "general", report["general_name"])):
        for name, style in (("base", "o--"), ("fine-tuned", "o-")):
            m = ev["metrics"][f"{where}/{name}"]
            ax.plot(range(len(KS)), [m[f"recall@{k}"] for k in KS], style, label=name)
        ax.set_xticks(range(len(KS)), [str(k) for k in KS])
        ax.set_xlabel("k")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall@k (%)")
    axes[0].legend()
    fig.tight_layout()
    made.append(("Recall@k before and after fine-tuning", _save(fig, folder / "recall_at_k.png")))

    fig, ax = plt.subplots(figsize=(6, 2.6))
    rows = [(report["domain_name"], report["domain"]), (report["general_name"], report["general"])]
    for i, (name, lf) in enumerate(rows):
        d, lo, hi = 100 * lf["delta"], 100 * lf["ci_low"], 100 * lf["ci_high"]
        ax.errorbar(d, i, xerr=[[d - lo], [hi - d]], fmt="o", capsize=4, color="C0" if i == 0 else "C1")
    ax.axvline(cfg.min_lift, color="C0", ls=":", label=f"gate: domain gain >= {cfg.min_lift:g}")
    ax.axvline(-cfg.max_general_drop, color="C1", ls=":", label=f"gate: general drop <= {cfg.max_general_drop:g}")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_xlabel("change in recall@10 (points, 95% CI)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    fig.tight_layout()
    made.append(("The release gate: gain on the domain, change on the general set", _save(fig, folder / "gate.png")))

    history = stages.get("train", {}).get("info", {}).get("loss_history") or []
    if len(history) > 1:
        fig, ax = plt.subplots(figsize=(5, 2.6))
        ax.plot([h[0] for h in history], [h[1] for h in history], "-o", ms=3)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        made.append(("Training loss", _save(fig, folder / "training_loss.png")))
    return made


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return path


def _blocks(out: Path, cfg, stages: dict, gate: dict) -> list[tuple]:
    import pandas as pd

    ch, q, sp, mi, tr, ev = (stages[s]["info"] for s in ("chunks", "queries", "split", "mine", "train", "evaluate"))
    report = ForgettingReport.from_dict(ev["report"])
    b: list[tuple] = [("h1", f"Fine-tuning report: {corpus_name(cfg.corpus)}")]
    verdict = "PASS: the fine-tuned model may replace the base model" if gate["passed"] else \
        "FAIL: keep the base model"
    b.append(("p", f"**Release gate: {verdict}.**"))
    if "pairs given" in mi:  # runs from before the count have no such line
        b.append(("p", f"Trained on **{mi['pairs trained on']} of the {mi['pairs given']} training (query, chunk) pairs**; "
                       f"{mi['queries without a negative']} queries had no mined negative and "
                       + ("trained with a random one (`--without-negative random`)." if mi["without a negative"] == "random"
                          else "were left out (`--without-negative drop`).")))
    b.append(("ul", gate["reasons"]))
    b.append(("table", report.table()))
    synthetic_eval = sp["evaluation set"].startswith("held-out")
    if synthetic_eval:
        b.append(("p", f"The domain test set is **{sp['evaluation queries']} held-out synthetic queries** (no human "
                       "labels were given): queries the LLM wrote for chunks that no training query points at. "
                       "They pass the same model-free filters as the training queries, but not the round-trip "
                       "filter, which would keep only what the base model already finds. Synthetic queries "
                       "resemble each other more than real users' do: read the domain gain as an estimate, and "
                       "give gold queries (`--queries`, `--qrels`) when you have them."))
    else:
        b.append(("p", f"The domain test set is **{sp['evaluation queries']} {sp['evaluation set']}**, "
                       f"relevance at {sp['level']} level."))
    b.append(("p", f"The general set ({report.general_name}) checks for forgetting: the fine-tuned model must not get "
                   "worse at text outside the domain."))
    for caption, path in _plots(out, stages, cfg):
        b.append(("img", path, caption))

    b.append(("h2", "Data"))
    b.append(("p", f"Corpus `{ch['corpus']}`: {ch['describe']}. Chunks of at most {cfg.chunk_words} words "
                   f"(overlap {cfg.overlap_words})."))
    if ch["notes"]:
        b.append(("ul", ch["notes"]))
    own = sp.get("labelled")
    if own:
        counts = ", ".join(f"{own[s]['queries']} {s}" for s in ("train", "dev", "test"))
        drops = ", ".join(f"{n} {why}" for why, n in own["dropped"].items()) or "none"
        b.append(("p", f"Labelled queries from {own['source']} ({own['level']} level), split {own['split by']}: "
                       f"{counts}; left out: {drops}. {own['training queries sharing a document with a test query']} "
                       f"training queries share a relevant document with a test query. "
                       f"**{sp['labelled training queries']} labelled and {sp['synthetic training queries']} "
                       f"LLM-written training queries** (`--synthetic {cfg.synthetic}`)."))
        if own["notes"]:
            b.append(("ul", own["notes"]))
    crops = sp.get("crop training queries", 0)
    if crops:
        which = ("one per chunk but those held out for dev queries (gold queries test the model, so no chunk is "
                 "held out for testing)" if sp["evaluation set"].startswith("gold") else
                 "one per chunk that no test or dev query points at")
        b.append(("p", f"**{crops} training queries are crops** (`--label-free {cfg.label_free}`): a random 30-70% "
                       f"span of a chunk's words as that chunk's query, {which}; no LLM and no labels are involved."))
    headed = sp.get("heading training queries", 0)
    if headed:
        b.append(("p", f"**{headed} training queries are headings** (`--label-free {cfg.label_free}`): each heading "
                       "of a document (a section title, an option name, a question), after the document's title, is the "
                       "query of the chunk it heads, none for chunks held out for test or dev; no LLM and no labels "
                       "are involved."))
    if q["jobs"]:
        role = "" if "llm" in sp.get("label-free source", "llm").split("+") else (
            ", for the held-out dev queries only" if sp["evaluation set"].startswith("gold") else
            ", for the held-out test and dev queries only")
        how = (f"in the style of your examples (`--llm-examples {cfg.llm_examples}`, Promptagator's prompt)"
               if cfg.llm_examples else f"one of the {', '.join(cfg.styles)} styles per chunk, chosen by its id")
        b.append(("p", f"Queries written by `{q['llm']}`{role}: {q['jobs']} jobs ({how}), "
                       f"{q['malformed']} malformed answers."))
        dropped = ", ".join(f"{n} {r}" for r, n in sp["dropped (cheap)"].items()) or "none"
        leaked = sp.get("dropped (a test query's text)", 0)
        trip = (f"{sp['dropped (round trip)']} failed the round trip (their chunk was not in the base model's top 10)"
                if sp.get("round trip applied", True) else
                "the round trip was skipped: the base model cannot yet answer queries in your examples' style"
                if cfg.llm_examples and cfg.round_trip == "auto" else
                "the round trip was skipped (`--round-trip never`)" if cfg.round_trip == "never" else
                "the round trip was skipped: without labels it keeps the queries the base model already answers, and "
                "dev preferred the model-free filters alone (`--round-trip always` applies it)")
        trained = (f"of the {sp['training candidates']} training candidates {trip}, leaving "
                   f"**{sp.get('synthetic training queries', sp['training queries'])} LLM-written training queries**"
                   if sp["training candidates"] else "none of them trains")
        b.append(("p", f"Filters: {sp['after cheap filters']} of {sp['generated']} queries passed the model-free "
                       f"filters (dropped: {dropped}); {leaked} training queries had the text of a test query and "
                       f"were dropped; {trained}."))
        b.append(("table", pd.DataFrame(sp["examples"])))
    elif not crops:
        b.append(("p", "No LLM-written queries: the labelled ones are all the training data."))

    b.append(("h2", "Hard negatives"))
    judge = f"rescored by `{cfg.judge}`" if cfg.judge else "scored by the base model"
    b.append(("p", f"Dense candidates from `{cfg.base_model}`, {judge}; window 0-{cfg.range_max}, "
                   f"{cfg.num_negatives} per query, relative margin {cfg.relative_margin}: {mi['examples']} "
                   "training examples."))
    b.append(("pre", mi["report"]))
    if mi.get("audit"):
        b.append(("p", "The mined negatives most likely to be false negatives (smallest gap to the positive); "
                       "if these are really relevant, raise the margin:"))
        b.append(("table", pd.DataFrame(mi["audit"])))

    b.append(("h2", "Training"))
    b.append(("p", f"`{tr['base_model']}` fine-tuned on {tr['n_pairs']} examples: {tr['steps']} steps, "
                   f"{tr['seconds']:.0f} s, {tr['world_size']} process(es), final loss {tr['final_loss']}. "
                   f"Model and manifest: `{out / 'model'}`."))
    if tr.get("dev curve"):
        curve = ", ".join(f"epoch {e:g}: {100 * score:.1f}" for e, _, score in tr["dev curve"])
        b.append(("p", f"Epochs chosen on dev: up to {cfg.epochs:g} trained, **epoch {tr['kept epoch']:g} kept**, the "
                       f"best recall@10 on {tr['dev queries']} dev queries ({sp['dev set']}); the test queries "
                       f"were not read to choose. Dev recall@10 by epoch (0: the base model): {curve}."))
    metrics = pd.DataFrame(ev["metrics"]).T
    metrics.index.name = "set/model"
    b.append(("table", metrics))

    b.append(("h2", "Stages"))
    b.append(("table", pd.DataFrame([{"stage": name, "this run": "reused" if r.get("cached") else "ran",
                                      "seconds when it ran": r.get("seconds")}
                                     for name, r in stages.items() if name != "report"]).set_index("stage")))
    return b


def _markdown(blocks: list[tuple], out: Path) -> str:
    parts = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            parts.append(f"# {block[1]}")
        elif kind == "h2":
            parts.append(f"## {block[1]}")
        elif kind == "p":
            parts.append(block[1])
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "pre":
            parts.append(f"```\n{block[1]}\n```")
        elif kind == "table":
            parts.append(_clip(block[1]).to_markdown())
        elif kind == "img":
            parts.append(f"![{block[2]}]({block[1].relative_to(out).as_posix()})")
    return "\n\n".join(parts) + "\n"


def _html(blocks: list[tuple], title: str) -> str:
    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", text)

    parts = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{inline(block[1])}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "pre":
            parts.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "table":
            parts.append(_clip(block[1]).to_html(border=0, classes="t"))
        elif kind == "img":
            data = base64.b64encode(block[1].read_bytes()).decode()
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                         f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}"
             "table.t{border-collapse:collapse;font-size:.85rem;margin:1rem 0}"
             "table.t td,table.t th{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}"
             "img{max-width:100%}figcaption{color:#555;font-size:.85rem}pre{background:#f6f6f6;padding:.5rem}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _clip(df, width: int = 160):
    """Long texts (chunks, documents) cut for reading; the full texts are in the JSONL files."""
    def clip(v):
        if not isinstance(v, str):
            return v
        v = " ".join(v.split())  # one line per cell: Markdown tables cannot hold line breaks
        return v if len(v) <= width else v[: width - 1] + "…"

    return df.map(clip)


def write_report(out: str | Path, cfg, stages: dict, gate: dict) -> list[Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` under ``out``; returns their paths."""
    out = Path(out)
    blocks = _blocks(out, cfg, stages, gate)
    md, page = out / "report.md", out / "report.html"
    with atomic_write(md) as f:
        f.write(_markdown(blocks, out))
    with atomic_write(page) as f:
        f.write(_html(blocks, blocks[0][1]))
    return [md, page, *(b[1] for b in blocks if b[0] == "img")]
