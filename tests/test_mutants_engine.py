"""Engine behaviour that a planted bug (a surviving mutant, issue 15) changed unnoticed.

Each test states what an operator would see — a breaker's trip time, a switch's links
down, a rack cap that holds, a class's SLO figure — and was checked by planting the
mutant by hand. They run on the small factory of ``engine_helpers`` (seconds each), and
are part of the engine's fast subset in ``benchmarks/mutation.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from engine_helpers import (
    ROW_A,
    cls,
    cmd,
    dep,
    pair,
    pdu,
    rack_i,
    rack_state,
    run,
    small_doc,
    small_layout,
    write_layout,
)
from test_user_bugs_engine import _rewrite

from twin.core.engine import Factory
from twin.core.engine.checkpoint import CheckpointError
from twin.core.engine.routing import POLICIES, View


# ---- breakers: an I²t element, per second of load, whatever the tick -------------------
def _ab_failover(tmp_path, overload: float, tick: str) -> Factory:
    """row-b's B PDU alone carries both racks once A fails, rated so that is ``overload``×."""
    (tmp_path / "probe").mkdir()
    probe = Factory(small_layout(tmp_path / "probe", tick=tick))
    probe.advance_to(60)
    cmd(probe, "fail row-b-pdu-a1")
    probe.advance_to(90)
    cap = pdu(probe.snapshot(), "row-b-pdu-b1").load_kw / overload

    def thin(doc):
        doc["rows"][1]["pdu_capacity"] = f"{cap:.3f}kW"

    (tmp_path / "thin").mkdir()
    f = Factory(small_layout(tmp_path / "thin", edit=thin, tick=tick))
    f.advance_to(60)
    cmd(f, "fail row-b-pdu-a1")
    return f


def test_a_breaker_trips_when_its_overload_squared_over_time_reaches_the_catalogs_trip_time(
    tmp_path, catalog
):
    """The breaker's heat is ∫ (load/rating)² − 1 dt, in seconds of load (not ticks): at
    about 2× it trips when that reaches the catalog's 90 s, i.e. after ~30 s."""
    trip_s = float(catalog.constants["breaker_trip_s"])
    f = _ab_failover(tmp_path, 2.0, "0.5s")
    heat, t0, states = 0.0, f.now, set()
    while f.now - t0 < 120:
        f.advance_to(f.now + f.dt)
        p = pdu(f.snapshot(), "row-b-pdu-b1")
        if p.state == "tripped":
            break
        m = p.load_kw / p.capacity_kw
        heat = max(0.0, heat + (m * m - 1.0) * f.dt)
        states.add((m > 1.0, p.state))
    assert states == {(True, "overloaded")}  # shown over its rating until it trips
    assert p.state == "tripped", heat
    assert 0.85 * trip_s < heat <= trip_s  # not before its I²t is spent, nor much after
    assert 20 <= f.now - t0 <= 45


# ---- the fabric as the switch view shows it --------------------------------------------
def test_a_failed_spine_takes_down_one_link_of_every_leaf_and_all_of_its_own(small):
    f = Factory(small)
    run(f, 10)
    cmd(f, "fail spine-1")
    sw = {s.id: s for s in run(f, 1).switches}
    leaves = [s for s in sw.values() if s.tier == "leaf"]
    assert len(leaves) == 6
    assert all((s.links, s.links_down, s.state) == (2, 1, "ok") for s in leaves)
    assert (sw["spine-1"].state, sw["spine-1"].links_down) == ("failed", 6)
    assert sw["spine-2"].links_down == 0
    cmd(f, "repair spine-1")
    assert all(s.links_down == 0 for s in run(f, 1).switches)


def test_a_failed_leaf_shows_as_a_link_down_on_each_spine(small):
    f = Factory(small)
    run(f, 10)
    cmd(f, "fail leaf-3")
    sw = {s.id: s for s in run(f, 1).switches}
    assert sw["leaf-3"].links_down == 2
    assert sw["spine-1"].links_down == sw["spine-2"].links_down == 1
    assert sw["leaf-4"].links_down == 0


# ---- SLO figures before anything has happened ------------------------------------------
def test_before_any_request_every_class_shows_its_slo_as_met(small):
    """A class with no requests yet has missed nothing: 100 %, not 0 % (a red panel at start)."""
    s = Factory(small).snapshot()
    assert [c.slo_attainment for c in s.classes] == [1.0, 1.0, 1.0]


def test_a_deployment_of_one_replica_reports_its_gpus_per_replica(tmp_path):
    def one(doc):
        doc["deployments"][0]["replicas"] = 1

    s = run(Factory(small_layout(tmp_path, edit=one)), 5)
    d = dep(s, "chat-70b")
    assert (d.replicas, d.gpus_per_replica) == (1, 8)


# ---- rack caps deeper than the boards' floor under load --------------------------------
def test_a_rack_cap_below_what_its_gpus_draw_at_the_floor_sheds_load_and_holds_the_cap(small):
    """row-a-01 draws ~30 kW, ~22 kW with every board at its minimum power limit, ~13.5 kW
    idle: a 15 kW cap is met only by draining replicas, and says so."""
    f = Factory(small)
    run(f, 60)
    i = rack_i(f.snapshot(), "row-a-01")
    cmd(f, "cap row-a-01 15kW")
    run(f, 20)
    powers = [run(f, 0.5).racks.power_kw[i] for _ in range(80)]
    s = f.snapshot()
    assert np.mean(powers) <= 15.0
    assert s.racks.clock[i] < 1.0 and s.racks.utilisation[i] < 0.8  # drained, not just slowed
    assert any(
        e.source == "row-a-01" and "minimum power" in e.message and "shedding" in e.message
        for e in s.events
    )
    others = [rack_i(s, r) for r in ROW_A[1:]]
    assert np.all(s.racks.clock[others] == 1.0)
    cmd(f, "cap row-a-01 off")
    s = run(f, 60)
    assert s.racks.power_kw[i] > 25 and s.racks.utilisation[i] > 0.8  # serving in full again


# ---- site and PDU caps: held just under the limit, not far under it ----------------------
def test_a_site_cap_holds_facility_power_just_under_it(small):
    f = Factory(small)
    cap = 0.8 * run(f, 60).gauges["facility_power_kw"]
    cmd(f, f"cap {cap:.1f}kW")
    run(f, 10)
    p = np.array([run(f, 0.5).gauges["facility_power_kw"] for _ in range(60)])
    assert p.max() <= cap  # never over
    assert p.mean() >= 0.95 * cap  # and not throttled more than it takes


def test_a_cap_on_one_pdu_of_an_ab_pair_counts_only_its_half_of_the_racks(small):
    """row-b's racks draw through both PDUs: capping A at 80 % of its load slows them just
    enough for A's half, so A's load sits under its cap and near it (counting the racks'
    whole draw against A alone would slow them too much; double-counting B's half, too
    little at first, and A runs over)."""
    f = Factory(small)
    cap = 0.8 * pdu(run(f, 60), "row-b-pdu-a1").load_kw
    cmd(f, f"cap row-b-pdu-a1 {cap:.2f}kW")
    run(f, 10)
    p = np.array([pdu(run(f, 0.5), "row-b-pdu-a1").load_kw for _ in range(60)])
    assert p.max() <= cap and p.mean() >= 0.9 * cap
    s = f.snapshot()
    assert np.all(s.racks.clock[[rack_i(s, r) for r in ROW_A]] == 1.0)


# ---- a prefill leaf cut off from the spines ---------------------------------------------
def test_a_prefill_leaf_cut_off_from_every_spine_fails_its_requests_instead_of_serving_them(
    small,
):
    """row-b-01 (leaf-5) holds both prefill replicas of split-70b: with both of leaf-5's
    uplinks down no KV cache can reach a decode replica, so the prefill replicas stop
    admitting and the 'long' class's requests fail (not 'served' after an infinite wait)."""
    base, hit = pair(small, "fail link-leaf-5-spine-1", "fail link-leaf-5-spine-2", after=60)
    s, b = hit.snapshot(), base.snapshot()
    assert dep(b, "split-70b").output_tok_s > 1000
    assert dep(s, "split-70b").output_tok_s < 1.0
    assert cls(s, "long").slo_attainment == 0.0
    assert s.gauges["failed_rps"] == pytest.approx(cls(s, "long").rate_rps, rel=0.2)
    assert b.gauges["failed_rps"] == 0.0
    assert dep(s, "chat-70b").output_tok_s == pytest.approx(dep(b, "chat-70b").output_tok_s)


# ---- power-aware routing: efficient replicas first, then everyone to a common level ------
def _loads_after(policy: str, load, capacity, efficiency, clock, n: float) -> np.ndarray:
    v = View(np.array(load), np.array(capacity), np.array(efficiency), np.array(clock))
    share = POLICIES[policy](v, n) * n
    assert share.sum() == pytest.approx(n) and (share >= 0).all()
    return v.load + share / v.capacity


@pytest.mark.parametrize("n", [30.0, 22.6])
def test_power_aware_routing_fills_efficient_replicas_to_its_target_then_levels_everyone(n):
    """Two efficient replicas already half full, two less efficient ones empty (all hold
    10): the efficient ones fill to 80 % first, the others to 80 %, and what is left (8
    requests, or 0.6) raises all four to one common load."""
    after = _loads_after(
        "power-aware", [0.5, 0.5, 0.0, 0.0], [10.0] * 4, [2, 2, 1, 1], [1.0] * 4, n
    )
    assert after == pytest.approx(np.full(4, 0.8 + (n - 22.0) / 40.0), rel=1e-9)


def test_power_aware_routing_fills_full_clock_replicas_before_capped_ones():
    after = _loads_after("power-aware", [0.0] * 3, [10.0] * 3, [1, 1, 1], [1.0, 0.7, 1.0], 12.0)
    # the two alike full-clock replicas fill together (identical replicas, identical
    # shares: rows.py); the capped one waits
    assert after == pytest.approx([0.6, 0.0, 0.6])
    after = _loads_after("power-aware", [0.0] * 3, [10.0] * 3, [1, 1, 1], [1.0, 0.7, 1.0], 20.0)
    assert after == pytest.approx([0.8, 0.4, 0.8])


# ---- slo-aware routing keeps its promise when clocks are lowered ------------------------
def test_slo_aware_routing_under_a_power_cap_admits_only_what_slowed_replicas_serve_in_time(
    tmp_path,
):
    """A 150 kW site cap lowers every clock: slo-aware sheds what the slowed replicas
    cannot prefill within the TTFT SLO, so the requests it admits still meet it."""
    f = Factory(small_layout(tmp_path, routing="slo-aware"))
    run(f, 30)
    cmd(f, "cap 150kW")
    run(f, 90)
    s = f.run_summary()
    admitted = s["requests"] - s["requests_shed"]
    assert s["requests_shed"] > 0.1 * s["requests"]  # it had to shed
    assert s["slo_attainment"] * s["requests"] >= 0.95 * admitted  # and what it kept met the SLO


def test_a_failed_spine_carries_no_kv_traffic_and_the_other_spine_carries_all_of_it(small):
    base, hit = pair(small, "fail spine-1", warm=30, after=20)
    s, b = hit.snapshot(), base.snapshot()
    cut = [ln for ln in s.links if ln.b == "spine-1"]
    assert len(cut) == 6 and all(ln.load == 0.0 and ln.capacity_fraction == 0.0 for ln in cut)
    busiest = max(ln.load for ln in b.links)
    assert max(ln.load for ln in s.links) == pytest.approx(2 * busiest, rel=1e-6)


# ---- checkpoints, random faults, power feeds, the site's own words ----------------------
def test_a_file_that_is_not_a_twin_checkpoint_is_refused(small):
    f = Factory(small)
    run(f, 5)
    data = f.checkpoint()
    for other in ("a-checkpoint", "zz-checkpoint"):

        def alien(meta, arrays, other=other):
            meta["format"] = other

        with pytest.raises(CheckpointError, match="description is incomplete"):
            Factory(small).restore(_rewrite(data, alien))


def test_random_gpu_faults_arrive_at_the_catalogs_rate(small, catalog):
    """One GPU fault per 20 s across the factory's 192 GPUs: ~30 in ten minutes."""
    year_s = 365.25 * 86400
    k = {**catalog.constants, "failures_per_gpu_year": year_s / (20 * 192)}
    f = Factory(small, dataclasses.replace(catalog, constants=k), faults=True)
    s = run(f, 600)
    gpu = [e for e in s.events if e.message.startswith("gpu failed (random)")]
    assert 15 <= len(gpu) <= 50, len(gpu)


def test_a_single_fed_pdu_failure_takes_down_exactly_the_racks_it_feeds(small):
    f = Factory(small)
    run(f, 10)
    cmd(f, "fail row-a-pdu-2")
    s = run(f, 5)
    assert [rack_state(s, r) for r in ROW_A] == ["ok", "ok", "down", "down"]
    assert [rack_state(s, r) for r in ("row-b-01", "row-b-02")] == ["ok", "ok"]


def test_a_site_cap_below_the_boards_floor_names_the_limit_in_megawatts(small):
    f = Factory(small)
    run(f, 30)
    cmd(f, "cap 60kW")
    s = run(f, 30)
    assert any(
        e.message.startswith("the 0.1 MW limit is below what the GPUs draw") for e in s.events
    )


def test_a_healthy_fabric_lists_only_its_busiest_links(small):
    s = run(Factory(small), 30)
    assert len(s.links) == 8 < 12  # the busiest eight of twelve, none down or degraded
    assert all(ln.capacity_fraction == 1.0 for ln in s.links)


def test_planned_demand_runs_under_full_utilisation_and_triple_demand_over_it(small):
    """Replicas sized 'auto' for the layout's demand run below the knee where the pace
    meets the TPOT SLO (100 %); four times the demand drives them past it (at three, the
    agentic prefixes a full KV cache loses during tool pauses re-prefill enough to hold
    output at ~97 % of the knee)."""
    base, hit = pair(small, "surge 4", warm=60, after=60)
    assert 0.5 < base.snapshot().gauges["utilisation"] < 1.0
    assert hit.snapshot().gauges["utilisation"] > 1.0


def test_a_layout_without_a_tick_steps_one_second_at_a_time(tmp_path):
    doc_tick = {k: v for k, v in small_doc().items() if k != "tick"}
    f = Factory(write_layout(tmp_path, doc_tick))
    s = run(f, 5)
    assert list(s.history["t_s"]) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_repairing_a_straggling_node_gives_its_rack_back_its_full_speed(small):
    base, hit = pair(small, "straggle row-a-02-n1 3", after=30)
    i = ROW_A.index("row-a-02")
    assert hit.snapshot().racks.utilisation[i] < 0.9 * base.snapshot().racks.utilisation[i]
    cmd(hit, "repair row-a-02-n1")
    base.advance_to(150)
    hit.advance_to(150)
    assert hit.snapshot().racks.utilisation[i] == pytest.approx(
        base.snapshot().racks.utilisation[i], rel=0.02
    )
    assert hit.snapshot().active_faults == ()
