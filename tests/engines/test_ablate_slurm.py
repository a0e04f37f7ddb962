"""`r1data ablate --executor slurm` through a real single-node Slurm (see conftest.py): one job per
variant x seed, then `--collect` waits and writes the same table a local run writes."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from engine_helpers import REPO, run_with_deadline

R1DATA = str(Path(sys.executable).parent / "r1data")  # by path: the venv is not on PATH


@pytest.mark.slow
def test_ablation_on_slurm_one_job_per_variant_and_seed(slurm, tmp_path, tiny_dir, bare_path):
    spec = yaml.safe_load((REPO / "pipelines" / "ablations" / "demo_tiny.yaml").read_text())
    spec.update(output=str(tmp_path / "abl"), teacher=tiny_dir, student=tiny_dir,
                variants={"all_answers": {"select": {"correct_only": False}}},
                sbatch={"partition": slurm.partition, "time": "00:10:00"})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = run_with_deadline([R1DATA, "ablate", str(path), "--executor", "slurm"], timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "submitted 2 job(s)" in proc.stdout
    scripts = sorted(p.name for p in (tmp_path / "abl" / ".logs").glob("*.sbatch"))
    assert scripts == ["all_answers-seed-0.sbatch", "base-seed-0.sbatch"]
    proc = run_with_deadline([R1DATA, "ablate", str(path), "--executor", "slurm", "--collect"],
                             timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert report["missing"] == [] and report["failed"] == []
    assert [r["variant"] for r in report["table"]] == ["base", "all_answers"]
    assert "vs base" in proc.stdout
