"""``twin attach``: the control room on a served class, driven as a user would drive it."""

from __future__ import annotations

import asyncio

from classroom_helpers import ServerThread, build_room, drill
from test_tui import screen_text

from twin.frontends.classroom.console import RemoteApp
from twin.frontends.classroom.remote import RemoteDriver

SIZE = (160, 48)


async def _settle(app, pilot, frames: int = 3) -> None:
    for _ in range(frames):
        await app.frame()
        await pilot.pause()


async def _line(app, pilot, text: str) -> None:
    await pilot.press("colon")
    app.room.command_bar.value = text
    await pilot.press("enter")
    await pilot.pause()
    await _settle(app, pilot)


async def test_a_trainee_and_the_instructor_share_one_simulation(tmp_path):
    room = build_room(drill(tmp_path), frozen=False)
    with ServerThread(room, tmp_path / "c.sock") as server:
        bo = RemoteApp(RemoteDriver(server.path, "bo", "trainee"), live=False)
        async with bo.run_test(size=SIZE) as pilot:
            await _settle(bo, pilot)
            text = screen_text(bo)
            assert "Default factory" in text and "SLO attainment" in text  # the gauges
            assert "attached to the class as bo (trainee)" in text
            await _line(bo, pilot, "drain row-a-01")
            assert "drain row-a-01: 1 racks drained" in screen_text(bo)
            # the clock is the instructor's: its key does nothing, its command is refused
            paused = bo.clock.paused
            await pilot.press("space")
            await _settle(bo, pilot)
            assert bo.clock.paused == paused
            await _line(bo, pilot, "freeze")
            assert "clock refused" in screen_text(bo)
            await pilot.press("6")
            await _settle(bo, pilot)
            assert "what comes next is hidden" in screen_text(bo)
            await pilot.press("q")
        ada = RemoteApp(RemoteDriver(server.path, "ada", "instructor"), live=False)
        async with ada.run_test(size=SIZE) as pilot:
            await _settle(ada, pilot)
            await pilot.press("5")
            await pilot.press("v")  # the full log
            await _settle(ada, pilot)
            text = screen_text(ada)
            assert "bo" in text and "drain row-a-01: 1 racks drained" in text
            line = next(x for x in text.splitlines() if "drain row-a-01:" in x)
            assert " bo " in line  # the log names who did it
            await _line(ada, pilot, "freeze")
            await asyncio.sleep(0.3)
            await _settle(ada, pilot)
            assert ada.clock.paused and "froze the clock" in screen_text(ada)
            await pilot.press("q")
        for _ in range(50):  # both consoles said goodbye: the server lets their seats go
            if not server.call(lambda: [c.name for c in room.clients]):
                break
            await asyncio.sleep(0.1)
        assert server.call(lambda: [c.name for c in room.clients]) == []


async def _help(app, pilot) -> str:
    await pilot.press("question_mark")
    await pilot.pause()
    text = str(app.screen.query_one("#help-text").render())
    await pilot.press("escape")
    await pilot.pause()
    return text


async def test_help_and_tab_offer_each_role_its_own_commands(tmp_path):
    room = build_room(drill(tmp_path))
    with ServerThread(room, tmp_path / "c.sock") as server:
        bo = RemoteApp(RemoteDriver(server.path, "bo", "trainee"), live=False)
        async with bo.run_test(size=SIZE) as pilot:
            await _settle(bo, pilot)
            text = await _help(bo, pilot)
            assert "drain TARGET" in text and "hint" in text and "who" in text
            for theirs in (
                "inject [hidden]",
                "rewind NAME",
                "freeze",
                "speed N",
                "the session for",
            ):
                assert theirs not in text, theirs
            await pilot.press("colon", *"fr", "tab")  # freeze is the instructor's
            assert bo.room.command_bar.value == "fr"
            bo.room.command_bar.value = ""
            await pilot.press(*"dr", "tab")
            assert bo.room.command_bar.value == "drain "
            await pilot.press("escape", "q")
        ada = RemoteApp(RemoteDriver(server.path, "ada", "instructor"), live=False)
        async with ada.run_test(size=SIZE) as pilot:
            await _settle(ada, pilot)
            text = await _help(ada, pilot)
            for ours in ("inject [hidden] COMMAND", "rewind NAME", "checkpoint [NAME]", "freeze"):
                assert ours in text, ours
            assert "the session for everyone" in text and "speed N|max" in text
            await pilot.press("colon", *"inj", "tab")
            assert ada.room.command_bar.value == "inject "
            await pilot.press(*"hid", "tab")
            assert ada.room.command_bar.value == "inject hidden "
            await pilot.press(*"fail row-a-pdu-", "tab")
            await pilot.pause()
            assert "row-a-pdu-1" in screen_text(ada) and "row-a-pdu-4" in screen_text(ada)
            await pilot.press("escape", "q")


def test_attaching_builds_no_engine_of_its_own(tmp_path, monkeypatch):
    """The console draws the server's frames: it opens no factory (which cost 0.06 s on
    default, 0.16 s on hyperscale, on every attach)."""
    from twin.core.engine.factory import Factory

    room = build_room(drill(tmp_path))
    built = []
    init = Factory.__init__
    monkeypatch.setattr(
        Factory, "__init__", lambda self, *a, **k: built.append(1) or init(self, *a, **k)
    )
    with ServerThread(room, tmp_path / "c.sock") as server:
        app = RemoteApp(RemoteDriver(server.path, "bo", "trainee"), live=False)
        assert built == [] and app.ctx.start_hour == room.welcome["start_hour"]
        app.driver.close()
