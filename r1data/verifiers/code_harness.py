"""Runs inside the sandbox (stdlib only, started as `python -I -B -c <this file> MODE ...`).

Three modes:
- `serve [--sweep]`: the fork server. It reads jobs from fd 0 (a pipe from the trusted parent),
  and for each one forks a fresh child that runs the candidate, then answers on fd 1 with what
  the child did: exit status, stdout, stderr and the child's result records, all as data. It
  never parses a job's program or tests (they stay bytes in one buffer that is zeroed once the
  child has it), never runs candidate code itself, and is not dumpable, so a child of the same
  user can neither trace it nor open its descriptors through /proc.
- `contain WORKDIR HIDE... --show SHOW... -- ARGV`: the `unshare` fallback's set-up, run as root of fresh mount,
  network and PID namespaces: read-only root, private /tmp and /dev/shm, hidden home directories
  and repository, then drop to `nobody` (or drop every capability) and exec ARGV with an empty
  environment.

What a forked child still has, although it shares the server's sandbox: its own session and
process group, its own rlimits (CPU seconds, address space, processes, file size, open files),
a fresh private directory under the sandbox's own /tmp as cwd, HOME and TMPDIR, an empty pipe as
stdin (nothing seekable, no job file) and fresh pipes for output. After it ends, every other
process in the sandbox's PID namespace is killed (fork bombs, daemons that called setsid) and
/tmp and /dev/shm are emptied, so the next candidate inherits nothing from its siblings.

The child's job (JSON) is {"kind": "asserts" | "script", "program", "setup", "bind", "holes",
"tests", "nonce"}:
- asserts: load program and setup, then evaluate each hole (a CALL expression cut out of a test
  by `code_split.py`) and write its value, encoded as plain data, to fd 3; then run the `tests`
  that could not be split (in-process checks) and write ok/error for each. Expected values of
  split tests never reach this process: the comparison happens in the trusted parent.
- script: run the program as `__main__` with the case's input on stdin (stdin/stdout tests; the
  parent compares the output).
"""

import os
import sys

# -- plain-data encoding (the child writes it, code_split.decode reads it) ---------------------


def _make_encoder():
    """An encoder bound to the real builtin types, made before any candidate code runs. Only
    values whose type is exactly a builtin are data; anything else (a custom class, a subclass
    of int or str, an object with a lying __eq__) raises TypeError and the test fails. Counter,
    OrderedDict and defaultdict compare like dicts with a dict: they are read with dict.items."""
    import collections

    none, boolean, integer, real, cplx, text, raw = type(None), bool, int, float, complex, str, bytes
    seq, tup, st, fst, rng = list, tuple, set, frozenset, range
    dict_items, list_iter = dict.items, list.__iter__
    dict_like = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)
    float_hex, to_hex = float.hex, hex

    def encode(value, depth=0):
        if depth > 200:
            raise TypeError("nested too deeply")
        kind = type(value)
        if kind is none:
            return ["N"]
        if kind is boolean:
            return ["B", value]
        if kind is integer:
            return ["I", to_hex(value)]
        if kind is real:
            return ["F", float_hex(value)]
        if kind is text:
            return ["S", value]
        if kind is cplx:
            return ["C", float_hex(value.real), float_hex(value.imag)]
        if kind is raw:
            return ["Y", value.hex()]
        if kind is seq or kind is tup or kind is st or kind is fst:
            tag = "L" if kind is seq else "T" if kind is tup else "E" if kind is st else "Z"
            return [tag, [encode(item, depth + 1) for item in
                          (list_iter(value) if kind is seq else value)]]
        if kind in dict_like:
            return ["D", [[encode(k, depth + 1), encode(v, depth + 1)]
                          for k, v in dict_items(value)]]
        if kind is rng:
            return ["R", to_hex(value.start), to_hex(value.stop), to_hex(value.step)]
        raise TypeError(f"not plain data: {kind.__module__}.{kind.__qualname__}")

    return encode


# -- the child ---------------------------------------------------------------------------------


def _child_asserts(job, encode):
    import builtins
    import json

    pristine = dict(vars(builtins))
    base_exception = BaseException
    dumps, write, nonce, results = json.dumps, os.write, job["nonce"], 3
    text, typename = str, type

    def emit(record):
        write(results, (nonce + " " + dumps(record) + "\n").encode())

    def describe(exc):
        return f"{typename(exc).__name__}: {text(exc)[:300]}"

    namespace = {"__name__": "__candidate__", "__builtins__": dict(pristine)}
    for part, source in (("program", job["program"]), ("setup", job.get("setup") or "")):
        try:
            exec(compile(source, f"<{part}>", "exec"), namespace)
        except base_exception as exc:  # SystemExit too: exiting early is not passing
            emit({"load": part, "error": describe(exc)})
            return
    for alias, target in (job.get("bind") or {}).items():
        namespace[alias] = namespace.get(target)
    for h, expr in enumerate(job.get("holes") or []):
        scope = dict(namespace)
        scope["__builtins__"] = dict(pristine)
        try:
            value = eval(compile(expr, f"<hole {h}>", "eval"), scope)
        except base_exception as exc:
            emit({"h": h, "error": describe(exc)})
            continue
        try:
            emit({"h": h, "v": encode(value)})
        except (TypeError, RecursionError, ValueError) as exc:
            emit({"h": h, "error": f"not plain data ({text(exc)[:200]})"})
    for i, test in enumerate(job.get("tests") or []):
        scope = dict(namespace)
        scope["__builtins__"] = dict(pristine)
        try:
            exec(compile(test, f"<test {i}>", "exec"), scope)
            emit({"t": i, "ok": True})
        except base_exception as exc:
            emit({"t": i, "ok": False, "error": describe(exc)})
    emit({"done": True})


def _child_script(job):
    import io
    import traceback

    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False))
    sys.argv = ["main.py"]
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    code = 0
    try:
        exec(compile(job["program"], "main.py", "exec"), namespace)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
    except BaseException:
        code = code or 1
    os._exit(code)


def _child(buf, header, tmp, encode):
    import json
    import resource

    os.chdir(tmp)
    for key in list(os.environ):
        del os.environ[key]
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp,
                       "LANG": "C.UTF-8"})
    limits = header["limits"]
    for name, value in (("RLIMIT_CPU", limits["cpu_s"]), ("RLIMIT_AS", limits["memory_mb"] << 20),
                        ("RLIMIT_NPROC", limits["processes"]), ("RLIMIT_FSIZE", limits["file_bytes"]),
                        ("RLIMIT_NOFILE", limits["open_files"]), ("RLIMIT_CORE", 0)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(getattr(resource, name))
            resource.setrlimit(getattr(resource, name), (min(value, hard), hard))
    job = json.loads(bytes(buf))
    memoryview(buf)[:] = bytes(len(buf))
    if job["kind"] == "script":
        _child_script(job)
    else:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
        _child_asserts(job, encode)
    os._exit(0)


# -- the fork server ---------------------------------------------------------------------------


def _read_exact(fd, n, into=None):
    buf = into if into is not None else bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = os.readv(fd, [view[got:n]])
        if k == 0:
            return None
        got += k
    return buf


def _dumpable(flag):
    """PR_SET_DUMPABLE: the server is not (a child of the same user can then neither trace it
    nor open /proc/<server>/fd or mem); each child is again, so its own /proc/self works."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, flag, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _sweep(me):
    """Kill every other process this user may signal in the sandbox's PID namespace, and reap."""
    import signal

    for _ in range(200):
        try:
            os.kill(-1, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (me, 1)]
        if not others:
            return


def _clean(paths):
    import shutil

    for base in paths:
        try:
            entries = os.listdir(base)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(base, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


class _ChildStreams:
    """The server's ends of a child's pipes: stdin fed without blocking, stdout, stderr and the
    result records (fd 3) collected up to `cap` bytes in all."""

    def __init__(self, pipes, stdin, cap):
        import fcntl

        for name, (r, w) in pipes.items():
            os.close(r if name == "stdin" else w)
        self.stdin_w = pipes["stdin"][1]
        self.readers = {pipes[n][0]: n for n in ("stdout", "stderr", "results")}
        for fd in [self.stdin_w, *self.readers]:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self.pending = memoryview(stdin.encode())
        self.chunks = {n: [] for n in self.readers.values()}
        self.total, self.cap = 0, cap
        if not len(self.pending):
            self._close_stdin()

    def _close_stdin(self):
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None

    def feed(self):
        try:
            self.pending = self.pending[os.write(self.stdin_w, self.pending[:1 << 16]):]
        except BlockingIOError:
            pass
        except BrokenPipeError:  # the program stopped reading: the rest is not wanted
            self.pending = self.pending[:0]
        if not len(self.pending):
            self._close_stdin()

    def read(self, fd):
        """Take what `fd` has: True when data came, None when none is there yet, False once it
        is closed (or broken)."""
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return None
        except OSError:
            return False
        if not data:
            del self.readers[fd]
            os.close(fd)
            return False
        self.chunks[self.readers[fd]].append(data)
        self.total += len(data)
        return True

    @property
    def limited(self):
        return self.total > self.cap

    def drain(self):
        """What was written before the end, bounded, then every descriptor closed."""
        for fd in list(self.readers):
            while not self.limited and fd in self.readers and self.read(fd) is True:
                pass
            if fd in self.readers:
                os.close(fd)
        self._close_stdin()

    def encoded(self):
        import base64

        return {name: base64.b64encode(b"".join(parts)[:self.cap]).decode()
                for name, parts in self.chunks.items()}


def _fork_child(pipes, buf, header, tmp, encode):
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            for fd, name, end in ((0, "stdin", 0), (1, "stdout", 1), (2, "stderr", 1), (3, "results", 1)):
                os.dup2(pipes[name][end], fd, inheritable=True)
            os.closerange(4, 1 << 16)
            _dumpable(1)
            _child(buf, header, tmp, encode)
        finally:
            os._exit(70)
    return pid


def _wait(pid, streams, deadline):
    """(exit status or None, timed out): pump the child's pipes until it ends, its time runs
    out or its output passes the cap."""
    import select
    import time

    pidfd = os.pidfd_open(pid)
    status = None
    try:
        while status is None and not streams.limited:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, True
            writers = [streams.stdin_w] if streams.stdin_w is not None else []
            ready_r, ready_w, _ = select.select([pidfd, *streams.readers], writers, [], min(left, 1.0))
            if ready_w:
                streams.feed()
            for fd in ready_r:
                if fd == pidfd:
                    _, status = os.waitpid(pid, 0)
                else:
                    streams.read(fd)
        return status, False
    finally:
        os.close(pidfd)


def _run_one(header, buf, sweep, encode, me):
    import signal
    import tempfile
    import time

    limits = header["limits"]
    tmp = tempfile.mkdtemp(prefix="run-", dir="/tmp")
    os.chmod(tmp, 0o700)
    pipes = {name: os.pipe() for name in ("stdin", "stdout", "stderr", "results")}
    start = time.monotonic()
    pid = _fork_child(pipes, buf, header, tmp, encode)
    memoryview(buf)[:] = bytes(len(buf))
    streams = _ChildStreams(pipes, header.get("stdin", ""), limits["output_bytes"])
    status, timed_out = _wait(pid, streams, start + limits["wall_s"])
    limited = streams.limited
    wall = time.monotonic() - start
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if status is None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    if sweep:
        _sweep(me)
    streams.drain()
    _clean([tmp] + (["/tmp", "/dev/shm"] if sweep else []))
    if not sweep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
            "output_limited": limited and not timed_out, "wall_s": wall, **streams.encoded()}


def serve(sweep):
    import json

    _dumpable(0)
    encode = _make_encoder()
    import importlib

    for name in ("collections", "functools", "heapq", "itertools", "math", "re", "string"):
        importlib.import_module(name)  # imported once here, every forked child inherits them
    inp, out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    me = os.getpid()
    while True:
        head = _read_exact(inp, 8)
        if head is None:
            return
        header = json.loads(bytes(_read_exact(inp, int.from_bytes(head, "big"))))
        size = _read_exact(inp, 8)
        buf = _read_exact(inp, int.from_bytes(size, "big"))
        reply = json.dumps(_run_one(header, buf, sweep, encode, me)).encode()
        del buf
        os.write(out, len(reply).to_bytes(8, "big"))
        view = memoryview(reply)
        while len(view):
            view = view[os.write(out, view):]


# -- the unshare fallback's set-up -------------------------------------------------------------

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_NOATIME, MS_NODIRATIME, MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = (
    1024, 2048, 16384, 1 << 18, 1 << 21, 1 << 24)
_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
          "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}


def contain(workdir, hide, show, argv):
    """Read-only root, private /tmp and /dev/shm, hidden `hide` paths (home directories, the
    repository) with `show` paths (the interpreter) bound back, WORKDIR writable, then exec ARGV
    as `nobody` (real root) or without any capability (user namespace), environment emptied."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source, target, fstype, flags, data=None):
        if libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                      flags, data and data.encode()) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {target}: {os.strerror(err)}")

    # descriptors on what must stay reachable: they still name the real directories once
    # tmpfs covers their parents
    keep = {path: os.open(path, os.O_PATH) for path in [workdir, *show] if path}
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for target in ["/tmp", "/dev/shm", *hide]:
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1g")
    for path, fd in keep.items():
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
    writable = {"/tmp", "/dev/shm", workdir}
    with open("/proc/self/mountinfo") as fh:
        mounts = [line.split() for line in fh]
    for fields in mounts:
        point = fields[4].encode().decode("unicode_escape")
        if point in writable or point.startswith("/proc"):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in fields[5].split(","):
            flags |= _FLAGS.get(option, 0)
        try:
            mount(None, point, None, flags)
        except OSError:
            if not point.startswith(("/sys", "/dev")):
                raise
    if os.getuid() == 0 and _real_root():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    else:
        for cap in range(64):
            libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP: exec'd programs get no capability
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    os.chdir(workdir or "/tmp")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir or "/tmp", "TMPDIR": "/tmp",
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    os.execvpe(argv[0], argv, env)


def _real_root():
    """True when uid 0 here is the machine's root (no user namespace maps it)."""
    with open("/proc/self/uid_map") as fh:
        return fh.read().split()[:3] == ["0", "0", "4294967295"]


def main(args):
    if args[0] == "serve":
        serve("--sweep" in args)
    elif args[0] == "contain":
        split, show = args.index("--"), args.index("--show")
        contain(args[1], args[2:show], args[show + 1:split], args[split + 1:])
    else:
        raise SystemExit(f"unknown mode {args[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
