"""Each fault the engine models, its effect on the factory and its repair.

Most tests run two factories side by side with the same seed (``pair``): they see the
same requests, so whatever differs is the fault's doing. The small factory
(``engine_helpers.SMALL``): row-a is 4 H100 racks, single-fed (row-a-pdu-1 feeds
row-a-01/02, row-a-pdu-2 row-a-03/04), cooled by loop-1, serving ``chat-70b`` (16
replicas of one 8-GPU node); row-b is 2 H200 racks, A/B fed (row-b-pdu-a1 on feed-a and
row-b-pdu-b1 on feed-b), cooled by loop-2, serving the disaggregated ``split-70b``
(2 prefill + 6 decode replicas, KV over two spines). Each rack has its own leaf.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import (
    ROW_A,
    ROW_B,
    advance_both,
    cls,
    cmd,
    dep,
    events_since,
    loop,
    pair,
    pdu,
    rack_i,
    rack_power,
    rack_state,
    recent_mean,
    run,
    small_layout,
)

from twin.core.engine import Factory
from twin.core.errors import TwinError

# ---------------------------------------------------------------------------------------
# GPU, node, rack


def test_failing_a_node_takes_down_the_replica_on_it_and_repair_brings_it_back(small):
    base, hit = pair(small, "fail row-a-02-n3", after=2)
    s, b = hit.snapshot(), base.snapshot()
    assert dep(s, "chat-70b").replicas_up == 15 and dep(b, "chat-70b").replicas_up == 16
    assert rack_state(s, "row-a-02") == "degraded"  # the rack's other three nodes still serve
    assert any(
        "replicas lost" in e.message and "running requests failed" in e.message
        for e in events_since(s, 60)
    )
    assert s.gauges["failed_rps"] > 0
    # the other replicas take the load: the same work on less capacity (over the last
    # 20 s: one tick's utilisation swings ±20 % with the tick's prompts, either way)
    s, b = advance_both(base, hit, 30)
    assert recent_mean(s, "utilisation", 20, hit.dt) > recent_mean(b, "utilisation", 20, base.dt)
    assert dep(s, "chat-70b").batch_mean > dep(b, "chat-70b").batch_mean
    assert rack_power(s, ["row-a-02"]) < rack_power(b, ["row-a-02"])
    cmd(hit, "repair row-a-02-n3")
    s = run(hit, 2)
    assert dep(s, "chat-70b").replicas_up == 16
    assert rack_state(s, "row-a-02") == "ok"
    assert s.active_faults == ()


def test_failing_one_gpu_takes_down_the_replica_that_holds_it_and_repair_restores_it(small):
    base, hit = pair(small, "fail row-a-04-n1-g5", after=2)
    s = hit.snapshot()
    assert dep(s, "chat-70b").replicas_up == 15
    assert rack_state(s, "row-a-04") == "degraded"
    assert [f[:2] for f in s.active_faults] == [("row-a-04-n1-g5", "gpu")]
    cmd(hit, "repair row-a-04-n1-g5")
    assert dep(run(hit, 2), "chat-70b").replicas_up == 16


def test_two_gpu_faults_on_one_node_need_two_repairs(small):
    f = Factory(small)
    run(f, 5)
    cmd(f, "fail row-a-01-n2-g1")
    cmd(f, "fail row-a-01-n2-g7")
    assert dep(run(f, 2), "chat-70b").replicas_up == 15
    cmd(f, "repair row-a-01-n2-g1")
    assert dep(run(f, 2), "chat-70b").replicas_up == 15
    cmd(f, "repair row-a-01-n2-g7")
    assert dep(run(f, 2), "chat-70b").replicas_up == 16


def test_failing_a_rack_drops_its_replicas_power_and_throughput_and_repair_restores_them(small):
    base, hit = pair(small, "fail row-a-03", after=60)
    s, b = hit.snapshot(), base.snapshot()
    assert rack_state(s, "row-a-03") == "down"
    assert s.racks.power_kw[rack_i(s, "row-a-03")] == 0.0
    assert dep(s, "chat-70b").replicas_up == 12
    assert (
        s.gauges["it_power_kw"] < b.gauges["it_power_kw"] - 15
    )  # a loaded H100 rack draws ~25-30 kW
    assert s.gauges["queue_depth"] > b.gauges["queue_depth"]  # the rest are now overloaded
    cmd(hit, "repair row-a-03")
    s = run(hit, 5)
    assert rack_state(s, "row-a-03") == "ok" and dep(s, "chat-70b").replicas_up == 16
    assert s.racks.power_kw[rack_i(s, "row-a-03")] > 15


def test_failing_a_row_fails_every_rack_in_it_and_repair_brings_them_back_together(small):
    _, hit = pair(small, "fail row-a", after=10)
    s = hit.snapshot()
    assert [rack_state(s, r) for r in ROW_A] == ["down"] * 4
    assert [rack_state(s, r) for r in ROW_B] == ["ok"] * 2
    assert dep(s, "chat-70b").replicas_up == 0 and rack_power(s, ROW_A) == 0.0
    assert s.gauges["it_power_kw"] == pytest.approx(rack_power(s, ROW_B))
    assert [f[:2] for f in s.active_faults] == [("row-a", "row")]
    with pytest.raises(TwinError):
        cmd(hit, "repair row-a-01")  # the row failed, not the rack on its own
    cmd(hit, "repair row-a")
    s = run(hit, 2)
    assert [rack_state(s, r) for r in ROW_A] == ["ok"] * 4 and dep(s, "chat-70b").replicas_up == 16


def test_a_row_with_a_rack_already_failed_cannot_fail_on_top_of_it(small):
    f = Factory(small)
    run(f, 5)
    cmd(f, "fail row-a-02")
    with pytest.raises(TwinError, match="row-a-02"):
        cmd(f, "fail row-a")
    assert [x[0] for x in f.snapshot().active_faults] == ["row-a-02"]


def test_a_fault_with_a_duration_is_repaired_by_itself_when_it_is_over(small):
    f = Factory(small)
    run(f, 10)
    cmd(f, "fail row-a-01 for 2m")
    s = f.snapshot()
    assert s.active_faults == (("row-a-01", "rack", 130.0),)
    s = run(f, 119)
    assert rack_state(s, "row-a-01") == "down"
    s = run(f, 2)
    assert rack_state(s, "row-a-01") == "ok" and s.active_faults == ()
    assert any(e.source == "row-a-01" and "repaired" in e.message for e in s.events)


def test_a_fault_without_a_duration_is_repaired_after_its_usual_repair_time(small, catalog):
    f = Factory(small)
    run(f, 10)
    cmd(f, "fail link-leaf-1-spine-1")
    repair_s = float(catalog.constants["repair_s"]["link"])
    assert f.snapshot().active_faults == (("link-leaf-1-spine-1", "link", 10.0 + repair_s),)
    assert 600 <= repair_s <= 6 * 3600  # cables and optics are swapped within hours


# ---------------------------------------------------------------------------------------
# power: PDU and feed


def test_failing_a_pdu_drops_the_single_fed_racks_behind_it_and_throughput_and_it_power_fall(small):
    base, hit = pair(small, "fail row-a-pdu-1", after=60)
    s, b = hit.snapshot(), base.snapshot()
    assert [rack_state(s, r) for r in ROW_A] == ["down", "down", "ok", "ok"]
    assert rack_power(s, ROW_A[:2]) == 0.0
    assert pdu(s, "row-a-pdu-1").state == "failed" and pdu(s, "row-a-pdu-1").load_kw == 0.0
    assert dep(s, "chat-70b").replicas_up == 8
    assert s.gauges["it_power_kw"] < 0.8 * b.gauges["it_power_kw"]
    assert s.gauges["facility_power_kw"] < b.gauges["facility_power_kw"]
    out, out_base = (
        recent_mean(s, "output_tok_s", 40, hit.dt),
        recent_mean(b, "output_tok_s", 40, base.dt),
    )
    assert out < 0.85 * out_base
    assert s.gauges["ttft_p95_s"] > 2 * b.gauges["ttft_p95_s"]
    cmd(hit, "repair row-a-pdu-1")
    s = run(hit, 5)
    assert [rack_state(s, r) for r in ROW_A] == ["ok"] * 4 and dep(s, "chat-70b").replicas_up == 16
    assert pdu(s, "row-a-pdu-1").state in ("ok", "high") and pdu(s, "row-a-pdu-1").load_kw > 30
    s = run(hit, 300)  # the backlog clears and throughput is back
    b = run(base, 305)
    assert recent_mean(s, "output_tok_s", 60, hit.dt) == pytest.approx(
        recent_mean(b, "output_tok_s", 60, base.dt), rel=0.1
    )


def test_ab_fed_racks_survive_a_pdu_failure_on_the_other_pdu_whose_load_rises(small):
    base, hit = pair(small, "fail row-b-pdu-a1", after=30)
    s, b = hit.snapshot(), base.snapshot()
    assert [rack_state(s, r) for r in ROW_B] == ["ok", "ok"]
    assert dep(s, "split-70b").replicas_up == 8
    assert pdu(s, "row-b-pdu-a1").state == "failed" and pdu(s, "row-b-pdu-a1").load_kw == 0.0
    survivor = pdu(s, "row-b-pdu-b1")
    assert survivor.load_kw == pytest.approx(rack_power(s, ROW_B))  # it carries both racks alone
    assert survivor.load_kw > 1.8 * pdu(b, "row-b-pdu-b1").load_kw
    assert s.gauges["failed_rps"] == 0
    cmd(hit, "repair row-b-pdu-a1")
    s = run(hit, 2)
    assert pdu(s, "row-b-pdu-a1").load_kw == pytest.approx(pdu(s, "row-b-pdu-b1").load_kw)


def test_the_failure_event_does_not_count_ab_racks_that_stayed_up_as_affected(small):
    _, hit = pair(small, "fail row-b-pdu-a1", after=1)
    s = hit.snapshot()
    assert [rack_state(s, r) for r in ROW_B] == ["ok", "ok"]
    msg = next(e.message for e in s.events if e.source == "row-b-pdu-a1")
    assert "2 racks affected" not in msg, msg


def _thin_b_pdus(doc):
    # each PDU of row-b carries ~19 kW of its two racks' ~38 kW: fine alone on A/B,
    # but 30 kW is too little to carry both racks when its partner is lost
    doc["rows"][1]["pdu_capacity"] = "30kW"


def test_a_pdu_that_takes_over_more_than_its_capacity_trips_its_breaker(tmp_path):
    layout = small_layout(tmp_path, edit=_thin_b_pdus)
    base, hit = pair(layout, after=0)
    s = run(hit, 30)
    assert pdu(s, "row-b-pdu-b1").load_kw < 30 and pdu(s, "row-b-pdu-b1").state in ("ok", "high")
    cmd(hit, "fail row-b-pdu-a1")
    s = run(hit, 30)  # ~1.3x its rating: an inverse-time breaker holds for a while…
    assert pdu(s, "row-b-pdu-b1").state == "overloaded"
    s = run(hit, 270)  # …then trips
    assert pdu(s, "row-b-pdu-b1").state == "tripped"
    assert [rack_state(s, r) for r in ROW_B] == ["down", "down"]  # A and B both gone
    assert rack_power(s, ROW_B) == 0.0
    assert dep(s, "split-70b").replicas_up == 0
    assert any(e.source == "row-b-pdu-b1" and "breaker tripped" in e.message for e in s.events)
    assert ("row-b-pdu-b1", "tripped") in [f[:2] for f in s.active_faults]
    # resetting the breaker alone would trip it again; fix the failed PDU, then reset
    cmd(hit, "repair row-b-pdu-a1")
    cmd(hit, "repair row-b-pdu-b1")
    s = run(hit, 5)
    assert [rack_state(s, r) for r in ROW_B] == ["ok", "ok"]
    assert pdu(s, "row-b-pdu-b1").state in ("ok", "high") and dep(s, "split-70b").replicas_up == 8


def test_failing_a_feed_unpowers_every_pdu_on_it_and_only_ab_fed_racks_survive(small):
    base, hit = pair(small, "fail feed-a", after=30)
    s, b = hit.snapshot(), base.snapshot()
    states = {p.id: p.state for p in s.power}
    assert states["feed-a"] == "failed"
    assert states["row-a-pdu-1"] == states["row-a-pdu-2"] == states["row-b-pdu-a1"] == "unpowered"
    assert states["feed-b"] == "ok" and states["row-b-pdu-b1"] in ("ok", "high")
    assert [rack_state(s, r) for r in ROW_A] == ["down"] * 4
    assert [rack_state(s, r) for r in ROW_B] == ["ok"] * 2
    assert dep(s, "chat-70b").replicas_up == 0 and dep(s, "split-70b").replicas_up == 8
    feed_b = next(p for p in s.power if p.id == "feed-b")
    assert feed_b.load_kw == pytest.approx(rack_power(s, ROW_B))
    assert feed_b.load_kw > 1.8 * next(p for p in b.power if p.id == "feed-b").load_kw
    assert s.gauges["it_power_kw"] == pytest.approx(rack_power(s, ROW_B))
    assert s.gauges["failed_rps"] > 50  # chat and agent requests have nowhere to go
    cmd(hit, "repair feed-a")
    s = run(hit, 5)
    assert all(p.state in ("ok", "high") for p in s.power)
    assert dep(s, "chat-70b").replicas_up == 16


# ---------------------------------------------------------------------------------------
# cooling


def test_losing_a_cooling_loop_heats_its_racks_over_minutes_then_throttles_them_and_repair_cools_them(
    small,
):
    base, hit = pair(small, "fail loop-1", after=120)
    s, b = hit.snapshot(), base.snapshot()
    a = [rack_i(s, r) for r in ROW_A]
    other = [rack_i(s, r) for r in ROW_B]
    assert loop(s, "loop-1").state == "failed"
    # two minutes in: warmer, not yet throttled (it takes minutes, not seconds)
    assert np.all(s.racks.temp_c[a] > b.racks.temp_c[a] + 5)
    assert np.allclose(s.racks.temp_c[other], b.racks.temp_c[other])
    assert [rack_state(s, r) for r in ROW_A] == ["ok"] * 4
    temps = [s.racks.temp_c[a].max()]
    for _ in range(3):
        temps.append(advance_both(base, hit, 60)[0].racks.temp_c[a].max())
    assert np.all(np.diff(temps) > 1.0)  # heating steadily, minute after minute
    # fifteen minutes in: hot enough to throttle; clocks halved, throughput and power down
    s, b = advance_both(base, hit, 600)
    assert s.t_s == 60 + 900  # fifteen minutes after the loop failed
    assert [rack_state(s, r) for r in ROW_A] == ["throttled"] * 4
    assert loop(s, "loop-1").hottest_c >= 85
    assert any("thermal throttle" in e.message for e in s.events)
    assert rack_power(s, ROW_A) < 0.9 * rack_power(b, ROW_A)
    assert s.gauges["ttft_p95_s"] > 5 * b.gauges["ttft_p95_s"]  # the slower row cannot keep up
    assert dep(s, "chat-70b").queue > dep(b, "chat-70b").queue + 100
    # repair: the loop removes the heat, the racks cool and the throttle is released
    cmd(hit, "repair loop-1")
    s, b = advance_both(base, hit, 600)
    assert loop(s, "loop-1").state == "ok"
    assert [rack_state(s, r) for r in ROW_A] == ["ok"] * 4
    assert np.all(s.racks.temp_c[a] < b.racks.temp_c[a] + 3)
    assert any("throttle released" in e.message for e in s.events)


def test_a_throttled_rack_stays_throttled_until_it_has_cooled(small):
    f = Factory(small)
    run(f, 60)
    cmd(f, "fail loop-1")
    run(f, 840)
    cmd(f, "repair loop-1")
    s = run(f, 400)
    onsets = [e for e in s.events if e.source == "row-a-01" and "thermal throttle" in e.message]
    releases = [e for e in s.events if e.source == "row-a-01" and "throttle released" in e.message]
    assert 1 <= len(onsets) <= 2 and 1 <= len(releases) <= 2, (len(onsets), len(releases))


def test_a_thermally_throttled_rack_reports_its_lowered_clock(small, catalog):
    f = Factory(small)
    run(f, 60)
    cmd(f, "fail loop-1")
    s = run(f, 840)
    assert rack_state(s, "row-a-01") == "throttled"
    assert s.racks.clock[rack_i(s, "row-a-01")] <= float(catalog.constants["throttle_clock"]) + 1e-9


# ---------------------------------------------------------------------------------------
# fabric: spine, leaf, link


def _surviving_load(s) -> float:
    loads = [ln.load for ln in s.links if ln.capacity_fraction == 1.0]
    assert loads
    return max(loads)


def test_a_spine_failure_cuts_fabric_bandwidth_so_kv_transfers_slow_and_ttft_rises(small):
    base, hit = pair(small, "fail spine-1", after=60)
    s, b = hit.snapshot(), base.snapshot()
    assert next(sw for sw in s.switches if sw.id == "spine-1").state == "failed"
    cut = [ln for ln in s.links if ln.b == "spine-1"]
    assert len(cut) == 6 and all(ln.capacity_fraction == 0.0 for ln in cut)
    # the same KV traffic on half the uplinks
    assert _surviving_load(s) == pytest.approx(2 * _surviving_load(b), rel=1e-6)
    # the disaggregated class waits longer for its KV cache; aggregated serving does not care
    assert cls(s, "long").ttft_p95_s > 1.5 * cls(b, "long").ttft_p95_s
    assert cls(s, "chat").ttft_p95_s == pytest.approx(cls(b, "chat").ttft_p95_s, rel=0.02)
    assert all(rack_state(s, r) == "ok" for r in ROW_A + ROW_B)  # nothing goes down
    cmd(hit, "repair spine-1")
    s, b = advance_both(base, hit, 70)
    assert all(ln.capacity_fraction == 1.0 for ln in s.links)
    assert _surviving_load(s) == pytest.approx(_surviving_load(b), rel=1e-6)
    assert cls(s, "long").ttft_p95_s <= 1.1 * cls(b, "long").ttft_p95_s


def test_a_link_failure_moves_its_traffic_onto_the_other_links(small):
    base, hit = pair(small, "fail link-leaf-5-spine-1", after=20)
    s, b = hit.snapshot(), base.snapshot()
    down = next(ln for ln in s.links if ln.id == "link-leaf-5-spine-1")
    assert down.capacity_fraction == 0.0 and down.load == 0.0
    # 12 equal uplinks, one gone: the rest carry 12/11 of what they did
    assert _surviving_load(s) == pytest.approx(_surviving_load(b) * 12 / 11, rel=1e-6)
    cmd(hit, "repair link-leaf-5-spine-1")
    s, b = advance_both(base, hit, 1)
    # the snapshot lists links that are not fully up (and the busiest few)
    assert all(ln.capacity_fraction == 1.0 for ln in s.links) and s.active_faults == ()
    assert _surviving_load(s) == pytest.approx(_surviving_load(b), rel=1e-6)


def test_a_degraded_link_keeps_part_of_its_capacity_and_the_others_take_more(small):
    base, hit = pair(small, "degrade link-leaf-6-spine-2 25%", after=20)
    s, b = hit.snapshot(), base.snapshot()
    link = next(ln for ln in s.links if ln.id == "link-leaf-6-spine-2")
    assert link.capacity_fraction == pytest.approx(0.25)
    assert _surviving_load(s) == pytest.approx(_surviving_load(b) * 12 / 11.25, rel=1e-6)
    assert tuple(f[0] for f in s.active_faults) == ("link-leaf-6-spine-2",)
    cmd(hit, "repair link-leaf-6-spine-2")
    s = run(hit, 1)
    assert all(ln.capacity_fraction == 1.0 for ln in s.links) and s.active_faults == ()


def test_a_leaf_cut_off_from_every_spine_stops_its_kv_transfers(small):
    # row-b-01 (leaf-5) holds both prefill replicas; its decode partners on row-b-02 sit
    # behind leaf-6, so every KV cache it makes must cross leaf-5's uplinks
    base, hit = pair(small, "fail link-leaf-5-spine-1", "fail link-leaf-5-spine-2", after=60)
    s, b = hit.snapshot(), base.snapshot()
    slowed = cls(s, "long").ttft_p95_s > 2 * cls(b, "long").ttft_p95_s
    cut_off = dep(s, "split-70b").output_tok_s < 0.8 * dep(b, "split-70b").output_tok_s
    assert slowed or cut_off


def test_a_leaf_switch_failure_takes_its_racks_off_the_network_until_repaired(small):
    base, hit = pair(small, "fail leaf-2", after=10)
    s = hit.snapshot()
    assert rack_state(s, "row-a-02") == "down"
    assert [rack_state(s, r) for r in ("row-a-01", "row-a-03", "row-a-04")] == ["ok"] * 3
    assert dep(s, "chat-70b").replicas_up == 12
    assert all(ln.capacity_fraction == 0.0 for ln in s.links if ln.a == "leaf-2")
    cmd(hit, "repair leaf-2")
    s = run(hit, 2)
    assert rack_state(s, "row-a-02") == "ok" and dep(s, "chat-70b").replicas_up == 16


# ---------------------------------------------------------------------------------------
# NVLink domain, straggler


def test_a_degraded_nvlink_domain_slows_its_replicas_until_repaired(small):
    base, hit = pair(small, "degrade row-a-01 0.5", after=60)
    s, b = hit.snapshot(), base.snapshot()
    assert rack_state(s, "row-a-01") == "degraded"
    assert dep(s, "chat-70b").replicas_up == 16  # slower, not down
    assert dep(s, "chat-70b").tpot_p95_s > 1.15 * dep(b, "chat-70b").tpot_p95_s
    assert dep(s, "split-70b").tpot_p95_s == dep(b, "split-70b").tpot_p95_s
    cmd(hit, "repair row-a-01")
    s, b = advance_both(base, hit, 70)
    assert rack_state(s, "row-a-01") == "ok"
    assert dep(s, "chat-70b").tpot_p95_s <= 1.06 * dep(b, "chat-70b").tpot_p95_s


def test_a_worse_nvlink_degradation_slows_more(small):
    _, half = pair(small, "degrade row-a-01 0.5", after=60)
    _, tenth = pair(small, "degrade row-a-01 0.1", after=60)
    assert (
        dep(tenth.snapshot(), "chat-70b").tpot_p95_s > dep(half.snapshot(), "chat-70b").tpot_p95_s
    )


def test_a_straggler_raises_tail_latency_until_repaired(small):
    base, hit = pair(small, "straggle row-a-01 2", after=60)
    s, b = hit.snapshot(), base.snapshot()
    assert rack_state(s, "row-a-01") == "degraded"
    assert s.gauges["tpot_p99_s"] > 1.5 * b.gauges["tpot_p99_s"]
    assert s.gauges["tpot_p50_s"] < s.gauges["tpot_p99_s"]  # the tail, not everyone
    cmd(hit, "repair row-a-01")
    # the backlog the straggler left drains first: ~80 s at this load (p99 1.04x at 80 s)
    s, b = advance_both(base, hit, 90)
    assert rack_state(s, "row-a-01") == "ok"
    assert s.gauges["tpot_p99_s"] <= 1.06 * b.gauges["tpot_p99_s"]


def test_a_straggling_node_slows_only_its_own_replica_not_its_whole_rack(small):
    base, node = pair(small, "straggle row-a-01-n1 3", after=60)
    _, rack = pair(small, "straggle row-a-01 3", after=60)
    n, r, b = node.snapshot(), rack.snapshot(), base.snapshot()
    # one replica of sixteen slow, against four of sixteen: the tail moves, less than for the rack
    assert n.gauges["tpot_p99_s"] > 1.5 * b.gauges["tpot_p99_s"]
    assert n.gauges["tpot_p95_s"] < r.gauges["tpot_p95_s"]
    cmd(node, "repair row-a-01-n1")
    n, b = advance_both(base, node, 70)
    assert n.gauges["tpot_p99_s"] <= 1.06 * b.gauges["tpot_p99_s"]


def test_a_rack_with_a_straggling_node_shows_as_degraded(small):
    _, node = pair(small, "straggle row-a-01-n1 3", after=5)
    assert rack_state(node.snapshot(), "row-a-01") == "degraded"


# ---------------------------------------------------------------------------------------
# repair bookkeeping


def test_a_rack_that_was_degraded_then_failed_can_be_fully_repaired(small):
    f = Factory(small)
    run(f, 10)
    cmd(f, "degrade row-a-01 0.5")
    cmd(f, "fail row-a-01")
    run(f, 10)
    cmd(f, "repair row-a-01")
    s = run(f, 2)
    assert "row-a-01" not in [x[0] for x in s.active_faults], s.active_faults
    assert rack_state(s, "row-a-01") == "ok"  # neither down nor still degraded
    i = rack_i(s, "row-a-01")
    assert s.racks.replicas_up[i] == s.racks.replicas[i] > 0


def test_losing_every_spine_cuts_disaggregated_serving_without_crashing(tmp_path):
    """KV cannot cross the fabric: the disaggregated class fails its SLO; the rest serve on."""
    from twin.core.commands import parse_command
    from twin.core.layout import load_layout

    f = Factory(load_layout("default"))
    f.advance_to(30)
    for i in range(1, 9):
        f.apply(parse_command(f"fail spine-{i}"))
    f.advance_to(120)
    by_class = {c.id: c for c in f.snapshot().classes}
    assert by_class["reasoning"].slo_attainment < 0.5  # r1-nvl is disaggregated
    assert by_class["chat"].slo_attainment > 0.9  # aggregated deployments do not need the spines
