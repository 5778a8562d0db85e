"""The guard that lets the worker share the engine's own modules with the workflow sandbox.

worker.py passes `workflows`, `domain` and `security` through the sandbox: they are imported once per process
and run with the real `datetime`, `time`, `random`, `os` and `open`, so the sandbox no longer catches a clock
read or an I/O call in them. These tests take that check over by reading the source (an AST scan):

- workflows/ and domain/ call nothing non-deterministic, apart from the policy-file readers in ALLOWED, which
  are cached for the process and read by the worker before it polls;
- the functions of security/ that workflows/ and domain/ import, and whatever those call inside security/,
  call nothing non-deterministic either (the rest of security/ runs in activities, clients and tools);
- no function of the passed-through packages rebinds a module-level name (`global`): one workflow instance's
  state would leak into every other's;
- every package of this project that worker.py passes through is one these tests scan.

The replay tests (tests/replay) are the other half of the guard: they replay recorded histories through the
worker's own sandbox configuration.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import worker

ROOT = Path(__file__).resolve().parents[2]

SCANNED_WHOLE = ("workflows", "domain")
SCANNED_BY_USE = ("security",)

# Calls whose result differs from run to run or from machine to machine: `name.attribute` pairs (by the name
# the module or class is bound to), whole modules, and bare names.
FORBIDDEN_ATTRIBUTES = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "perf_counter_ns"),
    ("time", "process_time"),
    ("time", "sleep"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
    ("os", "environ"),
    ("os", "getenv"),
    ("os", "urandom"),
    ("os", "getpid"),
    ("os", "listdir"),
    ("os", "scandir"),
    ("Path", "cwd"),
    ("Path", "home"),
}
FORBIDDEN_MODULES = {"random", "secrets", "socket", "subprocess", "threading", "multiprocessing", "requests", "httpx"}
FORBIDDEN_NAMES = {"open", "input", "uuid1", "uuid4", "getenv", "urandom", "token_bytes", "token_hex", "randbelow"}
# File-system methods on any object (a Path): I/O the sandbox would have refused.
IO_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "open", "iterdir", "glob", "rglob", "exists"}

# The only non-deterministic calls allowed in workflows/ and domain/: readers of the data files shipped with
# the code, each cached for the process (functools.cache) and warmed before a worker polls (by
# worker.build_worker, or at import: the working-week table), so a workflow only ever reads the cache.
ALLOWED = {
    ("domain/calendar.py", "_working_week_table"),
    ("domain/catalog.py", "policy_sets"),
    ("domain/bloc/policy.py", "bloc_scoring_policies"),
    ("domain/bloc/policy.py", "_rotations"),
}


@dataclass(frozen=True)
class Finding:
    path: str
    function: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}: {self.what}"


def _bound_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def node_findings(node: ast.AST) -> list[str]:
    """What is forbidden in this one node itself (not in its children)."""
    if isinstance(node, ast.Import):
        return [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
    if isinstance(node, ast.ImportFrom):
        found = [f"from {node.module} import"] if (node.module or "").split(".")[0] in FORBIDDEN_MODULES else []
        return found + [f"import {a.name}" for a in node.names if a.name in FORBIDDEN_NAMES]
    if isinstance(node, ast.Attribute):
        base = _bound_name(node.value)
        if (base, node.attr) in FORBIDDEN_ATTRIBUTES or base in FORBIDDEN_MODULES:
            return [f"{base}.{node.attr}"]
        return [f"file-system call .{node.attr}"] if node.attr in IO_METHODS else []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_NAMES:
        return [f"{node.func.id}()"]
    if isinstance(node, ast.Global):
        return [f"global {', '.join(node.names)}"]
    return []


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def scan(tree: ast.AST, path: str) -> list[Finding]:
    """Every finding under `tree`, named by its innermost enclosing function (`<module>` outside any)."""
    owner: dict[int, str] = {}
    for fn in _functions(tree):  # outer functions first (breadth-first), so inner ones overwrite
        for sub in ast.walk(fn):
            owner[id(sub)] = fn.name
    return [
        Finding(path, owner.get(id(node), "<module>"), getattr(node, "lineno", 0), what)
        for node in ast.walk(tree)
        for what in node_findings(node)
    ]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), rel(path))


def module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(trees: Iterable[ast.Module], package: str) -> set[tuple[str, str]]:
    """(module, name) for every `from <package>... import name` in these modules."""
    return {
        (node.module, alias.name)
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == package
        for alias in node.names
    }


def reached_functions(roots: set[tuple[str, str]], package: str) -> dict[tuple[str, str], ast.AST]:
    """The top-level functions and classes of `package` that `roots` name, and those they call in turn (by a
    bare name defined in the same module or imported from another module of the package)."""
    reached: dict[tuple[str, str], ast.AST] = {}
    pending = list(roots)
    while pending:
        module, name = pending.pop()
        if (module, name) in reached:
            continue
        path = module_path(module)
        assert path is not None, f"{module} is imported but not found under {ROOT}"
        tree = parse(path)
        defined = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
        if name not in defined:
            if module_path(f"{module}.{name}") is not None:  # `from security import blind`: all of it
                submodule = parse(module_path(f"{module}.{name}") or ROOT)
                pending += [(f"{module}.{name}", fn.name) for fn in submodule.body if hasattr(fn, "name")]
            continue  # otherwise a constant's name: nothing runs
        node = defined[name]
        reached[(module, name)] = node
        imports = {
            alias.asname or alias.name: (imp.module, alias.name)
            for imp in tree.body
            if isinstance(imp, ast.ImportFrom) and imp.module and imp.module.split(".")[0] == package
            for alias in imp.names
        }
        for call in ast.walk(node):
            if isinstance(call, ast.Name):
                if call.id in defined and call.id != name:
                    pending.append((module, call.id))
                elif call.id in imports:
                    pending.append(imports[call.id])
    return reached


# ---- the scanner finds what it must -----------------------------------------------------------------------


def test_the_scan_finds_each_kind_of_non_deterministic_call() -> None:
    source = """
import random
from uuid import uuid4
def stamp():
    return datetime.now(UTC), time.monotonic(), random.random(), uuid4(), os.environ["X"]
def read(path):
    with open(path) as f:
        return f.read(), Path("x").read_text(), secrets.token_hex(8)
def bump():
    global COUNTER
"""
    found = scan(ast.parse(source), "example.py")
    whats = {(f.function, f.what) for f in found}
    assert ("<module>", "import random") in whats
    assert ("<module>", "import uuid4") in whats
    for what in ("datetime.now", "time.monotonic", "random.random", "uuid4()", "os.environ"):
        assert ("stamp", what) in whats, what
    for what in ("open()", "file-system call .read_text", "secrets.token_hex"):
        assert ("read", what) in whats, what
    assert ("bump", "global COUNTER") in whats


def test_the_scan_passes_the_workflow_apis_and_pure_code() -> None:
    source = """
from datetime import timedelta
def step(state):
    now = workflow.now()
    salt = workflow.random().random()
    ident = workflow.uuid4()
    return now + timedelta(days=1), sorted(state.items()), salt, ident
"""
    assert scan(ast.parse(source), "example.py") == []


# ---- the engine's own modules -------------------------------------------------------------------------------


def test_every_passed_through_package_of_this_project_is_scanned() -> None:
    own = {name for name in worker.PASSTHROUGH_MODULES if (ROOT / name.split(".")[0]).is_dir()}
    assert own == set(SCANNED_WHOLE) | set(SCANNED_BY_USE), (
        f"worker.py passes {sorted(own)} of this project through the sandbox; scan each one here"
    )


def test_workflows_and_domain_call_nothing_non_deterministic() -> None:
    found = [
        finding
        for package in SCANNED_WHOLE
        for path in module_files(package)
        for finding in scan(parse(path), rel(path))
        if (finding.path, finding.function) not in ALLOWED
    ]
    assert not found, "non-deterministic calls in passed-through code:\n" + "\n".join(map(str, found))


def test_the_allowed_file_readers_are_cached_and_warmed_by_the_worker() -> None:
    for path, function in ALLOWED:
        tree = parse(ROOT / path)
        node = next(n for n in _functions(tree) if n.name == function)
        decorators = {_bound_name(d) for d in node.decorator_list}
        assert decorators & {"cache", "lru_cache"}, f"{path}:{function} must be cached for the process"
    build = next(n for n in _functions(parse(ROOT / "worker.py")) if n.name == "build_worker")
    called = {c.func.id for c in ast.walk(build) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    assert {"policy_sets", "warm_bloc_data"} <= called
    warm = next(n for n in _functions(parse(ROOT / "domain/bloc/year_state.py")) if n.name == "warm_bloc_data")
    warmed = {_bound_name(c.func) for c in ast.walk(warm) if isinstance(c, ast.Call)}
    assert {"bloc_scoring_policies", "bloc_rotation"} <= warmed


def test_the_security_functions_workflows_use_call_nothing_non_deterministic() -> None:
    users = [parse(path) for package in SCANNED_WHOLE for path in module_files(package)]
    for package in SCANNED_BY_USE:
        roots = imported_names(users, package)
        reached = reached_functions(roots, package)
        # The ballot session checks ballots with these: the scan must have something to look at.
        assert (f"{package}.blind", "verify") in reached
        found = [
            finding
            for (module, _name), node in sorted(reached.items(), key=lambda item: item[0])
            for finding in scan(node, rel(module_path(module) or ROOT))
        ]
        assert not found, "non-deterministic calls reached from workflows/domain:\n" + "\n".join(map(str, found))
