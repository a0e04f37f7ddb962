"""The red-team suite: every attack in cases/hostile*.yaml, in every isolation this machine has
(bwrap and the unshare fallback), must score as failing; probes must find nothing; writes must
not reach the host. Then the same core attacks once more as a non-root user (`nobody`)."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from r1data.verifiers import code as code_module
from r1data.verifiers import verify_code
from r1data.verifiers.sandbox import available_isolations

CASES_DIR = Path(__file__).parent / "cases"
CASES = [dict(case, file=path.name) for path in sorted(CASES_DIR.glob("hostile*.yaml"))
         for case in yaml.safe_load(path.read_text("utf-8"))]
SECRET = "s3cret-value-9f2c"
MARKER = "MARKER-7f3a91c2"
ISOLATIONS = available_isolations()
REPO = Path(__file__).resolve().parents[2]


def _fenced(program, lang="python"):
    return f"<think>\nwriting code\n</think>\n\n```{lang}\n{program}\n```"


def _fresh_sandboxes():
    """Servers started earlier hide an earlier $HOME: start new ones with this environment."""
    for sandbox in code_module._sandboxes.values():
        sandbox.close()
    code_module._sandboxes.clear()


@pytest.fixture(scope="module")
def banner_port():
    """A real TCP server on 127.0.0.1 that a sandboxed program must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.sendall(b"hello")
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def world():
    """A fake home with an ssh key and a Hub token (readable by anyone: only hiding protects
    them), secrets in the environment, and a host directory anyone may write to. Outside /tmp,
    whose private copy would hide them anyway."""
    base = Path(tempfile.mkdtemp(prefix="r1data-redteam-", dir="/var/tmp"))
    home, outside = base / "home", base / "outside"
    (home / ".ssh").mkdir(parents=True)
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(SECRET)
    (home / ".cache" / "huggingface" / "token").write_text(SECRET)
    outside.mkdir()
    for path in [base, *base.rglob("*")]:
        path.chmod(0o777 if path == outside else 0o755 if path.is_dir() else 0o644)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("R1DATA_TEST_SECRET", SECRET)
        patch.setenv("HF_TOKEN", SECRET)
        _fresh_sandboxes()
        yield {"home": home, "outside": outside}
        _fresh_sandboxes()
    shutil.rmtree(base, ignore_errors=True)


def _fill(text, values):
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def test_the_suite_is_big_enough():
    assert len(CASES) >= 30
    assert len({c["name"] for c in CASES}) == len(CASES)
    assert sum(c.get("language") == "cpp" for c in CASES) >= 5
    assert sum(c.get("kind") == "probe" for c in CASES) >= 5


@pytest.mark.skipif(not ISOLATIONS, reason="no sandbox isolation on this machine")
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_attack_fails(case, isolation, world, banner_port):
    lang = case.get("language", "python")
    if lang == "cpp" and shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    values = {"secret": SECRET, "port": banner_port, "home": world["home"], "repo": REPO,
              "outside": world["outside"] / f"escaped-{case['name']}", "marker": MARKER,
              "marker_reversed": MARKER[::-1], "token": secrets.token_hex(6)}
    program = _fill(case["program"], values)
    tests = [_fill(t, values) if isinstance(t, str) else
             {"input": _fill(t["input"], values), "output": _fill(t["output"], values)}
             for t in case["tests"]]
    absent = [Path(_fill(p, values)) for p in case.get("absent", [])]
    start = time.monotonic()
    verdict = verify_code(_fenced(program, lang), tests, language=lang, timeout=1.0,
                          isolation=isolation)
    elapsed = time.monotonic() - start
    escaped = [p for p in absent if p.exists()]
    for path in escaped:
        path.unlink()
    assert verdict.correct is False, verdict
    assert verdict.details["passed"] < verdict.details["total"]
    if case.get("kind") == "probe":
        assert verdict.details["tests"][0]["ok"] is True, f"the probe found something: {verdict}"
    assert escaped == []
    assert elapsed < 20


@pytest.mark.skipif(not ISOLATIONS, reason="no sandbox isolation on this machine")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_after_the_attacks_the_sandbox_is_clean(isolation, world):
    """A candidate's /tmp, /dev/shm and processes do not survive into the next candidate's run,
    and an honest program still passes."""
    writer = ("import os, subprocess\ndef f(x):\n    open('/tmp/left', 'w').write('x')\n"
              "    open('/dev/shm/left', 'w').write('x')\n"
              "    subprocess.Popen(['sleep', '600'], start_new_session=True)\n    return 1\n")
    reader = ("import os\ndef f(x):\n    names = os.listdir('/tmp') + os.listdir('/dev/shm')\n"
              "    procs = [p for p in os.listdir('/proc') if p.isdigit()]\n"
              "    return [n for n in names if n == 'left'], len(procs) <= 3\n")
    for _ in range(2):  # the same fork server serves both when runs are sequential
        assert verify_code(_fenced(writer), ["assert f(1) == 1"], isolation=isolation).correct
        verdict = verify_code(_fenced(reader), ["assert f(1) == ([], True)"], isolation=isolation)
        assert verdict.correct is True, verdict


NOBODY_SCRIPT = """
import json, os, sys
from r1data.verifiers.code import verify_code
from r1data.verifiers.sandbox import available_isolations
exploit = '''import json, os
job = json.load(open(".stdin"))
for i in range(len(job["tests"])):
    os.write(1, (job["nonce"] + " " + json.dumps({"i": i, "ok": True}) + "\\\\n").encode())
os.write(1, (job["nonce"] + ' {"done": true}\\\\n').encode()); os._exit(0)
'''
probe = '''import os
def f(x):
    found = []
    for p in ("HOME/.ssh/id_rsa", "HOME/.cache/huggingface/token"):
        try:
            found.append(open(p).read())
        except OSError:
            pass
    try:
        open("HOME/pwned", "w").write("x")
        found.append("wrote home")
    except OSError:
        pass
    return found + [v for v in os.environ.values() if "s3cret" in v]
'''
probe = probe.replace("HOME", os.environ["HOME"])
out = {"uid": os.getuid(), "isolations": available_isolations(), "runs": {}}
for iso in out["isolations"]:
    fence = lambda c: "```python\\n" + c + "```"
    out["runs"][iso] = {
        "exploit": verify_code(fence(exploit), ["assert f(1) == 2"], isolation=iso).score,
        "probe": verify_code(fence(probe), ["assert f(1) == []"], isolation=iso).correct,
        "honest": verify_code(fence("def f(x):\\n    return 2 * x\\n"), ["assert f(1) == 2"],
                              isolation=iso).correct,
    }
print(json.dumps(out))
"""


def test_as_a_non_root_user(world):
    """The sandbox as `nobody` (bubblewrap and the unshare fallback with a user namespace):
    the exploit scores 0, the home directory and environment secrets stay hidden."""
    python = shutil.which("python3", path="/usr/bin:/usr/local/bin:/bin")
    if os.geteuid() != 0:
        pytest.skip("the whole suite already runs as a non-root user")
    if not shutil.which("setpriv") or python is None:
        pytest.skip("needs setpriv and a system python3 to become nobody")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(world["home"]), "PYTHONPATH": str(REPO),
           "R1DATA_TEST_SECRET": SECRET}
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python,
                            "-c", "import r1data.verifiers.code"], env=env, capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot import r1data with {python}: {probe.stderr[-200:]!r}")
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python,
                           "-c", NOBODY_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["uid"] == 65534
    if not report["isolations"]:
        pytest.skip("no isolation works for nobody here")
    for iso, run in report["runs"].items():
        assert run == {"exploit": 0.0, "probe": True, "honest": True}, (iso, run)
    assert not (world["home"] / "pwned").exists()
    assert sys.executable  # the parent test process is unharmed
