"""How much a frame of the control room costs, and how much CPU the app takes at 1×.

    python benchmarks/bench_tui.py            # default and hyperscale, 160×48
    python benchmarks/bench_tui.py --quick    # fewer frames, shorter CPU window

Frame cost = one snapshot of the engine + applying it to the widgets + rendering the whole
screen (a full repaint: the worst case; a live frame redraws only what changed), for each
view. Goal: under 50 ms on `hyperscale`. CPU = process time (all threads) over wall time
while the app runs live at 1× on `default` (headless, real clock). Goal: under 25 % of one
core. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from twin.frontends.tui.app import TwinApp
from twin.frontends.tui.clock import ManualWall

VIEWS = ("floor", "fabric", "power", "serving", "events")
SIZE = (160, 48)


async def frame_cost(layout: str, frames: int) -> dict[str, tuple[float, float, float]]:
    """Per view: median (snapshot ms, apply ms, render ms)."""
    app = TwinApp(layout, seed=1, wall=ManualWall(), live=False, step_budget_s=None, warm_up_s=60.0)
    out = {}
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        screen = app.room
        for i, view in enumerate(VIEWS):
            await pilot.press(str(i + 1))
            await pilot.pause()
            snap_ms, apply_ms, render_ms = [], [], []
            for _ in range(frames):
                t0 = time.perf_counter()
                frame = app.driver.step(app.driver.now)  # the snapshot (no simulated time passes)
                t1 = time.perf_counter()
                app.alarms.merge(frame.snapshot.events)
                app.snapshot = frame.snapshot
                screen.show(frame.snapshot, app.header_state())
                t2 = time.perf_counter()
                screen._refresh_layout()
                screen._compositor.render_update(full=True, screen_stack=app._background_screens)
                t3 = time.perf_counter()
                snap_ms.append((t1 - t0) * 1e3)
                apply_ms.append((t2 - t1) * 1e3)
                render_ms.append((t3 - t2) * 1e3)
            out[view] = (
                statistics.median(snap_ms),
                statistics.median(apply_ms),
                statistics.median(render_ms),
            )
    return out


async def cpu_at_1x(layout: str, seconds: float) -> tuple[float, float]:
    """(share of one core, simulated seconds per wall second) while running live at 1×."""
    app = TwinApp(layout, seed=1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(1.0)  # start-up is not the steady state
        sim0, wall0, cpu0 = app.driver.now, time.perf_counter(), time.process_time()
        await pilot.pause(seconds)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        return cpu / wall, (app.driver.now - sim0) / wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    frames = 5 if args.quick else 20
    for layout in ("default", "hyperscale"):
        costs = asyncio.run(frame_cost(layout, frames))
        print(
            f"frame cost on {layout} at {SIZE[0]}×{SIZE[1]} (median of {frames}; goal < 50 ms on hyperscale):"
        )
        for view, (s, a, r) in costs.items():
            print(
                f"  {view:<8} snapshot {s:5.1f} ms + apply {a:5.1f} ms + render {r:5.1f} ms = {s + a + r:5.1f} ms"
            )
    seconds = 5.0 if args.quick else 15.0
    share, rate = asyncio.run(cpu_at_1x("default", seconds))
    print(
        f"CPU at 1× on default, floor view, live for {seconds:.0f} s: {share:.0%} of one core "
        f"(goal < 25 %); simulated {rate:.2f} s per wall second"
    )


if __name__ == "__main__":
    main()
