import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import pytest  # noqa: E402

#: the key the test server demands; tests check that it never reaches a file, a log or an error
SERVER_KEY = "sk-test-do-not-leak-4242"


@pytest.fixture(scope="session")
def minilm():
    """The off-the-shelf student, loaded once; tests must not train it (use load_model for that)."""
    from helpers.models import load_model_cached

    return load_model_cached("minilm")


# ----------------------------------------------------------------------------- a real LLM server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server with the shipped model, on 127.0.0.1."""

    def __init__(self, api_key: str = SERVER_KEY):
        self.port, self.api_key, self.proc = _free_port(), api_key, None
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 90) -> "LlamaServer":
        from helpers.synthetic import local_llm_path

        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(local_llm_path()), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_threads", "1", "--n_ctx", "1024", "--api_key", self.api_key]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                req = urllib.request.Request(f"{self.url}/models", headers={"Authorization": f"Bearer {self.api_key}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("llama_cpp.server did not come up")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def server():
    srv = LlamaServer().start()
    yield srv
    srv.stop()
