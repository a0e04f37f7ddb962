"""The transformers backend: n samples per prompt, truncation and EOS marked, stop strings cut,
per-sample seeds independent of batching, pre-filled think blocks kept, and the same greedy text
as a plain `model.generate`."""

import pytest

from r1data.backends import BackendError, SamplingConfig, get_backend
from r1data.backends.transformers import TransformersBackend
from r1data.templates import build_prompt

QUESTIONS = ["What is 2+2?", "Name a prime number larger than 10.", "Spell the word cat backwards."]


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return get_backend("transformers", tiny_dir, batch_size=4)


def test_n_samples_per_prompt_with_counts(tiny):
    prompts = [build_prompt(q, "chat") for q in QUESTIONS]
    out = tiny.generate(prompts, SamplingConfig(n=3, max_tokens=5))
    assert [len(samples) for samples in out] == [3, 3, 3]
    rendered = [tiny.tokenizer(tiny.render(p), add_special_tokens=False)["input_ids"] for p in prompts]
    for samples, ids in zip(out, rendered):
        for c in samples:
            # a random model essentially never emits EOS in 5 tokens: every sample is truncated
            assert c.finish_reason == "length" and c.completion_tokens == 5 and c.error is None
            assert c.prompt_tokens == len(ids) and c.text
        assert len({c.text for c in samples}) > 1  # sampled, not three copies


def test_sample_seeds_do_not_depend_on_the_batch(tiny_dir):
    wide = TransformersBackend(tiny_dir, batch_size=8)
    narrow = TransformersBackend(tiny_dir, batch_size=1)
    sampling = SamplingConfig(n=2, max_tokens=6, seed=7)
    both = wide.generate(QUESTIONS, sampling, keys=["a", "b", "c"])
    alone = narrow.generate(QUESTIONS[1:2], sampling, keys=["b"])
    assert [c.text for c in both[1]] == [c.text for c in alone[0]]
    other_seed = wide.generate(QUESTIONS[1:2], SamplingConfig(n=2, max_tokens=6, seed=8), keys=["b"])
    assert [c.text for c in other_seed[0]] != [c.text for c in alone[0]]


def test_eos_ends_a_sample_as_stop(tiny_dir):
    from r1data import models

    model, tokenizer = models.load_model(tiny_dir)
    greedy = SamplingConfig(n=1, temperature=0, max_tokens=4)
    first = TransformersBackend(tiny_dir, model_obj=model, tokenizer=tokenizer)
    text = first.generate(["Hello"], greedy)[0][0].text
    # Make the token the model greedily emits first its end-of-sequence token.
    model.generation_config.eos_token_id = tokenizer(text, add_special_tokens=False)["input_ids"][0]
    ended = TransformersBackend(tiny_dir, model_obj=model, tokenizer=tokenizer).generate(["Hello"], greedy)[0][0]
    assert ended.finish_reason == "stop" and ended.completion_tokens == 1 and ended.text == ""


def test_stop_strings_cut_the_text(tiny):
    greedy = SamplingConfig(n=1, temperature=0, max_tokens=8)
    text = tiny.generate(["Hello"], greedy)[0][0].text
    stop = text[len(text) // 2:len(text) // 2 + 3]
    cut = tiny.generate(["Hello"], SamplingConfig(n=1, temperature=0, max_tokens=8, stop=[stop]))[0][0]
    assert cut.finish_reason == "stop" and stop not in cut.text and text.startswith(cut.text)


def test_a_prefilled_think_block_is_kept(tiny_dir):
    from r1data import models

    model, tokenizer = models.load_model(tiny_dir)
    # A reasoning model's template (as DeepSeek-R1's distills do): the prompt opens the think block.
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "'<|im_start|>assistant\n'", "'<|im_start|>assistant\n<think>\n'")
    backend = TransformersBackend(tiny_dir, model_obj=model, tokenizer=tokenizer)
    assert backend.render(build_prompt("2+2?", "chat")).endswith("<think>\n")
    out = backend.generate([build_prompt("2+2?", "chat"), build_prompt("2+2?", "r1-zero")],
                           SamplingConfig(n=1, max_tokens=3))
    assert out[0][0].text.startswith("<think>\n")
    assert not out[1][0].text.startswith("<think>")  # r1-zero pre-fills nothing


def test_greedy_matches_plain_generate_on_the_embedded_model(embedded, embedded_path):
    import torch

    model, tokenizer = embedded
    backend = TransformersBackend(embedded_path, model_obj=model, tokenizer=tokenizer)
    prompts = [build_prompt(q, "chat") for q in QUESTIONS[:2]]
    out = backend.generate(prompts, SamplingConfig(n=1, temperature=0, max_tokens=24))
    for prompt, (completion,) in zip(prompts, out):
        ids = tokenizer(backend.render(prompt), add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            ref = model.generate(**ids, max_new_tokens=24, do_sample=False)
        expected = tokenizer.decode(ref[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        assert completion.text == expected
        assert completion.finish_reason in ("stop", "length")
    sampled = backend.generate(prompts[:1], SamplingConfig(n=2, max_tokens=24, seed=3))[0]
    assert len(sampled) == 2 and all(c.text.strip() for c in sampled)


def test_get_backend_refuses_unknown_names_and_options(tiny_dir):
    with pytest.raises(BackendError, match="unknown backend"):
        get_backend("llamacpp", tiny_dir)
    with pytest.raises(BackendError, match="unexpected keyword"):
        get_backend("transformers", tiny_dir, concurency=3)


def test_out_of_memory_splits_the_batch_and_other_errors_stop(tiny_dir):
    import torch

    backend = TransformersBackend(tiny_dir, batch_size=4)
    seen = []

    def memory_for_two_rows(module, args, kwargs):  # a device that holds at most 2 rows at once
        rows = (kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]).shape[0]
        seen.append(rows)
        if rows > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    hook = backend.lm.register_forward_pre_hook(memory_for_two_rows, with_kwargs=True)
    out = backend.generate(QUESTIONS[:2], SamplingConfig(n=2, max_tokens=3))
    hook.remove()
    assert all(c.error is None and c.completion_tokens == 3 for samples in out for c in samples)
    assert seen[0] == 4 and max(seen[1:]) == 2  # the batch of 4 was retried as two halves

    def tiny_budget(module, args, kwargs):  # not even one row fits: the sample records the error
        raise torch.OutOfMemoryError("CUDA out of memory")

    hook = backend.lm.register_forward_pre_hook(tiny_budget, with_kwargs=True)
    (samples,) = backend.generate(QUESTIONS[:1], SamplingConfig(n=2, max_tokens=3))
    hook.remove()
    assert [c.finish_reason for c in samples] == ["error", "error"]
    assert samples[0].error.startswith("OutOfMemoryError: CUDA out of memory")

    def bug(module, args, kwargs):  # anything else is a bug: it stops the run, no sample is made
        raise ValueError("a shape mismatch")

    backend.lm.register_forward_pre_hook(bug, with_kwargs=True)
    with pytest.raises(ValueError, match="a shape mismatch"):
        backend.generate(QUESTIONS[:1], SamplingConfig(n=2, max_tokens=3))
