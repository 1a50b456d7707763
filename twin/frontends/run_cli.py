"""``twin run``: a headless run as fast as the machine allows, with a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin.core.api import (
    Factory,
    Recorder,
    kpis,
    limits,
    load_catalog,
    load_layout,
    report,
    to_json,
)
from twin.core.errors import TwinError
from twin.core.units import format_duration, format_metric, parse_duration_s
from twin.frontends import markdown, run_checkpoints

EXIT_OK, EXIT_FAILED = 0, 1

DEFAULT_DURATION = "1h"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a layout or scenario headless, as fast as possible, and report",
        description="Run a factory or a scenario headless as fast as the machine allows; print a summary "
        "and write a JSON report. A scenario exits 0 when every expectation held, 1 when one failed.",
    )
    p.add_argument(
        "target",
        metavar="TARGET",
        help="a scenario file, a layout file or a built-in layout (default, hopper-hall, blackwell-ultra, hyperscale)",
    )
    p.add_argument(
        "--for",
        dest="duration",
        default=None,
        metavar="DURATION",
        help=f"simulated time to run a layout, e.g. 30m, 2h, 1d (default {DEFAULT_DURATION}; a scenario sets its own)",
    )
    p.add_argument("--markdown", metavar="FILE.md", help="write a human-readable report here")
    p.add_argument("--seed", type=int, help="random seed (default: the layout's)")
    p.add_argument("--report", metavar="FILE.json", help="write the JSON report here")
    p.add_argument("--faults", action="store_true", help="random faults at published failure rates")
    p.add_argument(
        "--tick",
        metavar="DURATION",
        help="simulated time per engine step (default: the layout's, 1s); "
        "coarser is faster for long what-ifs, at the cost of queueing detail",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--reference",
        action="store_true",
        help="a drill: play its reference response (what an expert does) and score it",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        metavar="AT=FILE",
        help="write an exact checkpoint at simulated time AT from the run's start (after warm-up) and go on; "
        "'twin resume FILE' continues it (repeatable)",
    )
    p.set_defaults(handler=run)


def _out_path(value: str | None, flag: str) -> Path | None:
    out = Path(value) if value else None
    if out is not None and not out.parent.exists():
        raise TwinError(f"run: {flag}: folder {out.parent} does not exist")
    return out


def _write(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise TwinError(f"run: cannot write {path}: {e.strerror or e}") from None


def scenario_doc(target: str):
    """The parsed document when ``target`` is a scenario file, else None."""
    from twin.core.api import is_scenario_doc, load_file

    p = Path(target)
    if not p.is_file():
        return None
    doc = load_file(p)
    return doc if is_scenario_doc(doc) else None


def run(args: argparse.Namespace) -> int:
    if args.seed is not None:
        limits.option(args.seed, None, limits.SEED, "run: --seed")
    out = _out_path(args.report, "--report")
    md = _out_path(args.markdown, "--markdown")
    sdoc = scenario_doc(args.target)
    if sdoc is not None:
        if args.duration is not None or args.tick or args.faults:
            raise TwinError(
                "run: a scenario sets its own duration, tick and faults; drop --for/--tick/--faults"
            )
        return run_scenario(args, sdoc, out, md)
    if args.reference:
        raise TwinError(f"run: --reference: {args.target} is not a drill (a scenario file)")
    duration = limits.option(
        args.duration or DEFAULT_DURATION, parse_duration_s, limits.DURATION, "run: --for"
    )
    tick = (
        limits.option(args.tick, parse_duration_s, limits.TICK, "run: --tick")
        if args.tick
        else None
    )
    catalog = load_catalog(args.catalog)
    layout = load_layout(args.target, catalog)
    too_long = limits.check_ticks(duration, tick or layout.tick_s or 1.0)
    if too_long:
        raise TwinError(f"run: {too_long}")
    checkpoints = run_checkpoints.parse_checkpoints(args.checkpoint, duration)
    factory = Factory(layout, catalog, seed=args.seed, faults=args.faults, tick_s=tick)
    rec = Recorder(factory, duration)
    show = not args.quiet and sys.stderr.isatty()
    context = run_checkpoints.run_context(
        args,
        "layout",
        seed=factory.seed,
        tick_s=factory.dt,
        duration_s=duration,
        faults=bool(args.faults),
    )
    run_checkpoints.advance_layout(
        rec, duration, checkpoints, context, lambda r, t: _advance(r, t, show)
    )
    doc = report(rec, duration_s=duration, faults=bool(args.faults))
    _write(out, to_json(doc))
    _write(md, markdown.render(doc))
    print_summary(
        doc, f"{layout.name} · {format_duration(duration)} simulated · seed {factory.seed}"
    )
    for path in (out, md):
        if path is not None:
            print(f"report: {path}")
    return 0


def run_scenario(args: argparse.Namespace, sdoc, out: Path | None, md: Path | None) -> int:
    from twin.core.api import scenario_from_doc

    catalog = load_catalog(args.catalog)
    sc = scenario_from_doc(sdoc, args.target, catalog, base_dir=Path(args.target).parent)
    checkpoints = run_checkpoints.parse_checkpoints(args.checkpoint, sc.duration_s)
    extra = reference_steps(sc, args.reference)
    hooks = run_checkpoints.scenario_hooks(
        checkpoints, run_checkpoints.run_context(args, "scenario", reference=bool(args.reference))
    )
    show = not args.quiet and sys.stderr.isatty()
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(sc.name),
            BarColumn(),
            TextColumn("{task.fields[clock]}"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("run", total=sc.duration_s, clock="0s")
            doc = play(
                sc,
                catalog,
                args.seed,
                lambda t, total: bar.update(task, completed=t, clock=format_duration(t)),
                hooks,
                extra,
            )
    else:
        doc = play(sc, catalog, args.seed, at=hooks, extra=extra)
    mark_reference(doc, sc, catalog, args.seed, bool(args.reference))
    _write(out, to_json(doc))
    _write(md, markdown.render(doc))
    print_summary(
        doc,
        f"{sc.name} · {sc.layout.name} · {format_duration(sc.duration_s)} simulated · seed {doc['seed']}",
    )
    print_verdicts(doc)
    print_score(doc)
    for path in (out, md):
        if path is not None:
            print(f"report: {path}")
    return EXIT_OK if doc["status"] == "passed" else EXIT_FAILED


def play(sc, catalog, seed: int | None = None, on_step=None, at=(), extra=()) -> dict:
    """Play a parsed scenario headless and return its report: the one runner that
    ``twin run`` and every run of ``twin sweep`` share (``extra``: commands played
    besides the scenario's, e.g. a drill's reference response)."""
    from twin.core.api import Runner, scenario_report

    return scenario_report(Runner(sc, catalog, seed=seed, extra=extra).run(on_step, at=at))


def reference_steps(sc, wanted: bool) -> tuple:
    """The drill's reference response as (time, command) pairs, when ``--reference`` asks."""
    if not wanted:
        return ()
    if sc.drill is None or not sc.drill.reference:
        raise TwinError(f"run: --reference: {sc.file} has no 'reference' response to play")
    return tuple((s.at_s, s.command) for s in sc.drill.reference)


def mark_reference(doc: dict, sc, catalog, seed: int | None, reference: bool) -> None:
    """A drill's report says whether it played the reference response; if not, what the
    reference scores on the same seed (the debrief compares against it)."""
    from twin.core.api import Runner

    if reference:
        doc["reference"] = True
    elif sc.drill is not None and sc.drill.reference:
        ref = Runner(sc, catalog, seed=seed, extra=reference_steps(sc, True)).run()
        doc["drill"]["reference_score"] = ref.drill["score"]


def print_score(doc: dict) -> None:
    """A drill's score and each critical task's outcome, after the verdicts."""
    d = doc.get("drill")
    if d is None:
        return
    from rich.console import Console

    con = Console()
    lost = " · ".join(f"{k} −{v:g}" for k, v in d["breakdown"].items() if v)
    who = "the reference response" if doc.get("reference") else "this run"
    con.print(f"[bold]score {d['score']:g} / 100[/] ({who}{'; lost: ' + lost if lost else ''})")
    for t in d["tasks"]:
        when = "" if t["done_at_s"] is None else f" at {format_duration(t['done_at_s'])}"
        con.print(f"  {_OUTCOME.get(t['outcome'], '·')} {t['outcome']}{when}: {t['task']}")


_OUTCOME = {"on time": "✔", "late": "◷", "missed": "✘", "not cued": "–"}


def print_verdicts(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if doc.get("aborted"):
        con.print(f"[bold red]✘ aborted:[/] {doc['aborted']}")
    if not doc["expectations"]:
        for c in doc.get("commands", ()):
            if not c.get("ok", True):
                con.print(
                    f"[bold red]✘ command failed[/] at {format_duration(c['t_s'])}: {c['do']}: {c['result']}"
                )
        return
    t = Table(title="expectations", title_justify="left")
    for c in ("", "expectation", "observed", "when", "by"):
        t.add_column(
            c,
            justify="right" if c in ("observed", "when", "by") else "left",
            no_wrap=c in ("", "expectation"),  # the condition reads whole; figures may wrap
        )
    for e in doc["expectations"]:
        mark = {"passed": "[green]✔ held[/]", "failed": "[bold red]✘ FAILED[/]"}.get(
            e["status"], "– not evaluated"
        )
        obs = e["observed"]
        t.add_row(
            mark,
            e["expect"],
            format_metric(e.get("metric", ""), obs),
            "" if e["at_s"] is None else format_duration(e["at_s"]),
            "" if e["by"] is None else format_metric(e.get("metric", ""), e["by"]),
        )
    con.print(t)
    for c in doc.get("commands", ()):
        if not c.get("ok", True):
            con.print(
                f"[bold red]✘ command failed[/] at {format_duration(c['t_s'])}: {c['do']}: {c['result']}"
            )
    failed = [e for e in doc["expectations"] if e["status"] == "failed"]
    con.print(
        "[green]every expectation held[/]"
        if not failed and not doc.get("aborted")
        else f"[bold red]{len(failed)} of {len(doc['expectations'])} expectations failed[/]"
    )
    if doc.get("failed_commands"):
        con.print(
            f"[bold red]{doc['failed_commands']} scripted command(s) failed: the run fails[/]"
        )


def _advance(rec: Recorder, duration: float, show: bool) -> None:
    if not show:
        rec.run_until(rec.start_s + duration)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.fields[clock]}"),
        TimeElapsedColumn(),
        transient=True,
        console=None,
    ) as bar:
        task = bar.add_task("run", total=duration, clock="0s")
        rec.run_until(
            rec.start_s + duration,
            on_step=lambda t: bar.update(
                task, completed=t - rec.start_s, clock=format_duration(t - rec.start_s)
            ),
        )


def print_summary(doc: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    s = doc["summary"]
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_column(style="dim")
    for m in kpis.headline():
        t.add_row(m.label, m.figure(s.get(m.name)), m.unit)
    gone = s.get("requests_abandoned", 0.0)
    t.add_row(
        "requests served / shed / failed / abandoned",
        f"{s['requests'] - s['requests_shed'] - s['requests_failed'] - gone:,.0f}",
        f"{s['requests_shed']:,.0f} / {s['requests_failed']:,.0f} / {gone:,.0f}",
    )
    Console().print(t)
    crit = [e for e in doc["events"] if e["severity"] == "critical"]
    if crit:
        Console().print(
            f"[bold red]{len(crit)} critical events[/]; first: {crit[0]['source']}: {crit[0]['message']}"
        )
