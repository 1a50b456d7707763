"""The class screenshot: the instructor's console while a trainee works a drill.

    python -m twin.frontends.classroom.shots [--out screenshots]

A real ``twin serve`` (in this process, on a temporary socket, clock frozen) plays the
first shipped drill; trainee bo (a headless console) reroutes, the instructor injects a
hidden fault and takes a checkpoint, and the instructor's console (the real app, headless)
is exported with its event log naming who did what.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
from pathlib import Path

from twin.frontends.classroom.console import RemoteApp
from twin.frontends.classroom.remote import RemoteDriver
from twin.frontends.classroom.server import Classroom
from twin.frontends.classroom.setup import world_builder

DRILL = Path(__file__).resolve().parents[3] / "scenarios" / "drills" / "1-agentic-surge.yaml"
SIZE = (120, 36)


def _room() -> Classroom:
    args = argparse.Namespace(
        target=str(DRILL),
        catalog=[],
        seed=None,
        record=None,
        force=False,
        per_trainee=False,
        speed=60.0,
        frozen=True,
    )
    new_world, welcome = world_builder(args)
    return Classroom(new_world, welcome=welcome, log=lambda text: None)


async def shoot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    room = _room()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sock = Path(tempfile.mkdtemp(prefix="twin-shot-")) / "class.sock"
    asyncio.run_coroutine_threadsafe(room.start(sock), loop).result(120)
    try:
        bo = RemoteDriver(sock, "bo", "trainee")
        ada = RemoteDriver(sock, "ada", "instructor")
        app = RemoteApp(ada, live=False)
        async with app.run_test(size=SIZE) as pilot:
            await app.frame()
            for line in ("run", "checkpoint start"):
                ada.send_text(line)
                await asyncio.sleep(0.3)
            await asyncio.sleep(2.5)  # 150 simulated seconds at 60×: the surge is on
            ada.send_text("inject hidden fail row-b-pdu-2 for 10m")
            await asyncio.sleep(0.5)
            bo.send_text("route kv-aware")
            await asyncio.sleep(1.0)
            ada.send_text("freeze")
            await asyncio.sleep(0.5)
            for _ in range(4):
                await app.frame()
                await pilot.pause()
            await pilot.press("5", "v")
            await app.frame()
            await pilot.pause()
            path = out / "class-instructor.svg"
            path.write_text(app.export_screenshot(title="twin attach — the instructor's console"))
            print(f"wrote {path}")
            await pilot.press("ctrl+q")
        bo.close()
    finally:
        asyncio.run_coroutine_threadsafe(room.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def cli() -> None:
    p = argparse.ArgumentParser(prog="python -m twin.frontends.classroom.shots")
    p.add_argument("--out", type=Path, default=Path("screenshots"))
    asyncio.run(shoot(p.parse_args().out))


if __name__ == "__main__":
    cli()
