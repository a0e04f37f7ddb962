"""Run untrusted programs (model-written code) with isolation and hard limits.

What it protects against, with bubblewrap (`bwrap`, the default when installed):
- network access: a fresh network namespace with no interfaces;
- writing anywhere but its own work directory: the root filesystem is mounted read-only, /tmp
  and /dev/shm are private, and the program runs as `nobody` when we are root;
- reading our secrets: the environment is emptied, a private /proc shows only its own processes,
  home directories (/root, /home, $HOME: ~/.ssh, the Hub token), /run and the repository are
  covered by empty tmpfs, and as `nobody` it cannot read root-only files;
- runaway resources: wall time (we kill it), CPU seconds, address space (memory), number of
  processes (fork bombs), file size, open files and output size (we stop reading and kill);
- leftovers: it runs in its own session and PID namespace; on exit or timeout the whole process
  group is SIGKILLed and the namespace dies with its first process, background children included.

Without bwrap, `unshare` gives the same guarantees: fresh mount, network and PID namespaces,
and `code_harness.py contain` remounts every filesystem read-only, mounts private /tmp and
/dev/shm, hides the same paths, empties the environment, then drops to `nobody` (as root) or
drops every capability (in a user namespace) before running the program. When neither works,
it refuses (one line naming `apt-get install bubblewrap` and `--allow-unsafe-code`) unless the
caller passes `allow_unsafe=True` (limits only). `RunResult.isolation` always says which one ran.

Input reaches the program over a pipe: nothing it could seek back over or reread from a file.
`ForkServer` runs many programs in one sandbox: see `code_harness.py` for what each forked child
keeps to itself.

What it does NOT protect against: kernel exploits and container escapes (namespaces, not a VM);
reading world-readable files outside the hidden paths (the system, installed packages); CPU and
memory contention with other work on the machine; side channels. Run untrusted code at scale
inside a VM or a disposable container as well.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from r1data.verifiers.worker_pool import DeadlineReader, IdlePool

NOBODY = 65534
ISOLATIONS = ("bwrap", "unshare", "none")


@dataclass
class Limits:
    """Per-run limits. wall_s: wall-clock seconds before the process group is killed. cpu_s: CPU
    seconds (RLIMIT_CPU). memory_mb: address space (RLIMIT_AS). processes: RLIMIT_NPROC of the
    sandbox user (shared by concurrent runs, so it is generous). output_bytes: stdout + stderr
    kept before the run is stopped. file_bytes: largest file it may write. open_files: RLIMIT_NOFILE."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    processes: int = 512
    output_bytes: int = 4 << 20
    file_bytes: int = 16 << 20
    open_files: int = 256

    def __post_init__(self) -> None:
        if self.wall_s <= 0 or self.cpu_s <= 0 or self.memory_mb < 64 or self.processes < 4:
            raise ValueError(f"limits too small to run anything: {self}")


@dataclass
class RunResult:
    """What a run did. `returncode` is negative for a signal; `timed_out` and `output_limited`
    say that we stopped it."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    wall_s: float
    isolation: str
    timed_out: bool = False
    output_limited: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.output_limited


class SandboxUnavailable(RuntimeError):
    """No isolation is available and the caller did not allow running code without it."""


def _run_as_nobody() -> bool:
    return os.geteuid() == 0


def _readable_by_all(path: str) -> bool:
    """Can `nobody` execute `path` (every parent directory searchable, the file executable)?"""
    p = Path(path).resolve()
    if not p.exists() or not p.stat().st_mode & 0o001:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in p.parents)


@functools.lru_cache(maxsize=1)
def sandbox_python() -> str:
    """The interpreter candidate programs run with: ours when `nobody` can run it, else the
    system's python3 (ours may live under a root-only home directory)."""
    ours = os.path.realpath(sys.executable)
    if not _run_as_nobody() or _readable_by_all(ours):
        return ours
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", shutil.which("python3") or ""):
        if candidate and _readable_by_all(candidate):
            return os.path.realpath(candidate)
    return ours


_HARNESS = Path(__file__).with_name("code_harness.py")
REFUSAL = ("no code sandbox here: install bubblewrap (apt-get install bubblewrap), or pass "
           "--allow-unsafe-code (allow_unsafe=True) to run untrusted code with resource limits only")


@functools.lru_cache(maxsize=1)
def harness_source() -> str:
    return _HARNESS.read_text(encoding="utf-8")


def _as_nobody() -> dict:
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if _run_as_nobody() else {}


def _probe(argv: list[str], as_nobody: bool = True) -> bool:
    try:
        kwargs = _as_nobody() if as_nobody else {}
        return subprocess.run(argv + ["true"], capture_output=True, timeout=20, **kwargs,
                              cwd="/", env={"PATH": "/usr/bin:/bin"}).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=1)
def detect_isolation() -> str:
    """The strongest isolation that works here: 'bwrap', 'unshare' or 'none' (cached)."""
    if shutil.which("bwrap") and _probe(_bwrap_prefix("")):
        return "bwrap"
    if shutil.which("unshare") and _probe(_unshare_prefix(""), as_nobody=False):
        return "unshare"
    return "none"


def available_isolations() -> list[str]:
    """Every isolation that works here, strongest first (the red-team suite runs each)."""
    found = []
    if shutil.which("bwrap") and _probe(_bwrap_prefix("")):
        found.append("bwrap")
    if shutil.which("unshare") and _probe(_unshare_prefix(""), as_nobody=False):
        found.append("unshare")
    return found


def _repo_root() -> str | None:
    root = Path(__file__).resolve().parents[2]
    return str(root) if (root / "r1data").is_dir() and root != Path("/") else None


def hidden_paths() -> list[str]:
    """What a sandboxed program must not see: home directories (~/.ssh, the Hub token),
    /run (service secrets) and this repository (its data holds expected answers)."""
    paths = ["/root", "/home", "/run", os.path.expanduser("~"), _repo_root() or ""]
    out = []
    for path in paths:
        if path and path != "/" and os.path.isdir(path):
            real = os.path.realpath(path)
            if real not in out and not any(real.startswith(p + "/") for p in out):
                out.append(real)
    return [p for p in out if not any(p.startswith(q + "/") for q in out if q != p)]


def shown_paths() -> list[str]:
    """Hidden directories the interpreter needs back (a virtual environment under the repo or
    a home directory), read-only."""
    python = sandbox_python()
    if python != os.path.realpath(sys.executable):
        return []
    hidden = hidden_paths()
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    return sorted(p for p in prefixes if any(p == h or p.startswith(h + "/") for h in hidden))


def _unshare_prefix(workdir: str) -> list[str]:
    user = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
    return ["unshare", *user, "--mount", "--net", "--pid", "--fork", "--kill-child",
            "--mount-proc", sandbox_python(), "-I", "-B", "-c", harness_source(), "contain",
            workdir, *hidden_paths(), "--show", *shown_paths(), "--"]


def _bwrap_prefix(workdir: str) -> list[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir or "/tmp", "LANG": "C.UTF-8",
           "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in hidden_paths():
        args += ["--tmpfs", path, "--remount-ro", path]
    for path in shown_paths():
        args += ["--ro-bind", path, path]
    if workdir:
        args += ["--bind", workdir, workdir, "--chdir", workdir]
    args += ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def _own_processes() -> int:
    """Processes of the current user: RLIMIT_NPROC counts them all, so when the sandbox cannot
    run as `nobody` its process limit comes on top of them."""
    uid, count = str(os.getuid()), 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    count += line.split()[1] == uid
                    break
        except OSError:
            pass
    return count


def _limits_prefix(limits: Limits, base_processes: int = 0) -> list[str]:
    return ["prlimit", f"--cpu={limits.cpu_s}", f"--as={limits.memory_mb << 20}",
            f"--nproc={limits.processes + base_processes}", f"--fsize={limits.file_bytes}",
            f"--nofile={limits.open_files}", "--core=0", "--"]


class Sandbox:
    """Runs commands in a work directory under `isolation` ('auto' picks the strongest).

    Thread-safe: each `run` has its own work directory and processes; many threads may call it
    at once (the waiting happens in the child processes, so threads are enough for parallelism).
    """

    def __init__(self, limits: Limits | None = None, *, isolation: str = "auto",
                 allow_unsafe: bool = False):
        self.limits = limits or Limits()
        self.isolation = detect_isolation() if isolation == "auto" else isolation
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"unknown isolation {isolation!r}; known: auto, {', '.join(ISOLATIONS)}")
        self.base_processes = 0 if _run_as_nobody() else _own_processes()
        if self.isolation == "none" and not allow_unsafe:
            raise SandboxUnavailable(REFUSAL)
        self._servers = IdlePool(lambda: ForkServer(self), alive=ForkServer.alive,
                                 stop=ForkServer.close)

    def workdir(self) -> str:
        path = tempfile.mkdtemp(prefix="r1data-sandbox-")
        if _run_as_nobody():
            os.chown(path, NOBODY, NOBODY)
        return path

    def _command(self, argv: list[str], workdir: str) -> tuple[list[str], dict]:
        """The full command line for `argv` under this isolation, and Popen's user options."""
        if self.isolation == "bwrap":
            return _bwrap_prefix(workdir) + argv, _as_nobody()
        if self.isolation == "unshare":  # starts as root (or maps root); `contain` drops it
            return _unshare_prefix(workdir) + argv, {}
        return argv, _as_nobody()

    def run(self, argv: list[str], *, workdir: str, stdin: bytes = b"",
            limits: Limits | None = None) -> RunResult:
        """Run `argv` inside `workdir` (made by `workdir()`; its files are the program's).
        `stdin` goes through a pipe: the program cannot seek back or find it in a file."""
        limits = limits or self.limits
        cmd, kwargs = self._command(argv, workdir)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.monotonic()
        proc = subprocess.Popen(_limits_prefix(limits, self.base_processes) + cmd,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=workdir, env=env,
                                start_new_session=True, **kwargs)
        feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
        feeder.start()
        try:
            out, err, timed_out, limited = _collect(proc, start + limits.wall_s, limits.output_bytes)
        finally:
            _kill_group(proc)
            feeder.join(timeout=5)
        return RunResult(proc.returncode, out, err, time.monotonic() - start, self.isolation,
                         timed_out, limited)

    # -- many programs, one sandbox ----------------------------------------------------------

    def server(self):
        """A fork server of this sandbox for the caller's exclusive use (started on demand,
        returned to an idle pool afterwards; a broken one is dropped)."""
        return self._servers.worker()

    def close(self) -> None:
        self._servers.close()


def _feed(pipe, data: bytes) -> None:
    try:
        if data:
            pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, OSError):
            pass


class ForkServer:
    """One sandbox whose first process forks a fresh child per job (see `code_harness.py`): the
    sandbox's start-up cost is paid once per worker instead of once per program."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        args = ["serve"] + (["--sweep"] if sandbox.isolation != "none" else [])
        python = [sandbox_python(), "-I", "-B", "-c", harness_source(), *args]
        cmd, kwargs = sandbox._command(python, "")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd="/", start_new_session=True,
                                     env={"PATH": "/usr/local/bin:/usr/bin:/bin",
                                          "LANG": "C.UTF-8"}, **kwargs)
        self.reader = DeadlineReader(self.proc.stdout.fileno())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, job: dict, limits: Limits, stdin: str = "") -> RunResult:
        """Fork one child for `job` (see code_harness); its output comes back as data."""
        header = json.dumps({"limits": {
            "wall_s": limits.wall_s, "cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb,
            "processes": limits.processes + self.sandbox.base_processes,
            "file_bytes": limits.file_bytes, "open_files": limits.open_files,
            "output_bytes": limits.output_bytes}, "stdin": stdin}).encode()
        body = json.dumps(job).encode()
        start = time.monotonic()
        try:
            self.proc.stdin.write(len(header).to_bytes(8, "big") + header
                                  + len(body).to_bytes(8, "big") + body)
            self.proc.stdin.flush()
            reply = self._read_reply(start + limits.wall_s + 30)
        except (OSError, ValueError, TimeoutError) as exc:
            self.close()
            return RunResult(None, b"", f"fork server failed: {exc}".encode(),
                             time.monotonic() - start, self.sandbox.isolation, extra={"results": b""})
        return RunResult(reply["returncode"], base64.b64decode(reply["stdout"]),
                         base64.b64decode(reply["stderr"]), reply["wall_s"], self.sandbox.isolation,
                         reply["timed_out"], reply["output_limited"],
                         extra={"results": base64.b64decode(reply["results"])})

    def _read_reply(self, deadline: float) -> dict:
        try:
            size = int.from_bytes(self.reader.exactly(8, deadline), "big")
            return json.loads(self.reader.exactly(size, deadline))
        except EOFError:
            raise OSError("the fork server ended") from None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.proc.stdout.close()


def _collect(proc: subprocess.Popen, deadline: float, cap: int) -> tuple[bytes, bytes, bool, bool]:
    """Read stdout and stderr until both close, the deadline passes or `cap` bytes came."""
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    total = 0
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            sel.register(stream.fileno(), selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return *_joined(chunks, proc), True, False
            for key, _ in sel.select(min(left, 1.0)):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fd)
                    continue
                chunks[key.fd].append(data)
                total += len(data)
                if total > cap:
                    return *_joined(chunks, proc), False, True
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:  # closed its pipes but kept running
        return *_joined(chunks, proc), True, False
    return *_joined(chunks, proc), False, False


def _joined(chunks: dict[int, list[bytes]], proc: subprocess.Popen) -> tuple[bytes, bytes]:
    return b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return found


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill everything the run started and wait until it is gone.

    The namespace's first process is killed first: the kernel then kills the rest of the PID
    namespace, and bwrap/unshare (our direct child) exits only once it is empty, so a fork
    bomb's last children cannot still hold the process limit when the next run starts."""
    if proc.poll() is None:
        for child in _children(proc.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the session leader's group: anything left over
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        stream.close()
