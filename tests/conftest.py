"""Shared fixtures. Nothing in the suite touches the network: the Hub is forced offline."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: the benchmark and prompt files the tests may read (not shipped)."""
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is absent: these tests read the project's shared data files")
    return SHARED_DATA


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
