"""The serving model's physics where a planted bug survived the other tests (issue 15)."""

from __future__ import annotations

import dataclasses

import pytest

from twin.core import serving
from twin.core.serving import Parallelism, Replica


@pytest.mark.parametrize("gpu_id", ["h100", "b200", "gb300", "mi355x"])
def test_a_gpu_draws_idle_power_at_rest_and_exactly_its_tdp_flat_out(catalog, gpu_id):
    gpu = catalog.gpu(gpu_id)
    r = Replica(gpu, catalog.model("llama-3.3-70b"), "fp8", Parallelism(8), catalog)
    assert float(r.power_w(0.0, 0.0)) == pytest.approx(gpu.idle_w)
    assert float(r.power_w(1.0, 1.0)) == pytest.approx(gpu.tdp_w)  # never above its TDP
    assert float(r.power_w(0.9, 0.9)) == pytest.approx(gpu.tdp_w)  # saturated
    # a power cap above what the load draws leaves the clock alone; a cap at idle is the floor
    cost = r.step(64, 2048)
    full = float(r.power_w(cost.compute_busy, cost.memory_busy))
    assert r.clock_for_power_cap(full + 1, cost.compute_busy, cost.memory_busy) == 1.0
    assert r.clock_for_power_cap(gpu.idle_w, cost.compute_busy, cost.memory_busy) == 0.2


def test_a_model_that_needs_eight_scale_up_domains_is_pipelined_across_eight(catalog):
    """2.2 T parameters in bf16 (4.4 TB) on 8-GPU H100 domains (~576 GB usable each)."""
    huge = dataclasses.replace(catalog.model("llama-3.1-405b"), id="huge", params_b=2200.0)
    cs = serving.curves(catalog.gpu("h100"), huge, "bf16", serving.Workload(), catalog=catalog)
    assert {(c.replica.par.tp, c.replica.par.pp) for c in cs} == {(8, 8)}


def test_prefill_of_a_prompt_attends_to_half_of_it_on_average(catalog):
    """Causal attention: token i attends to i tokens, n²/2 in all, so attention-bound
    prefill time grows with the square of the prompt, at half the full-context cost."""
    r = Replica(catalog.gpu("h100"), catalog.model("llama-3.1-8b"), "fp8", Parallelism(1), catalog)
    n = 64_000
    half = float(r.step(0.0, 0.0, n, n / 2).t_s)
    assert float(r.prefill_time_s(n)) == pytest.approx(half)
    full = float(r.step(0.0, 0.0, n, n).t_s)
    assert full > 1.5 * half  # at 64k tokens attention dominates
