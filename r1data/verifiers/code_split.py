"""Split assert tests so that the verdict is decided outside the candidate's process.

    plan = split_tests(["assert f(2) == 4", "for x in y: assert f(x)"])
    plan.holes   -> ["f(2)"]                  the only code the sandboxed child evaluates
    plan.tests   -> [Split(...), InProcess(0)] one entry per test, in order
    verdicts = judge(plan, values, in_process)  (values: what the child returned, as data)

A test of the form `assert CALL == EXPECTED`, `assert CALL`, `assert not CALL`,
`assert abs(CALL - X) <= tol`, `assert math.isclose(CALL, X, ...)` (and, more generally, any
single assert built from comparisons, `not`/`and`/`or`, `abs`, `math.isclose` and arithmetic
around sub-expressions) is split: every sub-expression that is not a trusted constant becomes a
"hole" that the child evaluates and returns as plain data; the constants (EXPECTED, X, tol) are
read here with `ast.literal_eval` (plus set/frozenset/tuple/list/float(...) of literals and
math.pi/inf/e/nan) and never sent to the child. The comparison runs here, on values decoded to
exact builtin types, so it has Python's semantics for plain data (1 == 1.0 == True, a list is
not a tuple, NaN is not equal to itself, big integers exact) and no candidate code runs in it.
A value that is not plain data (a custom object, a subclass of int or str) fails the test.

Anything else (several statements, loops, assignments) is checked in-process by the child; the
verdict's details say which mode each test used (`split` or `in_process`).
"""

from __future__ import annotations

import ast
import json
import math
import operator
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

SPLIT, IN_PROCESS = "split", "in_process"
_CONSTANT_CALLS = {"set": set, "frozenset": frozenset, "tuple": tuple, "list": list,
                   "float": float, "int": int, "complex": complex, "str": str, "dict": dict,
                   "bytes": bytes, "range": range}
_MATH_CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan, "tau": math.tau}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv}
_NUMBER = (int, float, complex, bool)


class _NotConstant(Exception):
    pass


def constant(node: ast.AST) -> Any:
    """The value of a trusted constant expression, or raise _NotConstant. Never runs code:
    literals, and a few pure constructors of literals."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "math" and node.attr in _MATH_CONSTANTS:
        return _MATH_CONSTANTS[node.attr]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = constant(node.operand)
        if isinstance(value, _NUMBER):
            return -value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _CONSTANT_CALLS and not node.keywords and len(node.args) <= 1:
        args = [constant(a) for a in node.args]
        if args and node.func.id in ("float", "int", "complex") and not isinstance(args[0], (str, *_NUMBER)):
            raise _NotConstant
        return _CONSTANT_CALLS[node.func.id](*args)
    raise _NotConstant


@dataclass
class Split:
    """One split test: `expr` is the assert's condition with holes replaced by `_Hole` nodes."""
    expr: ast.AST
    holes: list[int]
    asserts: int = 1
    mode: str = SPLIT


@dataclass
class InProcess:
    """One test the child runs itself (index into the plan's in-process tests)."""
    index: int
    asserts: int = 1
    mode: str = IN_PROCESS


@dataclass
class Plan:
    holes: list[str] = field(default_factory=list)
    in_process: list[str] = field(default_factory=list)
    tests: list[Split | InProcess] = field(default_factory=list)

    def share_split(self) -> tuple[int, int]:
        """(asserts checked outside the candidate, all asserts)."""
        return (sum(t.asserts for t in self.tests if t.mode == SPLIT),
                sum(t.asserts for t in self.tests))


class _Hole(ast.expr):
    _fields = ("index",)


def _is_isclose(node: ast.AST) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Attribute) and func.attr == "isclose"
            and isinstance(func.value, ast.Name) and func.value.id == "math") or \
        (isinstance(func, ast.Name) and func.id == "isclose")


def _cut(node: ast.AST, holes: list[str], sources: list[int]) -> ast.AST:
    """The structure the comparer evaluates, with everything else cut out as holes."""
    try:
        constant(node)
        return node
    except _NotConstant:
        pass
    except Exception:  # a literal that fails to build (unhashable in a set): the child decides
        pass
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE or isinstance(op, (ast.Is, ast.IsNot))
                                             for op in node.ops):
        if any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops) and not all(
                isinstance(c, ast.Constant) and c.value in (None, True, False)
                for c in node.comparators):
            return _hole(node, holes, sources)
        return ast.Compare(_cut(node.left, holes, sources), node.ops,
                           [_cut(c, holes, sources) for c in node.comparators])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        return ast.UnaryOp(node.op, _cut(node.operand, holes, sources))
    if isinstance(node, ast.BoolOp):
        return ast.BoolOp(node.op, [_cut(v, holes, sources) for v in node.values])
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        return ast.BinOp(_cut(node.left, holes, sources), node.op, _cut(node.right, holes, sources))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "abs" \
            and len(node.args) == 1 and not node.keywords:
        return ast.Call(node.func, [_cut(node.args[0], holes, sources)], [])
    if _is_isclose(node) and len(node.args) == 2 and all(
            k.arg in ("rel_tol", "abs_tol") for k in node.keywords):
        try:
            keywords = [ast.keyword(k.arg, ast.Constant(float(constant(k.value))))
                        for k in node.keywords]
        except (_NotConstant, TypeError, ValueError):
            return _hole(node, holes, sources)
        return ast.Call(node.func, [_cut(a, holes, sources) for a in node.args], keywords)
    return _hole(node, holes, sources)


def _hole(node: ast.AST, holes: list[str], sources: list[int]) -> ast.AST:
    holes.append(ast.unparse(node))
    sources.append(len(holes) - 1)
    return _Hole(len(holes) - 1)


def _count_asserts(tree: ast.AST) -> int:
    return max(1, sum(isinstance(n, ast.Assert) for n in ast.walk(tree)))


_PARSE_LOCK = threading.Lock()


def _parse(source: str) -> ast.Module | None:
    """ast.parse, one thread at a time: CPython 3.11's AST conversion keeps its recursion depth
    per interpreter, and concurrent parses from threads (verify_code_many) raise SystemError."""
    try:
        with _PARSE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _add_assert(plan: Plan, statement: ast.Assert) -> None:
    holes: list[str] = []
    sources: list[int] = []
    expr = _cut(statement.test, holes, sources)
    offset = len(plan.holes)
    plan.holes += holes
    plan.tests.append(Split(_shift(expr, offset), [offset + i for i in sources]))


def _shift(expr: ast.AST, offset: int) -> ast.AST:
    for node in ast.walk(expr):
        if isinstance(node, _Hole):
            node.index += offset
    return expr


def split_tests(tests: list[str]) -> Plan:
    """A plan for a list of assert strings (MBPP style): one entry per test, in order."""
    plan = Plan()
    for test in tests:
        tree = _parse(test)
        if tree is not None and len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
            _add_assert(plan, tree.body[0])
        else:
            plan.tests.append(InProcess(len(plan.in_process), _count_asserts(tree) if tree else 1))
            plan.in_process.append(test)
    return plan


def split_humaneval(test: str, entry_point: str) -> tuple[Plan, str]:
    """A plan for a HumanEval test module (`def check(candidate): ...`), and the setup code the
    child runs after the program (the module without `check`, plus the imports `check` makes
    before its first other statement). The leading asserts of `check` are split (with
    `candidate` bound to the entry point); from the first other statement on, the rest of
    `check` runs in-process as one test."""
    tree = _parse(test)
    check = None
    if tree is not None:
        check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"
                      and len(n.args.args) == 1 and not n.decorator_list), None)
    if check is None:
        plan = Plan(in_process=[test + f"\ncheck({entry_point})\n"])
        plan.tests.append(InProcess(0, _count_asserts(tree) if tree else 1))
        return plan, ""
    # no-ops (docstrings, `pass`, a bare `print`) are dropped; imports of the test's own go to
    # the setup, which the child runs before evaluating the holes
    body = [s for s in check.body if not (isinstance(s, ast.Expr) and isinstance(
        s.value, (ast.Constant, ast.Name))) and not isinstance(s, ast.Pass)]
    arg = check.args.args[0].arg
    imports = []
    plan = Plan()
    rest = 0
    while rest < len(body) and arg == "candidate" and isinstance(
            body[rest], (ast.Assert, ast.Import, ast.ImportFrom)):
        if isinstance(body[rest], ast.Assert):
            _add_assert(plan, body[rest])
        else:
            imports.append(body[rest])
        rest += 1
    setup = ast.unparse(ast.Module([n for n in tree.body if n is not check] + imports, []))
    if rest < len(body):
        remainder = ast.FunctionDef(check.name, check.args, body[rest:], [], None, None)
        source = ast.unparse(ast.fix_missing_locations(ast.Module([remainder], [])))
        plan.tests.append(InProcess(len(plan.in_process), _count_asserts(ast.Module(body[rest:], []))))
        plan.in_process.append(source + f"\ncheck({entry_point})\n")
    return plan, setup


# -- the trusted comparer ---------------------------------------------------------------------


def decode(data: Any) -> Any:
    """Rebuild a value the child encoded (code_harness._make_encoder) as exact builtin types."""
    tag = data[0]
    if tag == "N":
        return None
    if tag == "B":
        return bool(data[1])
    if tag == "I":
        return int(data[1], 16)
    if tag == "F":
        return float.fromhex(data[1])
    if tag == "S":
        if not isinstance(data[1], str):
            raise ValueError("bad string")
        return data[1]
    if tag == "C":
        return complex(float.fromhex(data[1]), float.fromhex(data[2]))
    if tag == "Y":
        return bytes.fromhex(data[1])
    if tag in "LTEZ":
        items = [decode(x) for x in data[1]]
        return {"L": list, "T": tuple, "E": set, "Z": frozenset}[tag](items)
    if tag == "D":
        return {decode(k): decode(v) for k, v in data[1]}
    if tag == "R":
        return range(int(data[1], 16), int(data[2], 16), int(data[3], 16))
    raise ValueError(f"unknown tag {tag!r}")


class _Failed(Exception):
    pass


def _evaluate(node: ast.AST, values: dict[int, Any]) -> Any:
    if isinstance(node, _Hole):
        if node.index not in values:
            raise _Failed("no value")
        value = values[node.index]
        if isinstance(value, _Failed):
            raise value
        return value
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, right_node in zip(node.ops, node.comparators):
            right = _evaluate(right_node, values)
            if isinstance(op, ast.Is):
                ok = left is right
            elif isinstance(op, ast.IsNot):
                ok = left is not right
            else:
                ok = _COMPARE[type(op)](left, right)
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not value
        if not isinstance(value, _NUMBER):
            raise _Failed("not a number")
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BoolOp):
        result = None
        for item in node.values:
            result = _evaluate(item, values)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if not isinstance(left, _NUMBER) or not isinstance(right, _NUMBER):
            raise _Failed("arithmetic on something other than numbers")
        return _ARITH[type(node.op)](left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "abs":
        value = _evaluate(node.args[0], values)
        if not isinstance(value, _NUMBER):
            raise _Failed("abs of something other than a number")
        return abs(value)
    if isinstance(node, ast.Call) and _is_isclose(node):
        a, b = (_evaluate(x, values) for x in node.args)
        if not all(isinstance(x, (int, float, bool)) for x in (a, b)):
            raise _Failed("isclose of something other than real numbers")
        return math.isclose(a, b, **{k.arg: k.value.value for k in node.keywords})
    return constant(node)


def judge_split(test: Split, values: dict[int, Any]) -> tuple[bool, str]:
    """(passed, error) of one split test, from the decoded hole values (or _Failed errors)."""
    try:
        return bool(_evaluate(test.expr, values)), ""
    except _Failed as exc:
        return False, str(exc)[:300]
    except (TypeError, ValueError, ArithmeticError, RecursionError, MemoryError, OverflowError) as exc:
        return False, f"{type(exc).__name__}: {str(exc)[:300]}"


def read_results(raw: bytes, nonce: str, holes: int, in_process: int) -> tuple[dict, dict, str, bool]:
    """Parse the child's result records: (hole values or _Failed, in-process ok/error, load
    error, done). Records are data: a malformed, duplicated or out-of-range record means
    someone else wrote to the channel, and everything fails."""
    values: dict[int, Any] = {}
    checks: dict[int, tuple[bool, str]] = {}
    load_error, done = "", False
    prefix = nonce + " "
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith(prefix):
            continue
        try:
            record = json.loads(line[len(prefix):])
            if not isinstance(record, dict):
                raise ValueError("not a record")
            if record.get("done") is True:
                done = True
            elif "load" in record:
                load_error = f"{record['load']}: {record.get('error', '')}"[:500]
            elif "h" in record:
                h = record["h"]
                if type(h) is not int or not 0 <= h < holes or h in values:
                    raise ValueError("bad hole record")
                values[h] = (_Failed(str(record["error"])[:300]) if "error" in record
                             else decode(record["v"]))
            elif "t" in record:
                t = record["t"]
                if type(t) is not int or not 0 <= t < in_process or t in checks:
                    raise ValueError("bad test record")
                checks[t] = (record.get("ok") is True, str(record.get("error", ""))[:300])
        except (ValueError, KeyError, TypeError, IndexError, RecursionError, OverflowError) as exc:
            return {}, {}, f"tampered result channel ({exc})"[:300], False
    return values, checks, load_error, done
