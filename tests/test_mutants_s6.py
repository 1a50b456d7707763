"""Behaviour that survivors of the mutation samples of session 6 (issue 15: seed 3's
survivors left open, then the fresh seed-4 sample) changed unnoticed: each test says what a
user sees, and was checked against its mutant by hand (``benchmarks/MUTATION.md``).
Small factories, seconds each."""

from __future__ import annotations

import pytest
from engine_helpers import cmd, run, small_layout

from twin.core.engine import EngineError, Factory


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
