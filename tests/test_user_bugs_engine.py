"""Engine behaviour where a planted bug survived the other tests (issue 15)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from engine_helpers import ROW_A, cmd, pair, rack_state, run

from twin.core.engine import Factory
from twin.core.engine.checkpoint import CheckpointError


def test_a_failure_for_a_duration_lasts_that_long_not_a_tick_less(small):
    f = Factory(small)
    run(f, 10)
    cmd(f, "fail row-a-01 for 5s")
    f.advance_to(14.5)
    assert rack_state(f.snapshot(), "row-a-01") == "down"
    f.advance_to(15.5)
    assert rack_state(f.snapshot(), "row-a-01") == "ok"


def test_a_straggling_node_slows_its_own_rack_not_another(small):
    """row-a-02-n1 (the first node of the second rack) serves less; the others take up the load."""
    base, hit = pair(small, "straggle row-a-02-n1 3", after=30)
    util = hit.snapshot().racks.utilisation[: len(ROW_A)]
    assert int(np.argmin(util)) == ROW_A.index("row-a-02")
    assert util[ROW_A.index("row-a-01")] > base.snapshot().racks.utilisation[0]


def _rewrite(data: bytes, edit) -> bytes:
    nl = data.index(b"\n")
    with np.load(io.BytesIO(data[nl + 1 :]), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    edit(meta, arrays)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return data[: nl + 1] + buf.getvalue()


def test_a_checkpoint_missing_part_of_its_description_or_an_array_is_refused_in_one_line(small):
    f = Factory(small)
    run(f, 5)
    data = f.checkpoint()
    assert Factory(small).restore(data) is not None  # the untouched one restores

    def no_seed(meta, arrays):
        del meta["seed"]

    with pytest.raises(CheckpointError, match="description is incomplete"):
        Factory(small).restore(_rewrite(data, no_seed))

    def no_array(meta, arrays):
        arrays.pop(sorted(arrays)[0])

    with pytest.raises(CheckpointError, match=r"damaged \(KeyError"):
        Factory(small).restore(_rewrite(data, no_array))


def test_the_run_summary_energy_figures_agree_with_its_power_and_tokens(small):
    f = Factory(small)
    run(f, 60)
    s = f.run_summary()
    assert s["facility_power_kw"] < 1000  # a small factory: under a megawatt
    assert s["tok_s_per_mw"] == pytest.approx(s["output_tok_s"] / (s["facility_power_kw"] / 1000))
    joules = s["energy_mwh"] * 3.6e9
    assert s["tok_per_joule"] == pytest.approx(s["output_tok_s"] * 60 / joules)
    assert s["total_tok_s"] > s["output_tok_s"] > 0  # prompts count in the total


def test_a_factory_started_with_faults_on_draws_random_faults(small):
    assert Factory(small, faults=True).snapshot().faults_enabled
    assert not Factory(small).snapshot().faults_enabled


def test_random_node_and_gpu_faults_name_real_nodes_and_gpus(small):
    """Nodes and GPUs are numbered from 1 (``RACK-n1-g1``), as the operator types them."""
    f = Factory(small)
    for kind in ("node", "gpu"):
        for _ in range(50):
            target = f._random_target(kind, f.rng_faults)
            assert f._kind(target) == kind, target
            node = int(target.split("-n")[1].split("-")[0])
            assert 1 <= node <= 4, target  # 32 GPUs per rack in nodes of 8
            if kind == "gpu":
                assert 1 <= int(target.rsplit("-g", 1)[1]) <= 8, target


def test_the_event_log_keeps_the_latest_500_events(small):
    f = Factory(small)
    for _ in range(300):
        cmd(f, "surge 1.1")
        cmd(f, "surge 1")
    events = list(f.events)  # what `critical_events` and a resumed session count
    assert len(events) == 500
    assert events[-1].id == max(e.id for e in f.events_after(0))  # the newest kept
    assert events[0].id == events[-1].id - 499  # the oldest dropped
