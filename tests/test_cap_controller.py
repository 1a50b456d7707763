"""A rack cap's controller holds the rack at the highest clock whose power fits the cap, as
a GPU's power limiter does, and gives back what it took once the cap allows it.

The rack here holds only the prefill replicas of a disaggregated deployment: its prompts
are compute-bound, so at a lower clock each takes longer and the rack draws about as much
power (below the voltage floor, more: its hosts are busy longer). A controller that only
ever lowered the clock from the draw, and raised it once power fell 3 % under the cap,
slid such a rack down and kept it there, or kept replicas drained at a high clock with the
power pinned just under the cap.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import advance_both, cls, cmd, dep, pair, pdu, rack_i, small_layout

RACK = "row-b-01"


@pytest.fixture(scope="module")
def prefill_rack(tmp_path_factory):
    def edit(doc):
        doc["rows"], doc["cooling"] = [doc["rows"][1]], [doc["cooling"][1]]
        # row-b-01: four prefill replicas; row-b-02: four decode replicas
        doc["deployments"] = [{**doc["deployments"][1], "prefill_share": 0.5}]
        doc["workloads"] = [{**doc["workloads"][2], "rate": "16/s"}]

    return small_layout(tmp_path_factory.mktemp("prefill-rack"), edit=edit)


def _watch(base, hit, seconds):
    """Run both on; each tick the capped rack's power (and uncapped), clock and shed
    share, the site's shed share and the deployment's queue."""
    i = rack_i(hit.snapshot(), RACK)
    seen = {k: [] for k in ("power", "uncapped", "clock", "shed", "site_shed", "queue")}
    for _ in range(int(round(seconds / hit.dt))):
        s, b = advance_both(base, hit, hit.dt)
        seen["power"].append(s.racks.power_kw[i])
        seen["uncapped"].append(b.racks.power_kw[i])
        seen["clock"].append(s.racks.clock[i])
        seen["shed"].append(hit.rack_shed[i])
        seen["site_shed"].append(hit.site_shed)
        seen["queue"].append(dep(s, "split-70b").queue)
    return s, b, {k: np.array(v) for k, v in seen.items()}


def test_a_capped_prefill_rack_keeps_the_clock_that_fits_not_the_floor(prefill_rack):
    base, hit = pair(prefill_rack, f"cap {RACK} 22kW", after=30)
    floor = hit.rack_min_clock[rack_i(hit.snapshot(), RACK)]
    s, b, seen = _watch(base, hit, 120)
    assert seen["uncapped"].mean() > 22  # the cap binds
    assert seen["power"].mean() <= 22 * 0.99  # and holds
    # below 60 % clock (the voltage floor) a slower clock saves this rack nothing: the
    # controller keeps the clock above it, far from the boards' floor (0.43 on H200)
    assert seen["clock"].mean() >= 0.6 > floor
    assert seen["shed"].mean() < 0.05  # it drains no replica it needs
    # users see it in the time to first token: near the uncapped one, not seconds more
    assert cls(s, "long").ttft_p95_s <= 1.3 * cls(b, "long").ttft_p95_s


def test_a_relaxed_rack_cap_gives_the_rack_back_its_replicas_and_clock(prefill_rack):
    # a cap below what the rack draws at its floor drains replicas ...
    base, hit = pair(prefill_rack, f"cap {RACK} 15kW", after=5)
    assert hit.rack_shed[rack_i(hit.snapshot(), RACK)] > 0.2
    # ... and one it can meet at a clock above its floor gives them back, and the queue
    # that built up meanwhile drains
    cmd(hit, f"cap {RACK} 22kW")
    s, b, seen = _watch(base, hit, 90)
    last = slice(-int(round(30 / hit.dt)), None)
    assert seen["power"].mean() <= 22 * 0.99
    assert seen["shed"][last].mean() < 0.05 and seen["clock"][last].mean() >= 0.6
    assert seen["queue"][last].mean() < 5


def test_a_row_cap_holds_its_busy_racks_at_a_steady_clock(tmp_path):
    """Under a row's cap the busy racks' clock settles: a tick's clock changes the next
    tick's work and host power, and a controller that jumped up to each tick's fitting
    clock swung between two clocks every tick."""

    def edit(doc):
        doc["rows"], doc["cooling"] = [doc["rows"][0]], [doc["cooling"][0]]
        doc["deployments"] = [doc["deployments"][0]]
        doc["workloads"] = [{**doc["workloads"][0], "rate": "250/s"}]

    base, hit = pair(small_layout(tmp_path, edit=edit), "cap row-a 84kW", after=60)
    clocks, row = [], []
    for _ in range(int(round(60 / hit.dt))):
        s, b = advance_both(base, hit, hit.dt)
        clocks.append(s.racks.clock.mean())
        row.append(s.racks.power_kw.sum())
    assert b.racks.power_kw.sum() > 84 * 1.2 and max(row) <= 84  # the cap binds and holds
    assert np.mean(row) >= 84 * 0.97  # at the cap, not under it
    assert np.abs(np.diff(clocks)).mean() < 0.02


def test_a_relaxed_pdu_cap_gives_its_racks_back_their_replicas(prefill_rack):
    """The PDU's controller takes the same step: row-b-pdu-a1 feeds both racks' A side."""
    base, hit = pair(prefill_rack, "cap row-b-pdu-a1 8kW", after=5)
    assert (hit.rack_shed > 0.2).all()
    cmd(hit, "cap row-b-pdu-a1 24kW")  # under its ~25-26 kW, above its racks' floor
    s, b, seen = _watch(base, hit, 90)
    last = slice(-int(round(30 / hit.dt)), None)
    assert pdu(b, "row-b-pdu-a1").load_kw > 24 >= pdu(s, "row-b-pdu-a1").load_kw
    assert (hit.rack_shed == 0).all() and seen["queue"][last].mean() < 5


def test_a_relaxed_row_cap_gives_a_drained_rack_back_its_replicas(prefill_rack):
    """A row's budget deep enough to drain every prefill replica, then one the row fits
    in at clocks above its floors: the drained rack wants only its idle draw, so its own
    share of the budget never had room, and it stayed dark with the row's budget unused."""
    base, hit = pair(prefill_rack, "cap row-b 30kW", after=30)
    assert (hit.rack_shed > 0.75).all()  # row-b-01's four prefill replicas all drained
    cmd(hit, "cap row-b 46kW")  # under its ~50-52 kW
    s, b, seen = _watch(base, hit, 90)
    last = slice(-int(round(30 / hit.dt)), None)
    assert b.racks.power_kw.sum() > 46 >= s.racks.power_kw.sum() > 40
    assert (hit.rack_shed == 0).all() and seen["queue"][last].mean() < 5


def test_a_site_cap_takes_the_same_step(prefill_rack):
    """A site cap a seventh under the site's draw: the site's controller, too, holds the
    highest clock that fits instead of sliding to the boards' floor and draining
    replicas there (it shed once its clock reached the highest of the racks' floors)."""
    base, hit = pair(prefill_rack, "cap 56kW", after=30)
    s, b, seen = _watch(base, hit, 90)
    facility = np.array(s.history["facility_power_kw"][-len(seen["clock"]) :])
    assert b.gauges["facility_power_kw"] > 56 * 1.1 and facility.mean() <= 56 * 0.99
    assert seen["clock"].mean() >= 0.55 and seen["site_shed"].mean() < 0.05
    assert cls(s, "long").ttft_p95_s <= 1.3 * cls(b, "long").ttft_p95_s


def test_a_row_cap_a_little_under_its_racks_floors_holds_and_sheds_only_what_it_must(tmp_path):
    """A row's budget a little under what its racks draw at their GPUs' floor clock: the
    racks go to the floor and shed replicas until the row fits, and no more. The budget
    gave each rack its floor draw as its share, so a clock held just above the floor
    'fitted' it: the row stayed ~5 % over its cap for good and never shed. Shedding on
    while the drained replicas finished their running requests drained most of the row."""

    def edit(doc):
        doc["rows"], doc["cooling"] = [doc["rows"][0]], [doc["cooling"][0]]
        doc["deployments"] = [doc["deployments"][0]]
        doc["workloads"] = [{**doc["workloads"][0], "rate": "250/s"}]

    base, hit = pair(small_layout(tmp_path, edit=edit), "cap row-a 70kW", after=60)
    row = []
    for _ in range(int(round(30 / hit.dt))):
        s, b = advance_both(base, hit, hit.dt)
        row.append(s.racks.power_kw.sum())
    assert b.racks.power_kw.sum() > 70 * 1.5  # the cap binds hard
    assert max(row) <= 70  # and holds
    assert 0.1 < hit.rack_shed.mean() < 0.6  # by shedding, not the whole row
    shed = [e for e in s.events if e.source == "row-a" and "shedding load" in e.message]
    assert shed  # and the operator is told
