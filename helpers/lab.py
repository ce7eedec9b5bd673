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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m helpers.lab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8888, help="first port to try (default 8888)")
    ap.add_argument("--no-browser", action="store_true", help="print the address, open no browser")
    args = ap.parse_args(argv)
    command = lab_command(args.port, open_browser=not args.no_browser)
    os.execv(command[0], command)  # the server replaces this process: Ctrl-C stops it as usual


if __name__ == "__main__":
    main()
