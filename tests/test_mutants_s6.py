"""Behaviour that survivors of the mutation samples of session 6 (issue 15: seed 3's
survivors left open, then the fresh seed-4 sample) changed unnoticed: each test says what a
user sees, and was checked against its mutant by hand (``benchmarks/MUTATION.md``).
Small factories, seconds each."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import cmd, run, small_layout
from test_drills import SMALL as SMALL_DRILL
from test_drills import play
from test_mutants_scenario import HEAD

from twin.core.engine import EngineError, Factory
from twin.core.engine import snapshot as S
from twin.core.errors import InputError, UnknownName
from twin.core.scenario import scenario_from_doc
from twin.core.yamlsrc import load_text


@pytest.mark.parametrize(
    ("line", "kind", "kinds"),
    [
        ("straggle loop-1", "loop", "rack, row, group, node or gpu"),
        ("swap row-a-pdu-1 h200", "pdu", "rack, row or group"),
        ("drain spine-1", "spine", "rack, row, group, pdu, feed, loop or leaf"),
    ],
)
def test_a_command_on_the_wrong_kind_of_component_lists_every_kind_it_takes(
    small, line, kind, kinds
):
    """(topology.py: the last kind read ``allowed[-0]``, the first one again.)"""
    f = Factory(small)
    verb, target = line.split()[:2]
    with pytest.raises(EngineError) as e:
        cmd(f, line)
    assert str(e.value) == f"{verb}: {target} is a {kind}; {verb} takes a {kinds}"


def test_a_deployments_latency_lies_between_its_classes(small):
    """The deployment table's TTFT and TPOT p95 pool its classes' requests: never zero
    while they have latencies, never outside their range (snapshot.py: a deployment's
    histograms taken only when it had no class)."""
    s = run(Factory(small), 30)
    for d in s.deployments:
        mine = [c for c in s.classes if c.deployment == d.id]
        assert mine
        for key in ("ttft_p95_s", "tpot_p95_s"):
            vals = [getattr(c, key) for c in mine]
            assert min(vals) > 0
            # one histogram bucket of slack: the pooled quantile is read from the same buckets
            assert 0.9 * min(vals) <= getattr(d, key) <= 1.1 * max(vals), (d.id, key)


def test_an_idle_rack_draws_the_same_whether_its_replica_spans_two_racks_or_fits_in_one(
    tmp_path,
):
    """A 405B replica on 64 GPUs spans two 32-GPU H100 racks: each rack carries half of its
    GPUs, so at rest it draws what a rack of 8-GPU replicas draws (replicas.py: a spanning
    replica's share of a rack read 2 instead of ½: +7 kW on each of its racks)."""

    def edit(d):
        d["rows"][1]["gpu"] = "h100"
        d["deployments"][0].update(gpus_per_replica=64, model="llama-3.1-405b")
        for w in d["workloads"]:
            w["rate"] = "0.01/s"

    f = Factory(small_layout(tmp_path, edit))
    kw = run(f, 5).racks.power_kw
    spanned, whole = kw[:4], kw[4:]  # row-a: two 64-GPU replicas; row-b: 8-GPU replicas
    assert spanned == pytest.approx([whole[0]] * 4, rel=1e-6)
    assert whole[0] == pytest.approx(whole[1])


def test_a_swap_warns_before_it_is_applied_what_it_says_once_applied(small):
    """The TUI asks before a swap that would overload a PDU: the preview is the warning the
    swap itself then reports; a swap to the GPU the racks already have warns of nothing
    (actions.py: the preview read '' whenever there were racks to swap)."""
    f = Factory(small)
    run(f, 1)
    assert f.swap_warning("row-a", "h100") == ""  # row-a is already H100
    ahead = f.swap_warning("row-a", "b200")
    assert ahead.startswith("warning: row-a-pdu-")
    assert cmd(f, "swap row-a b200").endswith("; " + ahead)


def test_a_request_queued_on_a_rack_when_it_is_drained_is_served_elsewhere_not_stranded(small):
    """Drained replicas prefill nothing more, so their queued requests are retried on the
    others: once demand falls, the deployment's queue empties (flow.py: only a queue of two
    cohorts or more was moved, a single one waited on the drained rack for ever)."""
    f = Factory(small)
    for _ in range(120):  # the first moment the chat deployment has a queue
        s = run(f, 0.5)
        if s.deployments[0].queue > 0:
            break
    assert s.deployments[0].queue > 0
    cmd(f, "drain row-a-01")
    cmd(f, "surge 0.05")
    s = run(f, 30)
    assert s.deployments[0].id == "chat-70b"
    assert s.deployments[0].queue == 0


def test_a_prefill_pool_wider_than_a_rack_continues_on_the_next_rack_not_past_its_last_gpu(
    tmp_path,
):
    """Three quarters of row-b's 64 H200s prefill: four replicas fill its first rack and two
    go on the second, next to the two decode replicas: 8 replicas of 8 GPUs, no more GPUs
    than the row has (plan.py: `used - g <= counts` put two prefill replicas on GPUs 32–47
    of a 32-GPU rack, and the row served 80 GPUs' worth)."""

    def edit(d):
        d["deployments"][1]["prefill_share"] = 0.75

    f = Factory(small_layout(tmp_path, edit))
    split = {d.id: d for d in run(f, 2).deployments}["split-70b"]
    assert split.gpus_per_replica == 8
    assert (split.replicas, split.prefill_replicas) == (8, 6)


def test_a_cap_on_the_b_side_pdu_of_an_ab_pair_holds_it_under_its_cap(small):
    """Each A/B rack's clock follows the tighter of its two PDUs' caps, the B side's too
    (power.py: only the first PDU of each rack was looked at, so a cap on B never slowed
    the racks and B ran over it)."""
    f = Factory(small)

    def b_kw() -> float:
        return next(p.load_kw for p in run(f, 0.5).power if p.id == "row-b-pdu-b1")

    run(f, 30)
    cap = 0.8 * b_kw()
    cmd(f, f"cap row-b-pdu-b1 {cap:.2f}kW")
    run(f, 10)
    load = np.array([b_kw() for _ in range(20)])
    assert load.max() <= cap and load.mean() >= 0.9 * cap


def test_an_idle_rack_draws_the_same_whether_its_gpus_serve_a_replica_or_none(tmp_path):
    """Four replicas of 8 GPUs fill row-a's first rack; the other three hold no replica.
    At rest every GPU draws its idle power, in a replica or not, so the four racks draw
    the same (replicas.py: the spare GPUs' idle watts read as kW ÷ 1001)."""

    def edit(d):
        d["deployments"][0]["replicas"] = 4
        for w in d["workloads"]:
            w["rate"] = "0.01/s"

    f = Factory(small_layout(tmp_path, edit))
    s = run(f, 5)
    assert [d.replicas for d in s.deployments if d.id == "chat-70b"] == [4]
    kw = s.racks.power_kw[:4]
    assert kw == pytest.approx([kw[0]] * 4, rel=1e-6)


@pytest.mark.parametrize("line", ["fail row-a-01 for 10s", "surge 3 10s"])
def test_a_timed_command_lasts_exactly_its_duration(small, line):
    """A rack failed (or a surge) for 10 s is still failed (surging) when the 10 s are up,
    and over on the next tick (schedule.py: every due time one tick early)."""
    f = Factory(small)
    run(f, 2)
    cmd(f, line)

    def on(s) -> bool:
        return s.racks.state[0] == S.RACK_DOWN if line.startswith("fail") else s.surge > 1

    assert on(run(f, 10))
    assert not on(run(f, 0.5))


def test_a_node_is_numbered_from_one_and_a_malformed_gpu_id_is_refused(small):
    """`row-a-01-n4` is the last of a rack's four 8-GPU nodes: failing it takes down the
    replica there; `-x1-y2` is no GPU (topology.py: nodes read from 0, so n4 matched no
    GPU and no replica went down; `and` → `or` read any two-part tail as node and GPU)."""
    f = Factory(small)
    run(f, 1)
    assert cmd(f, "fail row-a-01-n4").startswith("node row-a-01-n4 failed")
    chat = {d.id: d for d in run(f, 1).deployments}["chat-70b"]
    assert (chat.replicas, chat.replicas_up) == (16, 15)
    with pytest.raises(UnknownName, match="unknown component 'row-a-01-x1-y2'"):
        cmd(f, "fail row-a-01-x1-y2")


def test_a_scenario_naming_a_component_that_is_not_there_suggests_the_closest():
    """(conditions.py: the suggestion was offered only when nothing was close.)"""
    text = HEAD + "events:\n  - at: 1m\n    do: fail pod-1\n"
    with pytest.raises(InputError) as e:
        scenario_from_doc(load_text(text, "s.yaml"), "s.yaml")
    assert "no component 'pod-1' in layout" in str(e.value)
    assert "(did you mean 'pod-01'?)" in str(e.value)


def test_a_task_checked_by_its_outcome_is_done_only_when_the_outcome_holds_in_time():
    """A critical task with `check:` (an outcome, not an action) is done when the check
    holds within its window: a second fault at 90 s is on time, at 170 s (cued at 60 s,
    one minute to act) too late, none at all missed (score.py: `in_time or holds` marked
    it done at its cue)."""
    text = SMALL_DRILL.replace(
        '    cue: when tpot_p99_s > 40ms\n    alarm: the tail has tripled\n    do: "fail pod-02-n3 *"\n'
        "    within: 1m\n    late: 1m\n",
        "    cue: at 1m\n    check: active_faults >= 2\n    within: 1m\n",
    )
    assert text != SMALL_DRILL
    sc = scenario_from_doc(load_text(text, "c.yaml"), "c.yaml")

    def outcome(*actions):
        task = play(sc, *actions).drill["tasks"][0]
        return task["outcome"], task["done_at_s"]

    assert outcome() == ("missed", None)
    assert outcome((90.0, "fail pod-03-n1")) == ("on time", 90.0)
    assert outcome((170.0, "fail pod-03-n1")) == ("missed", None)


def test_tpot_pays_what_each_arriving_prompt_adds_to_a_decode_step(catalog):
    """While at most one prompt arrives per decode step, each rides whole on one step
    (chunked prefill in mixed batches): TPOT × tokens per step = the decode step + prompts
    per step × what the prompt (causal: attending to half of it on average) adds to it
    (curves.py: a third of it)."""
    from twin.core import serving
    from twin.core.serving import Parallelism, Replica, Workload

    r = Replica(catalog.gpu("h100"), catalog.model("llama-3.1-8b"), "fp8", Parallelism(1), catalog)
    w = Workload(serving.prefill_chunk_tokens(catalog) // 2, 2000)
    batch = np.array([1.0, 16.0, 64.0])
    rd = serving.schedule(r, batch, w, catalog)
    prompts_per_step = batch * r.tokens_per_step / w.osl
    assert prompts_per_step.max() <= 1
    prefill = rd.tpot_s * r.tokens_per_step - rd.decode_s
    added = r.step(batch, w.mean_context, w.isl, w.isl / 2).t_s - rd.decode_s
    assert prefill == pytest.approx(prompts_per_step * added, rel=1e-9)


def test_a_model_too_big_for_the_gpus_says_how_many_gigabytes_its_weights_are(catalog):
    """(curves.py: the weights' size divided by the bytes per parameter.)"""
    import dataclasses

    from twin.core import serving
    from twin.core.serving import ServingError, Workload

    huge = dataclasses.replace(catalog.model("llama-3.1-405b"), id="huge", params_b=50_000.0)
    with pytest.raises(ServingError, match=r"huge bf16 \(100,000 GB of weights\) does not fit"):
        serving.curves(catalog.gpu("h100"), huge, "bf16", Workload(), catalog=catalog)
