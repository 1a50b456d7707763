"""Regenerate ``screenshots/``: one SVG per view, a fault in progress, alarms by cause, a
drill-down, a scenario's timeline, a drill under way and its debrief.

    python -m twin.frontends.tui.shots [--out screenshots] [--only scenario-timeline]

Each picture is the real app, headless, on a frozen clock with a fixed seed, so the files
change only when the screens do.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from twin.frontends.tui.app import TwinApp
from twin.frontends.tui.clock import ManualWall

SIZE = (120, 36)
SEED = 1


#: The scenario the timeline picture plays (from the shipped library).
TIMELINE_SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "cooling-loop-failure.yaml"


def _app(layout: str = "default", warm_up_s: float = 180.0) -> TwinApp:
    return TwinApp(
        layout, seed=SEED, wall=ManualWall(), live=False, step_budget_s=None, warm_up_s=warm_up_s
    )


def _scenario_app(path: Path) -> TwinApp:
    from twin.core.api import load_scenario

    return TwinApp(scenario=load_scenario(path), wall=ManualWall(), live=False, step_budget_s=None)


async def _shoot(
    app: TwinApp,
    path: Path,
    keys: list[str],
    size: tuple[int, int],
    title: str,
    before: Callable[[TwinApp], Awaitable[None]] | None = None,
) -> None:
    async with app.run_test(size=size) as pilot:
        await app.frame()
        if before is not None:
            await before(app)
        await pilot.press(*keys)
        await app.frame()
        await app.workers.wait_for_complete()
        await pilot.pause()
        path.write_text(app.export_screenshot(title=title))
    print(f"wrote {path}")


async def _fault(app: TwinApp) -> None:
    """A PDU lost (its racks down) and a cooling loop lost for ten minutes (racks heating)."""
    app.run_line("fail row-b-pdu-2")
    app.run_line("fail loop-1")
    await app.frame()
    app.wall.advance(600.0)
    await app.frame()


async def _incidents(app: TwinApp) -> None:
    """A busy few minutes: a demand surge, a PDU and a spine lost, a routing change, an acknowledgement."""
    for line in (
        "surge 1.6 10m",
        "fail row-b-pdu-2",
        "fail spine-3",
        "degrade link-leaf-40-spine-1 50%",
        "route least-loaded",
    ):
        app.run_line(line)
        await app.frame()
        app.wall.advance(20.0)
    await app.frame()
    app.run_line("ack all")
    app.run_line("straggle nvl-02-05 2")
    app.wall.advance(60.0)
    await app.frame()


async def _drill(app: TwinApp) -> None:
    """Twelve minutes into the drill at 60×: the loop lost at 5m, the operator rerouting on
    top of the script, its repair still to come."""
    app.run_line("speed 60")
    app.wall.advance(8.0)  # T+8m
    await app.frame()
    app.run_line("route least-loaded")
    await app.frame()
    app.wall.advance(4.0)  # T+12m
    await app.frame()


#: The drill the drill-panel and debrief pictures play (the hard one).
DRILL = Path(__file__).resolve().parents[3] / "scenarios" / "drills" / "4-ab-breaker.yaml"


async def _drill_midway(app: TwinApp) -> None:
    """Two minutes into the drill: the busways' warning cued, the task open."""
    app.run_line("speed 60")
    app.wall.advance(2.0)
    await app.frame()


async def _drill_late(app: TwinApp) -> None:
    """The operator caps the row only after busway A has failed (T+5m10s), then the drill
    runs to its end and the debrief opens."""
    app.run_line("speed 60")
    app.wall.advance(310 / 60)
    await app.frame()
    app.run_line("cap row-h 900kW")
    await app.frame()
    app.wall.advance(7.0)
    await app.frame()


async def main(out: Path, only: set[str] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)

    def wanted(name: str) -> bool:
        return not only or name in only

    views = [("floor", "1"), ("fabric", "2"), ("power", "3"), ("serving", "4"), ("events", "5")]
    for name, key in views:
        if wanted(name):
            await _shoot(
                _app(), out / f"{name}.svg", [key], SIZE, f"twin — {name}", before=_incidents
            )
    if wanted("fault-in-progress"):
        await _shoot(
            _app(),
            out / "fault-in-progress.svg",
            ["1", "h", "h", "down"],
            SIZE,
            "twin — a PDU and a cooling loop lost",
            before=_fault,
        )
    if wanted("alarms-by-cause"):
        await _shoot(
            _app(),
            out / "alarms-by-cause.svg",
            ["5", "right"],
            SIZE,
            "twin — alarms grouped by cause",
            before=_fault,
        )
    if wanted("floor-drill-down"):
        await _shoot(
            _app(),
            out / "floor-drill-down.svg",
            ["1", *["down"] * 4, "enter", "o"],
            SIZE,
            "twin — a row's racks, sorted by power",
            before=_fault,
        )
    if wanted("hyperscale-floor"):
        await _shoot(
            _app("hyperscale", warm_up_s=60.0),
            out / "hyperscale-floor.svg",
            ["1"],
            (160, 48),
            "twin hyperscale — 1,040 racks",
        )
    if wanted("scenario-timeline") and TIMELINE_SCENARIO.exists():
        await _shoot(
            _scenario_app(TIMELINE_SCENARIO),
            out / "scenario-timeline.svg",
            ["6"],
            SIZE,
            f"twin {TIMELINE_SCENARIO.relative_to(TIMELINE_SCENARIO.parents[1])} — the timeline",
            before=_drill,
        )

    if wanted("drill") and DRILL.exists():
        await _shoot(
            _scenario_app(DRILL),
            out / "drill.svg",
            ["3"],
            SIZE,
            "twin scenarios/drills/4-ab-breaker.yaml — a drill: objectives, clock, live score",
            before=_drill_midway,
        )
    if wanted("debrief") and DRILL.exists():
        await _shoot(
            _scenario_app(DRILL),
            out / "debrief.svg",
            ["down"] * 6,
            (120, 50),
            "twin — the debrief at the end of a drill",
            before=_drill_late,
        )


def cli() -> None:
    p = argparse.ArgumentParser(
        prog="python -m twin.frontends.tui.shots", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("screenshots"),
        help="directory to write (default: screenshots)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="just this picture (its file name without .svg); repeatable",
    )
    args = p.parse_args()
    asyncio.run(main(args.out, set(args.only) if args.only else None))


if __name__ == "__main__":
    cli()
