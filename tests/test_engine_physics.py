"""Facility physics at the extremes: board power floors, liquid vs air loops, inverse-time
breakers, swaps that overload their PDUs; and the engine half of the serving model's
promises (client timeouts, decode KV admission, a run that integrates its duration)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import cmd, pdu, run, small_layout

from twin.core.engine import EngineError, Factory
from twin.core.engine.metrics import percentiles
from twin.core.engine.power import clock_for_power, clock_power
from twin.core.layout import load_layout


@pytest.fixture(scope="module")
def default(catalog):
    return load_layout("default", catalog)


# ---- power vs clock, board floors ------------------------------------------------------------------
def test_power_falls_as_clock_to_the_2_5_above_the_voltage_floor_and_linearly_below(catalog):
    k = catalog.constants
    v = float(k["voltage_floor_clock"])
    c = np.array([1.0, 0.8, v, v / 2, v / 4])
    p = clock_power(c, k)
    assert p[0] == 1.0 and p[1] == pytest.approx(0.8**2.5)
    assert p[3] == pytest.approx(p[2] / 2) and p[4] == pytest.approx(
        p[2] / 4
    )  # linear under the floor
    assert np.allclose(clock_for_power(p, k), c)


def test_a_cap_deeper_than_the_boards_minimum_power_sheds_load_and_says_so(default, catalog):
    f = Factory(default, catalog)
    f.advance_to(60)
    # 5.5 MW: under what the racks draw with every GPU at its floor (6 MW is not, now that
    # the GB300 racks' clocks go down to theirs before the site sheds)
    cmd(f, "cap 5.5MW")
    s = run(f, 600)
    floor = np.array([f.rack_min_clock[i] for i in range(len(f.rack_ids))])
    assert (s.racks.clock >= floor - 1e-9).all()  # no board is pushed under its minimum power limit
    gpu = catalog.gpu("h100")
    assert gpu.min_power_w == 200 and "min_power_w" in gpu.source
    busy = s.racks.utilisation > 0.5
    assert busy.any()
    assert (
        s.gauges["facility_power_kw"] <= 5500 * 1.02
    )  # the cap holds: by shedding load, not by impossible clocks
    assert any("minimum power" in e.message and "shedding" in e.message for e in s.events)
    cmd(f, "cap off")
    s = run(f, 900)
    assert f.site_shed == 0.0 and s.gauges["facility_power_kw"] > 5500 * 1.3


# ---- cooling loops ------------------------------------------------------------------------------------
def _minutes_to_throttle(layout, loop: str, catalog, limit_s: float = 180) -> float | None:
    f = Factory(layout, catalog)
    f.advance_to(120)
    cmd(f, f"fail {loop}")
    racks = [i for i, lp in enumerate(f.rack_loop) if f.loop_ids[lp] == loop]
    t0 = f.now
    while f.now - t0 < limit_s:
        f.advance_to(f.now + 5)
        if f.throttled[racks].any():
            return f.now - t0
    return None


def test_a_lost_cdu_loop_throttles_gb300_racks_within_3_minutes(catalog):
    t = _minutes_to_throttle(load_layout("blackwell-ultra", catalog), "cdu-1", catalog)
    assert t is not None and t <= 180


def test_a_lost_air_loop_does_not_throttle_within_3_minutes(catalog):
    hall = load_layout("hopper-hall", catalog)
    assert _minutes_to_throttle(hall, hall.cooling[0].id, catalog) is None


def _gb200_racks_shut_down_by_a_lost_loop(tmp_path) -> Factory:
    """GB200 racks are liquid-cooled: a lost loop shuts them down within minutes."""
    f = Factory(small_layout(tmp_path, edit=lambda d: d["rows"][0].update(gpu="gb200")))
    f.advance_to(30)
    cmd(f, "fail loop-1")
    while not f.rack_tripped.any() and f.now < 900:
        f.advance_to(f.now + 10)
    return f


def test_a_rack_a_thermal_shutdown_took_down_comes_back_once_cooled_and_says_so(tmp_path):
    f = _gb200_racks_shut_down_by_a_lost_loop(tmp_path)
    down = [f.rack_ids[i] for i in np.flatnonzero(f.rack_tripped)]
    assert down and f.snapshot().racks.utilisation[f.rack_tripped].max() == 0
    cmd(f, "repair loop-1")
    t = f.now
    while f.rack_tripped.any() and f.now < t + 900:
        f.advance_to(f.now + 10)
    s = run(f, 30)
    back = [e for e in s.events if e.t_s > t and "powered on again" in e.message]
    assert sorted(e.source for e in back) == sorted(down)  # one line for each rack
    assert all(e.severity == "info" for e in back)
    i = [f.rack_index[r] for r in down]
    assert (s.racks.utilisation[i] > 0).all()  # serving again


def test_racks_a_lost_loop_shut_down_stay_off_until_the_loop_is_repaired(tmp_path):
    # with no loop there is nowhere for their heat to go: powering them on again would only
    # trip them a few minutes later, over and over
    f = _gb200_racks_shut_down_by_a_lost_loop(tmp_path)
    down = f.rack_tripped.copy()
    assert down.any()
    t = f.now
    s = run(f, 1800)  # half an hour with the loop still failed
    assert f.rack_tripped[down].all()
    assert not [e for e in s.events if e.t_s > t and "powered on again" in e.message]
    assert s.racks.utilisation[down].max() == 0


# ---- breakers -------------------------------------------------------------------------------------------
def _failover_factory(tmp_path, catalog, overload: float, name: str):
    """row-b's B PDU alone carries both racks once A fails: rate it so that is ``overload``×."""
    (tmp_path / f"probe-{name}").mkdir()
    probe = Factory(small_layout(tmp_path / f"probe-{name}"), catalog)
    probe.advance_to(60)
    cmd(probe, "fail row-b-pdu-a1")
    probe.advance_to(90)
    carried = pdu(probe.snapshot(), "row-b-pdu-b1").load_kw
    cap = carried / overload

    def thin(doc):
        doc["rows"][1]["pdu_capacity"] = f"{cap:.3f}kW"

    (tmp_path / name).mkdir()
    f = Factory(small_layout(tmp_path / name, edit=thin), catalog)
    f.advance_to(60)
    cmd(f, "fail row-b-pdu-a1")
    return f


def _seconds_to_trip(f, limit_s: float) -> float | None:
    t0 = f.now
    while f.now - t0 < limit_s:
        f.advance_to(f.now + 1)
        if pdu(f.snapshot(), "row-b-pdu-b1").state == "tripped":
            return f.now - t0
    return None


def test_a_breaker_at_1_2x_holds_for_a_minute_and_at_2x_trips_within_two(tmp_path, catalog):
    mild = _failover_factory(tmp_path, catalog, 1.2, "mild")
    assert _seconds_to_trip(mild, 60) is None
    assert (
        pdu(mild.snapshot(), "row-b-pdu-b1").load_kw / mild.pdu_cap[mild.pdu_index["row-b-pdu-b1"]]
        > 1.1
    )
    hard = _failover_factory(tmp_path, catalog, 2.0, "hard")
    t = _seconds_to_trip(hard, 120)
    assert t is not None and 5 < t <= 120  # tens of seconds, not the same tick
    assert any("breaker tripped" in e.message for e in hard.snapshot().events)


# ---- swaps ----------------------------------------------------------------------------------------------
def test_a_swap_to_the_gpu_a_rack_already_has_is_refused(small, catalog):
    f = Factory(small, catalog)
    with pytest.raises(EngineError, match="already"):
        cmd(f, "swap row-a h100")
    assert not f.rack_swapping.any()


def test_a_swap_whose_racks_would_overload_their_pdus_warns(default, catalog):
    f = Factory(default, catalog)
    msg = cmd(f, "swap row-b gb300")
    assert "warning" in msg and "kW" in msg and "trip" in msg
    assert any(
        "warning" in e.message and "PDU" in e.message or "pdu" in e.message
        for e in f.snapshot().events
    )
    g = Factory(default, catalog)
    assert "warning" not in cmd(g, "swap row-b-01 b200") or "trip" not in cmd(g, "undrain row-b-01")


# ---- serving: timeouts, decode KV room, exact duration ------------------------------------------------
def test_a_run_integrates_exactly_its_duration(small, catalog):
    f = Factory(small, catalog)
    f.advance_to(120)
    s = f.run_summary()
    assert f.totals["seconds"] == 120
    assert s["energy_mwh"] * 1000 == pytest.approx(s["facility_power_kw"] * 120 / 3600, rel=1e-12)


def test_clients_give_up_on_requests_that_wait_past_their_timeout(small, catalog):
    f = Factory(small, catalog)
    f.advance_to(30)
    cmd(f, "surge 6")
    run(f, 600)
    c = f.cls_ids.index("chat")
    timeout = float(f.cls_timeout[c])
    assert 20 <= timeout <= 60  # tens of seconds for chat
    # latency stays bounded: overload shows as lost requests (over the whole run: once the
    # queue's head is older than chat's 30 s, only the agentic turns' more patient
    # clients, 40 s, are still there when their turn comes, so no chat request is served)
    assert percentiles(f.run_ttft[c], (0.95,))[0] <= timeout * 1.1
    assert f.run_summary()["requests_abandoned"] > 0


def test_a_full_decode_pool_backs_up_prefill_then_sheds(small, catalog):
    f = Factory(small, catalog)
    f.advance_to(60)
    dep = f.dep_ids.index("split-70b")
    dec = f.dep_reps[dep][f.rep_role[f.dep_reps[dep]] == 2]
    cmd(f, "surge 8")
    base = next(c for c in f.snapshot().classes if c.deployment == "split-70b").ttft_p95_s
    worst = 0.0
    for _ in range(40):
        f.advance_to(f.now + 10)
        assert (
            f.per_replica(f.run)[dec].sum(axis=1) <= f.rep_bmax[dec] + 1e-6
        ).all()  # never past its KV room
        worst = max(
            worst, next(c for c in f.snapshot().classes if c.deployment == "split-70b").ttft_p95_s
        )
    assert worst > 3 * base
    assert f.run_summary()["requests_abandoned"] > 0


def test_scale_says_how_many_replicas_serve_now(small, catalog):
    f = Factory(small, catalog)
    f.advance_to(10)
    cmd(f, "fail row-a-01")
    msg = cmd(f, "scale chat-70b 6")  # four replicas per rack: row-a-01's four are down
    assert msg == "chat-70b: 6 of 16 replicas enabled, 2 serving (4 down)"
