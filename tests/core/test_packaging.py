"""The installed layout: filters/, pipelines/, trainers/ import as r1data.*, nothing generic
lands at the top level of a user's site-packages, and the package list in pyproject is complete."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAPPED = {"r1data.filters": "filters", "r1data.pipelines": "pipelines", "r1data.trainers": "trainers"}


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for init in REPO.glob("r1data/**/__init__.py"):
        found.add(".".join(init.parent.relative_to(REPO).parts))
    for package, folder in MAPPED.items():
        for init in (REPO / folder).glob("**/__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((package, *rel)))
    assert found == listed, f"pyproject packages differ: missing {found - listed}, extra {listed - found}"


@pytest.mark.slow
def test_built_wheel_installs_under_r1data_only(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True)
    wheel = next(tmp_path.glob("r1data-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"r1data"}, tops
    for folder in ("filters", "pipelines", "trainers"):
        assert f"r1data/{folder}/__init__.py" in names
    assert "r1data/data/benchmarks/math500.jsonl" in names
    assert not any("alpaca" in n for n in names), "Alpaca (CC BY-NC) must not ship in the package"
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    # Import from the unpacked wheel, from a neutral folder, so the repo's own folders cannot
    # shadow anything.
    code = ("import r1data, r1data.filters, r1data.pipelines, r1data.trainers, importlib.util;"
            "print(r1data.__file__);"
            "print(importlib.util.find_spec('filters'), importlib.util.find_spec('trainers'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True,
                         capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}).stdout.split("\n")
    assert out[0].startswith(str(target))
    assert out[1] == "None None"
