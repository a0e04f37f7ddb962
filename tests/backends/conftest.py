"""Fixtures of the backend tests: a tiny random model saved as a folder (fast to load and run,
with the embedded model's real tokenizer and chat template)."""

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> str:
    from r1data import models

    model, tokenizer = models.tiny_model()
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
