"""Exact checkpoints: a restored factory continues exactly as the one it was taken from.

"Exactly" is checked the strictest way available: after both continue, their own
checkpoints (every state field, the pending records, the random streams, the metric
accumulators, the event log) are byte-identical, and so are their run summaries.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import cmd

from twin.core.engine import Factory
from twin.core.engine.checkpoint import VERSION, CheckpointError, peek, state_fields
from twin.core.errors import TwinError
from twin.core.layout import builtin_layouts, load_layout


def _continue_both(a: Factory, b: Factory, until: float) -> None:
    a.advance_to(until)
    b.advance_to(until)
    assert a.run_summary() == b.run_summary()
    assert [(e.id, e.t_s, e.message) for e in a.events] == [
        (e.id, e.t_s, e.message) for e in b.events
    ]
    assert a.checkpoint() == b.checkpoint()


def _restored(layout, catalog, blob: bytes, **kw) -> Factory:
    b = Factory(layout, catalog, **kw)
    b.restore(blob)
    return b


@pytest.mark.parametrize("name", builtin_layouts())
def test_a_restored_builtin_layout_with_random_faults_continues_identically(name, catalog):
    layout = load_layout(name, catalog)
    a = Factory(layout, catalog, faults=True)
    a.advance_to(90)
    cmd(a, f"fail {a.rack_ids[0]} for 10m")  # a repair pending across the checkpoint
    cmd(a, "surge 1.5 5m")  # a surge running across it
    a.advance_to(150)
    blob = a.checkpoint()
    assert len(blob) < 5e6
    b = _restored(layout, catalog, blob)  # built without faults: the checkpoint turns them on
    assert b.faults_enabled and b.now == a.now
    _continue_both(a, b, 420)
    assert any("surge over" in e.message for e in a.events)


def test_mid_drill_with_a_fault_pending_a_surge_running_and_a_swap_under_way(small, catalog):
    a = Factory(small, catalog)
    a.advance_to(30)
    cmd(a, "fail row-a-pdu-1 for 40s")
    cmd(a, "surge 2.5 60s chat")
    cmd(a, "swap row-b-01 b200")
    cmd(a, "straggle row-a-03-n1 3")
    cmd(a, "cap row-a 70%")
    cmd(a, "degrade row-a-02 50%")
    cmd(a, "drain row-a-04")
    a.advance_to(50.3)  # between ticks
    b = _restored(small, catalog, a.checkpoint())
    assert b.snapshot().active_faults == a.snapshot().active_faults
    _continue_both(a, b, 200)
    messages = " ".join(e.message for e in b.events)
    assert "pdu repaired (repair crew)" in messages and "surge over" in messages


def test_a_checkpoint_after_a_swap_restores_the_rebuilt_replicas(small, catalog, monkeypatch):
    a = Factory(small, catalog)
    a.advance_to(20)
    cmd(a, "swap row-b b200")
    a.advance_to(20 + float(catalog.constants["swap_downtime_s"]) + 30)
    assert a.rack_sku[-1] == "b200"
    b = _restored(small, catalog, a.checkpoint())
    assert b.rack_sku == a.rack_sku and b.rep_prof.tolist() == a.rep_prof.tolist()
    _continue_both(a, b, a.now + 60)


def test_every_field_of_a_restored_factory_equals_the_original(small, catalog):
    """Nothing the engine keeps is left out of the checkpoint: whatever is not declared
    state must be rebuilt equal from the layout."""
    a = Factory(small, catalog, faults=True)
    a.advance_to(10)
    for c in (
        "fail row-a-01 for 30s",
        "surge 2 20s",
        "scale chat-70b 2",
        "route least-loaded",
        "cap 90%",
        "cap row-a-pdu-2 60kW",
        "cap row-b 50kW",  # a budget its two racks share
        "straggle row-a-03 2",
    ):
        cmd(a, c)
    a.advance_to(25)
    b = _restored(small, catalog, a.checkpoint())
    assert set(vars(a)) == set(vars(b))
    for name, va in vars(a).items():
        vb = getattr(b, name)
        if name in (
            "_snap_cache",
            "env",  # SimPy's Environment: rebuilt from tick_n (compared below)
            "_bw_state",
            "_leaf_bw_cache",
            "_capex_cache",
            "_row_keys",  # rows.py: the inputs rows were last split by (a cache)
            "_masks_cache",  # derived-array caches, keyed by the state they derive from
            "_clocks_cache",
            "_kv_cache",
            "_row_inputs",  # flow.py: the tick's inputs gathered per row (a cache)
            "_serve_scratch",  # flow.py and power.py: scratch arrays kept across ticks
            "_power_scratch",
            "_input_v",  # the caches' key: commands and due records bump it (not state)
            "_serve_pack",  # flow.py: serve_rows' fixed inputs, packed (built with them)
            "_serving_rows",  # metrics.py: the rows that serve and their capacity (a cache)
            "_history",  # compared through the checkpoint bytes below (as ``history``)
            "_raw_rates",  # ticks' raw gauge inputs: all computed before a checkpoint,
            "_raw_hists",  # so none is pending on either side
            "_raw_counts",
            "catalog",
            "layout",
            "schedule",
            "rng_arrivals",
            "rng_faults",
            "w_ttft",
            "w_tpot",
            "w_counts",
            "history",
            "profiles",
            "events",
            "faults",
            "k",
        ):
            continue  # compared through the checkpoint bytes below, or shared objects
        if isinstance(va, np.ndarray):
            assert np.array_equal(va, vb, equal_nan=True), name
        elif isinstance(va, list) and va and isinstance(va[0], np.ndarray):
            assert all(np.array_equal(x, y) for x, y in zip(va, vb, strict=True)), name
        else:
            assert va == vb or (va != va and vb != vb), name
    assert int(a.env.now) == int(b.env.now) == a.tick_n  # SimPy's clock restored
    assert a.checkpoint() == b.checkpoint()
    assert "schedule" in state_fields(Factory) and "rng_faults" in state_fields(Factory)


def test_a_checkpoint_says_what_it_is(small, catalog):
    a = Factory(small, catalog, seed=11)
    a.advance_to(5)
    meta = peek(a.checkpoint({"target": "x.yaml"}))
    assert (meta["layout"], meta["seed"], meta["tick_s"], meta["context"]) == (
        "small",
        11,
        0.5,
        {"target": "x.yaml"},
    )


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda b: b"PK\x03\x04 not ours" + b[40:], "not a twin checkpoint"),
        (lambda b: b[: len(b) // 2], "damaged or truncated"),
        (lambda b: b[:200], "damaged or truncated"),
        (
            lambda b: b.replace(f"twin-checkpoint {VERSION}".encode(), b"twin-checkpoint 9", 1),
            "format version 9",
        ),
        (lambda b: b"", "not a twin checkpoint"),
    ],
)
def test_corrupt_truncated_and_foreign_checkpoints_are_refused_in_one_line(
    small, catalog, damage, says
):
    a = Factory(small, catalog)
    a.advance_to(5)
    b = Factory(small, catalog)
    before = b.checkpoint()
    with pytest.raises(CheckpointError) as e:
        b.restore(damage(a.checkpoint()))
    assert says in str(e.value) and "\n" not in str(e.value)
    assert b.checkpoint() == before  # unchanged


def test_a_checkpoint_of_another_layout_is_refused(small, catalog, tmp_path):
    from engine_helpers import small_layout

    other = small_layout(
        tmp_path, seed=3, name="other", site={"envelope": "300kW", "pue": 1.25, "ambient_c": 24}
    )
    a = Factory(other, catalog)
    a.advance_to(5)
    with pytest.raises(TwinError, match="written for layout 'other'"):
        Factory(small, catalog).restore(a.checkpoint())
