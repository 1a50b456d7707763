"""``twin resume FILE``: continue a run from its checkpoint (`run_checkpoints` writes it)
and write exactly the report the uninterrupted run writes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin.core.api import Factory, Recorder, load_catalog, load_layout, peek, report, to_json
from twin.core.errors import TwinError
from twin.core.units import format_duration, parse_duration_s
from twin.frontends import run_cli
from twin.frontends.run_checkpoints import file_digest


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "resume",
        help="continue a run from a checkpoint written by 'twin run --checkpoint'",
        description="Continue a run from its checkpoint and write exactly the report the uninterrupted "
        "run writes (a scenario exits 0 when every expectation held, 1 when one failed).",
    )
    p.add_argument(
        "file",
        metavar="FILE",
        help="a checkpoint written by 'twin run TARGET --checkpoint AT=FILE'",
    )
    p.add_argument(
        "--until",
        metavar="T",
        help="stop at simulated time T from the run's start (default: its end)",
    )
    p.add_argument("--report", metavar="FILE.json", help="write the JSON report here")
    p.add_argument("--markdown", metavar="FILE.md", help="write a human-readable report here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=resume)


def resume(args: argparse.Namespace) -> int:
    out = run_cli._out_path(args.report, "--report")
    md = run_cli._out_path(args.markdown, "--markdown")
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise TwinError(f"resume: cannot read {args.file}: {e.strerror or e}") from None
    ctx = peek(data)["context"]
    if not isinstance(ctx, dict) or ctx.get("kind") not in ("layout", "scenario"):
        raise TwinError(
            f"resume: {args.file} is an engine checkpoint without a run; write one with 'twin run --checkpoint'"
        )
    if ctx["digest"] is not None and file_digest(ctx["target"]) != ctx["digest"]:
        raise TwinError(
            f"resume: {ctx['target']} has changed (or gone) since {args.file} was written"
        )
    catalog = load_catalog(ctx["catalog"])
    until = None
    if args.until:
        try:
            until = parse_duration_s(args.until)
        except ValueError as e:
            raise TwinError(f"resume: --until: {e}") from None
        if until < ctx["at_s"]:
            raise TwinError(
                f"resume: --until {args.until} is before the checkpoint ({format_duration(ctx['at_s'])})"
            )
    if ctx["kind"] == "scenario":
        return _resume_scenario(args, data, ctx, catalog, until, out, md)
    layout = load_layout(ctx["target"], catalog)
    factory = Factory(layout, catalog, seed=ctx["seed"], tick_s=ctx["tick_s"])
    factory.restore(data)
    duration = ctx["duration_s"] if until is None else min(until, ctx["duration_s"])
    rec = Recorder(factory, ctx["duration_s"])
    rec.load_state(ctx["recorder"])
    run_cli._advance(rec, duration, show=not args.quiet and sys.stderr.isatty())
    doc = report(rec, duration_s=duration, faults=bool(ctx["faults"]))
    run_cli._write(out, to_json(doc))
    run_cli._write(md, run_cli.markdown.render(doc))
    run_cli.print_summary(
        doc,
        f"{layout.name} · {format_duration(duration)} simulated · seed {factory.seed} · "
        f"resumed at {format_duration(ctx['at_s'])}",
    )
    for path in (out, md):
        if path is not None:
            print(f"report: {path}")
    return 0


def _resume_scenario(args, data: bytes, ctx: dict, catalog, until, out, md) -> int:
    from twin.core.api import Runner, load_file, scenario_from_doc, scenario_report

    sc = scenario_from_doc(
        load_file(Path(ctx["target"])), ctx["target"], catalog, base_dir=Path(ctx["target"]).parent
    )
    if until is not None and until < sc.duration_s:
        from dataclasses import replace

        sc = replace(sc, duration_s=until)
    runner = Runner(sc, catalog, seed=ctx["seed"])
    outcome = runner.resume(data, ctx["player"], ctx["recorder"])
    doc = scenario_report(outcome)
    run_cli.mark_reference(doc, sc, catalog, ctx["seed"], bool(ctx.get("reference")))
    run_cli._write(out, to_json(doc))
    run_cli._write(md, run_cli.markdown.render(doc))
    run_cli.print_summary(
        doc,
        f"{sc.name} · {sc.layout.name} · {format_duration(sc.duration_s)} simulated · seed {doc['seed']}"
        f" · resumed at {format_duration(ctx['at_s'])}",
    )
    run_cli.print_verdicts(doc)
    run_cli.print_score(doc)
    for path in (out, md):
        if path is not None:
            print(f"report: {path}")
    return run_cli.EXIT_OK if doc["status"] == "passed" else run_cli.EXIT_FAILED
