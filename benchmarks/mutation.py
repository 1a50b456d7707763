"""Mutation testing of the simulation core with cosmic-ray: do the tests catch planted bugs?

    pip install -e '.[mutation]'
    python benchmarks/mutation.py                            # engine, scenario, serving
    python benchmarks/mutation.py --modules twin/core/engine/metrics.py --max-mutants 20
    python benchmarks/mutation.py --modules scenario --max-mutants 15 --seed 2

Each module file of the packages chosen (``engine``, ``scenario``, ``serving``, or any
path under ``twin/core``) gets its own cosmic-ray session in a scratch copy of the
repository (the work tree is never touched). One mutant per mutation site is drawn at
random (seeded) from a set of plausible bugs — ``+``↔``-``, ``*``↔``/``, every comparison
swap (``<`` ↔ ``<=`` …), ``and``↔``or``, ``not`` added, ``True``↔``False``, a number
changed, a loop run zero times, ``break``↔``continue``, an ``except`` that no longer
catches — and at most ``--max-mutants`` sites per file are tried. Each mutant runs the
file's *behavioural* test subset (``SUBSETS`` below, fast tests only, stopping at the
first failure); a mutant is killed when a test fails or times out. The SVG snapshot
tests never run here: a developer re-records a snapshot, so a snapshot is no kill.

It prints, per module, mutants tried / killed / survived and the score
(killed ÷ (killed + survived)), then every survivor with its line and its change.
Survivors judged equivalent (no behaviour can tell them apart) are listed with the
reason in ``benchmarks/mutation_equivalent.txt`` (``path operator `code`  # why``) and
are left out of the "non-equivalent" score.

This is slow by nature (a pytest process per mutant, seconds each): sample with
``--max-mutants`` and narrow ``--modules``. ``--list`` prints the sites without running.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Behavioural tests that exercise each package, fast enough to run once per mutant.
#: (test_tui_snapshots is never here: a snapshot is re-recorded, not a kill.)
_ENGINE = [
    "tests/test_mutants_engine.py",
    "tests/test_user_bugs_engine.py",
    "tests/test_user_bugs.py",
    "tests/test_engine.py",
    "tests/test_engine_physics.py",
]
SUBSETS = {
    # every engine module: the fast files only. The slower engine files
    # (test_engine_faults.py, test_engine_commands.py, test_engine_checkpoint.py: minutes
    # each under load) kill more; MUTATION.md counts those kills, planted by hand.
    "twin/core/engine": _ENGINE,
    "twin/core/scenario": [
        "tests/test_mutants_scenario.py",
        "tests/test_user_bugs.py",
        "tests/test_scenario.py",
        "tests/test_drills.py",
    ],
    "twin/core/serving": [
        "tests/test_mutants_serving.py",
        "tests/test_user_bugs_serving.py",
        "tests/test_user_bugs.py",
        "tests/test_serving.py",
        "tests/test_serving_fidelity.py",
        "tests/test_perf_cli.py",
        "tests/test_summary.py",
    ],
    "twin/core": [  # any other core module: the fast behavioural files
        "tests/test_user_bugs.py",
        "tests/test_commands.py",
        "tests/test_catalog.py",
        "tests/test_layout.py",
        "tests/test_engine.py",
        "tests/test_scenario.py",
    ],
}
PACKAGES = {
    "engine": "twin/core/engine",
    "scenario": "twin/core/scenario",
    "serving": "twin/core/serving",
}

#: cosmic-ray operators that model plausible bugs (binary operators: only the swaps a
#: programmer makes, not ``+`` → ``^``, which a type error kills at once).
_BINARY = {
    "Add_Sub", "Add_Mul", "Sub_Add", "Mul_Div", "Mul_Add", "Div_Mul", "Div_FloorDiv",
    "FloorDiv_Div", "Mod_FloorDiv", "Pow_Mul", "BitAnd_BitOr", "BitOr_BitAnd",
}  # fmt: skip
_OTHER = {
    "core/AddNot",
    "core/ExceptionReplacer",
    "core/NumberReplacer",
    "core/ReplaceAndWithOr",
    "core/ReplaceOrWithAnd",
    "core/ReplaceBreakWithContinue",
    "core/ReplaceContinueWithBreak",
    "core/ReplaceFalseWithTrue",
    "core/ReplaceTrueWithFalse",
    "core/ZeroIterationForLoop",
}


def wanted(op: str) -> bool:
    if op.startswith("core/ReplaceBinaryOperator_"):
        return op.removeprefix("core/ReplaceBinaryOperator_") in _BINARY
    if op.startswith("core/ReplaceComparisonOperator_"):
        return "Is" not in op and "In" not in op  # `is`/`in` swaps: mostly type errors
    return op in _OTHER


def subset_for(module: str) -> list[str]:
    for pkg in sorted(SUBSETS, key=len, reverse=True):
        if module.startswith(pkg + "/") or module == pkg:
            return SUBSETS[pkg]
    raise SystemExit(f"mutation: {module} is not under twin/core")


def module_files(specs: list[str]) -> list[str]:
    out: list[str] = []
    for s in specs:
        p = PACKAGES.get(s, s)
        path = ROOT / p
        if path.is_dir():
            out += sorted(
                str(f.relative_to(ROOT)) for f in path.rglob("*.py") if f.name != "__init__.py"
            )
        elif path.suffix == ".py" and path.exists():
            out.append(p)
        else:
            raise SystemExit(
                f"mutation: no module or package {s!r} (e.g. engine, scenario, serving)"
            )
    return out


def load_equivalent() -> list[tuple[str, str, str]]:
    """``(module, operator, code)`` of each survivor judged equivalent: a mutant matches
    when its module and operator are the same and its original line, stripped, is
    ``code`` (so a judgment survives the line moving). Lines of the file:
    ``path operator `code`  # why``."""
    path = ROOT / "benchmarks" / "mutation_equivalent.txt"
    eq = []
    if path.exists():
        for n, raw in enumerate(path.read_text().splitlines(), 1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            m = re.match(r"^(\S+)\s+(\S+)\s+`(.+?)`\s+#\s*(.+)$", raw)
            if m is None:
                raise SystemExit(f"{path.name}:{n}: expected 'path operator `code`  # why'")
            eq.append((m[1], m[2], m[3]))
    return eq


def is_equivalent(row: dict, eq: list[tuple[str, str, str]]) -> bool:
    original = row["change"].partition("  →  ")[0]
    return any(
        row["module"] == mod and row["op"] == op and original == code for mod, op, code in eq
    )


def scratch_copy() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="twin-mutation-"))
    repo = tmp / "repo"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(
            ".git", "__pycache__", ".pytest_cache", "*.sqlite", "*.egg-info"
        ),
    )
    return repo


def pytest_cmd(tests: list[str]) -> str:
    # one process (-n 0): a mutant's run is short, and xdist's workers would each import
    # the package again
    return f"{sys.executable} -m pytest -x -q -n 0 -p no:cacheprovider -p no:randomly " + " ".join(
        tests
    )


def env_for(repo: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # numba-compiled kernels run as their Python source, so that a mutant of it runs
    env["NUMBA_DISABLE_JIT"] = "1"
    return env


def baseline(repo: Path, tests: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(
        pytest_cmd(tests).split(), cwd=repo, env=env_for(repo), capture_output=True, text=True
    )
    if r.returncode != 0:
        tail = "\n".join(r.stdout.splitlines()[-15:])
        raise SystemExit(f"mutation: the unmutated tests fail, fix them first:\n{tail}")
    return time.perf_counter() - t0


def inert_spans(src: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where a mutation changes nothing that runs: type annotations (never evaluated under
    ``from __future__ import annotations``) and decorators (``frozen=True``: no test can
    tell a frozen dataclass that nobody mutates from one that could be)."""
    import ast

    spans = []
    for node in ast.walk(ast.parse(src)):
        parts = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            parts.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            parts += node.decorator_list
            if not isinstance(node, ast.ClassDef) and node.returns is not None:
                parts.append(node.returns)
        spans += [
            ((p.lineno, p.col_offset), (p.end_lineno, p.end_col_offset))
            for p in parts
            if p.end_lineno is not None
        ]
    return spans


def sample(db_path: Path, max_mutants: int, rng: random.Random) -> list:
    """Keep one wanted mutant per site, at most ``max_mutants`` sites; skip the rest."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(db_path), WorkDB.Mode.open) as db:
        items = list(db.pending_work_items)
        sites = defaultdict(list)
        src = (
            (db_path.parent.parent / items[0].mutations[0].module_path).read_text() if items else ""
        )
        inert = inert_spans(src)
        for it in items:
            m = it.mutations[0]
            if wanted(m.operator_name) and not any(a <= m.start_pos <= b for a, b in inert):
                sites[(m.start_pos, m.end_pos)].append(it)
        keys = sorted(sites)
        rng.shuffle(keys)
        keep = [
            rng.choice(sorted(sites[k], key=lambda i: i.mutations[0].operator_name))
            for k in keys[:max_mutants]
        ]
        kept = {it.job_id for it in keep}
        skip = [it.job_id for it in items if it.job_id not in kept]
        db.set_multiple_results(skip, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        return keep


def run_module(repo: Path, module: str, args, rng: random.Random) -> list[dict]:
    tests = subset_for(module)
    work = repo / ".mutation"
    work.mkdir(exist_ok=True)
    stem = module.replace("/", "_").removesuffix(".py")
    cfg, db = work / f"{stem}.toml", work / f"{stem}.sqlite"
    cfg.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {args.timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{pytest_cmd(tests)}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )
    env = env_for(repo)
    subprocess.run(["cosmic-ray", "init", str(cfg), str(db)], cwd=repo, env=env, check=True)
    keep = sample(db, args.max_mutants, rng)
    if args.list:
        return [_row(module, it, None) for it in keep]
    subprocess.run(["cosmic-ray", "exec", str(cfg), str(db)], cwd=repo, env=env, check=True)
    from cosmic_ray.work_db import WorkDB, use_db

    with use_db(str(db), WorkDB.Mode.open) as d:
        return [
            _row(module, it, res)
            for it, res in d.completed_work_items
            if res.worker_outcome != "skipped"
        ]


def _row(module: str, item, result) -> dict:
    m = item.mutations[0]
    change = ""
    if result is not None and result.diff:
        minus = [
            ln[1:].strip()
            for ln in result.diff.splitlines()
            if ln.startswith("-") and not ln.startswith("---")
        ]
        plus = [
            ln[1:].strip()
            for ln in result.diff.splitlines()
            if ln.startswith("+") and not ln.startswith("+++")
        ]
        change = f"{minus[0] if minus else ''}  →  {plus[0] if plus else ''}"
    outcome = None if result is None else (result.test_outcome or result.worker_outcome)
    return {
        "module": module,
        "line": m.start_pos[0],
        "op": m.operator_name.removeprefix("core/"),
        "outcome": str(getattr(outcome, "value", outcome)),
        "change": change,
    }


def report(rows: list[dict], eq: list[tuple[str, str, str]]) -> None:
    by_mod = defaultdict(list)
    for r in rows:
        by_mod[r["module"]].append(r)
    print(f"\n{'module':44} {'tried':>5} {'killed':>6} {'surv':>5} {'equiv':>5} {'score':>6}")
    tot = defaultdict(int)
    for mod in sorted(by_mod):
        rs = by_mod[mod]
        k = sum(r["outcome"] == "killed" for r in rs)
        s = [r for r in rs if r["outcome"] == "survived"]
        e = sum(is_equivalent(r, eq) for r in s)
        score = k / (k + len(s) - e) if k + len(s) - e else float("nan")
        print(f"{mod:44} {len(rs):5d} {k:6d} {len(s):5d} {e:5d} {score:6.0%}")
        tot["tried"] += len(rs)
        tot["killed"] += k
        tot["surv"] += len(s)
        tot["eq"] += e
    k, s, e = tot["killed"], tot["surv"], tot["eq"]
    if k + s:
        print(
            f"{'total':44} {tot['tried']:5d} {k:6d} {s:5d} {e:5d} {k / (k + s - e):6.0%}"
            f"   (raw {k / (k + s):.0%}: killed ÷ (killed + survived))"
        )
    surv = [r for r in rows if r["outcome"] == "survived"]
    if surv:
        print("\nsurvivors (E = judged equivalent, see benchmarks/mutation_equivalent.txt):")
        for r in sorted(surv, key=lambda r: (r["module"], r["line"])):
            mark = "E" if is_equivalent(r, eq) else " "
            print(f" {mark} {r['module']}:{r['line']}  {r['op']}  {r['change']}")
    other = [r for r in rows if r["outcome"] not in ("killed", "survived")]
    if other:
        print(f"\n{len(other)} mutant(s) neither killed nor survived (incompetent/errors):")
        for r in other:
            print(f"   {r['module']}:{r['line']}  {r['op']}  {r['outcome']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--modules",
        nargs="+",
        default=["engine", "scenario", "serving"],
        help="packages (engine, scenario, serving) or module files under twin/core",
    )
    ap.add_argument("--max-mutants", type=int, default=10, help="mutation sites tried per file")
    ap.add_argument("--seed", type=int, default=1, help="which sites are drawn")
    ap.add_argument("--timeout", type=float, default=0, help="per mutant (default: 3× baseline)")
    ap.add_argument("--list", action="store_true", help="print the sites drawn, run nothing")
    args = ap.parse_args(argv)
    if shutil.which("cosmic-ray") is None:
        print(
            "mutation: cosmic-ray is not installed: pip install -e '.[mutation]'", file=sys.stderr
        )
        return 2
    files = module_files(args.modules)
    repo = scratch_copy()
    rng = random.Random(args.seed)
    rows: list[dict] = []
    timed: dict[tuple[str, ...], float] = {}
    try:
        for mod in files:
            tests = tuple(subset_for(mod))
            if not args.list and tests not in timed:
                timed[tests] = baseline(repo, list(tests))
                print(f"baseline {timed[tests]:.0f}s: {' '.join(tests)}", flush=True)
            if not args.timeout:
                args.timeout = 0  # per subset below
            run_args = argparse.Namespace(**vars(args))
            run_args.timeout = args.timeout or max(60.0, 3 * timed.get(tests, 20.0))
            t0 = time.perf_counter()
            got = run_module(repo, mod, run_args, rng)
            rows += got
            if args.list:
                for r in got:
                    print(f"{r['module']}:{r['line']}  {r['op']}")
            else:
                print(f"{mod}: {len(got)} mutants in {time.perf_counter() - t0:.0f}s", flush=True)
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    if not args.list:
        report(rows, load_equivalent())
    return 0


if __name__ == "__main__":
    sys.exit(main())
