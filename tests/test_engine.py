"""The factory engine as a whole: its two doors, conservation, determinism, latency
sanity, and every bad-input path.

Faults are in ``test_engine_faults.py``; operator commands and routing policies in
``test_engine_commands.py``. All of them run the small factory of ``engine_helpers``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import (
    ROW_A,
    ROW_B,
    cls,
    cmd,
    comparable,
    dep,
    pdu,
    rack_state,
    recent_mean,
    run,
    small_layout,
)

from twin.core import serving
from twin.core.commands import parse_command
from twin.core.engine import GAUGE_KEYS, Factory
from twin.core.engine import snapshot as S
from twin.core.errors import TwinError
from twin.core.layout import load_layout

# ---------------------------------------------------------------------------------------
# the small factory itself (every other test assumes this baseline)


def test_the_small_factory_runs_healthy_at_about_two_thirds_load(small):
    f = Factory(small)
    s = run(f, 60)
    g = s.gauges
    assert set(g) == set(GAUGE_KEYS)
    assert (
        0.4 <= g["utilisation"] <= 1.0
    )  # output over capacity at the SLO pace: loaded, not overloaded
    assert g["queue_depth"] < 5
    assert g["slo_attainment"] > 0.99
    assert g["failed_rps"] == 0 and g["shed_rps"] == 0
    assert all(S.RACK_STATE_NAMES[x] == "ok" for x in s.racks.state)
    assert 0 < g["facility_power_kw"] < g["envelope_kw"]
    for d in s.deployments:
        assert d.replicas_up == d.replicas > 0
        assert d.output_tok_s > 0
    assert dep(s, "split-70b").prefill_replicas == 2
    assert s.routing == "least-loaded" and s.active_faults == () and not s.faults_enabled


def test_advance_to_moves_the_simulated_clock_and_never_backwards(small):
    f = Factory(small)
    assert f.now == 0.0
    f.advance_to(12.5)
    assert f.now == 12.5
    f.advance_to(3.0)  # the past: a no-op
    assert f.now == 12.5
    assert f.snapshot().t_s == 12.5


def test_a_snapshot_is_a_frozen_value_that_does_not_move_with_the_factory(small):
    f = Factory(small)
    s = run(f, 30)
    gauges = dict(s.gauges)
    power = s.racks.power_kw.copy()
    with pytest.raises(ValueError):
        s.racks.power_kw[0] = 0.0  # read-only arrays
    with pytest.raises(AttributeError):
        s.t_s = 1.0  # type: ignore[misc]
    cmd(f, "fail row-a-pdu-1")
    run(f, 30)
    assert s.t_s == 30.0
    assert dict(s.gauges) == gauges
    assert np.array_equal(s.racks.power_kw, power)
    assert rack_state(s, "row-a-01") == "ok"


def test_apply_returns_what_happened_and_logs_it_as_an_event(small, catalog):
    f = Factory(small)
    run(f, 10)
    msg = cmd(f, "fail row-a-03")
    assert isinstance(msg, str) and msg and "\n" not in msg
    assert "row-a-03" in msg
    s = f.snapshot()
    assert any(e.source == "operator" and "fail row-a-03" in e.message for e in s.events)
    repair_s = float(catalog.constants["repair_s"]["rack"])
    assert ("row-a-03", "rack", pytest.approx(10.0 + repair_s)) in [
        tuple(x) for x in s.active_faults
    ]


# ---------------------------------------------------------------------------------------
# conservation: power


def _check_power_tree(s: S.Snapshot, pue: float) -> None:
    g = s.gauges
    it = g["it_power_kw"]
    assert it == pytest.approx(float(s.racks.power_kw.sum()), rel=1e-9)
    pdus = [p for p in s.power if p.kind == "pdu"]
    feeds = [p for p in s.power if p.kind == "feed"]
    assert it == pytest.approx(sum(p.load_kw for p in pdus), rel=1e-9)
    assert it == pytest.approx(sum(p.load_kw for p in feeds), rel=1e-9)
    for fd in feeds:
        assert fd.load_kw == pytest.approx(
            sum(p.load_kw for p in pdus if p.feeds == fd.id), rel=1e-9, abs=1e-9
        )
    assert g["facility_power_kw"] == pytest.approx(it * pue, rel=1e-9)
    h = s.history
    assert np.allclose(h["facility_power_kw"], h["it_power_kw"] * pue)


@pytest.mark.parametrize(
    "commands",
    [
        (),
        ("fail row-b-pdu-a1",),  # A/B racks carried by their B PDU alone
        ("fail feed-a",),  # a whole feed gone
        ("cap 150kW", "cap row-a-02 15kW"),
        ("fail row-a-01", "surge 1.3"),
    ],
    ids=["baseline", "ab-pdu-failed", "feed-failed", "capped", "rack-failed-surge"],
)
def test_it_power_is_the_sum_of_racks_and_of_pdu_and_feed_loads_and_facility_is_it_times_pue(
    small, commands
):
    f = Factory(small)
    run(f, 20)
    for c in commands:
        cmd(f, c)
    for _ in range(3):
        _check_power_tree(run(f, 7.5), small.site.pue)


def test_an_ab_fed_rack_splits_its_load_over_both_pdus(small):
    s = run(Factory(small), 30)
    a, b = pdu(s, "row-b-pdu-a1"), pdu(s, "row-b-pdu-b1")
    row_b = sum(s.racks.power_kw[s.racks.ids.index(r)] for r in ROW_B)
    assert a.load_kw == pytest.approx(row_b / 2) and b.load_kw == pytest.approx(row_b / 2)
    single = pdu(s, "row-a-pdu-1")
    assert single.load_kw == pytest.approx(
        sum(s.racks.power_kw[s.racks.ids.index(r)] for r in ROW_A[:2])
    )


# ---------------------------------------------------------------------------------------
# conservation: tokens


def _expected_output_tok_s(layout, classes=None) -> float:
    """Offered output tokens per second: requests/s (sessions × steps for agentic) × mean OSL."""
    total = 0.0
    for w in layout.workloads:
        if classes is not None and w.id not in classes:
            continue
        steps = w.agentic.steps_mean if w.agentic else 1.0
        total += w.rate_rps * steps * w.osl.mean
    return total


def test_output_tokens_equal_requests_times_mean_osl_in_steady_state(small):
    f = Factory(small)
    run(f, 60)
    f.advance_to(300)
    s = f.snapshot()
    offered = _expected_output_tok_s(small)
    assert recent_mean(s, "output_tok_s", 240, f.dt) == pytest.approx(offered, rel=0.05)
    # every class's arrivals are what the layout says (agentic: sessions × steps)
    assert cls(s, "chat").rate_rps == pytest.approx(60.0)
    assert cls(s, "agent").rate_rps == pytest.approx(5.0 * 6)
    assert cls(s, "long").rate_rps == pytest.approx(8.0)


def test_no_request_vanishes_when_queues_fill_within_a_tick(small):
    # four times the load: each replica's 4-cohort FIFO fills, often within one tick
    # (3 cohorts queued, 2 classes arriving); every request that arrived is admitted,
    # shed, failed, abandoned by its client or still queued (the numpy engine dropped
    # the cohort that did not fit: ~1,150 requests in 4 minutes here, counted nowhere)
    f = Factory(small, seed=4)
    cmd(f, "surge 4 600s")
    chat = [f.cls_ids.index("chat"), f.cls_ids.index("agent")]
    reps = f.dep_reps[f.dep_ids.index("chat-70b")]
    for t in (30, 120, 240):
        f.advance_to(t)
        c = f.run_counts[:, chat].sum(axis=1)
        queued = f.per_replica(f.q_cnt)[reps].sum()
        assert queued > 1000  # overloaded: the queues are full
        assert c[5] == pytest.approx(c[0] + c[2] + c[3] + c[6] + queued, rel=1e-9)


def test_each_deployment_outputs_what_its_classes_ask_for(small):
    f = Factory(small)
    run(f, 60)
    out = {"chat-70b": [], "split-70b": []}
    for _ in range(480):
        s = run(f, 0.5)
        for d in s.deployments:
            out[d.id].append(d.output_tok_s)
    assert np.mean(out["chat-70b"]) == pytest.approx(
        _expected_output_tok_s(small, {"chat", "agent"}), rel=0.05
    )
    assert np.mean(out["split-70b"]) == pytest.approx(
        _expected_output_tok_s(small, {"long"}), rel=0.05
    )


def _fast_decode(doc):
    # gpt-oss-120b in fp4 on B200 decodes in about a millisecond per token: a 100-token
    # answer finishes well inside one 0.5 s tick
    doc["rows"][1]["gpu"] = "b200"
    doc["deployments"][1] = {
        "id": "oss",
        "model": "gpt-oss-120b",
        "precision": "fp4",
        "gpus_per_replica": 8,
        "replicas": "auto",
        "placement": "row-b",
    }
    doc["workloads"][2] = {
        "id": "short",
        "deployment": "oss",
        "rate": "40/s",
        "isl": "1k",
        "osl": 100,
        "slo": {"ttft": "1s", "tpot": "30ms"},
    }


def test_a_request_never_yields_more_tokens_than_its_osl_even_when_decode_is_fast(tmp_path):
    layout = small_layout(tmp_path, edit=_fast_decode)
    f = Factory(layout)
    run(f, 60)
    oss = []
    for _ in range(240):
        oss.append(dep(run(f, 0.5), "oss").output_tok_s)
    # 40 requests/s × 100 tokens = 4,000 tokens/s is all there is to produce
    assert np.mean(oss) == pytest.approx(_expected_output_tok_s(layout, {"short"}), rel=0.10)


def test_queues_and_running_never_go_negative_through_faults_surges_drains_and_caps(small):
    f = Factory(small)
    script = {
        10: "surge 2 40s",
        20: "fail row-a-pdu-1",
        35: "drain row-a-04",
        50: "cap 140kW",
        60: "fail spine-1",
        70: "repair row-a-pdu-1",
        80: "undrain row-a-04",
        90: "scale chat-70b 5",
        100: "straggle row-b-02 3",
        110: "cap off",
        120: "scale chat-70b 16",
        130: "fail row-b-01-n2",
    }
    for t in range(1, 181):
        if t in script:
            cmd(f, script[t])
        s = run(f, 1.0)
        g = s.gauges
        assert g["queue_depth"] >= 0 and g["failed_rps"] >= 0 and g["shed_rps"] >= 0
        assert g["output_tok_s"] >= 0 and g["it_power_kw"] >= 0
        assert 0.0 <= g["slo_attainment"] <= 1.0
        for d in s.deployments:
            assert d.queue >= 0 and d.running >= 0 and d.output_tok_s >= 0
            assert 0 <= d.replicas_up <= d.replicas
        assert np.all(s.racks.power_kw >= 0) and np.all(s.racks.utilisation >= 0)
        for p in s.power:
            assert p.load_kw >= 0
        assert all(
            math.isfinite(g[k])
            for k in ("it_power_kw", "facility_power_kw", "queue_depth", "output_tok_s")
        )


# ---------------------------------------------------------------------------------------
# determinism

LOG = [
    (15.0, "fail row-a-02"),
    (20.0, "surge 1.5 30s"),
    (31.5, "route kv-aware"),
    (40.0, "degrade row-b-02 0.5"),
    (45.0, "cap 160kW"),
    (50.0, "repair row-a-02"),
    (55.0, "drain row-a-04"),
    (61.0, "fail link-leaf-5-spine-2"),
]


def _replay(layout, seed, log, until=90.0, bad=()):
    f = Factory(layout, seed=seed)
    for t, line in log:
        f.advance_to(t)
        cmd(f, line)
        for b in bad:
            with pytest.raises(TwinError):
                cmd(f, b)
    f.advance_to(until)
    return f.snapshot()


def test_same_layout_seed_and_command_log_give_identical_snapshots(small):
    a, b = _replay(small, 5, LOG), _replay(small, 5, LOG)
    assert comparable(a.gauges) == comparable(b.gauges)
    for key in a.history:
        assert np.array_equal(a.history[key], b.history[key], equal_nan=True)
    assert np.array_equal(a.racks.state, b.racks.state)
    assert np.array_equal(a.racks.power_kw, b.racks.power_kw)
    assert np.array_equal(a.racks.temp_c, b.racks.temp_c)
    assert comparable_deps(a) == comparable_deps(b)
    assert [(e.t_s, e.source, e.message) for e in a.events] == [
        (e.t_s, e.source, e.message) for e in b.events
    ]
    assert a.active_faults == b.active_faults


def comparable_deps(s):
    return [
        tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in vars(d).values())
        for d in s.deployments
    ]


def test_a_different_seed_gives_different_results(small):
    a, b = _replay(small, 5, LOG), _replay(small, 6, LOG)
    assert comparable(a.gauges) != comparable(b.gauges)
    assert not np.array_equal(a.history["output_tok_s"], b.history["output_tok_s"])


def test_the_layout_seed_is_the_default_seed(small):
    a = _replay(small, None, LOG[:3], until=40)
    b = _replay(small, small.seed, LOG[:3], until=40)
    assert comparable(a.gauges) == comparable(b.gauges)


def test_rejected_commands_leave_the_simulation_exactly_as_it_was(small):
    bad = ("fail row-a-99", "scale nobody 3", "repair row-b-01", "speed 10", "swap row-a h9")
    clean = _replay(small, 5, LOG)
    noisy = _replay(small, 5, LOG, bad=bad)
    assert comparable(clean.gauges) == comparable(noisy.gauges)
    assert np.array_equal(clean.racks.power_kw, noisy.racks.power_kw)
    assert clean.active_faults == noisy.active_faults


# ---------------------------------------------------------------------------------------
# latency sanity: no request is faster than the serving model allows


def _one_class(doc, keep: str):
    deployment = {"chat": "chat-70b", "long": "split-70b"}[keep]
    doc["deployments"] = [d for d in doc["deployments"] if d["id"] == deployment]
    doc["workloads"] = [w for w in doc["workloads"] if w["id"] == keep]


def _replicas(catalog, sku, model="llama-3.3-70b", precision="fp8", gpus=8):
    gpu, m = catalog.gpu(sku), catalog.model(model)
    return [
        serving.Replica(gpu, m, precision, p, catalog)
        for p in serving.candidate_parallelisms(gpu, m, precision, catalog)
        if p.gpus == gpus
    ]


def test_ttft_is_at_least_the_time_to_prefill_the_prompt(tmp_path, catalog):
    layout = small_layout(tmp_path, edit=lambda d: _one_class(d, "chat"))
    f = Factory(layout)
    s = run(f, 90)
    fastest = min(float(r.prefill_time_s(1000.0)) for r in _replicas(catalog, "h100"))
    assert fastest > 0.005
    bucket = 1.05  # latency histograms have 4 %-wide buckets
    assert s.gauges["ttft_p50_s"] * bucket >= fastest
    assert s.gauges["ttft_p95_s"] >= s.gauges["ttft_p50_s"] >= 0.0


def test_disaggregated_ttft_includes_moving_the_kv_cache_over_the_fabric(tmp_path, catalog):
    layout = small_layout(tmp_path, edit=lambda d: _one_class(d, "long"))
    f = Factory(layout)
    s = run(f, 90)
    reps = _replicas(catalog, "h200")
    prefill = min(float(r.prefill_time_s(4096.0)) for r in reps)
    kv_bytes = min(float(r.kv_seq_bytes(4096.0)) for r in reps)
    uplinks_gb_s = sum(
        ln.gb_s for ln in layout.fabric.links if ln.a == "leaf-5"
    )  # a leaf's way out
    transfer = kv_bytes / (uplinks_gb_s * 1e9)
    assert transfer > 0.05  # the thin uplinks make it matter
    assert s.gauges["ttft_p50_s"] * 1.05 >= prefill + transfer


def test_tpot_is_at_least_the_serving_models_step_at_that_batch(tmp_path, catalog):
    layout = small_layout(tmp_path, edit=lambda d: _one_class(d, "chat"))
    f = Factory(layout)
    run(f, 60)
    for _ in range(4):
        s = run(f, 15)
        d = dep(s, "chat-70b")
        assert d.batch_mean > 1
        step = min(
            float(r.step(d.batch_mean, 1000.0).t_s) / r.tokens_per_step
            for r in _replicas(catalog, "h100")
        )
        assert s.gauges["tpot_p50_s"] * 1.05 >= step
        assert d.tpot_p95_s * 1.05 >= step
        # and it meets the SLO the factory is sized for
        assert d.tpot_p95_s <= layout.workloads[0].slo_tpot_s


# ---------------------------------------------------------------------------------------
# bad input: one line, a TwinError, and the simulation goes on

BAD = [
    # (command, words the message must contain)
    ("fail row-a-1", ["row-a-1", "did you mean", "row-a-01"]),
    ("fail raw-a-pdu-1", ["raw-a-pdu-1", "did you mean", "row-a-pdu-1"]),
    ("repair row-b-3", ["row-b-3"]),
    (
        "degrade lnk-leaf-5-spine-1 50%",
        ["lnk-leaf-5-spine-1", "did you mean", "link-leaf-5-spine-1"],
    ),
    ("straggle row-a-05 2", ["row-a-05", "did you mean"]),
    ("drain row-c", ["row-c", "did you mean"]),
    ("undrain row-a-7", ["row-a-7", "did you mean"]),
    ("cap row-a-pdu-9 40kW", ["row-a-pdu-9", "did you mean", "row-a-pdu-"]),
    ("swap row-z b200", ["row-z", "did you mean"]),
    ("swap row-a h300", ["h300", "did you mean"]),
    ("scale chat70b 4", ["chat70b", "did you mean", "chat-70b"]),
    ("scale chat-70b 17", ["chat-70b", "16"]),
    ("surge 2 1m chta", ["chta", "did you mean", "chat"]),
    ("repair row-a-01", ["row-a-01", "not failed"]),
    ("undrain row-a-01", ["row-a-01", "not drained"]),
    ("fail row-a-01-n5", ["row-a-01-n5", "4 nodes"]),
    ("fail row-a-01-n1-g9", ["row-a-01-n1-g9", "8 GPUs"]),
    ("fail agent", ["agent", "cannot fail"]),
    ("fail chat-70b", ["chat-70b", "cannot fail"]),
    ("degrade row-a-pdu-1 50%", ["row-a-pdu-1", "degrade"]),
    ("speed 60", ["speed", "front-end"]),
    ("pause", ["pause"]),
    ("resume", ["resume"]),
    ("save drill.yaml", ["save"]),
    ("ack all", ["ack"]),
]


@pytest.mark.parametrize(("line", "words"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_command_raises_one_line_naming_it_and_the_simulation_runs_on(small, line, words):
    f = Factory(small)
    run(f, 10)
    before = f.snapshot()
    with pytest.raises(TwinError) as err:
        cmd(f, line)
    msg = str(err.value)
    assert "\n" not in msg and msg
    for w in words:
        assert w in msg, f"{msg!r} lacks {w!r}"
    assert f.now == before.t_s
    assert f.snapshot().active_faults == before.active_faults
    s = run(f, 10)
    assert s.t_s == 20.0 and s.gauges["output_tok_s"] > 0


def test_failing_what_has_already_failed_is_refused(small):
    f = Factory(small)
    run(f, 5)
    cmd(f, "fail spine-1")
    with pytest.raises(TwinError, match="spine-1 has already failed"):
        cmd(f, "fail spine-1")
    assert [x[0] for x in f.snapshot().active_faults] == ["spine-1"]


def test_swap_to_a_gpu_that_cannot_run_the_models_precision_is_refused():
    f = Factory(load_layout("default"))
    f.advance_to(2)
    # oss-120b runs in fp4 on row-c; an H100 has no fp4
    with pytest.raises(TwinError) as err:
        f.apply(parse_command("swap row-c h100"))
    msg = str(err.value)
    assert "h100" in msg and "fp4" in msg and "oss-120b" in msg and "\n" not in msg
    s = f.snapshot()
    assert all(S.RACK_STATE_NAMES[x] != "swapping" for x in s.racks.state)
    assert set(g for g, r in zip(s.racks.gpu, s.racks.rows, strict=True) if r == "row-c") == {
        "b200"
    }


def test_a_typo_in_a_late_component_id_still_gets_a_did_you_mean():
    f = Factory(load_layout("default"))
    with pytest.raises(TwinError) as err:
        f.apply(parse_command("fail nvl-05-03x"))
    assert "did you mean 'nvl-05-03'" in str(err.value)


def test_repairing_a_component_that_does_not_exist_names_it_with_a_did_you_mean(small):
    f = Factory(small)
    run(f, 5)
    cmd(f, "fail row-b-01")
    with pytest.raises(TwinError) as err:
        cmd(f, "repair row-b-1")
    assert "row-b-1" in str(err.value) and "did you mean 'row-b-01'" in str(err.value)


def test_straggling_a_node_that_does_not_exist_is_refused(small):
    f = Factory(small)
    run(f, 5)
    with pytest.raises(TwinError, match="row-a-01-n9"):
        cmd(f, "straggle row-a-01-n9 2")
