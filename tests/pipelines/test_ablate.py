"""`r1data ablate`: variants of a corpus recipe distilled into the same student on the same
seeds' pools, evaluated on the same held-out set; the table's paired differences; resume; Slurm
scripts. The runs use the tiny random model as teacher and student (what is tested is the
machinery, not what a 135M model learns)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from r1data.pipelines.ablate import AblationConfig, Recipe, sbatch_script, table

REPO = Path(__file__).resolve().parents[2]


def _spec(tmp_path, tiny_dir, **changes) -> Path:
    data = yaml.safe_load((REPO / "pipelines" / "ablations" / "demo_tiny.yaml").read_text())
    data.update(output=str(tmp_path / "abl"), teacher=tiny_dir, student=tiny_dir, **changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "r1data", "ablate", *map(str, args)],
                          capture_output=True, text=True, timeout=900, cwd=REPO)


@pytest.mark.slow
def test_every_variant_runs_on_the_same_pool_and_a_rerun_resumes(tmp_path, tiny_dir):
    spec = _spec(tmp_path, tiny_dir)
    proc = _cli(spec, "--only", "base:0", "--only", "all_answers:0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert sorted(report["missing"]) == ["four_answers:0", "pass_band:0"]
    runs = {r["variant"]: r for r in report["runs"]}
    assert runs["all_answers"]["answers"] == 4  # one answer of each of 4 prompts, verified or not
    assert runs["base"]["answers"] <= 4 and all(r["accuracy"] is not None for r in runs.values())
    pool = tmp_path / "abl" / "pools" / "seed-0.jsonl"
    before = pool.stat().st_mtime_ns
    proc = _cli(spec)  # resumes: the two runs left, on the same pool
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert pool.stat().st_mtime_ns == before
    assert "run 1/2" in proc.stderr and "run 3/" not in proc.stderr
    report = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert report["missing"] == [] and (tmp_path / "abl" / "ablation.png").exists()
    # the spec's order (yaml.safe_dump sorted the variants when the test wrote it)
    assert [r["variant"] for r in report["table"]] == ["base", "all_answers", "four_answers", "pass_band"]
    assert "vs base" in proc.stdout and "four_answers" in proc.stdout
    assert not list((tmp_path / "abl" / "runs").rglob("model.safetensors"))  # weights removed


def test_the_table_pairs_each_seed_with_the_base():
    config = AblationConfig(seeds=[0, 1, 2], variants={"v": {"select": {"max_answers": 4}}})
    runs = [{"variant": "base", "seed": s, "accuracy": a, "stderr": 0.05, "answers": 10}
            for s, a in enumerate([0.2, 0.3, 0.4])]
    runs += [{"variant": "v", "seed": s, "accuracy": a, "stderr": 0.05, "answers": 30}
             for s, a in enumerate([0.25, 0.36, 0.44])]
    base, v = table(config, runs)
    assert base["accuracy"] == pytest.approx(0.3) and base["se"] == pytest.approx(0.1 / 3 ** 0.5)
    # the differences 0.05, 0.06, 0.04 vary far less than the accuracies: a small paired SE
    assert v["diff"] == pytest.approx(0.05) and v["diff_se"] == pytest.approx(0.01 / 3 ** 0.5)
    assert v["significant"] and v["se"] > 5 * v["diff_se"]
    one = table(AblationConfig(seeds=[0], variants={"v": {}}), runs[:1] + runs[3:4])
    assert one[1]["diff_se"] == pytest.approx((0.05 ** 2 * 2) ** 0.5)  # the evals' SEs, one seed


def test_bad_specs_are_one_line_errors(tmp_path, tiny_dir):
    for changes, message in (({"variants": {"x": {"selct": {}}}}, "unknown key"),
                             ({"variants": {"x": {"select": {"max_answer": 2}}}}, "max_answer"),
                             ({"seeds": []}, "seeds")):
        proc = _cli(_spec(tmp_path, tiny_dir, **changes))
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert message in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(ValueError, match="base"):
        AblationConfig(variants={"base": {}})
    assert Recipe(select={"max_answers": 2}).config().max_answers == 2


def test_slurm_gets_one_job_per_variant_and_seed(tmp_path):
    script = sbatch_script(tmp_path / "spec.yaml", "four_answers", 2, tmp_path / ".logs",
                           {"partition": "cpu", "time": "01:00:00"})
    assert "#SBATCH --partition=cpu" in script and "#SBATCH --job-name=r1data_ablate_four_answers_2" in script
    assert "ablate" in script and "--only four_answers:2 --executor local" in script


@pytest.mark.slow
def test_the_readme_ablate_example_runs_as_written():
    # the embedded SmolLM2-135M as teacher and student, the smallest spec: ~4 minutes on 2 cores
    import re
    import shlex
    import shutil

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(l.strip() for b in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
                for l in b.splitlines() if l.strip().startswith("r1data ablate "))
    words = shlex.split(line)
    out = REPO / words[words.index("--output") + 1]
    shutil.rmtree(out, ignore_errors=True)
    try:
        proc = _cli(*words[2:])
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads((out / "ablation.json").read_text())
        assert [r["variant"] for r in report["table"]] == ["base", "four_answers", "all_answers", "pass_band"]
        assert all(r["seeds"] == 1 and r["accuracy"] is not None for r in report["table"])
        assert "vs base" in proc.stdout
    finally:
        shutil.rmtree(out, ignore_errors=True)
