"""``twin run … --checkpoint AT=FILE`` and ``twin resume FILE``: exact save and continue.

A run's checkpoint file is the engine's checkpoint (``Factory.checkpoint``) with the run's
context inside it: what was run (target, catalog, seed, duration, faults, tick), the
report's recording so far and, for a scenario, its player (events fired, expectation
accumulators). ``twin resume`` rebuilds the same factory from that description, restores
it and goes on, so it writes exactly the report the uninterrupted run writes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from twin.core.api import Factory, Recorder, load_catalog, load_layout, peek, report, to_json
from twin.core.errors import TwinError
from twin.core.units import format_duration, parse_duration_s


@dataclass(frozen=True)
class CheckpointAt:
    at_s: float  # simulated time from the run's start (after any warm-up)
    path: Path


def parse_checkpoints(
    values: list[str] | None, duration_s: float | None = None
) -> list[CheckpointAt]:
    """``AT=FILE`` options, checked: a duration, a writable folder, inside the run."""
    out = []
    for v in values or []:
        at, sep, file = v.partition("=")
        if not sep or not at or not file:
            raise TwinError(
                f"run: --checkpoint {v!r}: expected AT=FILE, e.g. --checkpoint 30m=drill.ckpt"
            )
        try:
            t = parse_duration_s(at)
        except ValueError as e:
            raise TwinError(f"run: --checkpoint {v!r}: {e}") from None
        path = Path(file)
        if not path.parent.exists():
            raise TwinError(f"run: --checkpoint {v!r}: folder {path.parent} does not exist")
        if duration_s is not None and not 0 <= t < duration_s:
            raise TwinError(
                f"run: --checkpoint {v!r}: {at} is not inside the run (0s to {format_duration(duration_s)})"
            )
        out.append(CheckpointAt(t, path))
    return sorted(out, key=lambda c: c.at_s)


def file_digest(target: str) -> str | None:
    p = Path(target)
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.is_file() else None


def run_context(args: argparse.Namespace, kind: str, **more) -> dict:
    """What ``twin resume`` needs to rebuild this run."""
    target = args.target
    if Path(target).is_file():
        target = str(Path(target).resolve())
    return {
        "kind": kind,
        "target": target,
        "digest": file_digest(args.target),
        "catalog": list(args.catalog or []),
        "seed": args.seed,
        **more,
    }


def write(factory: Factory, context: dict, cp: CheckpointAt) -> None:
    data = factory.checkpoint(context)
    try:
        cp.path.write_bytes(data)
    except OSError as e:
        raise TwinError(f"run: cannot write {cp.path}: {e.strerror or e}") from None
    print(
        f"checkpoint at {format_duration(context['at_s'])}: {cp.path} ({len(data) / 1e6:.1f} MB)",
        file=sys.stderr,
    )


def advance_layout(
    rec: Recorder, duration: float, checkpoints: list[CheckpointAt], context: dict, advance
) -> None:
    """Run a layout, stopping to write each checkpoint at the first sample at or after its
    time (so the recording, and the report, are exactly the uninterrupted run's)."""
    for cp in checkpoints:
        at = min(duration, math.ceil(cp.at_s / rec.every_s - 1e-9) * rec.every_s)
        advance(rec, at)
        write(
            rec.factory,
            {**context, "at_s": rec.factory.now - rec.start_s, "recorder": rec.state()},
            cp,
        )
    advance(rec, duration)


def scenario_hooks(checkpoints: list[CheckpointAt], context: dict):
    """``Runner.run(at=...)`` hooks writing each checkpoint with the player's state."""

    def hook(cp: CheckpointAt):
        def write_it(runner, rec) -> None:
            write(
                runner.factory,
                {
                    **context,
                    "at_s": runner.player.t_rel(),
                    "player": runner.player.state(),
                    "recorder": rec.state(),
                },
                cp,
            )

        return write_it

    return tuple((cp.at_s, hook(cp)) for cp in checkpoints)


# ---- twin resume ---------------------------------------------------------------------------------
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
    from twin.frontends import run_cli

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
    from twin.frontends import run_cli

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
