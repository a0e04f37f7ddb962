"""Run untrusted programs (model-written code) with isolation and hard limits.

What it protects against, with bubblewrap (`bwrap`, the default when installed):
- network access: a fresh network namespace with no interfaces;
- writing anywhere but its own work directory: the root filesystem is mounted read-only, /tmp is a
  private tmpfs, and the program runs as `nobody` when we are root;
- reading our secrets: the environment is cleared, a private /proc shows only its own processes,
  and as `nobody` it cannot read root-only files (/root, credentials);
- runaway resources: wall time (we kill it), CPU seconds, address space (memory), number of
  processes (fork bombs), file size, open files and output size (we stop reading and kill);
- leftovers: it runs in its own session and PID namespace; on exit or timeout the whole process
  group is SIGKILLed and the namespace dies with its first process, background children included.

Without bwrap it falls back to `unshare` (network and PID namespaces) plus the same limits: the
filesystem is then writable wherever `nobody` (or the current user) may write. With neither, it
refuses to run code unless the caller passes `allow_unsafe=True` (limits only). `RunResult.isolation`
always says which one was used.

What it does NOT protect against: kernel exploits and container escapes (bwrap is a namespace
sandbox, not a VM); reading world-readable files (the root filesystem is visible read-only);
CPU and memory contention with other work on the machine; side channels. Run untrusted code at
scale inside a VM or a disposable container as well.
"""

from __future__ import annotations

import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def _probe(argv: list[str]) -> bool:
    try:
        kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if _run_as_nobody() else {}
        return subprocess.run(argv + ["true"], capture_output=True, timeout=20, **kwargs,
                              cwd="/").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=1)
def detect_isolation() -> str:
    """The strongest isolation that works here: 'bwrap', 'unshare' or 'none' (cached)."""
    if shutil.which("bwrap") and _probe(["bwrap", "--ro-bind", "/", "/", "--unshare-all",
                                         "--die-with-parent"]):
        return "bwrap"
    if shutil.which("unshare") and _probe(_unshare_prefix()):
        return "unshare"
    return "none"


def _unshare_prefix() -> list[str]:
    user = ["--map-root-user"] if os.geteuid() != 0 or _run_as_nobody() else []
    return ["unshare", *user, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


def _bwrap_prefix(workdir: str) -> list[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8",
           "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--bind", workdir, workdir, "--chdir", workdir,
            "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
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
            raise SandboxUnavailable(
                "no sandbox available (install bubblewrap, or util-linux unshare with user "
                "namespaces); pass allow_unsafe=True / --allow-unsafe-code to run untrusted code "
                "with resource limits only")

    def workdir(self) -> str:
        path = tempfile.mkdtemp(prefix="r1data-sandbox-")
        if _run_as_nobody():
            os.chown(path, NOBODY, NOBODY)
        return path

    def run(self, argv: list[str], *, workdir: str, stdin: bytes = b"",
            limits: Limits | None = None) -> RunResult:
        """Run `argv` inside `workdir` (made by `workdir()`; its files are the program's)."""
        limits = limits or self.limits
        stdin_path = os.path.join(workdir, ".stdin")
        with open(stdin_path, "wb") as fh:
            fh.write(stdin)
        cmd = _limits_prefix(limits, self.base_processes)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        if self.isolation == "bwrap":
            cmd += _bwrap_prefix(workdir)
        elif self.isolation == "unshare":
            cmd += _unshare_prefix()
        cmd += argv
        kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if _run_as_nobody() else {}
        start = time.monotonic()
        with open(stdin_path, "rb") as stdin_fh:
            proc = subprocess.Popen(cmd, stdin=stdin_fh, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=workdir, env=env,
                                    start_new_session=True, **kwargs)
        try:
            out, err, timed_out, limited = _collect(proc, start + limits.wall_s, limits.output_bytes)
        finally:
            _kill_group(proc)
        return RunResult(proc.returncode, out, err, time.monotonic() - start, self.isolation,
                         timed_out, limited)


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
