"""Mutation testing of the simulation core with cosmic-ray: do the tests catch planted bugs?

    pip install -e '.[mutation]'
    nice -n 15 python benchmarks/mutation.py --seed 3          # every module, 4 sites each (20+ per package)
    python benchmarks/mutation.py --modules twin/core/engine/metrics.py --max-mutants 20
    python benchmarks/mutation.py --modules scenario --max-mutants 15 --seed 2

Each module file of the packages chosen (``engine``, ``scenario``, ``serving``, or any
path under ``twin/core``) gets its own cosmic-ray session in a scratch copy of the
repository (the work tree is never touched). One mutant per mutation site is drawn at
random (seeded per module, so a module's sample does not depend on which others run)
from a set of plausible bugs — ``+``↔``-``, ``*``↔``/``, every comparison swap (``<`` ↔
``<=`` …), ``and``↔``or``, ``not`` added, ``True``↔``False``, a number changed, a loop run
zero times, ``break``↔``continue``, an ``except`` that no longer catches — and at most
``--max-mutants`` sites per file are tried (stratified: every module gets its share).

Which tests run: the *candidate* behavioural tests (``CANDIDATES`` below: never the SVG
snapshots, which a developer re-records, so a snapshot is no kill) run once under coverage (``benchmarks/mutation_map.py``) to learn which tests execute
each line; a mutant then runs exactly the candidate tests that reach its line, fastest
first, stopping at the first failure — seconds per mutant, and a survivor has faced every
candidate test that could see it. A mutant is killed when a test fails, runs 5× over
its expected time, or fails for want of memory (each mutant's tests get 3 GB of address
space: ``mutation_map.MEMORY_CAP``); a line no candidate test runs is reported as "not reached".

It prints, per module and per group, mutants tried / killed / survived / equivalent and
the score (killed ÷ (tried − equivalent)), then every survivor with its line and change.
Survivors judged equivalent (no behaviour can tell them apart) are listed with the reason
in ``benchmarks/mutation_equivalent.txt`` (``path operator `code`  # why``).
``--list`` prints the sites drawn without running anything.
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # mutation_map

#: The candidate behavioural tests: every test file that drives the core in-process (every
#: ``tests/test_mutants_*.py``, the survivors' tests of each session, included by name).
#: Not test_tui_snapshots.py (a re-recorded snapshot is no kill); not the files that drive
#: ``twin`` in a subprocess or over sockets (coverage does not follow them there).
CANDIDATES = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("tests/test_mutants_*.py")) + [
    "tests/test_user_bugs.py", "tests/test_user_bugs_engine.py",
    "tests/test_user_bugs_serving.py", "tests/test_engine.py", "tests/test_engine_physics.py",
    "tests/test_engine_faults.py", "tests/test_engine_lengths.py", "tests/test_engine_sessions.py",
    "tests/test_engine_economics.py", "tests/test_scenario.py", "tests/test_drills.py",
    "tests/test_serving.py", "tests/test_serving_fidelity.py", "tests/test_perf_cli.py",
    "tests/test_summary.py", "tests/test_kpis.py", "tests/test_api.py", "tests/test_commands.py",
    "tests/test_catalog.py", "tests/test_layout.py", "tests/test_compare_cli.py",
    "tests/test_units.py", "tests/test_vocab.py", "tests/test_tui_model.py",
    "tests/test_sweep_plan.py", "tests/test_engine_checkpoint.py", "tests/test_engine_commands.py",
    "tests/test_run_cli.py", "tests/test_hostile_input.py", "tests/test_scenario_library.py",
    "tests/test_engine_kernel.py", "tests/test_metric_units.py", "tests/test_operator_bugs.py",
    "tests/test_queue_wait.py", "tests/test_engine_rows.py", "tests/test_steady_serving.py",
    "tests/test_resume_cli.py", "tests/test_engine_mixed.py",
]  # fmt: skip
#: Left out for time (minutes under load; their kills are not counted): the engine
#: frontier file, the sweeps and the TUI pilot files.
#: The mutants of the numba kernels (kernel.py, power_kernel.py) run their loops as Python
#: (NUMBA_DISABLE_JIT=1), so that the mutated source is what runs and coverage sees their
#: lines (a compiled body records none: every mutant would read "not reached"): slower,
#: hence a smaller candidate set. Every other module keeps the compiled kernels (cached in
#: the scratch copy: ~20 s once per run).
KERNELS = ("twin/core/engine/kernel.py", "twin/core/engine/power_kernel.py")
#: Candidate tests left out for time: each costs 10–30 s of a loaded machine, and a
#: surviving mutant of a line they run would pay it again (they replay shipped drills,
#: run a day across midnight, heat a cooling loop for minutes, fuzz a sweep plan).
DESELECT = [
    "tests/test_drills.py::test_each_drill_rewards_the_reference_and_not_doing_nothing",
    "tests/test_user_bugs.py::test_demand_and_throughput_follow_the_diurnal_curve_across_midnight",
    "tests/test_user_bugs.py::test_overall_expectations_are_judged_on_the_whole_run_not_its_last_instant",
    "tests/test_engine_physics.py::test_a_cap_deeper_than_the_boards_minimum_power_sheds_load_and_says_so",
    "tests/test_tui_model.py::test_a_cooling_loop_failure_is_one_cause_naming_the_racks_it_hit",
    "tests/test_engine_faults.py::test_losing_a_cooling_loop_heats_its_racks_over_minutes_then_throttles_them_and_repair_cools_them",
    "tests/test_sweep_plan.py::test_a_mutated_plan_is_checked_cleanly",
    "tests/test_engine_checkpoint.py::test_a_checkpoint_after_a_swap_restores_the_rebuilt_replicas",
    "tests/test_engine_checkpoint.py::test_a_restored_builtin_layout_with_random_faults_continues_identically",
    "tests/test_run_cli.py::test_another_seed_gives_another_run",
    "tests/test_run_cli.py::test_random_faults_show_up_in_a_long_run",
    "tests/test_run_cli.py::test_same_layout_and_seed_give_a_byte_identical_report",
    "tests/test_run_cli.py::test_the_report_has_summary_series_components_and_events",
    "tests/test_hostile_input.py::test_a_command_that_fails_at_run_time_fails_the_run_and_the_markdown_says_so",
    "tests/test_scenario_library.py::test_a_week_of_random_failures_compressed_into_four_hours",
    "tests/test_scenario_library.py::test_each_short_scenario_runs_as_shipped_and_its_lesson_holds",
    "tests/test_scenario_library.py::test_hopper_to_blackwell_ultra_shortened",
    "tests/test_scenario_library.py::test_without_its_events_a_scenario_fails_the_expectations_about_their_effect",
    "tests/test_engine_commands.py::test_a_demand_surge_raises_arrivals_and_queueing_then_falls_back_after_its_duration",
    "tests/test_engine_commands.py::test_a_drained_rack_falls_back_to_idle_power_once_its_requests_have_finished",
    "tests/test_engine_commands.py::test_a_site_cap_as_a_share_of_the_envelope_brings_facility_power_under_it_within_seconds",
    "tests/test_engine_commands.py::test_a_site_cap_in_megawatts_holds_facility_power_under_it",
    "tests/test_engine_commands.py::test_a_surge_without_a_duration_lasts_until_the_next_surge",
    "tests/test_engine_commands.py::test_facility_power_never_exceeds_a_site_cap_once_it_has_been_reached",
    "tests/test_engine_commands.py::test_faults_off_stops_new_random_faults",
    "tests/test_engine_commands.py::test_random_faults_appear_at_about_published_failure_rates",
    "tests/test_engine_commands.py::test_random_faults_are_deterministic_for_a_seed",
    "tests/test_engine_commands.py::test_scaling_a_deployment_down_leaves_less_capacity_and_scaling_up_restores_it",
    "tests/test_engine_commands.py::test_slo_aware_admission_sheds_under_overload_so_served_requests_fare_better",
    "tests/test_engine_commands.py::test_swap_takes_racks_down_for_the_swap_downtime_then_brings_them_back_on_the_new_gpu",
    "tests/test_engine_commands.py::test_swapping_to_a_bigger_rack_fills_its_new_gpus_with_replicas",
    "tests/test_engine_commands.py::test_switching_faults_off_and_on_again_keeps_the_same_rate",
    # the rows equivalence over every shipped scenario and layout (minutes of CPU); the
    # small factory's (tests/test_mutants_s7.py) and the rows file's unit tests stay
    "tests/test_engine_rows.py::test_every_scenario_reports_the_same_with_rows_as_with_one_row_per_replica",
    "tests/test_engine_rows.py::test_every_shipped_layout_runs_the_same_with_rows_under_random_faults",
    "tests/test_engine_rows.py::test_a_drill_resumed_from_a_checkpoint_with_rows_reports_as_without",
    "tests/test_steady_serving.py::test_each_deployments_output_is_steady_from_tick_to_tick[default]",
    "tests/test_resume_cli.py::test_a_layout_run_with_random_faults_resumes_in_a_new_process",
]  # fmt: skip
KERNEL_CANDIDATES = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("tests/test_mutants_*.py")) + [
    "tests/test_user_bugs_engine.py",
    "tests/test_engine_lengths.py", "tests/test_engine_sessions.py",
    "tests/test_engine_economics.py", "tests/test_queue_wait.py",
]  # fmt: skip
NEVER = {"tests/test_tui_snapshots.py"}
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


def group_for(module: str) -> str:
    """The package a module's score is reported under."""
    for name, g in PACKAGES.items():
        if module.startswith(g + "/"):
            return name
    if module.startswith("twin/core/"):
        return "core"
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
            # __pycache__ stays for numba's cache of the compiled kernels (valid while
            # kernel.py is unmutated: copytree keeps its mtime); .pyc goes, so that a
            # mutant is never shadowed by a stale bytecode file
            ".git",
            "*.pyc",
            ".pytest_cache",
            "*.sqlite",
            "*.egg-info",
            ".mutation",
        ),
    )
    return repo


def env_for(
    repo: Path, jit: bool, mapfile: Path | None = None, nojit_map: Path | None = None
) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("NUMBA_DISABLE_JIT", None)
    if not jit:  # the kernels run as their Python source, so that a mutant of it runs
        env["NUMBA_DISABLE_JIT"] = "1"
    if mapfile is not None:
        env["TWIN_MUTATION_MAPFILE"] = str(mapfile)
    if nojit_map is not None:  # for the lines inside @njit functions (mutation_map.run)
        env["TWIN_MUTATION_NOJIT_MAPFILE"] = str(nojit_map)
    return env


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


def run_module(repo: Path, module: str, args, env: dict[str, str]) -> list[dict]:
    work = repo / ".mutation"
    pristine = work / "pristine" / module
    pristine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo / module, pristine)
    stem = module.replace("/", "_").removesuffix(".py")
    cfg, db = work / f"{stem}.toml", work / f"{stem}.sqlite"
    cfg.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        "timeout = 3600\n"  # mutation_map.py times each mutant's own tests
        "excluded-modules = []\n"
        f'test-command = "{sys.executable} benchmarks/mutation_map.py run {module}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )

    def cosmic_ray(verb: str) -> None:
        subprocess.run(
            ["cosmic-ray", verb, str(cfg), str(db)],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
        )

    cosmic_ray("init")
    keep = sample(db, args.per_module[module], random.Random(f"{args.seed}:{module}"))
    if args.list:
        return [_row(module, it, None) for it in keep]
    cosmic_ray("exec")
    from cosmic_ray.work_db import WorkDB, use_db

    with use_db(str(db), WorkDB.Mode.open) as d:
        return [
            _row(module, it, res)
            for it, res in d.completed_work_items
            if res.worker_outcome != "skipped"
        ]


def _row(module: str, item, result) -> dict:
    m = item.mutations[0]
    change, how = "", ""
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
    if result is not None and result.output:
        out = result.output
        if "NOT REACHED" in out:
            how = "not reached"
        elif "TIMEOUT" in out:
            how = "timeout"
        elif "mutation-map: MEMORY" in out:
            how = "memory"
        else:
            failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))]
            how = failed[0].split(" - ")[0].removeprefix("FAILED ") if failed else ""
    outcome = None if result is None else (result.test_outcome or result.worker_outcome)
    return {
        "module": module,
        "line": m.start_pos[0],
        "op": m.operator_name.removeprefix("core/"),
        "outcome": str(getattr(outcome, "value", outcome)),
        "change": change,
        "how": how,
    }


def _counts(rs: list[dict], eq) -> tuple[int, int, int, int, int]:
    k = sum(r["outcome"] == "killed" for r in rs)
    s = [r for r in rs if r["outcome"] == "survived"]
    e = sum(is_equivalent(r, eq) for r in s)
    nr = sum(r["how"] == "not reached" for r in s)
    return len(rs), k, len(s), e, nr


def _line(name: str, c: tuple[int, int, int, int, int]) -> str:
    n, k, s, e, nr = c
    score = f"{k / (k + s - e):6.0%}" if k + s - e else "     -"
    return f"{name:40} {n:5d} {k:6d} {s:5d} {e:5d} {nr:5d} {score}"


def report(rows: list[dict], eq: list[tuple[str, str, str]]) -> None:
    by_mod, by_group = defaultdict(list), defaultdict(list)
    for r in rows:
        by_mod[r["module"]].append(r)
        by_group[group_for(r["module"])].append(r)
    print(f"\n{'module':40} {'tried':>5} {'killed':>6} {'surv':>5} {'equiv':>5} {'unrch':>5} score")
    for mod in sorted(by_mod):
        print(_line(mod, _counts(by_mod[mod], eq)))
    print()
    for g in sorted(by_group):
        print(_line(f"group {g}", _counts(by_group[g], eq)))
    print(_line("total", _counts(rows, eq)))
    print("score = killed ÷ (killed + survived − equivalent); unrch: survivors no test reaches")
    surv = [r for r in rows if r["outcome"] == "survived"]
    if surv:
        print("\nsurvivors (E = judged equivalent, see benchmarks/mutation_equivalent.txt):")
        for r in sorted(surv, key=lambda r: (r["module"], r["line"])):
            mark = "E" if is_equivalent(r, eq) else " "
            nr = "  [not reached]" if r["how"] == "not reached" else ""
            print(f" {mark} {r['module']}:{r['line']}  {r['op']}  {r['change']}{nr}")
    for how, what in (
        ("timeout", "a timeout (5× the tests' expected time)"),
        ("memory", "the memory cap (a test failed with MemoryError)"),
    ):
        slow = [r for r in rows if r["how"] == how]
        if slow:
            print(f"\n{len(slow)} killed by {what}:")
            for r in slow:
                print(f"   {r['module']}:{r['line']}  {r['op']}  {r['change']}")
    other = [r for r in rows if r["outcome"] not in ("killed", "survived")]
    if other:
        print(f"\n{len(other)} mutant(s) neither killed nor survived (incompetent/errors):")
        for r in other:
            print(f"   {r['module']}:{r['line']}  {r['op']}  {r['outcome']}")


def markdown(rows: list[dict], eq: list[tuple[str, str, str]]) -> str:
    """The per-module and per-package table of ``benchmarks/MUTATION.md``: score = killed ÷
    (tried − not reached − equivalent), a survivor no candidate test reaches counting as
    neither killed nor a miss of the tests (the tool's, to look into)."""
    by_mod, by_group = defaultdict(list), defaultdict(list)
    for r in rows:
        by_mod[r["module"]].append(r)
        by_group[group_for(r["module"])].append(r)

    def line(name: str, rs: list[dict]) -> str:
        n, k, s, e, nr = _counts(rs, eq)
        d = n - nr - e
        score = f"{k}/{d} = {k / d:.0%}" if d else "–"
        return f"| {name} | {n} | {k} | {s - e - nr} | {nr} | {e} | {score} |"

    out = [
        "| module | tried | killed | survived | not reached | equivalent | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    out += [line(m.removeprefix("twin/core/"), by_mod[m]) for m in sorted(by_mod)]
    out += [line(f"**{g}**", by_group[g]) for g in sorted(by_group)]
    out.append(line("**total**", rows))
    return "\n".join(out)


def njit_modules() -> list[str]:
    """Every core module with a numba kernel (``@njit``): coverage sees no line of a
    compiled body, so those lines are mapped by a second run with the kernels as Python."""
    return sorted(
        str(f.relative_to(ROOT))
        for f in (ROOT / "twin" / "core").rglob("*.py")
        if "@njit(" in f.read_text()
    )


def _build_map(repo: Path, source: str, tests, jit: bool, out: Path, args) -> None:
    from mutation_map import build

    wall, failed = build(repo, source, tests, env_for(repo, jit), out, args.deselect)
    n = len(json.loads(out.read_text())["tests"])
    how = "compiled kernels" if jit else "kernels as Python"
    print(f"{source}: map of {n} candidate tests ({how}) in {wall:.0f}s", flush=True)
    for f in failed:
        print(f"   fails unmutated, left out: {f}", flush=True)


def run_all(files: list[str], args) -> list[dict]:
    """Map the candidate tests once (twice when kernels are sampled: compiled, and as
    Python for the lines inside ``@njit`` functions), then run each module's mutants.
    The kernel modules last; a line inside an ``@njit`` function of another module runs
    its tests with the kernels as Python too (``mutation_map.run``)."""
    assert not NEVER & set(CANDIDATES) | NEVER & set(KERNEL_CANDIDATES), "no snapshot kills"
    plain = [m for m in files if m not in KERNELS]
    kern = [m for m in files if m in KERNELS]
    njit = njit_modules()
    repo = scratch_copy()
    try:
        work = repo / ".mutation"
        work.mkdir()
        jit_map, nojit_map = work / "map.json", work / "map-nojit.json"
        if args.list:
            pass
        elif plain and args.map:
            m = json.loads(args.map.read_text())
            stale = [f for f, src in m["sources"].items() if (repo / f).read_text() != src]
            if stale:
                raise SystemExit(f"mutation: --map {args.map} is of another tree ({stale[0]})")
            shutil.copyfile(args.map, jit_map)
            print(f"twin/core: map of {len(m['tests'])} candidate tests from {args.map}")
        elif plain:
            _build_map(repo, "twin/core", CANDIDATES, True, jit_map, args)
            if args.keep_map:
                shutil.copyfile(jit_map, args.keep_map)
        if not args.list and (kern or set(plain) & set(njit)):
            _build_map(repo, ",".join(njit), KERNEL_CANDIDATES, False, nojit_map, args)
        rows: list[dict] = []
        for mods, env in (
            (plain, env_for(repo, True, jit_map, nojit_map)),
            (kern, env_for(repo, False, nojit_map)),
        ):
            for mod in mods:
                t0 = time.perf_counter()
                got = run_module(repo, mod, args, env)
                rows += got
                if args.json:  # after every module, so that a stopped run keeps what it did
                    done = json.loads(args.json.read_text()) if args.json.exists() else []
                    args.json.write_text(json.dumps(done + got, indent=1, ensure_ascii=False))
                if args.list:
                    for r in got:
                        print(f"{r['module']}:{r['line']}  {r['op']}")
                else:
                    k = sum(r["outcome"] == "killed" for r in got)
                    dt = time.perf_counter() - t0
                    print(f"{mod}: {k}/{len(got)} killed in {dt:.0f}s", flush=True)
        return rows
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--modules",
        nargs="+",
        default=["engine", "scenario", "serving"],
        help="packages (engine, scenario, serving) or module files under twin/core",
    )
    ap.add_argument("--max-mutants", type=int, default=4, help="mutation sites tried per file")
    ap.add_argument("--seed", type=int, default=1, help="which sites are drawn")
    ap.add_argument(
        "--min-per-group",
        type=int,
        default=20,
        help="raise the sites per file of a package with few files to reach this many",
    )
    ap.add_argument("--tests", nargs="+", help="candidate test files instead of the default")
    ap.add_argument("--list", action="store_true", help="print the sites drawn, run nothing")
    ap.add_argument("--json", type=Path, help="also write every mutant's outcome here")
    ap.add_argument(
        "--deselect", nargs="*", default=DESELECT, help="candidate tests left out (node ids)"
    )
    ap.add_argument(
        "--map", type=Path, help="reuse the map of a run on this same tree (its map.json)"
    )
    ap.add_argument("--keep-map", type=Path, help="save the map here (for --map)")
    ap.add_argument("--report", type=Path, help="print the report of a --json file, run nothing")
    ap.add_argument(
        "--markdown", action="store_true", help="with --report: MUTATION.md's table instead"
    )
    args = ap.parse_args(argv)
    if args.report:
        rows = json.loads(args.report.read_text())
        if args.markdown:
            print(markdown(rows, load_equivalent()))
        else:
            report(rows, load_equivalent())
        return 0
    if args.json and args.json.exists():
        args.json.unlink()
    if shutil.which("cosmic-ray") is None:
        print(
            "mutation: cosmic-ray is not installed: pip install -e '.[mutation]'", file=sys.stderr
        )
        return 2
    files = module_files(args.modules)
    if args.tests:
        CANDIDATES[:] = KERNEL_CANDIDATES[:] = args.tests
    per_group = defaultdict(int)
    for m in files:
        per_group[group_for(m)] += 1
    args.per_module = {
        m: max(args.max_mutants, -(-args.min_per_group // per_group[group_for(m)])) for m in files
    }
    rows = run_all(files, args)
    if not args.list:
        report(rows, load_equivalent())
    return 0


if __name__ == "__main__":
    sys.exit(main())
