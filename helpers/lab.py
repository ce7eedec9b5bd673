"""JupyterLab on the lessons, with the project's kernel: ``make lab`` (= ``python -m helpers.lab``).

The server listens on loopback only and opens on the folder of notebooks; its Python kernel is the
interpreter that started it (the project's ``.venv``), so every lesson imports ``helpers`` as the
tests do. When the port is taken, Jupyter tries the next ones and prints the address it chose.

    python -m helpers.lab                 # port 8888, or the next free one
    python -m helpers.lab --port 9000 --no-browser
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def lab_command(port: int = 8888, token: str | None = None, open_browser: bool = True,
                notebooks: Path = NOTEBOOKS) -> list[str]:
    """The command line that starts JupyterLab on ``notebooks`` (``token``: a fixed access token,
    for scripts; by default Jupyter makes one and prints it in the address)."""
    if not (notebooks / "01_diagnosis.ipynb").is_file():
        raise FileNotFoundError(f"{notebooks}: no lessons here; run `make lab` from a clone of the repository")
    argv = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={notebooks}",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=50"]
    if not open_browser:
        argv.append("--no-browser")
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI machines run as root; Jupyter refuses it otherwise
    return argv


def lab_environment(environ: dict | None = None) -> dict:
    """The environment for the server: a ``python3`` kernelspec that runs this interpreter, written
    into this environment (``sys.prefix/share/jupyter``) and put first on ``JUPYTER_PATH``, so that a
    ``python3`` kernel in the user's own Jupyter folder cannot shadow the project's."""
    from ipykernel.kernelspec import install

    install(prefix=sys.prefix, kernel_name="python3", display_name="Python 3 (course .venv)")
    env = dict(os.environ if environ is None else environ)
    share = str(Path(sys.prefix) / "share" / "jupyter")
    env["JUPYTER_PATH"] = os.pathsep.join([share, *filter(None, [env.get("JUPYTER_PATH")])])
    return env


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m helpers.lab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8888, help="first port to try (default 8888)")
    ap.add_argument("--no-browser", action="store_true", help="print the address, open no browser")
    args = ap.parse_args(argv)
    command = lab_command(args.port, open_browser=not args.no_browser)
    os.execve(command[0], command, lab_environment())  # the server replaces this process: Ctrl-C stops it


if __name__ == "__main__":
    main()
