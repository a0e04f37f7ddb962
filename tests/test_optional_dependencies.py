"""A feature whose optional dependency (vLLM, Ray, DeepSpeed) is absent ends in one line naming
the install command and exit code 2, not a traceback. Absence is made real in a subprocess: a
`sitecustomize` on PYTHONPATH sets `sys.modules[name] = None`, so `import name` fails there
whether or not the package is installed here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_without(module: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(f"import sys\nsys.modules[{module!r}] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "r1data", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    rows = [{"id": f"q{i}", "messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                                         {"role": "assistant", "content": f"<think>{i} + {i}</think> {2 * i}"}],
             "gold": str(2 * i)} for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def assert_one_line(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_vllm_backend_without_vllm(tmp_path):
    proc = run_without("vllm", ["generate", "--backend", "vllm", "--input", str(records(tmp_path)),
                                "--output", "out", "--limit", "1"], tmp_path)
    assert_one_line(proc, "error: the vllm backend needs vLLM, which is not installed: pip install 'r1data[vllm]'")


def test_ray_executor_without_ray(tmp_path):
    proc = run_without("ray", ["filter", "--input", str(records(tmp_path)), "--output", "out",
                               "--executor", "ray"], tmp_path)
    assert_one_line(proc, "error: the ray executor needs Ray, which is not installed: pip install 'r1data[ray]'")


def test_zero_training_without_deepspeed(tmp_path, tiny_dir):
    recipe = tmp_path / "sft.yaml"
    text = (REPO / "trainers/recipes/sft_smollm2_135m_cpu.yaml").read_text()
    recipe.write_text(text.replace("zero_stage: 0", "zero_stage: 2").replace("packing: true", "packing: false"))
    proc = run_without("deepspeed", ["train", "sft", "--config", str(recipe), "--data", str(records(tmp_path)),
                                     "--model", tiny_dir, "--output", "run", "--max-steps", "1"], tmp_path)
    assert_one_line(proc, "needs DeepSpeed, which is not installed: pip install --no-build-isolation 'r1data[deepspeed]'")


def test_require_names_the_install_command():
    from r1data.optional import MissingDependency, require

    with pytest.raises(MissingDependency, match="pip install no_such_module_r1data"):
        require("no_such_module_r1data", "a feature")
    assert require("json", "a feature").dumps([]) == "[]"
