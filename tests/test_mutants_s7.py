"""Behaviour that survivors of the fresh seed-5 mutation sample (session 6) changed unnoticed,
and the engine's contracts a fresh sample probes (session 7, issue 15). Each test says what a
user sees (a figure twin perf or twin run prints, an event, a replayed timeline, a gauge)
and was checked against its mutant by planting it by hand (``benchmarks/MUTATION.md``).
Small factories, seconds each."""

from __future__ import annotations

import dataclasses
import sys
import types

import numpy as np
import pytest
from engine_helpers import cmd, rack_state, run, small_layout

from twin.core.engine import Factory, jit
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


def test_a_follow_up_turn_prefills_only_what_its_cached_prefix_does_not_hold(tmp_path):
    """A 6-step agentic session (2k prompt, +2k context a step, 200 out) sends turns of
    7,000 tokens on average, of which a follow-up (5 turns in 6; the first has nothing
    cached) finds 5,000 cached 90 % of the time under KV-aware routing when its 1 s tool
    pause evicts nearly nothing: 7000 − 0.9 × 5/6 × 5000 = 3,250 prefilled per turn
    (plan.py: every turn counted as a follow-up, 2,500)."""

    def edit(doc):
        doc["routing"] = "kv-aware"
        doc["workloads"] = [w for w in doc["workloads"] if w["id"] == "agent"]
        doc["workloads"][0]["agentic"]["tool_pause"] = "1s"

    f = Factory(small_layout(tmp_path, edit=edit))
    f.advance_to(60)
    f.reset_run_totals()
    f.advance_to(120)
    per_turn = f.totals["prefill_tokens"] / f.run_counts[0, 0]
    assert per_turn == pytest.approx(3250, rel=0.02)


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
