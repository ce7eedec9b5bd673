"""The lock (requirements-lock.txt) is what `make` installs: it must satisfy pyproject.toml's ranges,
and the environment the tests run in must be the locked one, so that a fresh machine gets what CI got."""

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def locked() -> dict[str, str]:
    pins = {}
    for n, line in enumerate((ROOT / "requirements-lock.txt").read_text().splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, pinned = line.partition("==")
            assert sep and pinned, f"requirements-lock.txt:{n}: not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = pinned
    return pins


def test_the_lock_pins_every_declared_dependency_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements-lock.txt: run `make lock`"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"requirements-lock.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req.specifier}"


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="not the Makefile's .venv: your own environment need not match the lock")
def test_the_tests_run_in_the_locked_environment():
    wrong = {}
    for name, pinned in locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        # torch is locked as 2.13.0; the installed build says 2.13.0+cpu (a local label, same release)
        if installed is None or Version(installed).public != Version(pinned).public:
            wrong[name] = (pinned, installed)
    assert not wrong, f"installed packages differ from requirements-lock.txt (locked, installed): {wrong}"
