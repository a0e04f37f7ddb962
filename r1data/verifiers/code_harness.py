"""Runs inside the sandbox (stdlib only): load a candidate program, then run each test.

Read from stdin as JSON: {"nonce", "program", "setup", "tests"}. Each test's result goes to the
original stdout as one line `<nonce> {"i", "ok", "error"}`, then `<nonce> {"done": true}`; the
nonce is never written to a file, so a program that prints fake result lines cannot guess it.

Guards against the usual ways a program fakes a pass:
- exiting before the tests (`sys.exit(0)` raises SystemExit out of the program: reported as a
  load failure; `os._exit(0)` ends the process: no "done" line, so the run fails);
- `SystemExit`/`KeyboardInterrupt` raised inside a test: caught as a failure of that test;
- overriding builtins (`builtins.print = ...`, `__builtins__["abs"] = ...`): tests run with a
  fresh copy of the original builtins; our own reporting holds its functions in locals;
- replacing `sys.stdout`: results go to a duplicate of the original stdout descriptor.
Not guarded: a program that walks interpreter frames to find the nonce, or returns objects
whose `__eq__` always says True. The sandbox around this process contains such programs; their
reward is simply wrong.
"""


def main():
    import builtins
    import json
    import os
    import sys

    job = json.loads(sys.stdin.read())
    sys.stdin = open(os.devnull)
    nonce, dumps, write = job["nonce"], json.dumps, os.write
    out = os.dup(1)
    pristine = dict(vars(builtins))
    base_exception = BaseException

    def report(**data):
        write(out, (nonce + " " + dumps(data) + "\n").encode())

    namespace = {"__name__": "__candidate__", "__builtins__": dict(pristine)}
    for part, source in (("program", job["program"]), ("setup", job.get("setup") or "")):
        try:
            exec(compile(source, f"<{part}>", "exec"), namespace)
        except base_exception as exc:  # SystemExit too: exiting early is not passing
            report(load=part, ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
            return
    for i, test in enumerate(job["tests"]):
        scope = dict(namespace)
        scope["__builtins__"] = dict(pristine)
        try:
            exec(compile(test, f"<test {i}>", "exec"), scope)
            report(i=i, ok=True)
        except base_exception as exc:
            report(i=i, ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    report(done=True)


if __name__ == "__main__":
    main()
