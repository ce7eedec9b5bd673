"""Rebuild ``data/raw/git-docs/``: a folder of real, unprepared documents for Lesson 6 and the
``finetune`` command -- Git's own manual pages, copied as they ship (HTML and AsciiDoc text).

    python scripts/build_raw_docs.py          # downloads Debian's git-doc package with apt-get

Nothing is cleaned, chunked or labelled here: that is the pipeline's job. The files are copied
byte for byte from the ``git-doc`` Debian package (no root needed: ``apt-get download`` and
``dpkg-deb -x`` into a temporary folder), and their SHA-256 sums are written to ``FILES.sha256``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "raw" / "git-docs"
DOCS = "usr/share/doc/git-doc"
#: everyday commands (HTML manual pages) and three guides (AsciiDoc sources, as .txt)
COMMANDS = ["add", "commit", "status", "branch", "checkout", "switch", "restore", "reset", "revert", "merge",
            "cherry-pick", "stash", "tag", "clone", "init", "remote", "clean", "reflog", "rm"]
FILES = [f"git-{c}.html" for c in COMMANDS] + ["gitglossary.html", "giteveryday.txt", "gitfaq.txt", "gittutorial.txt"]

SOURCE_MD = """\
# git-docs: Git's manual pages, raw (Lesson 6)

- **What**: {n} files from Git {version}'s documentation, as installed by Debian's `git-doc`
  package into `/usr/share/doc/git-doc/`: the HTML manual pages of {m} everyday commands, the
  glossary (HTML), and three guides as their AsciiDoc sources (`.txt`). Copied byte for byte;
  `FILES.sha256` lists their checksums.
- **Why**: a reader's corpus is a folder of files, not a prepared benchmark. These are real
  technical documents with their own jargon (index, HEAD, refspec, tree-ish, pathspec) and the
  everyday questions people ask of them.
- **Licence**: GPL-2.0 (Git and its documentation; see Debian's
  `/usr/share/doc/git-doc/copyright`). Redistributed here unmodified, with this notice.
- **Rebuild**: `python scripts/build_raw_docs.py` (apt-get download git-doc; dpkg-deb -x).
- **Queries**: the pages come with none. `python -m helpers finetune --corpus data/raw/git-docs/docs`
  trains on crops of the chunks and has an LLM write the held-out test queries; `llm_queries.jsonl`
  here caches the LLM's answers for every chunk (see below). `gold/` holds
  131 questions written by hand and labelled with the pages that answer them, a ruler no LLM wrote
  (see `gold/SOURCE.md`; the rebuild replaces `docs/` only).

## llm_queries.jsonl

The answers Gemma 3 270M (Q4_K_M, llama-cpp-python, temperature 0.7, seed 0) wrote for every chunk
of these documents with the command's default LLM options, in the format of `helpers.synthetic.QueryCache`.
Notebook 06 copies it into its run folder so that the LLM stage is a cache hit under test (the
default run asks for the 158 held-out chunks' queries only; `benchmarks/label_free_command.py`
trains on all of them). Regenerate with (about 4 minutes on 2 cores):

    python -m helpers finetune --corpus data/raw/git-docs/docs --out runs/git-docs --label-free llm --until queries
    cp runs/git-docs/cache/llm_queries.jsonl data/raw/git-docs/
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "git-doc"], cwd=tmp, check=True)
        deb = next(Path(tmp).glob("git-doc_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        version = deb.name.split("_")[1].replace("%3a", ":")
        src = Path(tmp) / "x" / DOCS
        missing = [f for f in FILES if not (src / f).exists()]
        if missing:
            sys.exit(f"git-doc {version} lacks {missing}")
        docs = OUT / "docs"
        if docs.exists():
            shutil.rmtree(docs)
        docs.mkdir(parents=True)
        sums = []
        for f in FILES:
            shutil.copyfile(src / f, docs / f)
            sums.append(f"{hashlib.sha256((docs / f).read_bytes()).hexdigest()}  docs/{f}")
    (OUT / "FILES.sha256").write_text("\n".join(sums) + "\n")
    (OUT / "SOURCE.md").write_text(SOURCE_MD.format(n=len(FILES), m=len(COMMANDS), version=version))
    print(f"{len(FILES)} files from git-doc {version} -> {docs}")


if __name__ == "__main__":
    main()
