"""gpt-oss as its model card describes it: sliding-window layers, MXFP4 experts, the 20b."""

from __future__ import annotations

import dataclasses
import json

import pytest

from twin.core.serving import Parallelism, Replica


def _prefill_attention_s(replica: Replica, tokens: float, context: float) -> float:
    """What a prefill step's attention costs at a causal context (the rest of the step
    does not depend on it: with no running requests nothing else reads the context)."""
    with_ctx = float(replica.step(0.0, 0.0, tokens, context).t_s)
    return with_ctx - float(replica.step(0.0, 0.0, tokens, 0.0).t_s)


@pytest.mark.parametrize("model_id", ["gpt-oss-120b", "gpt-oss-20b"])
def test_a_sliding_window_layer_attends_to_its_window_not_the_whole_prompt(catalog, model_id):
    """config.json: every other gpt-oss layer attends to the last 128 tokens only. A long
    prompt's attention then costs about half what it would if every layer saw the whole
    prompt (18 of 36 layers at 64k keys, 18 at 128), and a short prompt within the window
    costs the same either way."""
    model = catalog.model(model_id)
    full = dataclasses.replace(model, sliding_window=0, sliding_layers=0)
    gpu = catalog.gpu("b200")
    oss = Replica(gpu, model, "fp4", Parallelism(1), catalog)
    dense_attention = Replica(gpu, full, "fp4", Parallelism(1), catalog)
    ctx = 65536.0
    ratio = _prefill_attention_s(oss, 8192.0, ctx) / _prefill_attention_s(
        dense_attention, 8192.0, ctx
    )
    half = model.layers - model.sliding_layers
    assert ratio == pytest.approx((half * ctx + model.sliding_layers * 128) / (model.layers * ctx))
    assert ratio < 0.51
    # within the window, both attend to every key
    assert _prefill_attention_s(oss, 64.0, 100.0) == pytest.approx(
        _prefill_attention_s(dense_attention, 64.0, 100.0), rel=1e-12
    )


def test_gpt_oss_20b_fits_one_16_gb_budget_and_is_served_by_twin_perf(capsys, catalog):
    """The model card: gpt-oss-20b runs within 16 GB of memory (MXFP4 experts). Its
    weights on one H100 (experts 4.25 bits, the rest at fp8) are ~12 GB; twin perf serves
    it on one GPU, faster per user than the 120b on the same GPU at the same batch."""
    from twin.cli import main

    small, big = catalog.model("gpt-oss-20b"), catalog.model("gpt-oss-120b")
    h100 = catalog.gpu("h100")
    r = Replica(h100, small, "fp8", Parallelism(1), catalog)
    expected = (
        small.expert_params_b * 1e9 * 4.25 / 8 + (small.params_b - small.expert_params_b) * 1e9
    )
    assert r.weight_bytes == pytest.approx(expected, rel=1e-6)
    assert 10e9 < r.weight_bytes < 16e9
    r_big = Replica(h100, big, "fp8", Parallelism(1), catalog)
    assert float(r.step(8, 2048).t_s) < float(r_big.step(8, 2048).t_s)
    argv = ["perf", "--gpu", "h100", "--model", "gpt-oss-20b", "--parallelism", "TP1", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gpus"] == 1
