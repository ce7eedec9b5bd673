import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def minilm():
    """The off-the-shelf student, loaded once; tests must not train it (use load_model for that)."""
    from helpers.models import load_model_cached

    return load_model_cached("minilm")
