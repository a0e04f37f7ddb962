"""The SFT trainer on a tiny model: packing keeps samples apart, resume reproduces the
uninterrupted run, DeepSpeed ZeRO-2/3 match plain torch, and a model that overfits 32 samples
answers a trained question and stops at EOS through the transformers generation backend."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from r1data import models
from r1data.trainers.config import OptimConfig, OutputConfig, RuntimeConfig
from r1data.trainers.sft import CausalLMLoss, DataConfig, SFTConfig, train
from r1data.trainers.sft_data import IGNORE, collate, tokenize_all

WORDS = ["apple", "river", "stone", "cloud", "tiger", "maple", "ocean", "piano", "lemon",
         "falcon", "amber", "cedar", "delta", "ember", "frost", "grape", "harbor", "ivory",
         "jungle", "koala", "lotus", "meadow", "nectar", "orbit", "pepper", "quartz", "raven",
         "saffron", "tulip", "umber", "velvet", "willow"]


def conversations(n: int = 32) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"What is secret word number {i}?"},
             {"role": "assistant", "content": f"<think>\nLook up {i}.\n</think>\n\n"
                                              f"The word is {WORDS[i % len(WORDS)]}."}]
            for i in range(n)]


def lookups(n: int = 32) -> list[list[dict[str, str]]]:
    """Short question -> one word: the words can only be recalled by memorising the pairs, and
    few labelled tokens keep the 49k-vocabulary output head cheap on CPU."""
    return [[{"role": "system", "content": "Answer."},
             {"role": "user", "content": f"Secret {i}?"},
             {"role": "assistant", "content": WORDS[i % len(WORDS)]}] for i in range(n)]


def write_data(path: Path, n: int = 32, make=conversations) -> str:
    path.write_text("".join(json.dumps({"id": str(i), "messages": m}) + "\n"
                            for i, m in enumerate(make(n))))
    return str(path)


def config(tmp_path: Path, data: str, out: str = "run", **over) -> SFTConfig:
    data_over = {k: over.pop(k) for k in list(over) if k in DataConfig.__dataclass_fields__}
    runtime_over = {k: over.pop(k) for k in list(over) if k in RuntimeConfig.__dataclass_fields__}
    return SFTConfig(
        data=DataConfig(**{"path": data, "max_seq_len": 256, "micro_batch_size": 2,
                           "grad_accum": 2, "epochs": 2, **data_over}),
        optim=OptimConfig(lr=3e-3, warmup_ratio=0.1),
        runtime=RuntimeConfig(**runtime_over),
        output=OutputConfig(dir=str(tmp_path / out), save_every=over.pop("save_every", 0)),
        **over)


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer()


def per_sample_losses(net, batch, spans) -> list[float]:
    """Each sample's summed loss from one forward of `batch` (labels of the others masked)."""
    out = []
    with torch.no_grad():
        for row, start, end in spans:
            labels = torch.full_like(batch["labels"], IGNORE)
            labels[row, start:end] = batch["labels"][row, start:end]
            out.append(float(net({**batch, "labels": labels})))
    return out


def test_packed_batch_gives_each_sample_its_unpacked_loss(tokenizer):
    model, _ = models.tiny_model()
    with torch.no_grad():  # larger weights than the init: attention then matters to the loss
        for param in model.parameters():
            if param.ndim == 2:
                param.normal_(0, 0.1)
    net = CausalLMLoss(model).eval()
    samples, _ = tokenize_all(tokenizer, conversations(3), 256)
    n = [len(s) for s in samples]
    spans = [(0, 0, n[0]), (0, n[0], n[0] + n[1]), (0, n[0] + n[1], sum(n))]
    packed = collate(samples, [[0, 1, 2]], tokenizer.pad_token_id, packed=True)
    alone = [per_sample_losses(net, collate(samples, [[i]], tokenizer.pad_token_id, True),
                               [(0, 0, n[i])])[0] for i in range(3)]
    assert per_sample_losses(net, packed, spans) == pytest.approx(alone, rel=1e-5)
    # Control: the same rows with running positions and no boundaries do differ, so the
    # comparison above can fail.
    leaky = {**packed, "position_ids": torch.arange(sum(n))[None]}
    assert per_sample_losses(net, leaky, spans)[1:] != pytest.approx(alone[1:], rel=1e-2)


def test_resume_reproduces_the_uninterrupted_loss_curve(tmp_path):
    data = write_data(tmp_path / "data.jsonl")
    model, tok = models.tiny_model()
    full = train(config(tmp_path, data, "full", max_steps=6), model=model, tokenizer=tok)

    class Crash(Exception):
        pass

    def crash_at_3(step, metrics):
        if step == 3:
            raise Crash

    model, tok = models.tiny_model()
    with pytest.raises(Crash):
        train(config(tmp_path, data, "resumed", max_steps=6, save_every=2), model=model,
              tokenizer=tok, on_step=crash_at_3)
    model, tok = models.tiny_model(seed=123)  # different init: the checkpoint must win
    resumed = train(config(tmp_path, data, "resumed", max_steps=6, save_every=2), model=model,
                    tokenizer=tok)
    assert [h["step"] for h in resumed.history] == [3, 4, 5, 6]
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in full.history[2:]], rel=1e-5)
    assert [h["lr"] for h in resumed.history] == pytest.approx([h["lr"] for h in full.history[2:]])


def _final_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "final" / "model.safetensors"))


@pytest.mark.slow
def test_two_processes_equal_one_process_on_the_combined_batch(tmp_path):
    data = write_data(tmp_path / "data.jsonl")
    model, tok = models.tiny_model()
    one = train(config(tmp_path, data, "one", max_steps=4, grad_accum=2), model=model,
                tokenizer=tok)
    child = (
        "import sys; sys.path.insert(0, %r)\n"
        "from test_sft_train import config, models, train\n"
        "from pathlib import Path\n"
        "m, t = models.tiny_model()\n"
        "train(config(Path(%r), %r, 'two', max_steps=4, grad_accum=1), model=m, tokenizer=t)\n"
    ) % (str(Path(__file__).parent), str(tmp_path), data)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "--no-python", sys.executable,
                           "-c", child], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert [h["loss"] for h in two] == pytest.approx([h["loss"] for h in one.history], rel=1e-5)
    assert [h["grad_norm"] for h in two] == pytest.approx([h["grad_norm"] for h in one.history],
                                                          rel=1e-4)
    w1, w2 = _final_weights(tmp_path / "one"), _final_weights(tmp_path / "two")
    assert all(torch.allclose(w1[k], w2[k], atol=1e-6) for k in w1)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """3 steps of plain torch, the reference of the DeepSpeed runs."""
    tmp = tmp_path_factory.mktemp("plain")
    data = write_data(tmp / "data.jsonl", 16)
    model, tok = models.tiny_model()
    return tmp, data, train(config(tmp, data, "plain", max_steps=3), model=model, tokenizer=tok)


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_zero_matches_plain_torch(plain_run, stage):
    # deepspeed.initialize runs on CPU here (its CPU accelerator, gloo, one process), so the
    # ZeRO code path itself is exercised, not a stand-in.
    pytest.importorskip("deepspeed", reason="the ZeRO path needs deepspeed (installed by make test)")
    tmp, data, plain = plain_run
    model, tok = models.tiny_model()
    zero = train(config(tmp, data, f"zero{stage}", max_steps=3, zero_stage=stage),
                 model=model, tokenizer=tok)
    assert [h["loss"] for h in zero.history] == pytest.approx(
        [h["loss"] for h in plain.history], rel=1e-4)
    assert [h["grad_norm"] for h in zero.history] == pytest.approx(
        [h["grad_norm"] for h in plain.history], rel=1e-3)
    w1, w2 = _final_weights(tmp / "plain"), _final_weights(tmp / f"zero{stage}")
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5) for k in w1)


@pytest.mark.slow
def test_overfits_32_samples_then_answers_and_stops_at_eos(tmp_path):
    from transformers import AutoModelForCausalLM

    from r1data.backends import get_backend
    from r1data.backends.base import SamplingConfig

    data = write_data(tmp_path / "data.jsonl", 32, lookups)
    model, tok = models.tiny_model(layers=2, hidden=128)
    cfg = config(tmp_path, data, "overfit", max_seq_len=1024, micro_batch_size=1, grad_accum=1,
                 epochs=150)  # all 32 samples pack into one row: one step per epoch
    cfg.optim = OptimConfig(lr=1e-2, warmup_ratio=0.05, min_lr_ratio=0.1)
    result = train(cfg, model=model, tokenizer=tok)
    # Started at ~10.8 (ln 49152); below 0.1 the 32 words are recalled, not guessed (ln 32 = 3.5).
    assert result.history[-1]["loss"] < 0.1, result.history[-1]

    folder = result.model_dir
    reloaded = AutoModelForCausalLM.from_pretrained(folder)
    assert reloaded.generation_config.eos_token_id == tok.eos_token_id
    backend = get_backend("transformers", str(folder), batch_size=8)
    questions = [c[:2] for c in lookups(32)]
    out = backend.generate(questions[:8], SamplingConfig(temperature=0, max_tokens=16))
    for i, (completion,) in enumerate(out):
        assert completion.text == WORDS[i]
        assert completion.finish_reason == "stop"  # stopped at the trained EOS, not the limit
