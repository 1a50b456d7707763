"""Operator commands and routing policies, each with its effect (and its undoing).

The small factory of ``engine_helpers``; see ``test_engine_faults.py`` for its shape.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from engine_helpers import (
    ROW_A,
    ROW_B,
    advance_both,
    cls,
    cmd,
    dep,
    pair,
    pdu,
    rack_i,
    rack_power,
    rack_state,
    recent_mean,
    run,
    series,
    small_layout,
)

from twin.core.engine import Factory
from twin.core.errors import TwinError

# ---------------------------------------------------------------------------------------
# drain / undrain


def test_a_drained_rack_takes_no_new_requests_and_lets_running_ones_finish(small):
    base, hit = pair(small, "drain row-a-01", after=0.5)
    i = rack_i(hit.snapshot(), "row-a-01")
    s = hit.snapshot()
    assert rack_state(s, "row-a-01") == "drained"
    util = [s.racks.utilisation[i]]
    for _ in range(8):
        util.append(run(hit, 2).racks.utilisation[i])
    assert util[0] > 0.3  # still busy with what it had
    assert np.all(np.diff(util) <= 1e-12) and util[-1] < 0.05 * util[0]  # winding down
    s = run(hit, 30)
    assert s.racks.utilisation[i] < 1e-3
    assert s.gauges["failed_rps"] == 0  # finished, not killed
    # the other racks took its share; the deployment still serves everyone
    others = [rack_i(s, r) for r in ROW_A[1:]]
    b = run(base, s.t_s - base.now)
    assert np.all(s.racks.utilisation[others] > b.racks.utilisation[others])
    assert dep(s, "chat-70b").replicas_up == 16
    assert s.racks.power_kw[i] < b.racks.power_kw[i]
    cmd(hit, "undrain row-a-01")
    s = run(hit, 20)
    assert rack_state(s, "row-a-01") == "ok" and s.racks.utilisation[i] > 0.3


def test_draining_a_row_drains_every_rack_in_it(small):
    f = Factory(small)
    run(f, 10)
    assert "4 racks" in cmd(f, "drain row-a")
    s = run(f, 1)
    assert [rack_state(s, r) for r in ROW_A] == ["drained"] * 4
    s = run(f, 60)
    assert dep(s, "chat-70b").running < 1 and s.gauges["failed_rps"] > 50  # nowhere to send chat
    cmd(f, "undrain row-a")
    s = run(f, 30)
    assert [rack_state(s, r) for r in ROW_A] == ["ok"] * 4 and dep(s, "chat-70b").running > 100


def test_a_drained_rack_falls_back_to_idle_power_once_its_requests_have_finished(small):
    _, drained = pair(small, "drain row-a-01", warm=60, after=180)
    _, never = pair(
        small, "scale chat-70b 12", warm=0, after=240
    )  # row-a-04's replicas never serve
    d, n = drained.snapshot(), never.snapshot()
    assert d.racks.utilisation[rack_i(d, "row-a-01")] < 1e-6
    assert n.racks.utilisation[rack_i(n, "row-a-04")] == 0.0
    # both racks hold four idle replicas: they should draw the same idle power
    assert rack_power(d, ["row-a-01"]) == pytest.approx(rack_power(n, ["row-a-04"]), rel=0.05)


def test_requests_queued_on_a_rack_when_it_is_drained_are_still_served(small):
    f = Factory(small)
    run(f, 60)
    cmd(f, "surge 2")
    run(f, 30)  # a backlog on every replica
    assert dep(f.snapshot(), "chat-70b").queue > 500
    cmd(f, "drain row-a-01")
    cmd(f, "surge 0.5")  # a lull: the other twelve replicas have room to spare
    s = run(f, 300)
    assert dep(s, "chat-70b").queue < 1, dep(s, "chat-70b").queue


# ---------------------------------------------------------------------------------------
# routing policies


def test_route_changes_the_policy_and_says_so(small):
    f = Factory(small)
    for policy in ("round-robin", "least-loaded", "kv-aware", "power-aware", "slo-aware"):
        msg = cmd(f, f"route {policy}")
        assert policy in msg
        assert run(f, 1).routing == policy


def test_least_loaded_routes_around_a_slow_replica_where_round_robin_does_not(tmp_path):
    # chat at 38/s, not 60/s: the small factory's chat replicas then prefill at ~2/3 of
    # their budget, so losing 2/3 of one rack's pace leaves room to route around it (at
    # 60/s they are at 87 %, and any policy queues: the factory is short of capacity; the
    # Hopper refit prefills ~3 % slower, and at 45/s least-loaded kept a fifth of
    # round-robin's backlog two minutes on)
    def lighter(doc):
        doc["workloads"][0]["rate"] = "38/s"

    small = small_layout(tmp_path, lighter)
    _, rr = pair(small, "route round-robin", "straggle row-a-01 3", warm=30, after=120)
    _, ll = pair(small, "route least-loaded", "straggle row-a-01 3", warm=30, after=120)
    r, s = rr.snapshot(), ll.snapshot()
    # round-robin keeps feeding the slow rack its equal share: a queue builds behind it
    assert r.gauges["queue_depth"] > 500
    assert s.gauges["queue_depth"] < 0.1 * r.gauges["queue_depth"]
    assert recent_mean(s, "ttft_p95_s", 60, ll.dt) < 0.2 * recent_mean(r, "ttft_p95_s", 60, rr.dt)
    assert recent_mean(s, "goodput_tok_s", 60, ll.dt) > recent_mean(r, "goodput_tok_s", 60, rr.dt)


def test_kv_aware_routing_saves_prefill_for_agentic_sessions_so_ttft_is_lower_than_round_robin(
    small,
):
    _, rr = pair(small, "route round-robin", warm=30, after=120)
    _, kv = pair(small, "route kv-aware", warm=30, after=120)
    r, k = rr.snapshot(), kv.snapshot()
    # same requests, same answers ...
    assert recent_mean(k, "output_tok_s", 100, kv.dt) == pytest.approx(
        recent_mean(r, "output_tok_s", 100, rr.dt), rel=0.05
    )
    # ... but far fewer prompt tokens prefilled: the session's context is cached where it ran
    prefill_k = recent_mean(k, "total_tok_s", 100, kv.dt) - recent_mean(
        k, "output_tok_s", 100, kv.dt
    )
    prefill_r = recent_mean(r, "total_tok_s", 100, rr.dt) - recent_mean(
        r, "output_tok_s", 100, rr.dt
    )
    assert prefill_k < 0.8 * prefill_r
    # (about half: round-robin re-prefills every turn; the 0.5 this once asked for counted a
    # whole tick of wait for any backlog, which drains in a fraction of one)
    assert cls(k, "agent").ttft_p95_s < 0.6 * cls(r, "agent").ttft_p95_s
    assert recent_mean(k, "ttft_p50_s", 100, kv.dt) < recent_mean(r, "ttft_p50_s", 100, rr.dt)
    # a class without sessions gains nothing from a cache
    assert cls(k, "long").ttft_p95_s == pytest.approx(cls(r, "long").ttft_p95_s, rel=0.1)


def _mixed_generations(doc):
    # one deployment over H100 and H200 racks: the H200s make more tokens per joule
    doc["deployments"] = [
        {
            "id": "chat-70b",
            "model": "llama-3.3-70b",
            "precision": "fp8",
            "gpus_per_replica": 8,
            "replicas": "auto",
            "placement": ["row-a", "row-b"],
        }
    ]
    doc["workloads"] = [
        {
            "id": "chat",
            "deployment": "chat-70b",
            "rate": "50/s",
            "isl": "1k",
            "osl": 300,
            "slo": {"ttft": "1s", "tpot": "50ms"},
        }
    ]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return small_layout(tmp_path_factory.mktemp("mixed"), edit=_mixed_generations)


def test_power_aware_routing_prefers_the_most_efficient_replicas(mixed):
    _, rr = pair(mixed, "route round-robin", warm=0, after=150)
    _, pa = pair(mixed, "route power-aware", warm=0, after=150)
    r, p = rr.snapshot(), pa.snapshot()
    h100 = [rack_i(p, x) for x in ROW_A]
    h200 = [rack_i(p, x) for x in ROW_B]
    assert p.racks.utilisation[h200].sum() > 5 * p.racks.utilisation[h100].sum()
    assert r.racks.utilisation[h100].min() > 0  # round-robin spreads over every replica
    # the same tokens for less energy
    assert recent_mean(p, "output_tok_s", 100, pa.dt) == pytest.approx(
        recent_mean(r, "output_tok_s", 100, rr.dt), rel=0.05
    )
    assert recent_mean(p, "tok_per_joule", 100, pa.dt) > 1.1 * recent_mean(
        r, "tok_per_joule", 100, rr.dt
    )
    assert recent_mean(p, "it_power_kw", 100, pa.dt) < recent_mean(r, "it_power_kw", 100, rr.dt)
    assert p.gauges["slo_attainment"] > 0.99


def test_power_aware_routing_honours_caps_by_moving_load_off_a_capped_rack(mixed):
    _, free = pair(mixed, "route power-aware", warm=0, after=120)
    _, capped = pair(mixed, "route power-aware", "cap row-b-01 20kW", warm=0, after=120)
    f, c = free.snapshot(), capped.snapshot()
    one, two = rack_i(c, "row-b-01"), rack_i(c, "row-b-02")
    # uncapped: the two H200 racks are alike, so they fill alike (identical replicas get
    # identical shares, engine/rows.py)
    assert f.racks.utilisation[one] == pytest.approx(f.racks.utilisation[two], rel=1e-9)
    assert c.racks.utilisation[one] < c.racks.utilisation[two]  # capped: its neighbour first
    assert c.racks.power_kw[one] <= 20.0  # the cap holds, whether by clocks or by moving load


def _served_share_meeting_slo(s, f) -> float:
    """Goodput over output: the share of served tokens whose request met its SLO."""
    return recent_mean(s, "goodput_tok_s", 60, f.dt) / recent_mean(s, "output_tok_s", 60, f.dt)


def _class_shed(f, seconds: float) -> dict[str, float]:
    """Mean shed requests/s of each class over the next ``seconds`` (sampled every tick)."""
    total: Counter = Counter()
    n = int(round(seconds / f.dt))
    for _ in range(n):
        for c in run(f, f.dt).classes:
            total[c.id] += c.shed_rps / n
    return dict(total)


def test_slo_aware_admission_sheds_under_overload_so_served_requests_fare_better(small):
    _, ll = pair(small, "route least-loaded", "surge 2", warm=30, after=150)
    _, slo = pair(small, "route slo-aware", "surge 2", warm=30, after=150)
    a, s = ll.snapshot(), slo.snapshot()
    assert recent_mean(a, "shed_rps", 60, ll.dt) == 0
    assert recent_mean(s, "shed_rps", 60, slo.dt) > 10
    # without admission control the queue grows without bound and everyone waits
    assert a.gauges["queue_depth"] > 10 * s.gauges["queue_depth"]
    assert s.gauges["ttft_p95_s"] < 0.2 * a.gauges["ttft_p95_s"]
    # what it serves meets its SLO far more often, and so does the factory's goodput
    assert _served_share_meeting_slo(s, slo) > _served_share_meeting_slo(a, ll) + 0.2
    assert recent_mean(s, "goodput_tok_s", 60, slo.dt) > 2 * recent_mean(
        a, "goodput_tok_s", 60, ll.dt
    )
    # it sheds the overloaded classes, chat first
    shed = _class_shed(slo, 10)
    assert shed["chat"] > 1


def test_slo_aware_admission_sheds_nothing_when_there_is_room(small):
    _, slo = pair(small, "route slo-aware", warm=30, after=90)
    s = slo.snapshot()
    assert s.gauges["shed_rps"] == 0 and s.gauges["slo_attainment"] > 0.99


def test_slo_aware_admission_serves_mostly_requests_that_meet_their_slo_even_at_three_times_demand(
    small,
):
    _, slo = pair(small, "route slo-aware", "surge 3", warm=30, after=150)
    s = slo.snapshot()
    assert recent_mean(s, "shed_rps", 60, slo.dt) > 50  # it is shedding hard ...
    assert _served_share_meeting_slo(s, slo) >= 0.9  # ... so what it keeps should be on time


# ---------------------------------------------------------------------------------------
# power caps


def test_a_site_cap_as_a_share_of_the_envelope_brings_facility_power_under_it_within_seconds(small):
    base, hit = pair(small, "cap 50%", after=0.5)
    s = hit.snapshot()
    assert s.site_cap_kw == pytest.approx(0.5 * small.site.envelope_kw)
    assert s.gauges["envelope_kw"] == pytest.approx(160.0)
    before = base.snapshot().gauges["facility_power_kw"]
    assert before > 180  # the cap bites
    fac = series(hit, "facility_power_kw", 5)
    assert fac[-1] <= 160.0
    fac = series(hit, "facility_power_kw", 120)
    assert fac.max() <= 160.0 * 1.01 and fac.mean() <= 160.0
    s = hit.snapshot()
    assert np.all(s.racks.clock < 1.0)  # by lowering GPU clocks
    assert all(rack_state(s, r) == "throttled" for r in ROW_A + ROW_B)
    assert any("clocks lowered" in e.message for e in s.events)
    cmd(hit, "cap off")
    s, b = advance_both(base, hit, 60)
    assert s.site_cap_kw is None and s.gauges["envelope_kw"] == small.site.envelope_kw
    assert np.all(s.racks.clock == 1.0)
    assert recent_mean(s, "facility_power_kw", 20, hit.dt) == pytest.approx(
        recent_mean(b, "facility_power_kw", 20, base.dt), rel=0.05
    )


def test_a_site_cap_in_megawatts_holds_facility_power_under_it(small):
    base, hit = pair(small, "cap 0.16MW", after=0.5)
    fac = series(hit, "facility_power_kw", 10)
    assert fac[-1] <= 160.0
    fac = series(hit, "facility_power_kw", 120)
    assert fac.max() <= 160.0 * 1.01 and fac.mean() <= 160.0
    s = hit.snapshot()
    b = run(base, s.t_s - base.now)
    # slower clocks: the same demand now waits longer
    assert recent_mean(s, "tpot_p50_s", 60, hit.dt) > recent_mean(b, "tpot_p50_s", 60, base.dt)


def test_facility_power_never_exceeds_a_site_cap_once_it_has_been_reached(small):
    f = Factory(small)
    run(f, 60)
    cmd(f, "cap 175kW")  # within reach of the clocks (deeper caps shed load: test_engine_physics)
    run(f, 10)
    fac = series(f, "facility_power_kw", 300)
    assert fac.max() <= 175.0, (fac.max(), int((fac > 175.0).sum()))


def test_capping_a_rack_lowers_its_power_to_the_cap_and_off_lifts_it(small):
    base, hit = pair(small, "cap row-a-02 20kW", after=10)
    s, b = hit.snapshot(), base.snapshot()
    i = rack_i(s, "row-a-02")
    assert b.racks.power_kw[i] > 25
    powers = []
    for _ in range(60):
        powers.append(run(hit, 0.5).racks.power_kw[i])
    assert 0.95 * 20.0 <= np.mean(powers) <= 20.0  # held just under the cap
    assert max(powers) <= 20.0 * 1.1
    s = hit.snapshot()
    assert s.racks.clock[i] < 1.0 and rack_state(s, "row-a-02") == "throttled"
    others = [rack_i(s, r) for r in ("row-a-01", "row-a-03", "row-a-04")]
    assert np.all(s.racks.clock[others] == 1.0)
    cmd(hit, "cap row-a-02 off")
    s, b = advance_both(base, hit, 30)
    assert s.racks.clock[i] == 1.0 and s.racks.power_kw[i] > 25


@pytest.fixture(scope="module")
def busy_and_quiet(tmp_path_factory):
    """The small factory with row-a split: chat on row-a-01/02 (busy), a deployment almost
    nobody calls on row-a-03/04 (quiet, near idle power)."""

    def edit(doc):
        doc["deployments"][0]["placement"] = ROW_A[:2]
        doc["deployments"].append(
            {**doc["deployments"][0], "id": "quiet-70b", "placement": ROW_A[2:]}
        )
        doc["workloads"].append(
            {**doc["workloads"][0], "id": "rare", "deployment": "quiet-70b", "rate": "0.2/s"}
        )
        doc["workloads"][0]["rate"], doc["workloads"][1]["rate"] = "30/s", "2/s"

    return small_layout(tmp_path_factory.mktemp("busy-quiet"), edit=edit)


def test_a_row_cap_is_one_budget_the_busy_racks_use_while_the_quiet_ones_leave_room(
    busy_and_quiet,
):
    # the row draws ~83 kW (busy racks ~28, quiet ~13.5): 95 kW covers the row, though a
    # quarter of it each (23.75 kW) is below what a busy rack draws
    base, hit = pair(busy_and_quiet, "cap row-a 95kW", after=0)
    b = base.snapshot()
    assert rack_power(b, ROW_A) < 95 * 0.95 and rack_power(b, ROW_A[:1]) > 95 / 4 * 1.1
    rows, clocks = [], []
    for _ in range(60):
        s, b = advance_both(base, hit, 1)
        rows.append(rack_power(s, ROW_A))
        clocks.append(s.racks.clock[[rack_i(s, r) for r in ROW_A[:2]]].min())
    assert max(rows) <= 95.0
    assert min(clocks) >= 0.97  # the busy racks keep (close to) full clocks
    out_hit = recent_mean(s, "output_tok_s", 60, hit.dt)
    out_base = recent_mean(b, "output_tok_s", 60, base.dt)
    assert out_hit == pytest.approx(out_base, rel=0.01)  # throughput as uncapped
    assert not any("shedding" in e.message for e in s.events)


def test_a_row_cap_below_what_its_racks_draw_at_their_floor_sheds_load_and_says_so(
    busy_and_quiet,
):
    base, hit = pair(busy_and_quiet, "cap row-a 60kW", after=30)
    s, b = hit.snapshot(), base.snapshot()
    said = [e for e in s.events if e.source == "row-a" and "shedding" in e.message]
    assert len(said) == 1 and "minimum power limit" in said[0].message
    floor = hit.rack_min_clock
    rows = []
    for _ in range(60):
        s, b = advance_both(base, hit, 1)
        rows.append(rack_power(s, ROW_A))
        assert (s.racks.clock >= floor - 1e-9).all()  # no board under its minimum power
    assert np.mean(rows) <= 60.0 * 1.02  # the cap holds, by shedding replicas
    assert recent_mean(s, "output_tok_s", 60, hit.dt) < 0.7 * recent_mean(
        b, "output_tok_s", 60, base.dt
    )
    cmd(hit, "cap row-a off")
    s, b = advance_both(base, hit, 60)
    assert (hit.rack_shed == 0).all() and rack_power(s, ROW_A) > 75
    # the row serves in full again: as uncapped, or more while it drains what queued
    assert recent_mean(s, "output_tok_s", 20, hit.dt) >= 0.95 * recent_mean(
        b, "output_tok_s", 20, base.dt
    )


def test_a_rack_cap_inside_a_row_budget_holds_and_lifting_the_row_lifts_both(busy_and_quiet):
    f = Factory(busy_and_quiet)
    run(f, 30)
    assert "shared by its 4 racks" in cmd(f, "cap row-a 95kW")
    cmd(f, "cap row-a-01 20kW")  # a rack's own cap under the row's budget
    powers = [run(f, 0.5).racks.power_kw[rack_i(f.snapshot(), "row-a-01")] for _ in range(60)]
    assert np.mean(powers[20:]) <= 20.0
    cmd(f, "cap row-a off")
    s = run(f, 30)
    assert s.racks.clock.min() == 1.0 and s.racks.power_kw[rack_i(s, "row-a-01")] > 25


def test_a_budget_over_racks_that_already_share_one_replaces_it_and_says_so(busy_and_quiet):
    f = Factory(busy_and_quiet)
    run(f, 10)
    cmd(f, "cap row-a 95kW")
    # feed-a feeds every rack (row-b through its A side): one budget for all six
    assert "6 racks (replaces the cap on row-a)" in cmd(f, "cap feed-a 40kW")
    s = run(f, 30)
    assert s.racks.clock.max() < 1.0  # 40 kW now binds every rack, row-b's too
    cmd(f, "cap row-a off")  # row-a holds only part of feed-a's budget: it stays
    assert run(f, 10).racks.clock.max() < 1.0
    cmd(f, "cap feed-a off")
    assert run(f, 30).racks.clock.min() == 1.0


@pytest.mark.parametrize("target", ["rack", "pdu"])
def test_a_capped_rack_or_pdu_draws_no_more_than_its_cap_on_average(small, target):
    f = Factory(small)
    run(f, 60)
    if target == "rack":
        cmd(f, "cap row-a-01 20kW")
        limit = 20.0

        def read(s):
            return s.racks.power_kw[rack_i(s, "row-a-01")]
    else:
        cmd(f, "cap row-a-pdu-1 40kW")
        limit = 40.0

        def read(s):
            return pdu(s, "row-a-pdu-1").load_kw

    run(f, 10)
    p = [read(run(f, 0.5)) for _ in range(120)]
    assert np.mean(p) <= limit, np.mean(p)


def test_capping_a_pdu_slows_the_racks_behind_it_until_its_load_is_near_the_cap(small):
    base, hit = pair(small, "cap row-a-pdu-1 40kW", after=10)
    assert pdu(base.snapshot(), "row-a-pdu-1").load_kw > 50
    loads = [pdu(run(hit, 0.5), "row-a-pdu-1").load_kw for _ in range(60)]
    # 40 kW is below what two H100 racks draw at their boards' floor: clocks at the floor,
    # then whole replicas shed, so the load sits under the cap rather than on it
    assert 0.85 * 40.0 <= np.mean(loads) <= 40.0 * 1.02
    s = hit.snapshot()
    assert pdu(s, "row-a-pdu-1").cap_kw == 40.0
    assert np.all(s.racks.clock[[rack_i(s, r) for r in ROW_A[:2]]] < 1.0)
    assert np.all(s.racks.clock[[rack_i(s, r) for r in ROW_A[2:]]] == 1.0)
    cmd(hit, "cap row-a-pdu-1 off")
    s = run(hit, 30)
    assert pdu(s, "row-a-pdu-1").cap_kw is None and pdu(s, "row-a-pdu-1").load_kw > 50


# ---------------------------------------------------------------------------------------
# swap


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    """The small factory on 20 s ticks: an 8-hour swap in under a second of wall time."""
    return small_layout(tmp_path_factory.mktemp("coarse"), tick="20s")


def test_swap_takes_racks_down_for_the_swap_downtime_then_brings_them_back_on_the_new_gpu(
    coarse, catalog
):
    downtime = float(catalog.constants["swap_downtime_s"])
    assert 3600 <= downtime <= 24 * 3600  # hours: de-rack, re-rack, cable, burn in
    f = Factory(coarse)
    s0 = run(f, 120)
    tpot_h100 = dep(s0, "chat-70b").tpot_p95_s
    cap_before = s0.gauges["usd_per_mtok_capital"] * s0.gauges["output_tok_s"]
    t0 = f.now
    msg = cmd(f, "swap row-a b200")
    assert "b200" in msg and "4 racks" in msg
    s = run(f, f.dt)  # from the next tick on
    assert [rack_state(s, r) for r in ROW_A] == ["swapping"] * 4
    assert rack_power(s, ROW_A) == 0.0 and dep(s, "chat-70b").replicas_up == 0
    assert [rack_state(s, r) for r in ROW_B] == ["ok"] * 2
    f.advance_to(t0 + downtime - 60)
    s = f.snapshot()
    assert [rack_state(s, r) for r in ROW_A] == ["swapping"] * 4
    assert set(s.racks.gpu[:4]) == {"h100"}
    f.advance_to(t0 + downtime + 300)
    s = f.snapshot()
    assert [rack_state(s, r) for r in ROW_A] == ["ok"] * 4
    assert s.racks.gpu == ("b200",) * 4 + ("h200",) * 2
    assert dep(s, "chat-70b").replicas_up == 16
    # different GPU, different throughput: a B200 decodes faster and draws more
    assert dep(s, "chat-70b").tpot_p95_s < 0.7 * tpot_h100
    assert rack_power(s, ROW_A) > rack_power(s0, ROW_A)
    # the event names the new capital: 4 racks × 32 GPUs at the catalog's B200 price
    capex = catalog.gpu("b200").capex_usd_per_gpu * catalog.gpu("b200").gpus_per_rack * 4
    done = [e.message for e in s.events if "swap to b200 done" in e.message]
    assert len(done) == 1
    assert f"${capex / 1e6:,.1f}M" in done[0]
    # and capital per hour rises with the dearer GPUs
    cap_after = s.gauges["usd_per_mtok_capital"] * s.gauges["output_tok_s"]
    assert cap_after > cap_before


def test_racks_being_swapped_cannot_come_back_on_a_gpu_they_were_swapped_away_from(coarse):
    f = Factory(coarse)
    run(f, 60)
    t0 = f.now
    cmd(f, "swap row-a b200")
    f.advance_to(t0 + 3600)
    try:
        cmd(f, "swap row-a mi300x")
    except TwinError:
        return  # refusing a swap of racks mid-swap is a fine answer
    f.advance_to(t0 + 8 * 3600 + 300)
    s = f.snapshot()
    for r in ROW_A:
        i = rack_i(s, r)
        assert rack_state(s, r) == "swapping" or s.racks.gpu[i] == "mi300x", (
            r,
            rack_state(s, r),
            s.racks.gpu[i],
        )


def _roomy_row_a(doc):
    doc["rows"][0]["pdu_capacity"] = "400kW"  # GB300 NVL72 racks draw ~130 kW each
    doc["cooling"][0]["capacity"] = "1MW"
    doc["site"]["envelope"] = "2MW"


def test_swapping_to_a_bigger_rack_fills_its_new_gpus_with_replicas(tmp_path):
    layout = small_layout(tmp_path, edit=_roomy_row_a, tick="20s")
    f = Factory(layout)
    run(f, 60)
    cmd(f, "swap row-a gb300")
    f.advance_to(f.now + 8 * 3600 + 120)
    s = f.snapshot()
    assert s.racks.gpu[:4] == ("gb300",) * 4
    d = dep(s, "chat-70b")
    # four NVL72 racks hold 288 GPUs: 36 replicas of 8 GPUs, not the 16 of the H100 racks
    assert d.replicas * d.gpus_per_replica == 4 * 72


# ---------------------------------------------------------------------------------------
# scale


def test_scaling_a_deployment_down_leaves_less_capacity_and_scaling_up_restores_it(small):
    base, hit = pair(small, "scale chat-70b 8", after=60)
    s, b = hit.snapshot(), base.snapshot()
    d = dep(s, "chat-70b")
    assert d.replicas == 8 and d.replicas_up == 8
    assert s.gauges["queue_depth"] > 100 + b.gauges["queue_depth"]
    assert s.gauges["ttft_p95_s"] > 5 * b.gauges["ttft_p95_s"]
    assert recent_mean(s, "output_tok_s", 30, hit.dt) < recent_mean(b, "output_tok_s", 30, base.dt)
    assert s.gauges["it_power_kw"] < b.gauges["it_power_kw"]  # the idle half draws idle power
    assert dep(s, "split-70b").replicas == 8
    cmd(hit, "scale chat-70b 16")
    s = run(hit, 2)
    assert dep(s, "chat-70b").replicas == 16 and dep(s, "chat-70b").replicas_up == 16
    s = run(hit, 240)
    assert s.gauges["queue_depth"] < 20


def test_scaling_to_zero_stops_serving_a_deployment(small):
    f = Factory(small)
    run(f, 30)
    cmd(f, "scale chat-70b 0")
    s = run(f, 30)
    assert dep(s, "chat-70b").replicas == 0 and dep(s, "chat-70b").output_tok_s == 0
    assert s.gauges["failed_rps"] > 50
    assert dep(s, "split-70b").output_tok_s > 0


def test_scaling_a_disaggregated_deployment_keeps_both_prefill_and_decode(small):
    f = Factory(small)
    run(f, 30)
    assert "2 of 8 replicas enabled" in cmd(f, "scale split-70b 2")
    s = run(f, 60)
    d = dep(s, "split-70b")
    assert (d.replicas, d.replicas_up, d.prefill_replicas) == (2, 2, 1)  # one of each
    # the decode replica serves the class, its prompts prefilled by the other: at its pace
    # (one TP8 prefill replica is short of the class's 32k prompt tokens/s, so TTFT grows)
    assert d.output_tok_s > 0.5 * cls(s, "long").rate_rps * 400
    assert cls(s, "long").tpot_p95_s <= cls(s, "long").slo_tpot_s


# ---------------------------------------------------------------------------------------
# surge


def test_a_demand_surge_raises_arrivals_and_queueing_then_falls_back_after_its_duration(small):
    base, hit = pair(small, "surge 1.6 1m", after=1)
    s, b = hit.snapshot(), base.snapshot()
    assert s.surge == pytest.approx(1.6)
    for c in s.classes:
        assert c.rate_rps == pytest.approx(1.6 * cls(b, c.id).rate_rps)
    s, b = advance_both(base, hit, 58)
    assert s.gauges["queue_depth"] > 100 + b.gauges["queue_depth"]
    assert s.gauges["ttft_p95_s"] > b.gauges["ttft_p95_s"]
    peak = s.gauges["queue_depth"]
    s, b = advance_both(base, hit, 2)  # the minute is up
    assert s.surge == 1.0
    assert [c.rate_rps for c in s.classes] == [c.rate_rps for c in b.classes]
    assert any("surge over" in e.message for e in s.events)
    s, b = advance_both(base, hit, 240)
    assert s.gauges["queue_depth"] < 0.2 * peak


def test_a_surge_of_one_class_leaves_the_others_alone(small):
    base, hit = pair(small, "surge 3 1m chat", after=5)
    s, b = hit.snapshot(), base.snapshot()
    assert cls(s, "chat").rate_rps == pytest.approx(3 * cls(b, "chat").rate_rps)
    assert cls(s, "agent").rate_rps == cls(b, "agent").rate_rps
    assert cls(s, "long").rate_rps == cls(b, "long").rate_rps
    s, b = advance_both(base, hit, 60)
    assert cls(s, "chat").rate_rps == cls(b, "chat").rate_rps


def test_a_surge_without_a_duration_lasts_until_the_next_surge(small):
    f = Factory(small)
    cmd(f, "surge 0.5")
    s = run(f, 600)
    assert s.surge == 0.5 and cls(s, "chat").rate_rps == pytest.approx(30.0)
    cmd(f, "surge 1")
    assert cls(run(f, 1), "chat").rate_rps == pytest.approx(60.0)


# ---------------------------------------------------------------------------------------
# random faults


def _hall(doc):
    # ~6,500 GPUs, mostly idle: published failure rates give a dozen faults a week
    doc["tick"] = "600s"
    doc["rows"] = [
        {
            "id": "row-a",
            "gpu": "h100",
            "racks": 4,
            "pdus": 2,
            "feed": "feed-a",
            "cooling": "loop-1",
        },
        {
            "id": "hall",
            "count": 10,
            "gpu": "h100",
            "racks": 20,
            "pdus": 4,
            "feed": "feed-a",
            "b_feed": "feed-b",
            "cooling": "loop-2",
            "racks_per_leaf": 4,
        },
    ]
    doc["power"]["feeds"] = [
        {"id": "feed-a", "capacity": "20MW"},
        {"id": "feed-b", "capacity": "20MW"},
    ]
    doc["cooling"][1]["capacity"] = "20MW"
    doc["site"]["envelope"] = "30MW"
    doc["deployments"] = doc["deployments"][:1]
    doc["workloads"] = doc["workloads"][:1]


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    return small_layout(tmp_path_factory.mktemp("hall"), edit=_hall)


WEEK = 7 * 86400.0
_RANDOM = re.compile(r"^(\w+) failed \(random\)")


def _random_faults(f: Factory) -> list:
    return [e for e in f.snapshot().events if _RANDOM.match(e.message)]


def test_random_faults_appear_at_about_published_failure_rates(hall, catalog):
    weeks = 4
    f = Factory(hall, seed=11)
    msg = cmd(f, "faults on")
    assert "on" in msg and f.snapshot().faults_enabled
    f.advance_to(weeks * WEEK)
    faults = _random_faults(f)
    by_kind = Counter(_RANDOM.match(e.message).group(1) for e in faults)
    k = catalog.constants
    gpus = hall.gpus_total
    years = weeks * WEEK / (365.25 * 86400)
    expected = {
        "gpu": k["failures_per_gpu_year"] * gpus * years,
        "node": k["failures_per_node_year"] * (gpus / 8) * years,
        "link": k["network_failures_per_gpu_year"] * gpus * years,
    }
    for kind, mu in expected.items():  # Poisson: within four standard deviations
        assert abs(by_kind[kind] - mu) <= 4 * mu**0.5 + 1, (kind, by_kind[kind], mu)
    # Meta's Llama 3 run: 419 interruptions over 2,424 GPU-years ≈ 0.17 per GPU-year, of
    # which software (54) and NCCL timeouts (7) are no hardware fault
    per_gpu_year = len(faults) / (gpus * years)
    assert 0.5 * (419 - 61) / 2424 <= per_gpu_year <= 1.5 * 419 / 2424
    # each is repaired by itself after its repair time
    s = f.snapshot()
    assert len(s.active_faults) < len(faults)
    assert all(until < float("inf") for _, _, until in s.active_faults)
    assert any("repaired (repair crew)" in e.message for e in s.events)


def test_random_faults_are_deterministic_for_a_seed(hall):
    def week(seed):
        f = Factory(hall, seed=seed, faults=True)
        f.advance_to(WEEK)
        return [(e.t_s, e.source, e.message) for e in _random_faults(f)]

    a, b, c = week(21), week(21), week(22)
    assert a and a == b
    assert a != c


def test_faults_off_stops_new_random_faults(hall):
    f = Factory(hall, seed=21, faults=True)
    f.advance_to(WEEK)
    n = len(_random_faults(f))
    assert n > 0
    assert "off" in cmd(f, "faults off")
    assert not f.snapshot().faults_enabled
    f.advance_to(3 * WEEK)
    assert len(_random_faults(f)) == n


def test_switching_faults_off_and_on_again_keeps_the_same_rate(hall):
    def count(toggle):
        f = Factory(hall, seed=11)
        cmd(f, "faults on")
        if toggle:
            f.advance_to(600)
            cmd(f, "faults off")
            f.advance_to(1200)
            cmd(f, "faults on")
        f.advance_to(2 * WEEK)
        return _random_faults(f) if toggle else len(_random_faults(f))

    steady, toggled = count(False), count(True)
    assert steady > 10
    # switched on again, faults come back at the same rate (less the 10 minutes off)
    assert 0.5 * steady <= len(toggled) <= 1.5 * steady, (steady, toggled)
    assert sum(e.t_s > 1200 for e in toggled) >= 0.5 * steady
