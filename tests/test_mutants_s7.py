"""Behaviour that survivors of the fresh seed-5 mutation sample (session 6) changed unnoticed,
and the engine's contracts a fresh sample probes (session 7, issue 15). Each test says what a
user sees (a figure twin perf or twin run prints, an event, a replayed timeline, a gauge)
and was checked against its mutant by planting it by hand (``benchmarks/MUTATION.md``).
Small factories, seconds each."""

from __future__ import annotations

import dataclasses
import re
import sys
import types
from types import MappingProxyType

import numpy as np
import pytest
from engine_helpers import cmd, dep, rack_state, run, small_layout

from twin.core.engine import Factory, jit
from twin.core.engine.flow import burst_counts
from twin.core.scenario import Runner, load_scenario
from twin.core.serving import Parallelism, Replica

# -- serving: a pipeline's hop between its stages -------------------------------------------


@pytest.mark.parametrize("pp", [2, 4])
def test_a_pipelines_hop_carries_each_micro_batchs_activations_over_the_fabric(catalog, pp):
    """A dense model pipelined over boards sends each micro-batch's activations (its tokens
    × hidden × bytes) to the next stage over the scale-out fabric, pp − 1 times a step:
    halving that fabric's bandwidth adds exactly one more such transfer to every step —
    what an operator weighing a network upgrade reads off ``twin perf``
    (replica.py: the hop's bytes ``T × hidden × bytes`` read ``T × hidden + bytes``)."""
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    slow_net = dataclasses.replace(gpu, scale_out_gb_s=gpu.scale_out_gb_s / 2)
    fast = Replica(gpu, model, "fp8", Parallelism(8, pp=pp), catalog)
    slow = Replica(slow_net, model, "fp8", Parallelism(8, pp=pp), catalog)
    one = Replica(gpu, model, "fp8", Parallelism(8), catalog)
    one_slow = Replica(slow_net, model, "fp8", Parallelism(8), catalog)

    def t(r, batch, prompt):
        return float(r.step(batch, 2000.0, prompt, 2048.0).t_s)

    for batch, prompt in ((64, 0), (256, 0), (1, 4096)):
        micro = (batch + prompt) / pp  # tokens of one micro-batch
        hop = micro * model.hidden * fast.act_bytes / (gpu.scale_out_gb_s * 1e9)
        assert t(slow, batch, prompt) - t(fast, batch, prompt) == pytest.approx(
            (pp - 1) * hop, rel=1e-6
        )
        # one board (NVLink only): the scale-out fabric carries nothing of a step
        assert t(one_slow, batch, prompt) == t(one, batch, prompt)
        assert t(fast, batch, prompt) < 0.5  # a step of milliseconds, hop included


# -- engine: the numba kernels, compiled on first use ---------------------------------------


_PROBE = """
from twin.core.engine.jit import njit

@njit()
def inner(x):
    return x * 2.0

@njit()
def outer(a):
    s = 0.0
    for v in a:
        s += inner(v)
    return s
"""


def test_kernels_that_call_each_other_compile_on_a_fresh_install(monkeypatch):
    """On a machine with no numba cache yet (a fresh install, a new version) the first run
    compiles every kernel: a kernel calling another must see the compiled callee, or the
    first ``twin run`` dies with a numba typing error (jit.py: the loop that puts the
    compiled dispatchers in place of the placeholders, run zero times)."""
    monkeypatch.setattr(jit, "_LOADED", False)
    monkeypatch.setattr(jit, "_PENDING", [])
    mod = types.ModuleType("twin_probe_kernels")
    monkeypatch.setitem(sys.modules, "twin_probe_kernels", mod)
    exec(compile(_PROBE, "twin_probe_kernels.py", "exec"), mod.__dict__)
    assert isinstance(mod.outer, jit.Deferred)  # nothing compiled at import
    assert mod.outer(np.arange(4.0)) == 12.0
    assert not isinstance(mod.outer, jit.Deferred)  # later calls go straight to numba
    assert mod.outer(np.arange(3.0)) == 6.0


# -- engine: agentic sessions' follow-up turns ----------------------------------------------


@pytest.mark.parametrize(
    ("routing", "drained", "cached_share"),
    [
        ("kv-aware", 0, 0.9),  # back to the replica that served the last turn, 90 % of the time
        ("kv-aware", 2, 0.9 * 8 / 16),  # half the replicas drained: half the prefixes gone
        ("round-robin", 0, 1 / 16),  # only the one replica in 16 it lands on has it
    ],
)
def test_a_follow_up_turn_prefills_only_what_its_cached_prefix_does_not_hold(
    tmp_path, routing, drained, cached_share
):
    """A 6-step agentic session (2k prompt, +2k context a step, 200 out) sends turns of
    7,000 tokens on average, of which a follow-up (5 turns in 6; the first has nothing
    cached) finds 5,000 cached — when it reaches the replica holding them, and its 1 s tool
    pause evicts nearly nothing: 7000 − share × 5/6 × 5000 prefilled per turn
    (plan.py: every turn counted as a follow-up; routing.py: the share found)."""

    def edit(doc):
        doc["routing"] = routing
        doc["workloads"] = [w for w in doc["workloads"] if w["id"] == "agent"]
        doc["workloads"][0]["agentic"]["tool_pause"] = "1s"

    f = Factory(small_layout(tmp_path, edit=edit))
    for rack in ("row-a-03", "row-a-04")[:drained]:
        cmd(f, f"drain {rack}")
    f.advance_to(60)
    d = f.snapshot().deployments[0]
    assert (d.replicas, d.replicas_up) == (16, 16)
    f.reset_run_totals()
    f.advance_to(120)
    per_turn = f.totals["prefill_tokens"] / f.run_counts[0, 0]
    assert per_turn == pytest.approx(7000 - cached_share * 5 / 6 * 5000, rel=0.02)


# -- scenario: a recording's live commands, replayed -----------------------------------------


_RECORDING = """
name: two operator commands
layout: small.yaml
seed: 3
duration: 40s
recorded: true
events:
  - at: 10s
    do: drain row-a-01
    by: operator
  - at: 20s
    do: undrain row-a-01
    by: operator
"""


def test_a_recordings_operator_commands_replay_in_the_order_they_were_given(tmp_path):
    """A recorded session's live commands replay at their times, first given first: the
    rack drained at 10 s and undrained at 20 s ends serving (play.py: the last command
    due taken first undid the drain before it was made, and the rack stayed drained)."""
    small_layout(tmp_path)  # writes small.yaml next to the recording
    path = tmp_path / "rec.yaml"
    path.write_text(_RECORDING)
    r = Runner(load_scenario(path)).run()
    ops = [(t, c) for t, c, _ in r.applied]
    assert ops == [(10.0, "drain row-a-01"), (20.0, "undrain row-a-01")]
    s = r.factory.snapshot()
    assert rack_state(s, "row-a-01") == "ok"


# -- engine: a rack's thermal throttle, and its release ---------------------------------------


def test_a_throttled_rack_is_released_once_it_cools_and_says_so_once(tmp_path):
    """On a 44 °C day a failed cooling loop throttles its racks within minutes; once it is
    repaired they cool and each says "throttle released" — once, with no second "thermal
    throttle" (power_kernel.py: a release also flagged as a new throttle)."""
    f = Factory(small_layout(tmp_path, site={"envelope": "320kW", "pue": 1.25, "ambient_c": 44}))
    run(f, 30)
    cmd(f, "fail loop-1")
    racks = [f"row-a-0{i}" for i in range(1, 5)]
    for _ in range(30):
        s = run(f, 30)
        if all(rack_state(s, r) == "throttled" for r in racks):
            break
    assert all(rack_state(s, r) == "throttled" for r in racks)
    cmd(f, "repair loop-1")
    s = run(f, 600)
    assert [rack_state(s, r) for r in racks] == ["ok"] * 4
    for r in racks:
        said = [e.message for e in s.events if e.source == r]
        assert sum("thermal throttle" in m for m in said) == 1, said
        assert sum("throttle released" in m for m in said) == 1, said


# -- engine: load shed under a site cap, given back ------------------------------------------


def test_load_shed_under_a_deep_cap_is_given_back_within_a_minute_of_room(tmp_path):
    """A site cap under what the boards draw at their minimum power limit sheds replicas
    (and says so); raised to one with room, the shed replicas serve again first — "load
    shedding over" within a minute — and only then do the clocks recover (power.py: clocks
    raised at once while load was still shed, which ate the room and kept most replicas
    drained for minutes)."""
    f = Factory(small_layout(tmp_path))
    run(f, 30)
    cmd(f, "cap 60kW")  # the small factory idles at ~100 kW: deeper than any clock reaches
    s = run(f, 90)
    assert any("shedding load" in e.message for e in s.events)
    clock = f.snapshot().racks.clock.max()
    cmd(f, "cap 150kW")
    t0 = f.now
    s = run(f, 60)
    over = [e for e in s.events if "load shedding over" in e.message]
    assert over and t0 < over[0].t_s <= t0 + 60
    # the clocks stayed where the cap held them until every shed replica was back
    assert s.racks.clock.max() < 1.0
    assert clock < 0.6


# -- engine: arrivals ---------------------------------------------------------------------


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0])
def test_demand_in_a_window_has_the_declared_mean_and_the_spread_of_its_burstiness(cv):
    """``burstiness`` c is the CV of inter-arrival times: a window expecting λT requests
    holds λT on average with variance λT·c² (Poisson at c = 1, smoother below, burstier
    above), whatever the window — what a capacity planner sizes headroom against."""
    rng = np.random.default_rng(7)
    for mean in (3.0, 40.0):
        n = np.array(
            [burst_counts(rng, np.array([mean, 0.0]), np.array([cv, cv])) for _ in range(10000)]
        )
        assert (n[:, 1] == 0).all()  # a class with no demand gets none
        se = np.sqrt(mean * cv * cv / len(n))  # the sample mean's standard error
        assert abs(n[:, 0].mean() - mean) < 4 * se
        assert n[:, 0].var() == pytest.approx(mean * cv * cv, rel=0.12)


# -- engine: weighted rows change no figure --------------------------------------------------


_EVENTS = [
    (20, "straggle row-a-02 1.8"),
    (30, "fail row-a-01-n2"),
    (45, "cap row-a-03 20kW"),
    (60, "route power-aware"),
    (75, "drain row-b-01"),
    (90, "surge 1.6 30s"),
    (100, "repair row-a-01-n2"),
    (110, "uncap row-a-03"),
    (120, "route least-loaded"),
    (130, "undrain row-b-01"),
]


def _scripted(layout):
    f = Factory(layout, seed=5, faults=True)
    for t, line in _EVENTS:
        f.advance_to(t)
        cmd(f, line)
    f.advance_to(180)
    s = f.snapshot()
    racks = {k: np.asarray(getattr(s.racks, k)).tolist() for k in ("power_kw", "clock", "state")}
    events = [(e.t_s, e.source, e.message) for e in s.events]
    return f.run_summary(), racks, events, len(f.row_w), len(f.rep_dep)


def test_rows_of_identical_replicas_report_what_one_row_per_replica_reports(tmp_path, monkeypatch):
    """Identical replicas run as one weighted row, split when a straggler, a node fault, a
    cap, a drain, a routing change touches part of them and merged back when equal again:
    a speed-up only — the run summary, every rack's power, clock and state and the event
    log are those of one row per replica (``TWIN_ROWS=0``) (rows.py)."""
    layout = small_layout(tmp_path)
    monkeypatch.setenv("TWIN_ROWS", "1")
    sum_a, racks_a, ev_a, rows_a, n = _scripted(layout)
    monkeypatch.setenv("TWIN_ROWS", "0")
    sum_b, racks_b, ev_b, rows_b, _ = _scripted(layout)
    assert rows_b == n and rows_a < n / 2  # the rows merged back
    assert ev_a == ev_b
    assert racks_a["state"] == racks_b["state"]
    for key in ("power_kw", "clock"):
        assert racks_a[key] == pytest.approx(racks_b[key], rel=1e-9, abs=1e-9)
    for key, v in sum_b.items():
        assert sum_a[key] == pytest.approx(v, rel=1e-9, abs=1e-9), key


# -- engine: random faults -------------------------------------------------------------------


YEAR_S = 365.25 * 86400
#: Random faults of each kind per unit-year, on the small factory (192 GPUs in 24 nodes
#: behind 12 fabric links, 4 PDUs, 2 loops), set so that 15 minutes hold ~16 of each.
_UNITS = {"gpu": 192, "node": 24, "link": 192, "pdu": 4, "loop": 2}
_RATE_KEY = {
    "gpu": "failures_per_gpu_year",
    "node": "failures_per_node_year",
    "link": "network_failures_per_gpu_year",
    "pdu": "failures_per_pdu_year",
    "loop": "failures_per_loop_year",
}


def test_random_faults_of_each_kind_arrive_at_their_rate_on_their_kind_and_get_repaired(
    tmp_path, catalog
):
    """With random faults on, each kind arrives at its catalog rate × how many units of it
    the factory has (GPUs, nodes, PDUs, loops; network faults per GPU on a fabric's links),
    on a component of that kind, and a repair crew clears each one after at least a minute
    (faults.py: which kind, how many units, which target, the repair)."""
    span = 900.0
    k = dict(catalog.constants)
    for kind, key in _RATE_KEY.items():
        k[key] = 16 * YEAR_S / (_UNITS[kind] * span)
    k["repair_s"] = dict.fromkeys(k["repair_s"], 60.0)
    cat = dataclasses.replace(catalog, constants=MappingProxyType(k))
    f = Factory(small_layout(tmp_path), cat, seed=2, faults=True)
    f.advance_to(span)
    log = list(f.events)  # the whole log (the snapshot shows its last 200)
    assert len(log) < f.events.maxlen
    failed = [e for e in log if "failed (random)" in e.message]
    by_kind = {kind: [e for e in failed if e.message.startswith(f"{kind} ")] for kind in _UNITS}
    assert sum(map(len, by_kind.values())) == len(failed)
    for kind in ("gpu", "node", "link"):  # many units: hardly ever one already down
        assert 6 <= len(by_kind[kind]) <= 30, (kind, len(by_kind[kind]))
    for kind in ("pdu", "loop"):  # few units: one still down is not failed again
        assert 3 <= len(by_kind[kind]) <= 24, (kind, len(by_kind[kind]))
    shape = {
        "gpu": r"^row-[ab]-0\d-n[1-4]-g[1-8]$",
        "node": r"^row-[ab]-0\d-n[1-4]$",
        "link": r"^link-leaf-\d-spine-[12]$",
        "pdu": r"^row-[ab]-pdu-",
        "loop": r"^loop-[12]$",
    }
    for kind, evs in by_kind.items():
        assert all(re.match(shape[kind], e.source) for e in evs), (kind, evs[:2])
    repaired = [e for e in log if "repaired (repair crew)" in e.message]
    assert len(repaired) >= len(failed) - 8  # all but those failed in the last minutes
    first_repair = {}
    for e in repaired:
        first_repair.setdefault(e.source, e.t_s)
    for e in failed:
        if e.source in first_repair and first_repair[e.source] > e.t_s:
            assert first_repair[e.source] - e.t_s >= 60 - 1e-9


# -- engine: the survival of a session's cached prefix ---------------------------------------


def test_a_cached_prefix_survives_a_tool_pause_with_the_chance_the_free_cache_gives_it():
    """The LRU cache keeps an entry about τ = C/W seconds (C the deployment's free KV tokens
    over its up replicas, W the KV tokens its classes write a second), so a pause p keeps
    it with chance τ/(τ + p): the share of follow-up turns that skip their prefix. Two
    replicas of 10 sequences × 100 KV tokens, one running 4 (free 600), one 7 (free 300),
    a third down; 140 tokens/s written: τ = 900/140 ≈ 6.4 s, so a 5 s pause keeps 56 %,
    a 25 s one 20 %
    (sessions.py: free KV counted as bmax + running; τ floored to whole seconds)."""
    from twin.core.engine.sessions import prefix_survival

    run = np.array([[3.0, 1.0], [7.0, 0.0], [0.0, 0.0]])
    bmax, kv = np.array([10.0, 10.0, 10.0]), np.array([100.0, 100.0, 100.0])
    up = np.array([True, True, False])
    dep, w = np.array([0, 0, 0]), np.array([1.0, 1.0, 1.0])
    lam, kv_tok = np.array([0.5, 0.4, 1.0]), np.array([100.0, 100.0, 50.0])
    pause, cls_dep = np.array([5.0, 25.0, 0.0]), np.array([0, 0, 0])
    out = np.ones(3)
    prefix_survival(run, bmax, kv, up, dep, w, 1, cls_dep, lam, kv_tok, pause, out)
    # W = 0.5 × 100 + 0.4 × 100 + 1 × 50 = 140 tokens/s; C = 900: τ = 900/140
    tau = 900 / 140
    assert out == pytest.approx([tau / (tau + 5), tau / (tau + 25), 1.0], rel=1e-12)
    # a row of two identical replicas frees twice what one does
    out2 = np.ones(3)
    prefix_survival(
        run, bmax, kv, up, dep, np.array([2.0, 1.0, 1.0]), 1, cls_dep, lam, kv_tok, pause, out2
    )
    tau2 = 1500 / 140
    assert out2[:2] == pytest.approx([tau2 / (tau2 + 5), tau2 / (tau2 + 25)], rel=1e-12)


# -- engine: a swap, and a checkpoint restored without rows ----------------------------------


def test_a_swapped_row_comes_back_on_the_new_gpu_and_says_what_it_cost(tmp_path, catalog):
    """``swap row-a h200`` takes the row's racks down for the swap's downtime (here a
    minute), then they serve again on H200s — the rack view shows the new GPU and count,
    the deployment its replicas back — and the log says the new capital: GPUs per rack ×
    racks × $ per GPU (replicas.py: the swap's completion)."""
    k = dict(catalog.constants, swap_downtime_s=60.0)
    cat = dataclasses.replace(catalog, constants=MappingProxyType(k))
    f = Factory(small_layout(tmp_path), cat)
    run(f, 20)
    before = f.snapshot().deployments[0]
    cmd(f, "swap row-a h200")
    s = run(f, 30)
    assert {rack_state(s, f"row-a-0{i}") for i in range(1, 5)} == {"swapping"}
    assert s.deployments[0].replicas_up == 0
    s = run(f, 90)
    h200 = cat.gpu("h200")
    racks = [f.rack_ids.index(f"row-a-0{i}") for i in range(1, 5)]
    assert [f.rack_sku[r] for r in racks] == ["h200"] * 4
    assert all(f.rack_gpus[r] == h200.gpus_per_rack for r in racks)
    assert {rack_state(s, f"row-a-0{i}") for i in range(1, 5)} == {"ok"}
    d = s.deployments[0]
    assert d.replicas_up == d.replicas >= before.replicas_up and d.output_tok_s > 0
    done = [e.message for e in s.events if "swap to h200 done" in e.message]
    capex = h200.capex_usd_per_gpu * h200.gpus_per_rack * 4 / 1e6
    assert done == [f"swap to h200 done: 4 racks, ${capex:,.1f}M of new capital"]


def test_a_checkpoint_with_rows_restored_into_a_factory_without_rows_continues_alike(
    tmp_path, monkeypatch
):
    """A checkpoint holds weighted rows; a factory that runs one row per replica
    (``TWIN_ROWS=0``) expands each row to its replicas on restore and continues as the
    weighted one does (rows.py: rows expanded, a checkpoint's rows checked)."""
    layout = small_layout(tmp_path)
    monkeypatch.setenv("TWIN_ROWS", "1")
    a = Factory(layout, seed=4)
    a.advance_to(30)
    cmd(a, "straggle row-a-02 1.5")
    a.advance_to(60)
    assert len(a.row_w) < len(a.rep_dep)
    blob = a.checkpoint()
    monkeypatch.setenv("TWIN_ROWS", "0")
    b = Factory(layout, seed=4)
    b.restore(blob)
    assert len(b.row_w) == len(b.rep_dep) == len(a.rep_dep)
    for f in (a, b):
        f.advance_to(120)
    sa, sb = a.run_summary(), b.run_summary()
    for key, v in sa.items():
        assert sb[key] == pytest.approx(v, rel=1e-9, abs=1e-9), key


# -- engine: advancing time ----------------------------------------------------------------


def test_advancing_to_a_time_runs_every_tick_up_to_it_whatever_the_float_rounding(tmp_path):
    """The tick at t covers (t − dt, t]: advancing to 0.3 s on a 0.1 s tick runs three
    ticks (0.3 / 0.1 is 2.9999… in floats), to 0.75 s seven, to 2.3 s twenty-three — a
    run of T seconds integrates exactly T seconds of power and tokens, never a tick less
    or more (factory.py: the guess of the last tick corrected both ways)."""
    f = Factory(small_layout(tmp_path, tick="0.1s"))
    for t, ticks in ((0.3, 3), (0.7, 7), (0.75, 7), (0.8, 8), (2.3, 23), (2.3, 23)):
        f.advance_to(t)
        assert (f.tick_n, f.now) == (ticks, t)


# -- engine: the minute windows behind the gauges ----------------------------------------------


def test_a_windows_sum_returns_to_exactly_zero_once_its_values_have_left_it():
    """A gauge over the last minute (shed requests, output tokens) keeps a running sum:
    adding 0.1, 0.2 and 3.3 then taking them away leaves −4e-16 in floats, which must
    read 0 — never a negative count, nor a percentile of a negative total (metrics.py:
    the drift floored at −1 instead of 0)."""
    from twin.core.engine.metrics import Window

    w = Window(3, (2,))
    for v in (0.1, 0.2, 3.3, 0.0, 0.0, 0.0):
        w.push(np.array([v, 1.0]))
        assert (w.sum >= 0).all()
    assert w.sum.tolist() == [0.0, 3.0]


# -- engine: scaling a disaggregated deployment ------------------------------------------------


def test_scaling_a_disaggregated_deployment_keeps_its_prefill_share_rounded(tmp_path):
    """split-70b runs 2 prefill replicas of 8: scaled to 7 it keeps 7 × 2/8 = 1.75 → 2 of
    them, to 3 at least one, to 8 both again — never all prefill, never none (replicas.py:
    the share floored, 1 of 7)."""
    f = Factory(small_layout(tmp_path))
    d = dep(run(f, 5), "split-70b")
    assert (d.replicas, d.prefill_replicas) == (8, 2)
    for n, pre in ((7, 2), (3, 1), (2, 1), (8, 2)):
        cmd(f, f"scale split-70b {n}")
        d = dep(run(f, 5), "split-70b")
        assert (d.replicas_up, d.prefill_replicas) == (n, pre), n
