"""Which tests reach which line: the test selection behind ``benchmarks/mutation.py``.

A mutant can only change behaviour if its line runs, so each mutant runs only the tests
that execute the mutated line — measured once per module group by running the group's
candidate tests under coverage, one coverage *context* per test — fastest first, stopping
at the first failure. That keeps a mutant to seconds without weakening the subset: every
candidate test that could see the bug runs (a surviving mutant has run all of them).

Three things make the map err on the side of running more tests, never fewer:

- a fixture wider than one test (module or session scope) is recorded in its own context,
  and a line it runs selects every test that uses that fixture;
- a mutated line inside a multi-line statement selects the tests of the whole statement
  (of its header, for ``if``/``for``/``def``/``class``);
- a line run only at import time (a constant, a default argument, a class body) selects
  the tests that run any line, in any measured module, naming what it defines (and what
  is defined at import time from that, transitively); every candidate test when it
  defines no name.

Used three ways: as a pytest plugin (``-p benchmarks.mutation_map``, active when
``TWIN_MUTATION_MAP`` names the JSON file to write), by ``mutation.py`` to build the map,
and as the per-mutant test command (``python benchmarks/mutation_map.py run MODULE``,
run by cosmic-ray in the scratch copy with the module already mutated).
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

IMPORT = "<import>"
#: one process, no plugins the candidate tests do not use: pytest's own start-up is then
#: under a second of CPU instead of nearly three (snapshot, benchmark, hypothesis plugins)
PYTEST = [
    "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:xdist", "-p", "no:xdist.looponfail",
    "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:textual-snapshot",
    "-p", "no:syrupy", "-p", "no:benchmark", "-p", "no:hypothesispytest",
]  # fmt: skip  # the context of lines run outside any test (collection, imports)

# -- the pytest plugin ---------------------------------------------------------------

_state: dict = {"tests": {}, "fixtures": {}, "ctx": IMPORT}


def _switch(ctx: str) -> None:
    import coverage

    cov = coverage.Coverage.current()
    if cov is not None:
        cov.switch_context(ctx)
    _state["ctx"] = ctx


def _active() -> bool:
    return bool(os.environ.get("TWIN_MUTATION_MAP"))


def pytest_sessionstart(session) -> None:
    if _active():
        _switch(IMPORT)


def pytest_collection_modifyitems(session, config, items) -> None:
    if _active():
        for it in items:
            _state["tests"][it.nodeid] = {"fixtures": list(it.fixturenames), "s": 0.0, "ok": True}


def _wrapper(fn):
    import pytest

    return pytest.hookimpl(hookwrapper=True)(fn)


def _runtest_protocol(item, nextitem):
    if not _active():
        yield
        return
    _switch(item.nodeid)
    yield
    _switch(IMPORT)


def _fixture_setup(fixturedef, request):
    if not _active() or fixturedef.scope == "function":
        yield
        return
    before = _state["ctx"]
    ctx = f"fixture|{fixturedef.baseid}|{fixturedef.argname}"
    _switch(ctx)
    t0 = time.perf_counter()
    yield
    _state["fixtures"][ctx] = time.perf_counter() - t0
    _switch(before)


try:  # only when pytest imports this file as a plugin
    pytest_runtest_protocol = _wrapper(_runtest_protocol)
    pytest_fixture_setup = _wrapper(_fixture_setup)
except ImportError:  # pragma: no cover - pytest missing: `run` below still works
    pass


def pytest_runtest_logreport(report) -> None:
    if _active() and report.nodeid in _state["tests"]:
        t = _state["tests"][report.nodeid]
        t["s"] += report.duration
        if report.failed:
            t["ok"] = False


def pytest_sessionfinish(session, exitstatus) -> None:
    if _active():
        out = {"tests": _state["tests"], "fixtures": _state["fixtures"]}
        Path(os.environ["TWIN_MUTATION_MAP"]).write_text(json.dumps(out))


# -- building the map ----------------------------------------------------------------


def build(
    repo: Path,
    source: str,
    tests: list[str],
    env: dict[str, str],
    out: Path,
    deselect: list[str] = (),
) -> tuple[float, list[str]]:
    """Run ``tests`` once under coverage of ``source`` (a package, or module paths joined
    by commas) and write
    ``out``: per module, per line, the contexts that ran it; per test, its duration and
    fixtures. Returns the wall time and the tests that failed unmutated."""
    data_file = out.with_suffix(".coverage")
    tests_json = out.with_suffix(".tests.json")
    env = dict(env, TWIN_MUTATION_MAP=str(tests_json))
    cmd = [
        sys.executable, "-m", "coverage", "run", f"--data-file={data_file}",
        (
            "--include=" + ",".join(f"*/{s}" for s in source.split(","))
            if source.endswith(".py")
            else f"--source={source}"
        ),
        *PYTEST, "-p", "benchmarks.mutation_map", *tests,
        *(f"--deselect={d}" for d in deselect),
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if not tests_json.exists():
        raise SystemExit(f"mutation: the map run of {source} did not finish: {' '.join(cmd)}")
    meta = json.loads(tests_json.read_text())
    import coverage

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    lines: dict[str, dict[int, list[str]]] = {}
    for f in data.measured_files():
        rel = str(Path(f).resolve().relative_to(repo.resolve()))
        by_line = data.contexts_by_lineno(f)
        lines[rel] = {n: sorted(c or IMPORT for c in cs) for n, cs in by_line.items()}
    failed = [n for n, t in meta["tests"].items() if not t["ok"]]
    sources = {rel: (repo / rel).read_text() for rel in lines}
    out.write_text(json.dumps({"lines": lines, **meta, "candidates": tests, "sources": sources}))
    return wall, failed


# -- choosing the tests of one mutant ------------------------------------------------


def changed_lines(original: str, mutated: str) -> set[int]:
    """Line numbers (in ``original``) that the mutation changed."""
    a, b = original.splitlines(), mutated.splitlines()
    out: set[int] = set()
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag != "equal":
            out.update(range(i1 + 1, max(i2, i1 + 1) + 1))
    return out


def statement_lines(src: str, line: int) -> set[int]:
    """The lines of the innermost statement holding ``line`` (its header if compound)."""
    best = None
    for node in ast.walk(ast.parse(src)):
        inside = isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or line)
        if inside and (best is None or node.lineno >= best.lineno):
            best = node
    if best is None:
        return {line}
    end = best.end_lineno or best.lineno
    body = getattr(best, "body", None)
    if isinstance(body, list) and body:
        first = body[0].lineno
        end = max(best.lineno, first - 1) if line < first else end
    return set(range(best.lineno, end + 1)) | {line}


def _defined_names(src: str, lines: set[int]) -> set[str]:
    """Names bound by the module-level statements (or class bodies) on ``lines``, and
    the functions whose defaults or decorators are on them."""
    out: set[str] = set()
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        span = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            header = set(range(node.lineno, node.body[0].lineno))
            if header & lines:
                out.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and span & lines:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                out |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out


def _users(m: dict, names: set[str]) -> set[str]:
    """Contexts of every measured line, in any module, that mentions one of ``names``
    (a constant or default is read where its name is used), following names defined at
    import time from them (``B = A * 2``) until nothing new appears."""
    import re

    seen: set[str] = set()
    ctxs: set[str] = set()
    todo = set(names)
    sources = m.get("sources", {})
    while todo:
        seen |= todo
        pat = re.compile(r"\b(" + "|".join(map(re.escape, sorted(todo))) + r")\b")
        todo = set()
        for mod, src in sources.items():
            lines = src.splitlines()
            per_line = m["lines"].get(mod, {})
            hit = {n for n, text in enumerate(lines, 1) if pat.search(text)}
            for n in hit:
                cs = per_line.get(str(n), [])
                ctxs.update(c for c in cs if c != IMPORT)
            imp = {n for n in hit if IMPORT in per_line.get(str(n), [])}
            todo |= _defined_names(src, imp) - seen
    return ctxs


def select(m: dict, module: str, original: str, mutated: str) -> tuple[list[str], str]:
    """The candidate tests that run a mutated line, fastest first, and why."""
    per_line = m["lines"].get(module, {})
    ctxs: set[str] = set()
    changed = changed_lines(original, mutated)
    for ln in changed:
        for s in statement_lines(original, ln):
            ctxs.update(per_line.get(str(s), []))
    tests = m["tests"]
    why = "{} test(s) run the line"
    if IMPORT in ctxs:
        ctxs.discard(IMPORT)
        names = _defined_names(original, changed)
        if names and m.get("sources"):
            ctxs |= _users(m, names)
            why = "import-time line: {} test(s) run a line naming " + ", ".join(sorted(names))
        else:
            ctxs |= set(tests)
            why = "import-time line: every candidate test ({})"
    chosen = {c for c in ctxs if c in tests}
    for c in ctxs:
        if c.startswith("fixture|"):
            _, base, name = c.split("|", 2)
            chosen |= {n for n, t in tests.items() if n.startswith(base) and name in t["fixtures"]}
    # a test deselected in the map run is collected but never runs (no duration)
    chosen = {n for n in chosen if tests[n]["ok"] and tests[n]["s"] > 0}
    return sorted(chosen, key=lambda n: (tests[n]["s"], n)), why.format(len(chosen))


def njit_lines(src: str) -> set[int]:
    """The lines of the functions compiled by numba (decorated ``@njit(...)``)."""
    out: set[int] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FunctionDef) and any(
            "njit" in ast.unparse(d) for d in node.decorator_list
        ):
            out.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return out


#: Address space allowed to one mutant's test process: an unmutated candidate test process
#: stays well under it (numba and numpy included); a mutant that loops allocating (seed 7's
#: ``factory.py:160`` reached 10 GB on a shared machine) fails with MemoryError instead.
MEMORY_CAP = 3 << 30


def _cap_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(module: str) -> int:
    """cosmic-ray's test command: run the tests that reach the mutated lines of ``module``.
    A mutant inside an ``@njit`` function is mapped (and run) with the kernels as Python,
    the only way coverage sees its line (``TWIN_MUTATION_NOJIT_MAPFILE``)."""
    work = Path(".mutation")
    original = (work / "pristine" / module).read_text()
    mutated = Path(module).read_text()
    env = dict(os.environ)
    mapfile = env["TWIN_MUTATION_MAPFILE"]
    nojit = env.get("TWIN_MUTATION_NOJIT_MAPFILE")
    if nojit and Path(nojit).exists() and changed_lines(original, mutated) & njit_lines(original):
        mapfile = nojit
        env["NUMBA_DISABLE_JIT"] = "1"
        print("mutation-map: inside a numba kernel: run with the kernels as Python")
    m = json.loads(Path(mapfile).read_text())
    chosen, why = select(m, module, original, mutated)
    print(f"mutation-map: {why}", flush=True)
    if not chosen:
        print("mutation-map: NOT REACHED (no candidate test runs this line)")
        return 0
    fixtures = {c: s for c, s in m["fixtures"].items()}
    expect = sum(m["tests"][n]["s"] for n in chosen) + sum(fixtures.values())
    limit = max(60.0, 5 * expect + 30)
    cmd = [sys.executable, *PYTEST, "-x", *chosen]
    try:
        r = subprocess.run(
            cmd, timeout=limit, capture_output=True, text=True, env=env, preexec_fn=_cap_memory
        )
    except subprocess.TimeoutExpired:
        print(f"mutation-map: TIMEOUT after {limit:.0f}s (expected {expect:.0f}s)")
        return 1
    if r.returncode and "MemoryError" in r.stdout + r.stderr:
        # over the cap: a test failed with MemoryError: a kill, as a timeout is (the user
        # would see the run eat the machine), marked so that the report says which
        print(f"mutation-map: MEMORY over {MEMORY_CAP >> 30} GB")
    failed = [ln for ln in r.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    print("\n".join(failed[:3]) or r.stdout[-400:])
    return r.returncode


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2]))
    sys.exit("usage: python benchmarks/mutation_map.py run MODULE  (used by mutation.py)")
