"""Shared fixtures. Nothing in the suite touches the network: the Hub is forced offline."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def package_data() -> Path:
    """r1data/data: the benchmarks and prompt files shipped in the package (present in any clone,
    so no test depends on ../shared/data)."""
    from importlib import resources

    return Path(str(resources.files("r1data"))) / "data"


@pytest.fixture(scope="session")
def test_data() -> Path:
    """tests/data: small files written for the tests (see tests/data/README.md)."""
    return REPO / "tests" / "data"


@pytest.fixture(scope="session")
def embedded():
    """(model, tokenizer) of the embedded SmolLM2-135M, loaded once per test session."""
    from r1data import models

    return models.load_model(models.EMBEDDED)


@pytest.fixture(scope="session")
def embedded_path() -> str:
    from r1data import models

    return models.resolve(models.EMBEDDED)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> str:
    """A tiny random model saved as a folder: fast to load and run, with the embedded model's
    real tokenizer and chat template."""
    from r1data import models

    model, tokenizer = models.tiny_model()
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
