"""GRPO over several ranks: two gloo processes under torchrun (each sampling and scoring whole
groups, gradients averaged by DDP) end with the same parameters as one process given the same
groups; a two-rank run with dynamic sampling keeps B groups with signal over both ranks, and
killed after a checkpoint and resumed it ends where the uninterrupted run does; and under
ZeRO-3 the weights gathered for the vLLM sync and the reference refresh are the policy's whole
weights, not the empty shards a rank holds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import grpo_ranks  # noqa: E402


def _one_process_env(monkeypatch):
    for key, value in (("MASTER_ADDR", "127.0.0.1"), ("RANK", "0"), ("LOCAL_RANK", "0"),
                       ("WORLD_SIZE", "1")):
        monkeypatch.setenv(key, value)
    from r1data.trainers.distributed import free_port

    monkeypatch.setenv("MASTER_PORT", str(free_port()))


def _two_ranks(out: Path, mode: str = "plain") -> subprocess.CompletedProcess:
    from r1data.trainers.distributed import free_port

    out.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(free_port()), str(HERE / "grpo_ranks.py"), str(out), "0", mode],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_two_ranks_equal_one_process(tmp_path, monkeypatch):
    out = tmp_path / "two"
    done = _two_ranks(out)
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(out / "weights.pt")
    log = (out / "log.jsonl").read_text().splitlines()
    assert len(log) == 2  # rank 0 alone logs, once per step

    _one_process_env(monkeypatch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank above: the same float summation order
    try:
        one = grpo_ranks.run(str(tmp_path / "one"))
    finally:
        torch.set_num_threads(threads)
    assert one.dist.world_size == 1
    state = {k: v for k, v in one.policy.state_dict().items()}
    initial = grpo_ranks.models.tiny_model(seed=0)[0].state_dict()
    assert any(not torch.allclose(v, initial[k]) for k, v in state.items())  # it did train
    # Float sums in another order (two half-batches averaged by DDP), amplified where Adam divides
    # a gradient near its eps: equal within 1e-5, while the weights moved by ~1e-3.
    moved = max(float((v - initial[k]).abs().max()) for k, v in state.items())
    diff = max(float((v - two[k]).abs().max()) for k, v in state.items())
    assert diff < 1e-5 < moved / 10, (diff, moved)


@pytest.mark.slow  # three two-rank launches: ~90 s on 2 cores
def test_two_ranks_with_dynamic_sampling_resume_after_a_kill_as_if_never_stopped(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = _two_ranks(straight, "dynamic")
    assert done.returncode == 0, done.stderr[-3000:]
    log = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    # B = 4 groups over both ranks, each with signal, refilled where a rank drew flat prompts.
    assert [r["groups_kept"] for r in log] == [4, 4, 4]
    assert all(r["zero_variance_share"] == 0 for r in log)
    assert sum(r["refill_rounds"] for r in log) >= 1 and sum(r["groups_drawn"] for r in log) > 12

    done = _two_ranks(killed, "crash")
    assert done.returncode != 0  # killed after step 2, whose checkpoint was never written
    assert [p.name for p in (killed / "checkpoints").iterdir()] == ["step-1"]
    done = _two_ranks(killed, "resume")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from" in done.stdout + done.stderr

    a, b = torch.load(straight / "weights.pt"), torch.load(killed / "weights.pt")
    initial = grpo_ranks.models.tiny_model(seed=0)[0].state_dict()
    moved = max(float((v - initial[k]).abs().max()) for k, v in a.items())
    diff = max(float((v - b[k]).abs().max()) for k, v in a.items())
    assert diff < 1e-5 < moved / 10, (diff, moved)  # the two-rank equality test's tolerance
    resumed = [json.loads(line) for line in (killed / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed] == [1, 2, 3]
    for x, y in zip(log, resumed):
        assert (x["groups_drawn"], x["rollout_tokens"], x["reward"]) == \
            (y["groups_drawn"], y["rollout_tokens"], y["reward"])


def test_zero3_gathers_whole_weights_for_sync_and_reference(tmp_path, monkeypatch):
    pytest.importorskip("deepspeed", reason="the ZeRO-3 path needs deepspeed")
    from r1data.trainers import distributed
    from r1data.trainers.grpo_rollout_vllm import VLLMRollout

    _one_process_env(monkeypatch)
    zero3 = grpo_ranks.run(str(tmp_path / "zero3"), zero_stage=3, steps=1, ref_refresh_every=1)
    assert distributed.is_zero3(zero3.engine)
    # What a rank holds under ZeRO-3: empty shards (DeepSpeed keeps only parameters below its
    # persistence threshold whole), which is what a plain `param.data` sync sent.
    assert zero3.policy.get_input_embeddings().weight.data.numel() == 0

    # DeepSpeed's own consolidation of the shards (what the final model folder gets) is the
    # reference; the step moved the weights away from the initial ones.
    expected = {k.removeprefix("lm."): v.float()
                for k, v in distributed.full_state_dict(zero3.engine).items()}
    initial = grpo_ranks.models.tiny_model(seed=0)[0].state_dict()
    assert any(not torch.allclose(v, initial[k]) for k, v in expected.items())
    # The reference refresh copied whole weights.
    ref = dict(zero3.ref.named_parameters())
    for name, value in ref.items():
        assert torch.allclose(value.float(), expected[name], atol=1e-5), name

    # The vLLM sync: a stand-in engine whose model records what `load_weights` receives.
    class Receiver:
        def __init__(self):
            self.weights = {}

        def load_weights(self, weights):
            for name, value in weights:
                self.weights[name] = value.detach().clone()

    receiver = Receiver()
    # The engine's side of the sync: the worker's `reload_weights` consumes the weights.
    llm = type("LLM", (), {
        "collective_rpc": lambda self, method, kwargs: receiver.load_weights(kwargs["weights_iterator"]),
        "apply_model": lambda self, fn: None, "reset_prefix_cache": lambda self: None})()
    rollout = VLLMRollout.__new__(VLLMRollout)
    rollout.llm = llm
    rollout.sync_weights(zero3.engine)
    params = set(ref)  # the policy's parameter names (the reference is its copy)
    assert set(receiver.weights) == params
    for name, value in receiver.weights.items():
        assert value.numel() == expected[name].numel() > 0
        assert torch.allclose(value.float(), expected[name], atol=1e-5), name
