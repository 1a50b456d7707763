"""The live control room, driven as an operator drives it (Textual's Pilot).

Every test runs the app on a clock it controls (`ManualWall`) with a fixed seed, and asks
for frames explicitly, so what the screen shows is deterministic: "the wall clock moved
one second at 10×" is `wall.advance(1)` followed by `await app.frame()`.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from twin.core.commands import VERBS
from twin.core.engine.snapshot import RACK_DOWN, RACK_DRAINED, RACK_OK
from twin.frontends.tui.app import TwinApp
from twin.frontends.tui.clock import ManualWall
from twin.frontends.tui.screens.confirm import ConfirmScreen
from twin.frontends.tui.screens.control_room import ControlRoom
from twin.frontends.tui.screens.help import HelpScreen
from twin.frontends.tui.widgets.cellgrid import CellGrid

SIZE = (100, 30)


def screen_text(app) -> str:
    """What the terminal shows, as plain text."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def make_app(layout="default", **kw) -> tuple[TwinApp, ManualWall]:
    wall = ManualWall()
    kw.setdefault("warm_up_s", 30.0)
    kw.setdefault("step_budget_s", None)
    app = TwinApp(layout, seed=1, wall=wall, live=False, **kw)
    return app, wall


async def settle(app, pilot) -> None:
    """Let queued commands reach the engine and the frame reach the screen."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    if app.driver.has_pending or app._in_flight:
        await app.frame()
        await pilot.pause()


async def run_line(app, pilot, line: str) -> None:
    """`:` then the line (set at once, as a paste would) then Enter; typing is tested on its own."""
    await pilot.press("colon")
    app.room.command_bar.value = line
    await pilot.press("enter")
    await pilot.pause()
    if isinstance(app.screen, ConfirmScreen):  # a command on many racks asks, as its key does
        await pilot.press("y")
    await settle(app, pilot)


async def tick(app, pilot, wall, seconds: float) -> None:
    wall.advance(seconds)
    await app.frame()
    await pilot.pause()


# ---- views ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "title", "shows"),
    [
        ("1", "Floor", ["row-a", "nvl-06", "heat state"]),
        ("2", "Fabric", ["spines", "uplinks", "scale-up domains"]),
        ("3", "Power", ["feeds", "cooling", "facility", "envelope" if False else "headroom"]),
        (
            "4",
            "Serving",
            ["deployments", "request classes", "llama-70b", "TTFT p95/SLO", "kv-aware"],
        ),
        ("5", "Events", ["alarms by cause", "no alarms match"]),
    ],
)
async def test_each_number_key_opens_its_view_with_its_content(key, title, shows):
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press(key)
        await pilot.pause()
        assert title == app.room.view.TITLE
        text = screen_text(app)
        for s in shows:
            assert s in text, s
        # the header and gauges are always there
        assert "Default factory" in text and "out tok/s" in text and "TTFT p95" in text


async def test_header_shows_factory_clock_speed_routing_and_alarms():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
        assert "Default factory" in header and "d1 12:00:30" in header
        assert "1×" in header and "kv-aware" in header and "no alarms" in header


async def test_an_alarm_too_long_for_its_line_ends_in_an_ellipsis_and_reads_whole_below():
    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "cap row-a 100kW")  # below the row's floor: racks shed
        await tick(app, pilot, wall, 6.0)  # once the floor clock's drop has settled
        await pilot.press("5")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        clipped = [ln for ln in lines if "row-a" in ln and ln.rstrip().endswith("…")]
        assert clipped, "a clipped alarm line must say it is clipped"
        # the selected alarm's whole message is in the detail panel
        assert any("shedding load" in ln for ln in lines)


# ---- commands ------------------------------------------------------------------------------
async def test_failing_a_pdu_from_the_command_line_shows_in_events_and_in_the_power_view():
    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        before = app.snapshot.gauges["it_power_kw"]
        await run_line(app, pilot, "fail row-a-pdu-1")
        # at once: the event is in the log and the message line says what happened
        assert any(
            e.source == "row-a-pdu-1" and e.severity == "critical" for e in app.alarms.entries
        )
        assert "row-a-pdu-1 failed" in screen_text(app)
        await pilot.press("5")
        await pilot.pause()
        events = screen_text(app)
        assert "row-a-pdu-1" in events and "pdu failed" in events
        assert "1 alarm" in events.splitlines()[0]
        # a second of wall time at 1× later the racks behind it are down and the power moved
        await tick(app, pilot, wall, 1.0)
        snap = app.snapshot
        idx = app.ctx.topology.rack_index
        assert all(
            snap.racks.state[idx[r]] == RACK_DOWN for r in app.layout.pdu("row-a-pdu-1").racks
        )
        # (total IT power moves a little with the load each tick; the dark racks' is gone)
        assert (
            sum(snap.racks.power_kw[idx[r]] for r in app.layout.pdu("row-a-pdu-1").racks)
            == 0
            < before
        )
        await pilot.press("3")
        await pilot.pause()
        power = app.room.view
        assert power.grid.glyphs[power.ids.index("row-a-pdu-1")] == "✕"
        power.grid.select(power.labels.index("row-a"), 0)
        await pilot.pause()
        text = screen_text(app)
        assert "pdu row-a-pdu-1" in text and "✕ failed" in text


async def test_the_fabric_view_names_a_switchs_uplinks_down_and_degraded():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "degrade link-leaf-1-spine-1 50%")
        await run_line(app, pilot, "degrade link-leaf-2-spine-1 25%")
        await run_line(app, pilot, "fail link-leaf-3-spine-1")
        await pilot.press("2")
        await pilot.pause()
        fabric = app.room.view
        spine = next(s for s in app.snapshot.switches if s.id == "spine-1")
        fabric.grid.select(0, 0)  # spine-1
        await pilot.pause()
        text = screen_text(app)
        assert f"spine spine-1 · ◆ 1 of {spine.links} uplinks down, 2 degraded" in text
        fabric.grid.select(1, 0)  # leaf-1, row-a's first leaf: one uplink at half
        await pilot.pause()
        assert "leaf leaf-1 · ◆ 1 of 8 uplinks degraded" in screen_text(app)
        fabric.grid.select(0, 1)  # spine-2: nothing wrong
        await pilot.pause()
        assert "spine spine-2 · ■ ok · uplinks from every leaf" in screen_text(app)


async def test_a_bad_command_gives_an_inline_error_and_the_simulation_keeps_running():
    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "flail rack-a")
        text = screen_text(app)
        assert "unknown command 'flail'" in text and "did you mean 'fail'" in text
        assert app.room.command_bar.parent.display  # still open, the line kept to fix it
        assert app.room.command_bar.value == "flail rack-a"
        await pilot.press("escape")
        await run_line(app, pilot, "fail rack-zz")  # parses, but no such rack: the engine says so
        assert "unknown component 'rack-zz'" in screen_text(app)
        t0 = app.snapshot.t_s
        await tick(app, pilot, wall, 2.0)
        assert app.snapshot.t_s == pytest.approx(t0 + 2.0)


async def test_colon_after_a_refused_line_starts_a_fresh_one_as_vim_and_k9s_do():
    """An operator whose line was refused presses `:` again to start over: the new command
    must not land after the old text ("fail pdu-zz:fail pdu-a1")."""
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "flail rack-a")  # refused by the grammar: stays open
        bar = app.room.command_bar
        assert bar.parent.display and bar.value == "flail rack-a"
        await pilot.press("colon", *"drain")
        assert bar.value == "drain"
        await pilot.press("escape")
        await run_line(app, pilot, "fail rack-zz")  # refused by the engine: stays open too
        assert bar.parent.display and bar.value == "fail rack-zz"
        await pilot.press("colon", *"speed 2")
        assert bar.value == "speed 2"
        # once the operator edits the refused line, `:` is text like any other key
        await pilot.press("escape")
        await run_line(app, pilot, "flail rack-a")
        await pilot.press("backspace", "colon")
        assert bar.value == "flail rack-:"


async def test_command_line_completes_verbs_and_component_ids():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("colon", *"fa", "tab")
        assert app.room.command_bar.value == "fa"  # fail or faults: Tab lists both
        await pilot.pause()
        assert "fail  faults" in screen_text(app)
        await pilot.press("i", "tab")
        assert app.room.command_bar.value == "fail "
        await pilot.press(*"row-a-pdu-", "tab")
        await pilot.pause()
        assert "row-a-pdu-1" in screen_text(app) and "row-a-pdu-4" in screen_text(
            app
        )  # the candidates
        await pilot.press("1", "enter")
        await pilot.pause()
        await pilot.press("y")  # a PDU: asks first
        await settle(app, pilot)
        assert "row-a-pdu-1" in app.snapshot.active_faults[0][0]
        assert not app.room.command_bar.parent.display  # done: the line closes
        # keys typed on the command line are text, never bindings (q does not quit, f does not fail)
        await pilot.press("colon", "q", "f", "space")
        await pilot.pause()
        assert app.is_running and app.room.command_bar.value == "qf " and not app.clock.paused


async def test_read_only_refuses_commands_but_navigation_works():
    app, _ = make_app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        assert "read-only" in screen_text(app).splitlines()[0]
        await run_line(app, pilot, "fail row-a-pdu-1")
        assert "read-only session" in screen_text(app)
        await pilot.press("escape", "right", "f")  # a selection key is refused too
        await settle(app, pilot)
        assert app.snapshot.active_faults == ()
        await pilot.press("space")
        assert not app.clock.paused
        await pilot.press("2")
        await pilot.pause()
        assert app.room.view.TITLE == "Fabric"


async def test_pause_stops_the_clock_and_resume_restarts_it():
    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        t0 = app.snapshot.t_s
        await pilot.press("space")
        await tick(app, pilot, wall, 5.0)
        assert app.snapshot.t_s == t0
        assert "paused" in screen_text(app).splitlines()[0]
        await pilot.press("space")
        await tick(app, pilot, wall, 2.0)
        assert app.snapshot.t_s == pytest.approx(t0 + 2.0)
        await run_line(app, pilot, "pause")
        await tick(app, pilot, wall, 3.0)
        assert app.snapshot.t_s == pytest.approx(t0 + 2.0)


async def test_speed_keys_and_the_speed_command_change_the_rate_of_simulated_time():
    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        t0 = app.snapshot.t_s
        await pilot.press("plus")
        await tick(app, pilot, wall, 1.0)
        assert app.snapshot.t_s == pytest.approx(t0 + 10.0)
        assert "10×" in screen_text(app).splitlines()[0]
        await pilot.press("minus")
        await tick(app, pilot, wall, 1.0)
        assert app.snapshot.t_s == pytest.approx(t0 + 11.0)
        await run_line(app, pilot, "speed 60")
        await tick(app, pilot, wall, 0.5)
        assert app.snapshot.t_s == pytest.approx(t0 + 41.0)
        assert any("speed 1× → 60×" in e.message for e in app.alarms.entries)


async def test_max_speed_runs_flat_out_and_reports_the_rate_kept():
    app, wall = make_app(step_budget_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        t0 = app.snapshot.t_s
        await run_line(app, pilot, "speed max")
        for _ in range(3):
            await tick(app, pilot, wall, 0.1)
        assert app.snapshot.t_s > t0 + 2.0
        assert "max" in screen_text(app).splitlines()[0]


# ---- keys on the selection -----------------------------------------------------------------
async def test_fail_on_a_rack_acts_at_once_and_on_a_row_asks_first():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("right", "right", "f")  # rack row-a-02
        await settle(app, pilot)
        assert app.snapshot.active_faults[0][:2] == ("row-a-02", "rack")
        await pilot.press("down", "home", "f")  # the whole of row-b: asks
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert [f[0] for f in app.snapshot.active_faults] == ["row-a-02"]
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        idx = app.ctx.topology.rack_index
        assert all(
            app.snapshot.racks.state[idx[r]] == RACK_DRAINED for r in app.layout.row("row-b").racks
        )
        await pilot.press("up", "right", "r")  # repair row-a-02 (rack 1 of row-a after the label)
        await settle(app, pilot)
        assert app.snapshot.racks.state[idx["row-a-01"]] == RACK_OK


async def test_typed_fail_of_a_loop_and_swap_of_a_row_ask_first_like_their_keys():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        for line, question in (
            ("fail loop-1", "Fail loop loop-1?"),
            ("swap row-b gb300", "Swap row row-b to gb300?"),
        ):
            await pilot.press("colon")
            app.room.command_bar.value = line
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen), line
            assert question in screen_text(app)
            assert ("lose cooling" in screen_text(app)) is (
                line == "fail loop-1"
            )  # what a loop failure does
            await pilot.press("n")
            await settle(app, pilot)
            assert not app.snapshot.active_faults and f"{line}: cancelled" in screen_text(app)
            assert app.room.command_bar.value == line  # kept, to change or drop
            await pilot.press("escape")
        await pilot.press("colon")
        app.room.command_bar.value = "fail loop-1"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert [f[0] for f in app.snapshot.active_faults] == ["loop-1"]
        await pilot.press("colon")  # a single rack does not ask (nor does its key)
        app.room.command_bar.value = "fail row-a-02"
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "row-a-02" in [f[0] for f in app.snapshot.active_faults]


async def test_swap_asks_which_gpu_and_starts_the_swap():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("right", "s")
        await pilot.pause()
        assert "to which GPU" in screen_text(app)
        from textual.widgets import OptionList

        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        options.highlighted = ids.index("h200")
        await pilot.press("enter")
        await settle(app, pilot)
        assert any("swap to h200 started" in e.message for e in app.alarms.entries)


async def test_a_swap_that_would_trip_its_pdus_says_so_before_it_starts():
    """gb300 racks draw more than row-a's PDUs are rated for: the key's dialog asks again with
    the engine's warning, and the typed line's confirmation carries it too (issue 9)."""
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("right", "s")
        await pilot.pause()
        from textual.widgets import OptionList

        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        options.highlighted = ids.index("gb300")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "over its 210 kW rating" in text and "breaker will trip" in text
        await pilot.press("n")
        await settle(app, pilot)
        assert not any("swap to gb300 started" in e.message for e in app.alarms.entries)
        await pilot.press("colon")
        app.room.command_bar.value = "swap row-b gb300"
        await pilot.press("enter")
        await pilot.pause()
        assert "row-b-pdu-1 would carry 528 kW at peak" in screen_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        assert any("swap to gb300 started" in e.message for e in app.alarms.entries)


async def test_alarms_are_acknowledged_from_the_events_view():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "fail row-a-pdu-1")
        await run_line(app, pilot, "fail spine-2")
        assert app.alarms.active() == 2
        await pilot.press("5", "a")  # grouped: the newest cause, spine-2, and every alarm under it
        await pilot.pause()
        assert app.alarms.active() == 1
        assert "1 alarm" in screen_text(app).splitlines()[0]
        await pilot.press(
            "v", "a"
        )  # the whole log: the newest line is the operator's command, not an alarm
        await pilot.pause()
        assert "select an alarm" in screen_text(app)
        await pilot.press("A")
        await pilot.pause()
        assert app.alarms.active() == 0 and "no alarms" in screen_text(app).splitlines()[0]


async def test_slash_filters_the_event_log():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "fail row-a-pdu-1")
        await run_line(app, pilot, "route least-loaded")
        await pilot.press("5", "v", "slash", *"spine")  # the whole log, commands and notes too
        await pilot.pause()
        assert "no events match" in screen_text(app)
        await pilot.press("ctrl+u", *"route")
        await pilot.pause()
        text = screen_text(app)
        assert "routing kv-aware → least-loaded" in text and "pdu failed" not in text
        await pilot.press("escape")
        await pilot.pause()
        assert "pdu failed" in screen_text(app)


async def test_slash_on_the_floor_dims_the_racks_that_do_not_match():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("slash", *"row-b", "enter")
        await pilot.pause()
        grid = app.room.view.grid
        assert sum(grid.dim) == 16 and "filter: row-b" in screen_text(app)
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert grid.dim is None


async def test_q_and_ctrl_q_quit():
    for key in ("q", "ctrl+q"):
        app, _ = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await app.frame()
            await pilot.press(key)
            await pilot.pause()
            assert not app.is_running


async def test_save_writes_a_replayable_scenario_and_q_asks_while_commands_are_unsaved(tmp_path):
    from twin.core.scenario import load_scenario

    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "fail row-a-pdu-1")
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "1 command not saved" in screen_text(app)
        await pilot.press("n")
        await tick(app, pilot, wall, 5.0)
        await run_line(app, pilot, "route least-loaded")
        await run_line(app, pilot, f"save {tmp_path / 'drill.yaml'}")
        assert "saved 2 commands" in screen_text(app)
        scenario = load_scenario(tmp_path / "drill.yaml")
        assert [(e.at_s, [c.text for c in e.commands]) for e in scenario.events] == [
            (30.0, ["fail row-a-pdu-1"]),
            (35.0, ["route least-loaded"]),
        ]
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_heat_key_cycles_state_utilisation_temperature():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("h")
        await pilot.pause()
        assert "heat utilisation" in screen_text(app)
        await pilot.press("h")
        await pilot.pause()
        assert "heat temperature" in screen_text(app)


# ---- help, palette, size ------------------------------------------------------------------
async def test_help_lists_every_binding_of_the_view_and_every_command():
    app, _ = make_app()
    async with app.run_test(size=(100, 60)) as pilot:
        await app.frame()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "Help — Floor view" in text
        for usage, _ in VERBS.values():
            assert usage in text, usage
        for b in app.key_bindings():
            assert b.description in text, b.description
        await pilot.press("escape")
        await pilot.press("5", "f1")
        await pilot.pause()
        assert "Help — Events view" in str(app.screen.query_one("#help-text").render())


async def test_palette_lists_every_command():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.press("ctrl+p")
        await pilot.pause()
        from textual.command import CommandPalette

        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"route power")
        await pilot.pause(0.3)
        assert ":route power-aware" in screen_text(app)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.snapshot.routing == "power-aware"
        from twin.frontends.tui.palette import palette_entries

        names = [n for n, _, _ in palette_entries(app)]
        for verb in VERBS:
            assert any(n.startswith(f":{verb}") for n in names), verb


async def test_a_terminal_below_80x24_says_it_is_too_small():
    app, _ = make_app()
    async with app.run_test(size=(70, 20)) as pilot:
        await app.frame()
        await pilot.pause()
        text = screen_text(app)
        assert "terminal too small" in text and "80×24" in text and "70×20" in text
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert "terminal too small" not in screen_text(app)


async def test_the_hyperscale_floor_is_one_widget_and_navigable():
    app, _ = make_app("hyperscale", warm_up_s=5.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.frame()
        await pilot.pause()
        floor = app.room.view
        assert len(floor.query(CellGrid)) == 1 and len(list(floor.query("*"))) < 10
        for _ in range(25):
            await pilot.press("down")
        await pilot.press("right")
        await pilot.pause()
        assert floor.selection() == "h3-06-01"
        assert "rack h3-06-01" in screen_text(app)


async def test_a_click_selects_a_rack():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        grid = app.room.view.grid
        await pilot.click(grid, offset=(1 + 7 + 2 * 4, 2))  # padding, label, fifth rack; third row
        await pilot.pause()
        assert app.room.view.selection() == "row-c-05"


# ---- gauges that stay readable -------------------------------------------------------------
def _swamped(snap, ttft_s: float = 1566.0):
    """The snapshot as it would be with every class queueing for ``ttft_s`` (a long outage)."""
    from dataclasses import replace

    gauges = dict(snap.gauges, ttft_p95_s=ttft_s, shed_rps=0.0, failed_rps=8.68)
    classes = tuple(replace(c, ttft_p95_s=ttft_s) for c in snap.classes)
    return replace(snap, gauges=gauges, classes=classes)


@pytest.mark.parametrize("size", [(100, 30), (120, 40), (160, 48), (80, 24)])
async def test_a_ttft_of_1566_s_fits_its_gauge_and_says_of_what(size):
    from twin.frontends.tui.widgets.gauges import Gauge, GaugeStrip

    app, _ = make_app()
    async with app.run_test(size=size) as pilot:
        await app.frame()
        app.room.query_one(GaugeStrip).show(_swamped(app.snapshot))
        await pilot.pause()
        for gauge in app.room.query(Gauge):
            lines = str(gauge.render()).split("\n")
            assert all(len(line) <= gauge.size.width for line in lines), (gauge.spec.key, lines)
        ttft = app.room.query_one("#gauge-ttft-p95-s", Gauge)
        text = str(ttft.render())
        from twin.frontends.tui.widgets.gauges import big_digits

        assert "1566s" in text or big_digits("1566")[1] in text  # small digits, or big ones, whole
        if size[1] >= 40:  # tall: a note under the number says of what the ratio is
            assert "SLO" in text and "…" not in text
        out = str(app.room.query_one("#gauge-output-tok-s", Gauge).render())
        if size[1] >= 40:
            assert (
                "failed 8.68" in out and "shed" not in out
            )  # failed, not shed: as the Serving view says


def test_gauge_notes_never_cut_into_another_meaning():
    from twin.frontends.tui.readings import GaugeReading

    r = GaugeReading(
        "ttft_p95_s",
        "80",
        "ms",
        "ok",
        "worst class at 32% of its SLO",
        "80ms",
        ("worst 32% of SLO", "32% of SLO"),
    )
    assert r.note_for(40) == "worst class at 32% of its SLO"
    assert r.note_for(16) == "worst 32% of SLO"
    assert r.note_for(12) == "32% of SLO"


# ---- opening on a factory at steady state --------------------------------------------------
def test_the_control_room_opens_after_a_warm_up_with_progress(monkeypatch):
    from twin.cli import main
    from twin.frontends import tui_cli

    opened = []
    monkeypatch.setattr(TwinApp, "run", lambda self, *a, **k: opened.append(self))
    assert main(["hopper-hall"]) == 0
    app = opened[0]
    assert (
        app.driver.now >= tui_cli.WARM_UP_S
    )  # the first frame is a factory that has run for minutes
    seen = []
    TwinApp(
        "hopper-hall",
        seed=1,
        wall=ManualWall(),
        live=False,
        warm_up_s=120.0,
        warm_up_progress=lambda t, total: seen.append((t, total)),
    )
    assert (
        seen[-1] == (120.0, 120.0)
        and len(seen) > 5
        and all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))
    )


async def test_alarms_group_by_cause_filter_critical_and_enter_goes_to_the_component():
    from twin.frontends.tui.widgets.power import PowerView

    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "fail row-b-pdu-2")
        await run_line(app, pilot, "fail leaf-40")
        await pilot.press("5")
        await pilot.pause()
        text = screen_text(app)
        assert "alarms by cause · 2 causes" in text
        assert (
            "row-b-pdu-2" in text and "leaf-40" in text and "fail row-b-pdu-2" not in text
        )  # commands are no alarms
        await pilot.press("c")  # critical only: the leaf's warning goes
        await pilot.pause()
        text = screen_text(app)
        assert "critical only" in text and "1 cause " in text and "leaf-40" not in text
        assert (
            "racks hit: row-b-05 … row-b-08 (4 racks) · serving llama-70b (4 racks)" in text
        )  # which ones
        await pilot.press("enter")  # to the PDU, selected in the power view
        await pilot.pause()
        assert isinstance(app.room.view, PowerView) and app.room.view.selection() == "row-b-pdu-2"
        assert "pdu row-b-pdu-2" in screen_text(app)
        await pilot.press("escape")  # back to the alarms
        await pilot.pause()
        assert app.room.view.TITLE == "Events"
        await pilot.press(
            "c", "k", "enter"
        )  # every alarm again; k up to the newest cause, leaf-40: the fabric view
        await pilot.pause()
        assert app.room.view.TITLE == "Fabric" and app.room.view.selection() == "leaf-40"


# ---- drill-down and sorting ----------------------------------------------------------------
async def test_enter_drills_from_a_row_to_racks_nodes_and_gpus_and_esc_backs_out():
    from twin.frontends.tui.widgets.drill import DrillTable

    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        floor = app.room.view
        await pilot.press(
            "j", "j", "j", "j", "j", "enter"
        )  # j moves down the rows: nvl-02, then its racks
        await pilot.pause()
        table = app.room.query_one(DrillTable)
        assert table.display and table.row_count == 16 and "floor › nvl-02" in screen_text(app)
        await pilot.press("j", "j", "k")  # the second rack
        assert floor.selection() == "nvl-02-02"
        await pilot.press("enter")  # its nodes: an NVL72 rack holds 18 trays of 4 GPUs
        await pilot.pause()
        text = screen_text(app)
        assert table.row_count == 18 and "72 gb300 in 18 nodes of 4" in text and "node 1" in text
        assert "power is the rack's shared evenly" in text  # the twin models racks: it says so
        await pilot.press("enter")
        await pilot.pause()
        assert table.row_count == 4 and "gpu 0" in screen_text(app) and "node 1" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 18
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert not table.display and floor.grid.display and floor.selection() == "nvl-02"
        await pilot.press("right", "right", "enter")  # Enter on a rack of the floor: its nodes
        await pilot.pause()
        assert table.display and "floor › nvl-02-02" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert floor.selection() == "nvl-02-02"


async def test_sorting_the_racks_keeps_the_cursor_and_the_order_while_numbers_move():
    from twin.frontends.tui.widgets.drill import DrillTable

    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "fail row-a-03")  # a rack down draws almost nothing
        await tick(app, pilot, wall, 2.0)
        await pilot.press("1", "enter")  # row-a's racks, in layout order
        await pilot.pause()
        table = app.room.query_one(DrillTable)
        floor = app.room.view
        assert floor._order[:3] == ["row-a-01", "row-a-02", "row-a-03"]
        await pilot.press("j", "j")  # on row-a-03
        await pilot.press(
            "o"
        )  # by power, highest first: the failed rack goes last, the cursor with it
        await pilot.pause()
        assert "sorted by power" in screen_text(app)
        assert floor._order[-1] == "row-a-03" and floor.selection() == "row-a-03"
        power = [float(str(table.get_cell(k, "3")).rstrip("kW")) for k in floor._order]
        assert power == sorted(power, reverse=True)
        order = list(floor._order)
        await run_line(app, pilot, "surge 3 1m")
        for _ in range(5):  # the numbers move; the rows do not
            wall.advance(2.0)
            await app.frame()
            await pilot.pause()
        assert floor._order == order and floor.selection() == "row-a-03"
        await pilot.press("o", "o")  # utilisation, temperature
        await pilot.pause()
        assert "sorted by temperature" in screen_text(app)
        await pilot.press("f")  # the keys act on the rack under the cursor: row-a-03, already down
        await settle(app, pilot)
        assert "row-a-03" in screen_text(app)


# ---- baseline and time axis ----------------------------------------------------------------
async def test_b_marks_a_baseline_and_every_gauge_shows_its_change_since():
    from twin.frontends.tui.widgets.gauges import Gauge

    app, wall = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await app.frame()
        await pilot.press("b")
        await pilot.pause()
        assert "baseline marked at 12:00:30" in screen_text(app)
        await run_line(app, pilot, "surge 2 5m")
        for _ in range(4):
            await tick(app, pilot, wall, 5.0)
        text = screen_text(app)
        assert "Δ since 12:00:30" in text.splitlines()[0]  # the header says since when
        out = app.room.query_one("#gauge-output-tok-s", Gauge)
        assert out.delta.startswith("+") and out.delta.endswith(
            "%"
        )  # twice the demand: more tokens
        assert all(g.delta for g in app.room.query(Gauge))  # every gauge
        assert "Δ +" in text
        await pilot.press("B")
        await pilot.pause()
        assert (
            not any(g.delta for g in app.room.query(Gauge))
            and "Δ since" not in screen_text(app).splitlines()[0]
        )


async def test_sparklines_say_how_much_time_they_span():
    from twin.frontends.tui.widgets.gauges import Gauge

    app, wall = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await app.frame()
        for _ in range(3):
            await tick(app, pilot, wall, 10.0)
        cost = app.room.query_one("#gauge-usd-per-mtok", Gauge)
        head = str(cost.render()).split("\n")[0].rstrip()
        shown = app.snapshot.t_s - app.ctx.history_from_s  # from past the cold-start ramp to now
        assert head.startswith("$/Mtok") and head.endswith("s") and "‹" in head
        assert abs(float(head.rsplit("‹", 1)[1].rstrip("s")) - shown) <= 1.0


# ---- plain words for every number ----------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "title", "words"),
    [
        ("1", "Floor", ["util %", "over 100% ▲ means overloaded", "pfN"]),
        ("2", "Fabric", ["6.4 Tb/s = 8 × 800G"]),
        ("4", "Serving", ["queue", "requests waiting for a replica", "shed/s · failed/s"]),
        ("5", "Events", ["one line per root cause"]),
    ],
)
async def test_question_mark_explains_every_number_of_the_view_and_the_gauges(key, title, words):
    from twin.frontends.tui import glossary

    app, _ = make_app()
    async with app.run_test(size=(100, 60)) as pilot:
        await app.frame()
        await pilot.press(key, "question_mark")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text").render())
        assert f"Numbers in the {title.lower()} view" in text
        for w in words:
            assert w in text, w
        for label, meaning in glossary.gauges().values():  # every gauge, with its unit
            assert f"{label} — {meaning}" in text
        assert "‹5m" in text and "since the marked moment" in text


def test_every_view_has_its_numbers_explained():
    from twin.frontends.tui import glossary
    from twin.frontends.tui.readings import gauge_specs
    from twin.frontends.tui.screens.control_room import TIMELINE_CLASS, VIEW_CLASSES

    assert {c.TITLE for c in (*VIEW_CLASSES, TIMELINE_CLASS)} <= set(glossary.VIEWS)
    assert {g.key for g in gauge_specs()} == set(glossary.gauges())


async def test_a_click_on_a_gauge_says_what_it_is():
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await pilot.click("#gauge-ttft-p95-s")
        await pilot.pause()
        assert "TTFT p95: time to first token, 95th percentile" in screen_text(app)


async def test_o_sorts_deployments_by_queue_and_the_order_holds_until_asked_again():
    app, wall = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.frame()
        await run_line(app, pilot, "fail nvl-01")  # r1-nvl loses its prefill pool: its queue grows
        await tick(app, pilot, wall, 5.0)
        await pilot.press("4", "o")
        await pilot.pause()
        view = app.room.view
        queues = {d.id: d.queue for d in app.snapshot.deployments}
        assert view.order == sorted(queues, key=lambda k: -queues[k])
        text = screen_text(app)
        assert "sorted by queue" in text
        lines = [ln for ln in text.splitlines() if any(ln.strip().startswith(d) for d in queues)]
        assert [ln.split()[0] for ln in lines[:4]] == view.order
        frozen = list(view.order)
        await run_line(app, pilot, "repair nvl-01")
        await tick(app, pilot, wall, 5.0)
        assert view.order == frozen  # new numbers, the same order


def test_the_readme_key_table_lists_every_key_of_the_room():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| key | what it does |", 1)[1].split("\n\n", 1)[0]
    keys = {
        "1",
        "j",
        "k",
        "Enter",
        "Esc",
        "o",
        "f",
        "r",
        "d",
        "s",
        "h",
        "b",
        "B",
        "a",
        "A",
        "c",
        "v",
        "l",
        ":",
        "/",
        "space",
        "p",
        "+",
        "-",
        "?",
        "F1",
        "q",
        "ctrl+q",
    }
    for key in keys:
        assert f"`{key}`" in table or f"`{key} " in table or f" {key}`" in table, key
    bound = {b.key.split(",")[0] for b in (*ControlRoom.BINDINGS, *TwinApp.BINDINGS)} - {
        "2",
        "3",
        "4",
        "5",
        "6",
        "equals_sign",
    }
    named = {
        "colon": ":",
        "slash": "/",
        "plus": "+",
        "minus": "-",
        "question_mark": "?",
        "escape": "Esc",
    }
    assert {named.get(k, k) for k in bound} <= keys
