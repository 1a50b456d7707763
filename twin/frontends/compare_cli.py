"""``twin compare``: the same factory with and without a change, side by side."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from twin.core.api import (
    Runner,
    kpis,
    limits,
    load_catalog,
    load_layout,
    scenario_for_layout,
    scenario_from_doc,
    scenario_report,
    to_json,
)
from twin.core.api import commands as C
from twin.core.errors import TwinError
from twin.core.units import format_duration, parse_duration_s
from twin.frontends.run_cli import DEFAULT_DURATION, scenario_doc


def rows() -> tuple[kpis.Metric, ...]:
    """The side-by-side table's rows: the registry's headline metrics and the run's cost."""
    return (*kpis.headline(), kpis.get("cost_usd"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="what-if: run a baseline and a variant with the same seed, side by side",
        description="Run A and B (or A and A with --with commands) with the same seed and print the KPIs "
        "side by side with absolute and relative deltas.",
    )
    p.add_argument(
        "a", metavar="A", help="baseline: a scenario file, a layout file or a built-in layout"
    )
    p.add_argument(
        "b", metavar="B", nargs="?", help="variant (default: A with the --with commands)"
    )
    p.add_argument(
        "--with",
        dest="with_",
        action="append",
        default=[],
        metavar="COMMAND",
        help="a command for the variant, e.g. 'swap row-b gb300' (repeatable)",
    )
    p.add_argument(
        "--at", default="0s", metavar="TIME", help="when the --with commands apply (default 0s)"
    )
    p.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        help=f"simulated time for layouts (default {DEFAULT_DURATION})",
    )
    p.add_argument("--seed", type=int, help="seed for both runs (default: A's)")
    p.add_argument("--report", metavar="FILE.json", help="write both summaries and the deltas here")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=run)


def _scenario(target: str, catalog, duration: float | None, seed: int | None):
    doc = scenario_doc(target)
    if doc is not None:
        return scenario_from_doc(doc, target, catalog, base_dir=Path(target).parent)
    layout = load_layout(target, catalog)
    return scenario_for_layout(layout, duration or parse_duration_s(DEFAULT_DURATION), seed)


def run(args: argparse.Namespace) -> int:
    if args.b is None and not args.with_:
        raise TwinError("compare: give a variant B, or --with COMMAND to change A")
    at = limits.option(
        args.at, parse_duration_s, limits.Range(0, limits.MAX_DURATION_S, "s"), "compare: --at"
    )
    duration = (
        limits.option(args.duration, parse_duration_s, limits.DURATION, "compare: --for")
        if args.duration
        else None
    )
    if args.seed is not None:
        limits.option(args.seed, None, limits.SEED, "compare: --seed")
    extra = []
    for text in args.with_:
        try:
            cmd = C.parse_command(text)
        except C.CommandError as e:
            raise TwinError(f"compare: --with {text!r}: {e}") from None
        if isinstance(cmd, C.SessionCommand):
            raise TwinError(f"compare: --with {text!r}: a console command; give a factory command")
        extra.append((at, cmd))
    out = Path(args.report) if args.report else None
    if out is not None and not out.parent.exists():
        raise TwinError(f"compare: --report: folder {out.parent} does not exist")
    catalog = load_catalog(args.catalog)
    sa = _scenario(args.a, catalog, duration, args.seed)
    sb = _scenario(args.b, catalog, duration, args.seed) if args.b else sa
    seed = args.seed if args.seed is not None else sa.seed
    if at > sb.duration_s:
        raise TwinError(
            f"compare: --at {args.at} is after the run ends ({format_duration(sb.duration_s)})"
        )
    ra = Runner(sa, catalog, seed=seed)
    rb = Runner(sb, catalog, seed=seed, extra=tuple(extra))
    # a --with command the variant's factory cannot take is a user error: say so before running
    for _, cmd in extra:
        probe = Runner(sb, catalog, seed=seed)
        try:
            probe.factory.apply(cmd)
        except TwinError as e:
            raise TwinError(f"compare: --with {cmd.text!r}: {e}") from None
    da = scenario_report(ra.run())
    ob = rb.run()
    db = scenario_report(ob)
    doc = comparison(da, db, [c.text for _, c in extra], at)
    doc["b"]["in_progress"] = still_under_way(ob.factory, extra, catalog, sb.duration_s)
    print_table(doc, args)
    for note in doc["b"]["in_progress"]:
        print(f"note: {note}")
    if out is not None:
        try:
            out.write_text(to_json(doc), encoding="utf-8")
        except OSError as e:
            raise TwinError(f"compare: cannot write {out}: {e.strerror or e}") from None
        print(f"report: {out}")
    return 0


def still_under_way(factory, extra, catalog, duration_s: float) -> list[str]:
    """The --with changes not finished when the window ends (a swap's downtime, say): the
    comparison then measures the change's cost, not its result, and should say so."""
    from twin.core.api import RACK_SWAPPING

    snap = factory.snapshot()
    swapping = int((snap.racks.state == RACK_SWAPPING).sum())
    notes = []
    downtime = float(catalog.constants.get("swap_downtime_s", 0.0))
    for at, cmd in extra:
        if isinstance(cmd, C.Swap) and swapping and at + downtime > duration_s:
            notes.append(
                f"'{cmd.text}' is still under way when the window ends: {swapping} rack{'s' if swapping != 1 else ''} "
                f"down for the swap ({format_duration(downtime)} from {format_duration(at)}, done at "
                f"{format_duration(at + downtime)}; the window ends at {format_duration(duration_s)}). B measures the "
                f"outage, not the new GPUs: run with --for longer than {format_duration(at + downtime)} to see them."
            )
    return notes


def comparison(da: dict, db: dict, with_: list[str], at: float) -> dict:
    sa, sb = da["summary"], db["summary"]
    delta, rel = {}, {}
    for k, va in sa.items():
        vb = sb.get(k)
        if (
            isinstance(va, int | float)
            and isinstance(vb, int | float)
            and math.isfinite(va)
            and math.isfinite(vb)
        ):
            delta[k] = vb - va
            rel[k] = (vb - va) / abs(va) if va else None
    return {
        "a": {
            "name": da.get("scenario") or da["layout"],
            "layout": da["layout"],
            "seed": da["seed"],
            "summary": sa,
            "status": da["status"],
        },
        "b": {
            "name": db.get("scenario") or db["layout"],
            "layout": db["layout"],
            "seed": db["seed"],
            "summary": sb,
            "status": db["status"],
            "with": with_,
            "at_s": at,
        },
        "delta": delta,
        "relative": rel,
    }


def print_table(doc: dict, args) -> None:
    from rich.console import Console
    from rich.table import Table

    a, b = doc["a"], doc["b"]
    name_b = b["name"] if not b["with"] else f"{b['name']} + {'; '.join(b['with'])}"
    t = Table(
        title=f"A: {a['name']}   B: {name_b}"
        + (f" at {format_duration(b['at_s'])}" if b["with"] else ""),
        title_justify="left",
    )
    for c in ("", "A", "B", "Δ", "Δ%"):
        t.add_column(c, justify="left" if not c else "right")
    for m in rows():
        k, label, spec, scale, better = m.name, m.heading, m.fmt, m.scale, m.better
        va, vb = a["summary"].get(k), b["summary"].get(k)
        if va is None or vb is None:
            continue
        d, r = doc["delta"].get(k), doc["relative"].get(k)
        good = None if not d else ((d > 0) == (better == "higher"))
        style = (
            ""
            if good is None or (r is not None and abs(r) < 0.005)
            else ("green" if good else "red")
        )
        ds = "—" if d is None else (("+" if d >= 0 else "") + spec.format(d * scale))
        rs = "—" if r is None else f"{r:+.1%}"
        t.add_row(
            label,
            spec.format(va * scale),
            spec.format(vb * scale),
            f"[{style}]{ds}[/]" if style else ds,
            f"[{style}]{rs}[/]" if style else rs,
        )
    Console().print(t)
