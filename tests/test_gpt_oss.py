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


def test_a_step_gathers_the_embedding_table_instead_of_streaming_it(catalog):
    """Every step reads each non-expert weight once — except the input embedding table
    (vocab × hidden), of which it reads one row per token. A batch-1 Llama-3.3-70B decode
    on one H100 is the time of 128,256 × 8,192 fp8 bytes at the HBM rate faster than if
    the table streamed; an LM head that shares the table (tied embeddings) still streams it."""
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    fast = Replica(gpu, model, "fp8", Parallelism(1), catalog)
    streamed = Replica(gpu, dataclasses.replace(model, vocab=0), "fp8", Parallelism(1), catalog)
    tied = Replica(
        gpu, dataclasses.replace(model, tied_embeddings=True), "fp8", Parallelism(1), catalog
    )
    table_s = 128256 * 8192 * 1.0 / (fast.dense_mem_eff * gpu.hbm_tb_s * 1e12)
    assert float(streamed.step(1, 1024).t_s - fast.step(1, 1024).t_s) == pytest.approx(table_s)
    assert float(tied.step(1, 1024).t_s) == float(streamed.step(1, 1024).t_s)
    assert fast.weights_per_gpu == streamed.weights_per_gpu  # the table is still in memory


def test_gpt_oss_keeps_attention_and_router_in_bf16_beside_its_mxfp4_experts(catalog):
    """config.json's quantization_config converts only the experts to MXFP4: attention,
    router, embeddings and LM head stay BF16, two bytes a weight. Served at fp8 (an
    H100 has no fp4 cores), they are quantised to fp8 like any fp8 deployment."""
    m = catalog.model("gpt-oss-120b")
    dense_params = (m.params_b - m.expert_params_b) * 1e9
    native = Replica(catalog.gpu("b200"), m, "fp4", Parallelism(1), catalog)
    assert native.dense_bytes == pytest.approx(2.0 * dense_params)
    assert native.expert_bytes == pytest.approx(m.expert_params_b * 1e9 * 4.25 / 8)
    at_fp8 = Replica(catalog.gpu("h100"), m, "fp8", Parallelism(1), catalog)
    assert at_fp8.dense_bytes == pytest.approx(dense_params)
    # DeepSeek's 4-bit checkpoint keeps its dense layers in fp8, not bf16
    r1 = catalog.model("deepseek-r1")
    r1_fp4 = Replica(catalog.gpu("b200"), r1, "fp4", Parallelism(8), catalog)
    assert r1_fp4.dense_bytes == pytest.approx((r1.params_b - r1.expert_params_b) * 1e9)


def test_a_gpt_oss_layer_launches_13_kernels_not_a_deepseek_moe_layers_20(catalog):
    """vLLM's gpt-oss layer (two norms, QKV, rope, attention, o_proj, all-reduce, router
    and a fused MXFP4 MoE in five kernels) launches 13 kernels, a DeepSeek MoE layer about
    20: a batch-1 step, ruled by those gaps, is 7 kernels' gaps per layer shorter than the
    typical MoE layer's count would make it."""
    gpu, model = catalog.gpu("b200"), catalog.model("gpt-oss-120b")
    oss = Replica(gpu, model, "fp4", Parallelism(1), catalog)
    typical = Replica(
        gpu, dataclasses.replace(model, kernels_per_layer=0), "fp4", Parallelism(1), catalog
    )
    assert oss.kernels_per_layer == 13 and typical.kernels_per_layer == 20
    gap_s = oss.eff.layer_overhead_us * 1e-6 * 7 / oss.path_speed
    saved = float(typical.step(1, 2048).t_s - oss.step(1, 2048).t_s)
    assert saved == pytest.approx(model.layers * gap_s, rel=1e-9)


def test_a_bad_checkpoint_precision_in_a_user_model_names_its_line(tmp_path):
    from twin.core.catalog import load_catalog
    from twin.core.errors import InputError

    (tmp_path / "m.yaml").write_text(
        "models:\n  tiny-moe:\n    base: gpt-oss-20b\n    name: Tiny\n"
        "    native_dense_precision: fp6\n    tied_embeddings: maybe\n"
    )
    with pytest.raises(InputError) as e:
        load_catalog([tmp_path])
    text = str(e.value)
    assert "m.yaml:5: models.tiny-moe.native_dense_precision: one of" in text
    assert "m.yaml:6: models.tiny-moe.tied_embeddings: true or false" in text
