"""The vLLM backend, where vLLM is installed (a CUDA machine): n samples per prompt."""

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed (it needs a CUDA build of torch)")


def test_vllm_gives_n_samples_per_prompt(embedded_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM is installed but no CUDA GPU is available")
    from r1data.backends import SamplingConfig, get_backend
    from r1data.templates import build_prompt

    backend = get_backend("vllm", embedded_path, gpu_memory_utilization=0.3, max_model_len=2048)
    out = backend.generate([build_prompt("What is 2+2?", "chat"), build_prompt("What is 3+3?", "r1-zero")],
                           SamplingConfig(n=3, max_tokens=16, seed=1))
    assert [len(s) for s in out] == [3, 3]
    for samples in out:
        for c in samples:
            assert c.finish_reason in ("stop", "length") and c.prompt_tokens > 0 and c.completion_tokens > 0
    again = backend.generate([build_prompt("What is 2+2?", "chat")], SamplingConfig(n=3, max_tokens=16, seed=1))
    assert [c.text for c in again[0]] == [c.text for c in out[0]]
