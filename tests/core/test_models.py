import pytest

from r1data import models


def test_embedded_model_loads_from_the_wheel_and_generates(embedded):
    model, tokenizer = embedded
    assert model.config.model_type == "llama"
    assert model.num_parameters() > 100_000_000  # SmolLM2-135M, dequantized
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    text = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text


def test_embedded_copy_is_a_plain_model_folder(embedded_path):
    from pathlib import Path

    folder = Path(embedded_path)
    assert (folder / "config.json").exists() and list(folder.glob("*.safetensors"))
    import json

    assert not json.loads((folder / "config.json").read_text()).get("quantization_config")
    assert models.resolve(models.EMBEDDED) == embedded_path  # the cached copy is reused


def test_bad_specs_are_model_errors(tmp_path):
    with pytest.raises(models.ModelError, match="not found"):
        models.resolve("./no/such/model")
    with pytest.raises(models.ModelError, match="no config.json"):
        models.resolve(str(tmp_path))


def test_tiny_model_shares_the_tokenizer():
    model, tokenizer = models.tiny_model(layers=1, hidden=32, heads=2)
    assert model.config.vocab_size == tokenizer.vocab_size or model.config.vocab_size >= len(tokenizer)
    assert model.num_parameters() < 5_000_000
    assert tokenizer.chat_template
