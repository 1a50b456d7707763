"""A drill in the control room: the drill panel, :hint, the debrief screen and its file.

Runs on the small factory of ``engine_helpers`` on a clock the test controls, as
``test_tui_scenario`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_tui import run_line, screen_text, settle
from test_tui_scenario import make_app, tick

from twin.core import commands as C
from twin.core.scenario import Runner, load_scenario
from twin.frontends.tui.screens.debrief import DebriefScreen

SIZE = (110, 34)

DRILL = """\
name: pdu-drill
layout: {layout}
seed: 4
warmup: 20s
duration: 2m
briefing: Keep row-a powered.
events:
  - at: 30s
    do: fail row-a-pdu-1 for 10m
objectives:
  - text: row-a-01 powered
    hold: rack row-a-01 state != down
    weight: 60
critical_tasks:
  - id: restore
    task: Restore the PDU (repair row-a-pdu-1)
    cue: when pdu row-a-pdu-1 state == failed
    alarm: row-a-pdu-1 has failed
    do: repair row-a-pdu-1
    within: 20s
    late: 20s
    weight: 40
reference:
  - at: 35s
    do: repair row-a-pdu-1
    why: the racks behind it are dark
hints: [Look at the power view, "`:repair row-a-pdu-1`"]
hint_cost: 4
"""


@pytest.fixture
def drill(small, tmp_path) -> Path:
    path = tmp_path / "pdu-drill.yaml"
    path.write_text(DRILL.format(layout=small.file))
    return path


async def test_the_panel_shows_clock_score_objectives_and_a_cue_only_once_fired(drill):
    app, wall = make_app(drill, blind=True)
    async with app.run_test(size=SIZE) as pilot:
        await tick(app, pilot, wall, 10)
        text = screen_text(app)
        assert "DRILL T+00:10 / 02:00" in text and "score 100 / 100" in text
        assert "row-a-01 powered" in text and "holding" in text
        assert "row-a-pdu-1 has failed" not in text and "1 more critical task may come" in text
        await tick(app, pilot, wall, 25)  # the PDU fails at 30s: the cue fires
        text = screen_text(app)
        assert "row-a-pdu-1 has failed" in text and "due in" in text
        assert "OUTSIDE" in text
        assert "repair row-a-pdu-1" not in text  # what to do is not shown until decided
        # blind: no debrief before the end
        await run_line(app, pilot, "debrief")
        assert not isinstance(app.screen, DebriefScreen)
        assert "opens when the drill is over" in screen_text(app)


async def test_a_hint_costs_its_points_and_shows_on_screen(drill):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await tick(app, pilot, wall, 5)
        await run_line(app, pilot, "hint")
        await tick(app, pilot, wall, 1)
        text = screen_text(app)
        assert "hint (−4, 1 left): Look at the power view" in text
        assert "score 96 / 100" in text and "hints −4" in text
        assert app.ctx.script.drill["hints_taken"] == 1


async def test_the_debrief_opens_at_the_end_and_is_the_file_it_writes(drill, tmp_path):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await tick(app, pilot, wall, 36)
        await run_line(app, pilot, "repair row-a-pdu-1")
        await tick(app, pilot, wall, 100)  # past the end
        await settle(app, pilot)
        assert isinstance(app.screen, DebriefScreen)
        shown = app.screen.text
        assert "# Debrief: pdu-drill" in shown and "✔ on time" in shown
        assert "● you: `repair row-a-pdu-1`" in shown and "KPI curves" in shown
        assert "`repair row-a-pdu-1`: you did it too" in shown
        ref = app.reference_score()  # what the debrief adds once computed in the background
        app.got_reference_score(app.screen, ref)
        assert f"The reference response scores **{ref:g}**; this run " in app.screen.text
        shown = app.screen.text
        out = tmp_path / "debrief.md"
        await pilot.press("escape")
        await run_line(app, pilot, f"debrief {out}")
        assert out.read_text() == shown
        # the same action at the same time, headless, gives the same score
        score = app.drill.score(app.player.t_rel())
        times = [(t, c) for t, c, src in app.session.entries if src == "operator"]
    assert len(times) == 1
    sc = load_scenario(drill)
    again = Runner(sc, extra=tuple((t, C.parse_command(c)) for t, c in times)).run()
    assert again.drill["score"] == score > 80
    assert json.dumps(again.drill["tasks"]) == json.dumps(app.drill.report(120.0)["tasks"])


async def test_hint_and_debrief_outside_a_drill_say_so(small):
    from twin.frontends.tui.app import TwinApp
    from twin.frontends.tui.clock import ManualWall

    app = TwinApp(small, wall=ManualWall(), live=False, step_budget_s=None)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "hint")
        assert "no drill is running" in screen_text(app)
        await run_line(app, pilot, "debrief")
        assert "no drill is running" in screen_text(app)


async def test_a_console_without_the_player_hands_hint_and_debrief_on(drill):
    """A remote console (twin attach) has the drill's live data in its frames but no player:
    `drill_elsewhere` gets the line; nothing crashes at the end of the scenario either."""
    app, wall = make_app(drill)
    sent: list[str] = []
    app.drill_elsewhere = lambda text: sent.append(text) or True
    async with app.run_test(size=SIZE) as pilot:
        await tick(app, pilot, wall, 5)
        real = app.player
        app.player = type("T0", (), {"t0": real.t0})()  # what attach keeps: the scenario's t0
        await run_line(app, pilot, "hint")
        await run_line(app, pilot, "debrief out.md")
        assert sent == ["hint", "debrief out.md"]
        assert "no drill is running" not in screen_text(app)
        app.drill_over()  # the end of the scenario on such a console: nothing to open
        assert not isinstance(app.screen, DebriefScreen)
        app.drill_elsewhere = lambda text: False  # a console that cannot hand them on
        await run_line(app, pilot, "hint")
        assert "the drill runs on the server" in screen_text(app)
        app.player = real


@pytest.mark.parametrize("at_end", [False, True])
async def test_a_saved_drill_replays_with_twin_run_to_the_same_score(drill, tmp_path, at_end):
    """`:save` mid-drill or after it: the file carries the drill, the hint and the
    operator's command as the operator's, and `twin run` scores it as the session did."""
    from twin.cli import main

    app, wall = make_app(drill)
    out = tmp_path / "saved.yaml"
    async with app.run_test(size=SIZE) as pilot:
        await tick(app, pilot, wall, 33)
        await run_line(app, pilot, "hint")
        await tick(app, pilot, wall, 2)
        await run_line(app, pilot, "repair row-a-pdu-1")
        await tick(app, pilot, wall, 100 if at_end else 20)
        if at_end:
            await settle(app, pilot)
            await pilot.press("escape")  # the debrief screen
        await run_line(app, pilot, f"save {out}")
        live = app.drill.report(app.player.t_rel(), app.player.applied)
    text = out.read_text()
    assert "hint: true, by: operator}" in text and "repair row-a-pdu-1, by: operator}" in text
    assert "critical_tasks:" in text
    report = tmp_path / "r.json"
    assert main(["run", str(out), "--report", str(report), "--quiet"]) in (0, 1)
    replay = json.loads(report.read_text())["drill"]
    assert replay["score"] == live["score"] < 100
    assert replay["hints_taken"] == 1 and replay["finished"] == live["finished"] == at_end
    assert [t["outcome"] for t in replay["tasks"]] == [t["outcome"] for t in live["tasks"]]
    assert replay["tasks"][0]["outcome"] == "on time"
    assert replay["breakdown"] == pytest.approx(live["breakdown"])
