"""The control room's pure parts: the simulated clock, the engine driver, what the screens
compute from a snapshot, and how `twin` finds its target. No Textual here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.cli import build_parser
from twin.core.commands import Fail, Repair, Route
from twin.core.engine import Factory
from twin.core.engine.snapshot import RACK_DOWN, RACK_OK, Event
from twin.core.layout import load_layout
from twin.frontends import tui_cli
from twin.frontends.tui import fmt
from twin.frontends.tui.clock import ManualWall, SimClock, speed_label, step_speed
from twin.frontends.tui.driver import EngineDriver
from twin.frontends.tui.model import (
    AlarmBook,
    Topology,
    filter_mask,
    rack_cells,
    row_summaries,
)
from twin.frontends.tui.readings import BAD, OK, read_gauges
from twin.frontends.tui.widgets.cellgrid import arrange


@pytest.fixture(scope="module")
def default_layout(catalog):
    return load_layout("default", catalog)


@pytest.fixture(scope="module")
def running(default_layout, catalog):
    f = Factory(default_layout, catalog, seed=1)
    f.advance_to(20.0)
    return f


# ---- the clock -----------------------------------------------------------------------------
def test_simulated_time_follows_the_wall_clock_times_the_speed():
    wall = ManualWall(100.0)
    clock = SimClock(5.0, speed=10.0, wall=wall)
    wall.advance(2.0)
    assert clock.target() == pytest.approx(25.0)


def test_a_speed_change_rebases_so_simulated_time_never_jumps():
    wall = ManualWall()
    clock = SimClock(0.0, speed=1.0, wall=wall)
    wall.advance(10.0)
    clock.set_speed(60.0)
    assert clock.target() == pytest.approx(10.0)  # no jump at the change
    wall.advance(1.0)
    assert clock.target() == pytest.approx(70.0)


def test_pause_freezes_and_resume_continues_from_where_it_stopped():
    wall = ManualWall()
    clock = SimClock(0.0, speed=10.0, wall=wall)
    wall.advance(1.0)
    clock.pause()
    wall.advance(100.0)
    assert clock.target() == pytest.approx(10.0)
    clock.resume()
    wall.advance(1.0)
    assert clock.target() == pytest.approx(20.0)


def test_max_speed_has_no_target_and_follows_the_engine():
    wall = ManualWall()
    clock = SimClock(0.0, speed=None, wall=wall)
    assert clock.target() is None and clock.flat_out
    clock.sync(500.0)
    clock.set_speed(1.0)
    wall.advance(1.0)
    assert clock.target() == pytest.approx(501.0)


def test_speed_steps_through_the_presets_and_snaps_custom_speeds():
    assert (
        step_speed(1.0, +1) == 10.0
        and step_speed(600.0, +1) is None
        and step_speed(None, +1) is None
    )
    assert step_speed(None, -1) == 600.0 and step_speed(1.0, -1) == 1.0
    assert step_speed(5.0, +1) == 10.0 and step_speed(5.0, -1) == 1.0
    assert speed_label(None) == "max" and speed_label(60.0) == "60×" and speed_label(0.5) == "0.5×"


# ---- the driver ----------------------------------------------------------------------------
def test_the_driver_applies_commands_in_order_then_advances(default_layout, catalog):
    d = EngineDriver(Factory(default_layout, catalog, seed=1))
    d.submit(Fail("row-a-pdu-1"))
    d.submit(Repair("row-a-pdu-1"))
    d.submit(Route("least-loaded"))
    frame = d.step(5.0)
    assert [o.ok for o in frame.outcomes] == [True, True, True]
    assert frame.snapshot.t_s == 5.0 and frame.reached and frame.snapshot.routing == "least-loaded"
    assert frame.snapshot.active_faults == ()


def test_a_bad_command_is_an_outcome_not_an_exception(default_layout, catalog):
    d = EngineDriver(Factory(default_layout, catalog, seed=1))
    d.submit(Fail("rack-zz"))
    d.submit(Fail("row-a-01"))
    frame = d.step(2.0)
    bad, good = frame.outcomes
    assert not bad.ok and "rack-zz" in bad.message and "\n" not in bad.message
    assert good.ok and frame.snapshot.t_s == 2.0


def test_a_step_stops_at_its_wall_budget_and_says_it_fell_behind(default_layout, catalog):
    d = EngineDriver(Factory(default_layout, catalog, seed=1))
    frame = d.step(3600.0, budget_s=0.01)
    assert not frame.reached and 0 < frame.snapshot.t_s < 3600.0
    flat = d.step(None, budget_s=0.01)
    assert flat.snapshot.t_s > frame.snapshot.t_s


# ---- what the screens compute --------------------------------------------------------------
def test_topology_walks_rows_pdus_and_leaves(default_layout):
    topo = Topology.of(default_layout)
    assert topo.rows[0] == "row-a" and len(topo.row_racks[0]) == 16
    assert topo.row_pdus[0] == ("row-a-pdu-1", "row-a-pdu-2", "row-a-pdu-3", "row-a-pdu-4")
    assert topo.racks_behind("row-a-pdu-1") == 4 and topo.racks_behind("row-a") == 16
    assert topo.racks_behind("nvl") == 96 and topo.racks_behind("spine-1") == 160
    assert topo.kind("row-a-pdu-1") == "pdu" and topo.kind("leaf-3") == "leaf"


def test_a_failed_rack_shows_its_glyph_in_every_heat_mode(running):
    snap = running.snapshot()
    state = np.array(snap.racks.state)
    state[3] = RACK_DOWN
    snap = _with_states(snap, state)
    for mode in ("state", "utilisation", "temperature"):
        glyphs, pal = rack_cells(snap, mode)
        assert glyphs[3] == "✕" and pal[3] == 3
        assert glyphs[4] != "✕"
    glyphs, _ = rack_cells(snap, "utilisation")
    assert set(glyphs[:3]) <= set("▁▂▃▄▅▆▇█")


def _with_states(snap, state):
    from dataclasses import replace

    return replace(snap, racks=replace(snap.racks, state=state))


def test_row_summaries_add_up_to_the_floor(running, default_layout):
    snap = running.snapshot()
    rows = row_summaries(snap, Topology.of(default_layout))
    assert sum(r.racks for r in rows) == 160
    assert sum(r.power_kw for r in rows) == pytest.approx(float(snap.racks.power_kw.sum()))
    assert all(r.counts[RACK_OK] == r.racks for r in rows)


def test_the_floor_filter_matches_ids_gpus_and_states(running, default_layout):
    snap = running.snapshot()
    topo = Topology.of(default_layout)
    assert filter_mask(snap, topo, "") is None
    assert filter_mask(snap, topo, "row-b").sum() == 16
    assert filter_mask(snap, topo, "gb300").sum() == 96
    assert filter_mask(snap, topo, "down").sum() == 0


def test_gauges_flag_latency_over_slo_with_colour_and_glyph(running):
    from dataclasses import replace

    snap = running.snapshot()
    readings = {r.key: r for r in read_gauges(snap)}
    assert readings["ttft_p95_s"].status == OK
    slow = tuple(replace(c, ttft_p95_s=c.slo_ttft_s * 2) for c in snap.classes)
    over = {r.key: r for r in read_gauges(replace(snap, classes=slow))}["ttft_p95_s"]
    assert over.status == BAD and "2.0× its SLO" in over.note
    hot = dict(snap.gauges, facility_power_kw=snap.gauges["envelope_kw"] * 1.1)
    assert {r.key: r for r in read_gauges(replace(snap, gauges=hot))}[
        "facility_power_kw"
    ].status == BAD


def test_before_the_first_tick_gauges_read_as_dashes_not_alarms(default_layout, catalog):
    snap = Factory(default_layout, catalog, seed=1).snapshot()
    assert all(r.status == OK and r.compact == "—" for r in read_gauges(snap))


def test_the_alarm_book_keeps_events_by_id_and_counts_unacknowledged_alarms():
    book = AlarmBook()
    ev = [
        Event(1, 0.0, "info", "site", "started"),
        Event(2, 1.0, "critical", "pdu-1", "failed"),
        Event(3, 2.0, "warning", "leaf-1", "failed"),
    ]
    assert len(book.merge(ev[:2])) == 2 and len(book.merge(ev)) == 1  # only the new one
    assert book.active() == 2 and book.worst_active() == "critical"
    book.ack(2)
    assert book.active() == 1 and book.worst_active() == "warning"
    with pytest.raises(KeyError):
        book.ack(1)  # an info event is not an alarm
    book.note(3.0, "info", "session", "speed 1× → 60×")
    assert book.ack(None) == 1 and book.active() == 0
    assert [e.source for e in book.matching("failed")] == ["leaf-1", "pdu-1"]


def test_grids_arrange_groups_in_columns_only_when_they_do_not_fit():
    one = arrange(10, 16, 7, 100, 20, summary_w=30)
    assert (one.columns, one.cell_w, one.summary_w) == (1, 2, 30)
    tight = arrange(40, 26, 6, 78, 12)
    assert tight.columns == 2 and tight.cell_w == 1 and tight.lines == 20  # scrolls
    roomy = arrange(40, 26, 6, 160, 40)
    assert roomy.lines <= 40


# ---- formats -------------------------------------------------------------------------------
def test_numbers_read_short_with_their_unit():
    assert fmt.si(5_899_850) == "5.9M" and fmt.si(626_000) == "626k" and fmt.si(0.0000001) == "0"
    assert (
        fmt.seconds(0.137) == "137ms"
        and fmt.seconds(2.5) == "2.50s"
        and fmt.seconds(math.inf) == "—"
    )
    assert fmt.kw(840) == "840kW" and fmt.kw(12345) == "12.3MW"
    assert (
        fmt.sim_clock(30.0, 12.0) == "d1 12:00:30" and fmt.sim_clock(86400.0, 12.0) == "d2 12:00:00"
    )


def test_sparklines_do_not_draw_noise_as_a_cliff():
    flat = fmt.sparkline(np.array([99.9, 100.0] * 10), 5)
    assert len(set(flat)) == 1 and flat[0] in "▄▅"  # a level line, mid-height
    assert fmt.sparkline(np.arange(8.0), 8) == "▁▂▃▄▅▆▇█"
    assert fmt.sparkline(np.array([]), 4) == "    "


# ---- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "rest", "target"),
    [
        ([], [], None),
        (["hyperscale"], [], "hyperscale"),
        (
            ["--seed", "3", "--speed", "60", "layouts/default.yaml"],
            ["--seed", "3", "--speed", "60"],
            "layouts/default.yaml",
        ),
        (["--readonly", "hopper-hall", "--faults"], ["--readonly", "--faults"], "hopper-hall"),
        (["perf", "--gpu", "h100"], ["perf", "--gpu", "h100"], None),
        (["summary", "hyperscale"], ["summary", "hyperscale"], None),
    ],
)
def test_twin_takes_a_layout_next_to_its_subcommands(argv, rest, target):
    assert tui_cli.split_target(build_parser(), argv) == (rest, target)


def test_tui_options_parse():
    args = build_parser().parse_args(["--readonly", "--seed", "3", "--speed", "max", "--faults"])
    assert args.readonly and args.seed == 3 and args.speed is None and args.faults
    assert build_parser().parse_args([]).speed == 1.0


# ---- alarms grouped by root cause ------------------------------------------------------------
def test_racks_a_thermal_shutdown_took_down_show_in_the_log_when_they_come_back(tmp_path):
    from engine_helpers import small_layout

    from twin.core import commands as C
    from twin.frontends.tui.alarms import group_alarms
    from twin.frontends.tui.model import AlarmBook

    # liquid-cooled GB200 racks on loop-1: shut down within minutes of losing it
    layout = small_layout(tmp_path, edit=lambda d: d["rows"][0].update(gpu="gb200"))
    f = Factory(layout, seed=1)
    book = AlarmBook()
    f.advance_to(30)
    f.apply(C.parse_command("fail loop-1"))
    for t in range(60, 1200, 30):
        f.advance_to(t)
        book.merge(f.snapshot().events)
        if t == 420:
            f.apply(C.parse_command("repair loop-1"))
    log = [e for e in book.entries if "powered on again" in e.message]
    assert sorted(e.source for e in log) == [f"row-a-0{i}" for i in range(1, 5)]
    assert all(not book.is_alarm(e) for e in log)  # news, not an alarm to acknowledge
    loop = next(g for g in group_alarms(book.entries, Topology.of(layout)) if g.key == "loop-1")
    kinds = dict(loop.kinds())
    assert kinds["thermal shutdowns"] == 4 and kinds["racks back on"] == 4


def test_a_cooling_loop_failure_is_one_cause_naming_the_racks_it_hit():
    from twin.core import commands as C
    from twin.core.catalog import load_catalog
    from twin.core.engine import Factory
    from twin.frontends.tui.alarms import group_alarms, racks_text
    from twin.frontends.tui.model import AlarmBook

    cat = load_catalog()
    layout = load_layout("default", cat)
    topo = Topology.of(layout)
    f = Factory(layout, cat, seed=1, faults=False)
    book = AlarmBook()
    f.advance_to(30)
    f.apply(C.parse_command("fail loop-1"))
    for t in range(60, 1500, 30):  # as the control room merges each frame's events
        f.advance_to(t)
        book.merge(f.snapshot().events)
    f.apply(C.parse_command("fail row-a-pdu-1"))
    f.advance_to(1502)
    book.merge(f.snapshot().events)
    assert book.active() > 100  # a hundred alarms …
    groups = group_alarms(book.entries, topo)
    by_key = {g.key: g for g in groups}
    assert set(by_key) == {"loop-1", "row-a-pdu-1"}  # … are two stories
    loop = by_key["loop-1"]
    assert len(loop.alarms) > 100 and len(loop.affected) == 64
    kinds = dict(loop.kinds())
    assert kinds["thermal throttles"] == 64 and kinds["thermal shutdowns"] == 64
    assert racks_text(topo, loop.affected) == (
        "row-a-01 … row-a-16, row-b-01 … row-b-16, row-c-01 … row-c-16, row-d-01 … row-d-16 (64 racks)"
    )
    pdu = by_key["row-a-pdu-1"]  # "4 racks lost power": which ones, from the layout
    assert pdu.affected == ["row-a-01", "row-a-02", "row-a-03", "row-a-04"]
    assert groups[0] is pdu  # newest cause first
    assert [g.key for g in group_alarms(book.entries, topo, critical_only=True)] == [
        "row-a-pdu-1",
        "loop-1",
    ]


def test_a_feed_failure_names_only_the_racks_it_alone_carries():
    from twin.core.catalog import load_catalog
    from twin.frontends.tui.alarms import racks_behind

    topo = Topology.of(load_layout("default", load_catalog()))
    hit = racks_behind(topo, "feed-a")
    assert hit and all(
        len(topo.rack_pdus[topo.rack_index[r]]) == 1 for r in hit
    )  # A/B-fed ones ride through
