"""Small, shared I/O utilities: atomic writes of files and folders, JSONL, fingerprints, short names.

Every artefact this course writes (datasets, embeddings, results, models) goes through
:func:`atomic_write` (a file) or :func:`atomic_folder` (a model, a release), so an interrupted
run never leaves a half-written file or folder behind that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

#: the project's own cache folder (git ignores it): lesson embeddings, LLM answers written on other data
COURSE_CACHE = Path(__file__).resolve().parent.parent / ".cache"


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator:
    """Open a temporary file next to ``path`` and rename it over ``path`` on success.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_write(p) as f:
    ...     _ = f.write("hello")
    >>> p.read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    if "b" in mode:
        encoding = None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_folder(path: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it becomes ``path`` by a rename.

    On an error (or Ctrl-C) inside the block the temporary folder is removed and ``path`` is left
    as it was. An existing folder at ``path`` is replaced (``replace=False``: :class:`FileExistsError`
    instead, and nothing written; a file there: :class:`NotADirectoryError`); the old folder is
    moved aside first and removed once the new one is in place, so a crash between the two renames
    leaves it beside ``path`` as ``.<name>.old.*``, never a half-written folder at ``path``.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> for version in ("v1", "v2"):
    ...     with atomic_folder(target) as tmp:
    ...         _ = (tmp / "weights.txt").write_text(version)
    >>> (target / "weights.txt").read_text(), [p.name for p in target.parent.iterdir()]
    ('v2', ['model'])
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file: atomic_folder replaces folders only")
    if path.exists() and not replace:
        raise FileExistsError(f"{path} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        if not path.exists():
            os.replace(tmp, path)
        elif replace:
            _swap_folder(tmp, path)
        else:  # appeared while the block ran
            raise FileExistsError(f"{path} exists already")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_folder(new: Path, path: Path) -> None:
    """Put the folder ``new`` at ``path`` in place of the one there: the old one is renamed aside first
    (a folder cannot be renamed over a non-empty one), then removed."""
    old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
    try:
        os.replace(path, old)  # onto the empty folder mkdtemp made: allowed
    except BaseException:
        old.rmdir()
        raise
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(old, path)  # the old folder goes back
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_between(path: str | os.PathLike, start: str, end: str, text: str) -> None:
    r"""Replace what lies between the marker lines ``start`` and ``end`` of ``path`` with ``text`` (a
    table rendered from results into the README; the tests compare the two), atomically.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "README.md"
    >>> _ = p.write_text("a\n<!-- t: start -->\nold\n<!-- t: end -->\nb\n")
    >>> write_between(p, "<!-- t: start -->", "<!-- t: end -->", "| new |\n")
    >>> p.read_text()
    'a\n<!-- t: start -->\n| new |\n<!-- t: end -->\nb\n'
    """
    path = Path(path)
    current = path.read_text(encoding="utf-8")
    if current.count(start) != 1 or current.count(end) != 1:
        raise ValueError(f"{path}: need exactly one {start!r} and one {end!r}")
    head, rest = current.split(start)
    with atomic_write(path) as f:
        f.write(head + start + "\n" + text + end + rest.split(end, 1)[1])


def between(path: str | os.PathLike, start: str, end: str) -> str:
    """What lies between the marker lines ``start`` and ``end`` of ``path`` (see :func:`write_between`)."""
    current = Path(path).read_text(encoding="utf-8")
    if start not in current or end not in current:
        raise ValueError(f"{path}: lost its markers {start!r} and {end!r}")
    return current.split(start, 1)[1].split(end, 1)[0].strip("\n") + "\n"


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write ``rows`` as JSON Lines, atomically. Returns the number of rows."""
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | os.PathLike, obj, indent: int = 2) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def fingerprint_texts(items: Iterable[tuple[str, ...]]) -> str:
    """Stable short hash of tuples of strings (``(id, text)``, ``(query, pos, neg)``...), in order.

    Used to key caches and to record, in a model card, exactly which data a model saw.

    >>> fingerprint_texts([("a", "b")]) == fingerprint_texts([("a", "b")]) != fingerprint_texts([("ab", "")])
    True
    """
    h = hashlib.blake2b(digest_size=12)
    for item in items:
        for part in item:
            h.update(part.encode("utf-8"))
            h.update(b"\x1f")
        h.update(b"\x1e")
    return h.hexdigest()


def corpus_name(path: str | os.PathLike) -> str:
    """A short name for reports: the folder or file, with its parent.

    >>> corpus_name("/data/raw/git-docs/docs")
    'git-docs/docs'
    """
    parts = Path(path).resolve().parts
    return "/".join(parts[-2:]) if len(parts) > 1 else str(path)
