"""A scenario played live in the control room, and a live session recorded (Pilot).

Every test runs the app on a clock it controls (`ManualWall`), on the small factory of
``engine_helpers`` (six racks, half-second ticks), so a few minutes of simulated time
cost a fraction of a second. The scenario below has one of each kind of event (timed,
``every``, ``when``) and expectations that pass, fail and wait.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_tui import screen_text, settle

from twin.cli import main
from twin.core.scenario import Runner, load_scenario
from twin.frontends.playback import ScenarioPlayer
from twin.frontends.tui.app import TwinApp
from twin.frontends.tui.clock import ManualWall
from twin.frontends.tui.screens.confirm import ConfirmScreen

SIZE = (100, 30)

DRILL = """\
name: drill
description: A PDU lost under a demand surge
layout: {layout}
seed: 4
warmup: 20s
duration: 3m
overrides:
  routing: round-robin
events:
  - at: 30s
    do: fail row-a-pdu-1 for 1m     # row-a-01 and -02 go dark, back at 90s
  - every: 40s
    from: 10s
    until: 100s
    do: surge 1.2 10s
  - when: active_faults >= 2        # the operator adds a fault on top of the script's
    do: repair spine-1
expect:
  - active_faults == 0 at 20s
  - rack row-a-01 state == down during 31s..89s
  - rack row-a-02 state == ok during 25s..60s
  - rack row-a-01 state == ok during 100s..3m
  - slo_attainment >= 0.1 always
  - output_tok_s >= 1 at end
{extra}"""


@pytest.fixture
def drill(small, tmp_path) -> Path:
    path = tmp_path / "drill.yaml"
    path.write_text(DRILL.format(layout=small.file, extra=""))
    return path


def make_app(scenario, **kw) -> tuple[TwinApp, ManualWall]:
    wall = ManualWall()
    kw.setdefault("step_budget_s", None)
    sc = load_scenario(scenario) if isinstance(scenario, Path) else scenario
    return TwinApp(scenario=sc, wall=wall, live=False, **kw), wall


async def tick(app, pilot, wall, seconds: float) -> None:
    wall.advance(seconds)
    await app.frame()
    await pilot.pause()


def script(app) -> list[tuple[float, str]]:
    return [(a.t_s, a.text) for a in app.player.applied if a.source == "script"]


def verdict(app, start: str) -> str:
    return next(v.status for v in app.ctx.script.verdicts if v.text.startswith(start))


def same_summary(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k]))
        for k in a
    )


# ---- playing ---------------------------------------------------------------------------------
async def test_warm_up_first_then_the_scenario_clock_starts_at_0_at_1x(drill):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        assert app.player.t0 == 20.0 and app.snapshot.t_s == 20.0
        assert app.clock.speed == 1.0 and not app.clock.paused
        header = screen_text(app).splitlines()[0]
        assert "T+00:00/3m00s" in header
        await tick(app, pilot, wall, 5.0)
        assert "T+00:05/3m00s" in screen_text(app).splitlines()[0]


async def test_timed_and_every_events_fire_at_their_scenario_times_whatever_the_frames(drill):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        for _ in range(4):  # frames at T+7, 14, 21, 28: only the first surge (at 10 s)
            await tick(app, pilot, wall, 7.0)
        assert script(app) == [(10.0, "surge 1.2 10s")]
        await tick(app, pilot, wall, 7.0)  # T+35: the PDU failed at 30 s exactly, not at 35
        assert script(app)[-1] == (30.0, "fail row-a-pdu-1 for 1m")
        assert "▸ T+00:30 scenario: fail row-a-pdu-1 for 1m: pdu row-a-pdu-1 failed" in screen_text(
            app
        )
        app.run_line("speed 60")
        await tick(app, pilot, wall, 1.0)  # one frame of 60 s (to T+95): each surge at its time
        assert script(app)[-2:] == [(50.0, "surge 1.2 10s"), (90.0, "surge 1.2 10s")]


async def test_played_to_the_end_it_fires_and_judges_exactly_as_twin_run_and_pauses(drill):
    headless = Runner(load_scenario(drill)).run()
    app, wall = make_app(drill, speed=600.0)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await tick(app, pilot, wall, 1.0)  # 600 s asked for: the scenario stops at its end, 180 s
        st = app.ctx.script
        assert st.status == "ended" and st.t_s == 180.0 and app.clock.paused
        assert [(a.t_s, a.text, a.result) for a in app.player.applied] == headless.applied
        assert [(v.status, v.observed, v.at_s) for v in app.player.verdicts] == [
            (v.status, v.observed, v.at_s) for v in headless.verdicts
        ]
        assert same_summary(app.driver.factory.run_summary(), headless.factory.run_summary())
        text = screen_text(app)
        assert "scenario over at T+03:00: 5 of 6 expectations held, 1 failed · paused" in text
        assert "ended" in text.splitlines()[0]
        await pilot.press("space")  # resumed: the factory runs on without the script
        await tick(app, pilot, wall, 1.0)
        assert app.snapshot.t_s > app.player.end_s


async def test_a_when_event_fires_on_a_condition_the_operator_brings_about(drill):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await tick(app, pilot, wall, 40.0)  # the PDU is down (one fault): the condition waits
        assert "repair spine-1" not in [t for _, t in script(app)]
        app.run_line("fail spine-1")  # on top of the script: now two faults
        await settle(app, pilot)
        assert [f[0] for f in app.snapshot.active_faults] == ["row-a-pdu-1", "spine-1"]
        await tick(app, pilot, wall, 1.0)  # the next tick: the script repairs the spine
        assert script(app)[-1] == (40.5, "repair spine-1")
        assert [f[0] for f in app.snapshot.active_faults] == ["row-a-pdu-1"]
        await pilot.press("6")
        await pilot.pause()
        text = screen_text(app)
        assert "● you: fail spine-1" in text and "▸ repair spine-1" in text


async def test_the_timeline_shows_what_happened_and_what_comes_next(drill):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("6")
        await tick(app, pilot, wall, 12.0)
        assert app.room.view.TITLE == "Timeline"
        text = screen_text(app)
        assert "6 Timeline" in text and "scenario drill playing T+00:12 of 3m00s" in text
        assert "T+00:10 ▸ surge 1.2 10s" in text  # happened
        assert "── now T+00:12" in text
        assert "T+00:30 ▹ fail row-a-pdu-1 for 1m  in 18s" in text  # next
        assert "T+00:50 ▹ surge 1.2 10s  every 40s until 1m40s · in 38s" in text
        assert "armed   ◇ repair spine-1  when active_faults >= 2 · now 0" in text
        assert text.index("T+00:10 ▸") < text.index("── now") < text.index("T+00:30 ▹")


async def test_blind_hides_what_comes_next(drill):
    app, wall = make_app(drill, blind=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("6")
        await tick(app, pilot, wall, 12.0)
        text = screen_text(app)
        assert "T+00:10 ▸ surge 1.2 10s" in text and "blind" in text
        assert "what comes next is hidden in this session (--blind)" in text
        assert "fail row-a-pdu-1" not in text and "armed" not in text and "to come" not in text
        # no expectation, no verdict and no count of either: nothing says what the drill grades
        assert "expectation" not in text and "row-a-02 state" not in text and "pending" not in text
        assert "holding" not in text and "event" not in text.split("Timeline", 1)[1]


@pytest.mark.parametrize("blind", [True, False])
async def test_blind_on_a_wide_screen_hides_the_plot_too(drill, blind):
    app, wall = make_app(drill, blind=blind)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.frame()
        await pilot.press("6")
        await tick(app, pilot, wall, 5.0)
        text = screen_text(app)
        assert (
            "A PDU lost under a demand surge" in text
        ) is not blind  # the description tells what comes
        assert ("rack row-a-01 state" in text) is not blind


async def test_blind_start_banner_counts_nothing(drill):
    app, _ = make_app(drill, blind=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.pause()
        text = screen_text(app)
        assert "scenario drill (blind)" in text and "what comes next is hidden" in text
        assert "expectation" not in text and "event" not in text


async def test_not_blind_start_banner_counts_events_and_expectations(drill):
    app, _ = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.pause()
        assert "expectations; T+00:00 is now" in screen_text(app)


async def test_expectation_verdicts_update_as_the_scenario_plays(drill):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("6")
        await tick(app, pilot, wall, 10.0)
        assert verdict(app, "active_faults == 0 at 20s") == "pending"
        assert verdict(app, "slo_attainment >= 0.1 always") == "holding"
        assert verdict(app, "rack row-a-02 state == ok") == "pending"
        await tick(app, pilot, wall, 16.0)  # T+26
        assert verdict(app, "active_faults == 0 at 20s") == "held"
        assert verdict(app, "rack row-a-02 state == ok") == "holding"
        await tick(app, pilot, wall, 14.0)  # T+40: the PDU went at 30 s
        assert verdict(app, "rack row-a-02 state == ok") == "failed"
        assert verdict(app, "rack row-a-01 state == down") == "holding"
        text = screen_text(app)
        assert (
            "✘ FAILED  rack row-a-02 state == ok during 25s..60s" in text
            and "at T+00:30 saw down" in text
        )
        assert "✔ held    active_faults == 0 at 20s" in text
        assert "· pending output_tok_s >= 1 at end" in text and "now " in text
        assert "expectations · 1 held · 2 holding · 1 failed · 2 pending" in text


async def test_abort_if_raises_an_alarm_and_pauses(small, tmp_path):
    path = tmp_path / "abort.yaml"
    path.write_text(
        DRILL.format(layout=small.file, extra="abort_if:\n  - rack row-a-01 state == down\n")
    )
    app, wall = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await tick(app, pilot, wall, 45.0)
        st = app.ctx.script
        assert st.status == "aborted" and st.aborted.startswith("rack row-a-01 state == down at 30")
        assert app.clock.paused and app.snapshot.t_s == app.player.t0 + 30.0
        text = screen_text(app)
        assert "aborted" in text.splitlines()[0] and "alarm" in text.splitlines()[0]
        assert "scenario aborted: rack row-a-01 state == down" in text
        assert any(e.severity == "critical" and e.source == "scenario" for e in app.alarms.entries)
        t = app.snapshot.t_s
        await tick(app, pilot, wall, 10.0)
        assert app.snapshot.t_s == t  # paused on the instant it aborted


async def test_a_layout_session_has_five_views_and_6_says_how_to_play_a_scenario(small):
    app = TwinApp(small, wall=ManualWall(), live=False, step_budget_s=None)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("6")
        await pilot.pause()
        text = screen_text(app)
        assert "Timeline" not in text and app.room.view.TITLE == "Floor"
        assert "6 is the scenario timeline: start twin with a scenario file" in text


async def test_read_only_observers_watch_the_script_play(drill):
    app, wall = make_app(drill, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await tick(app, pilot, wall, 31.0)
        assert script(app) == [(10.0, "surge 1.2 10s"), (30.0, "fail row-a-pdu-1 for 1m")]
        app.run_line("repair row-a-pdu-1")
        await settle(app, pilot)
        assert "read-only session" in screen_text(app) and app.snapshot.active_faults


# ---- recording ------------------------------------------------------------------------------
async def test_a_recorded_scenario_session_replays_to_the_same_run(drill, tmp_path):
    rec = tmp_path / "session.yaml"
    app, wall = make_app(drill, record=rec)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await tick(app, pilot, wall, 12.25)
        app.run_line(
            "route least-loaded"
        )  # the operator, between two ticks: it lands on the next (12.5 s)
        await settle(app, pilot)
        await tick(app, pilot, wall, 23.0)
        app.run_line("drain row-b-01")
        await settle(app, pilot)
        # written as applied: the file replays already, before anyone quits (a crash loses nothing)
        so_far = load_scenario(rec)
        assert [c.text for e in so_far.events for c in e.commands] == [
            "surge 1.2 10s",
            "route least-loaded",
            "fail row-a-pdu-1 for 1m",
            "drain row-b-01",
        ]
        app.run_line(f"save {tmp_path / 'saved.yaml'}")  # :save writes the same, complete
        saved = load_scenario(tmp_path / "saved.yaml")
        assert saved.warmup_s == 20.0 and saved.duration_s == 35.5
        assert [(e.at_s, e.commands[0].text) for e in saved.events] == [
            (e.at_s, e.commands[0].text) for e in so_far.events
        ]
        await pilot.press("plus")  # 10×
        await tick(app, pilot, wall, 4.0)
        app.run_line("fail spine-1")  # a second fault: brings on the scripted repair
        await settle(app, pilot)
        await tick(app, pilot, wall, 2.05)
        assert app.unsaved == 0
        await pilot.press("q")  # nothing is unsaved, but the drill runs and is being recorded: asks
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert (
            "· the drill drill at T+01:35, still running" in text
            and "· ending the recording to" in text
        )
        await pilot.press("y")
        await pilot.pause()
        assert not app.is_running
    live = app.driver.factory
    sc = load_scenario(rec)
    assert sc.warmup_s == 20.0 and sc.seed == 4 and sc.layout.routing == "round-robin"
    assert sc.duration_s == live.now - 20.0  # closed with the session's end time
    replay = Runner(sc).run()
    assert (
        [(t, c) for t, c, _ in replay.applied]
        == app.recorded
        == [
            (10.0, "surge 1.2 10s"),
            (12.5, "route least-loaded"),
            (30.0, "fail row-a-pdu-1 for 1m"),
            (35.5, "drain row-b-01"),
            (50.0, "surge 1.2 10s"),
            (75.5, "fail spine-1"),
            (76.0, "repair spine-1"),
            (90.0, "surge 1.2 10s"),
        ]
    )
    assert replay.factory.now == live.now
    assert same_summary(replay.factory.run_summary(), live.run_summary())


async def test_a_recorded_layout_session_with_random_faults_replays_to_the_same_run(
    small, tmp_path
):
    rec = tmp_path / "layout-session.yaml"
    wall = ManualWall()
    app = TwinApp(small, seed=9, faults=True, wall=wall, live=False, step_budget_s=None, record=rec)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await tick(app, pilot, wall, 3.3)
        app.run_line("surge 1.5 20s")
        await settle(app, pilot)
        await tick(app, pilot, wall, 10.0)
        app.run_line("fail row-a-03")
        await settle(app, pilot)
        await tick(app, pilot, wall, 7.0)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "Quit ending the recording" in screen_text(
            app
        )
        await pilot.press("y")
        await pilot.pause()
    live = app.driver.factory
    sc = load_scenario(rec)
    assert [(e.at_s, e.commands[0].text) for e in sc.events] == [
        (0.0, "faults on"),
        (3.5, "surge 1.5 20s"),
        (13.5, "fail row-a-03"),
    ]  # each on its tick (0.5 s)
    replay = Runner(sc).run()
    assert replay.factory.now == live.now
    assert same_summary(replay.factory.run_summary(), live.run_summary())


async def test_q_asks_before_quitting_a_drill_that_is_still_running(drill):
    app, wall = make_app(drill)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await tick(
            app, pilot, wall, 12.0
        )  # the script applied a command: nothing to save, but it runs
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Quit the drill drill at T+00:12, still running?" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        app.run_line("route least-loaded")
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        text = screen_text(app)
        assert (
            isinstance(app.screen, ConfirmScreen)
            and "1 command not saved" in text
            and "still running" in text
        )
        await pilot.press("y")
        await pilot.pause()
        assert not app.is_running


def test_the_player_stops_where_runner_stops_whatever_the_step(drill):
    """Frames of any length fire the same events at the same times as `twin run`."""
    sc = load_scenario(drill)
    headless = Runner(sc).run()
    for step in (0.3, 7.7):
        player = ScenarioPlayer(sc, Runner(sc).factory)
        player.run(step)
        assert [(a.t_s, a.text, a.result) for a in player.applied] == headless.applied
        assert [(v.status, v.observed, v.at_s) for v in player.verdicts] == [
            (v.status, v.observed, v.at_s) for v in headless.verdicts
        ]


# ---- the command line ------------------------------------------------------------------------
def test_a_bad_scenario_file_is_one_line_and_exit_2_without_starting_the_tui(
    tmp_path, capsys, monkeypatch
):
    started = []
    monkeypatch.setattr(TwinApp, "run", lambda self: started.append(self))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nlayout: default\nduration: 10m\nexpect:\n  - tok_per_sec >= 5 at end\n"
    )
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"twin: {bad}:5: expect[1]: unknown metric 'tok_per_sec'")
        and "\n" not in err
    )
    assert "Traceback" not in err and not started


def test_blind_needs_a_scenario_and_record_must_not_overwrite_it(drill, capsys, monkeypatch):
    monkeypatch.setattr(TwinApp, "run", lambda self: None)
    assert main(["default", "--blind"]) == 2
    assert "--blind hides a scenario's upcoming events" in capsys.readouterr().err
    assert main([str(drill), "--record", str(drill)]) == 2
    assert "is the file being played" in capsys.readouterr().err
    assert main([str(drill), "--faults"]) == 2
    assert "drop --faults" in capsys.readouterr().err
