"""``twin check FILE [FILE...]``: validate input files without running anything.

Each file is read once and handed to the checker for its kind, chosen from its top-level
keys (a scenario has ``events`` or ``expect``; anything else is a layout). A valid file
gets one ``FILE: ok — summary`` line on stdout; every mistake in every file is collected
and raised together as one ``InputError`` (the CLI prints ``FILE:LINE: message`` lines on
stderr and exits 2). A built-in layout name (``twin check default``) works too.

To check a new kind of file, add a ``FileKind`` to ``KINDS`` ahead of the layout.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.core.api import (
    SCENARIO_KEYS,
    Catalog,
    YMap,
    layout_from_doc,
    load_catalog,
    load_file,
    resolve_layout_path,
    summary_line,
)
from twin.core.errors import InputError, Problem, TwinError


@dataclass(frozen=True)
class FileKind:
    """One kind of input file: how to recognise its parsed YAML, and how to check it.

    ``check(doc, file, catalog)`` returns a one-line summary or raises ``InputError``.
    """

    name: str
    detect: Callable[[Any], bool]
    check: Callable[[Any, str, Catalog], str]


def _is_scenario(doc: Any) -> bool:
    """As ``twin run`` tells them apart, so check and run never disagree on what a file is."""
    from twin.core.api import is_scenario_doc

    return isinstance(doc, dict) and (any(k in doc for k in SCENARIO_KEYS) or is_scenario_doc(doc))


def _check_scenario(doc: YMap, file: str, catalog: Catalog) -> str:
    from twin.core.api import scenario_from_doc
    from twin.core.units import format_duration

    sc = scenario_from_doc(doc, file, catalog, base_dir=Path(file).parent)
    _must_build(
        sc.layout,
        catalog,
        file,
        doc.line_of("layout") if isinstance(doc, YMap) else 1,
        seed=sc.seed,
        tick_s=sc.tick_s,
    )
    return (
        f"scenario {sc.name}: layout {sc.layout.name}, {format_duration(sc.duration_s)}"
        f"{f' after {format_duration(sc.warmup_s)} warm-up' if sc.warmup_s else ''}, seed {sc.seed}, "
        f"{len(sc.events)} events, {len(sc.expect)} expectations"
        + (_drill_summary(sc.drill) if sc.drill is not None else "")
    )


def _drill_summary(d) -> str:
    def n(k: int, what: str) -> str:
        return f"{k} {what}{'s' if k != 1 else ''}"

    return (
        f"; a drill: {n(len(d.objectives), 'objective')}, {n(len(d.tasks), 'critical task')}, "
        f"{n(len(d.reference), 'reference command')}, {n(len(d.hints), 'hint')}"
    )


def _check_layout(doc: Any, file: str, catalog: Catalog) -> str:
    layout = layout_from_doc(doc, file, catalog)
    line = doc.line_of("deployments") if isinstance(doc, YMap) and "deployments" in doc else 1
    _must_build(layout, catalog, file, line)
    return summary_line(layout, catalog)


def _must_build(
    layout: Any,
    catalog: Catalog,
    file: str,
    line: int,
    seed: int | None = None,
    tick_s: float | None = None,
) -> None:
    """What passes ``check`` must run: build the factory (plan every deployment) as ``run`` would."""
    from twin.core.api import Factory

    try:
        Factory(layout, catalog, seed=seed, tick_s=tick_s)
    except (TwinError, ValueError, OverflowError, MemoryError) as e:
        raise InputError([Problem(file, line, f"would not run: {e}")]) from None


def _is_plan(doc: Any) -> bool:
    from twin.core.api import is_plan_doc

    return is_plan_doc(doc)


def _check_plan(doc: Any, file: str, catalog: Catalog) -> str:
    from twin.core.api import plan_from_doc

    return plan_from_doc(doc, file, catalog).summary_line()


KINDS: list[FileKind] = [
    FileKind("sweep plan", _is_plan, _check_plan),
    FileKind("scenario", _is_scenario, _check_scenario),
    FileKind("layout", lambda doc: True, _check_layout),
]


def check_file(target: str | Path, catalog: Catalog) -> str:
    """``FILE: ok — summary`` for a valid file; raises ``InputError`` (or ``TwinError``
    for a name that is neither a file nor a built-in layout) otherwise."""
    path = resolve_layout_path(target)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())  # a built-in name: show it as the repo path
    doc = load_file(path)
    kind = next(k for k in KINDS if k.detect(doc))
    return f"{path}: ok — {kind.check(doc, str(path), catalog)}"


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog(getattr(args, "catalog", ()) or ())
    problems: list[Problem] = []
    for target in _expand_dirs(args.files):
        try:
            print(check_file(target, catalog), flush=True)
        except InputError as e:
            problems.extend(e.problems)
        except TwinError as e:  # neither a file nor a built-in name: report it with the rest
            problems.append(Problem(str(target), 0, str(e)))
    if problems:
        raise InputError(problems)
    return 0


def _expand_dirs(targets: list[str]) -> list[str]:
    """A directory stands for the YAML files in it."""
    out: list[str] = []
    for t in targets:
        path = Path(t)
        out.extend(
            sorted(str(f) for f in (*path.glob("*.yaml"), *path.glob("*.yml")))
            if path.is_dir()
            else [t]
        )
    return out


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check",
        help="validate layouts, scenarios and sweep plans (or built-in layout names) without running",
        description="Validate layouts, scenarios and sweep plans without running them. Every mistake is reported "
        "as FILE:LINE: message; the exit code is 2 if there is any.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a layout, scenario or sweep plan file, a directory of them, or a built-in layout name",
    )
    p.set_defaults(handler=run)
    return p
