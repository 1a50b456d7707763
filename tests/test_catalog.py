"""The catalogs: every figure has a source; users add their own SKUs and models."""

import textwrap

import pytest

from twin.core.catalog import CATALOG_ENV, load_catalog
from twin.core.errors import InputError, UnknownName

REQUIRED_GPUS = ["h100", "h200", "b200", "gb200", "gb300", "mi300x", "mi325x", "mi355x"]
REQUIRED_MODELS = ["llama-2-70b", "llama-3.3-70b", "deepseek-r1", "gpt-oss-120b", "mixtral-8x7b"]


def test_the_builtin_catalog_has_every_promised_gpu_and_model(catalog):
    assert set(REQUIRED_GPUS) <= set(catalog.gpus)
    assert set(REQUIRED_MODELS) <= set(catalog.models)


@pytest.mark.parametrize("gpu_id", REQUIRED_GPUS)
def test_every_gpu_figure_names_its_source_and_its_fitted_efficiency_names_measurements(
    catalog, gpu_id
):
    gpu = catalog.gpu(gpu_id)
    figures = [
        "peak_tflops",
        "hbm_gb",
        "hbm_tb_s",
        "scale_up_domain_gpus",
        "scale_up_gb_s",
        "scale_out_gb_s",
        "tdp_w",
        "idle_w",
        "gpus_per_node",
        "gpus_per_rack",
        "rack_kw",
        "allin_kw_per_gpu",
        "usd_per_gpu_hr",
        "capex_usd_per_gpu",
    ]
    for f in figures:
        assert gpu.source.get(f, "").strip(), f"{gpu_id}.{f} has no source"
    assert gpu.efficiency.fitted_to, f"{gpu_id} efficiency names no measurement it was fitted to"


def test_every_model_and_constant_has_a_source(catalog):
    for m in catalog.models.values():
        assert m.source.strip()
    assert catalog.constants  # the loader refuses a constant without a source


def test_mixture_of_experts_models_know_their_experts(catalog):
    r1 = catalog.model("deepseek-r1")
    assert r1.is_moe and r1.experts == 256 and r1.experts_per_token == 8
    assert r1.active_params_b < r1.params_b and r1.attention == "mla"
    assert not catalog.model("llama-3.3-70b").is_moe
    # Mixtral 8x7B: 8 experts, top-2, so a token reads ~12.9B of its ~46.7B parameters
    mixtral = catalog.model("mixtral-8x7b")
    assert mixtral.is_moe and (mixtral.experts, mixtral.experts_per_token) == (8, 2)
    assert mixtral.params_b == pytest.approx(46.7, abs=0.1)
    assert mixtral.active_params_b == pytest.approx(12.9, abs=0.1)
    shared = mixtral.params_b - mixtral.expert_params_b
    assert shared + mixtral.expert_params_b * 2 / 8 == pytest.approx(mixtral.active_params_b, 0.01)


def test_a_user_adds_a_gpu_that_starts_from_a_builtin_one(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        textwrap.dedent("""\
        gpus:
          h100-capped:
            base: h100
            name: H100 at 500 W
            tdp_w: 500
            source: {tdp_w: "E: our power-capped fleet"}
        """)
    )
    cat = load_catalog([tmp_path])
    mine = cat.gpu("h100-capped")
    assert mine.tdp_w == 500 and mine.hbm_gb == cat.gpu("h100").hbm_gb
    assert mine.source["tdp_w"] == "E: our power-capped fleet"


def test_the_catalog_environment_variable_adds_a_model(tmp_path, monkeypatch):
    (tmp_path / "m.yaml").write_text(
        textwrap.dedent("""\
        models:
          tiny-7b:
            name: Tiny 7B
            params_b: 7
            layers: 32
            hidden: 4096
            heads: 32
            kv_heads: 8
            head_dim: 128
            attention: gqa
            source: "V: our model card"
        """)
    )
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path))
    assert load_catalog().model("tiny-7b").params_b == 7


def test_a_malformed_user_entry_is_reported_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent("""\
        gpus:
          x1:
            base: h100
            hbm_gb: lots
            hbm_bandwidth: 3
            source: {}
        """)
    )
    with pytest.raises(InputError) as e:
        load_catalog([tmp_path])
    text = str(e.value)
    assert f"{bad}:4: gpus.x1.hbm_gb: expected a number" in text
    assert f"{bad}:5: gpus.x1: unknown key 'hbm_bandwidth'" in text


def test_a_yaml_syntax_error_in_a_user_catalog_names_the_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("gpus:\n  x: [1, 2\n")
    with pytest.raises(InputError, match=r"broken.yaml:\d+: YAML syntax"):
        load_catalog([tmp_path])


def test_a_user_gpu_without_sources_is_refused(tmp_path):
    (tmp_path / "nosrc.yaml").write_text(
        "gpus:\n  x2:\n    base: h100\n    name: X2\n    source: {tdp_w: 'E: ours'}\n    tdp_w: 600\n"
    )
    # inherits the h100 sources, so it is fine; but a fresh SKU without them is not
    load_catalog([tmp_path])
    (tmp_path / "nosrc.yaml").write_text(
        "gpus:\n  x3:\n    name: X3\n    peak_tflops: {bf16: 100}\n    hbm_gb: 10\n    source: {}\n"
    )
    with pytest.raises(InputError, match="no source for 'hbm_gb'"):
        load_catalog([tmp_path])


def test_a_gemm_clock_must_be_a_sourced_share_of_the_boost_clock(tmp_path):
    """The clock a GPU holds under dense GEMMs is a fraction of its boost clock, and a fact
    about the silicon: above 1, or without a source, the catalog says where."""
    f = tmp_path / "clk.yaml"
    f.write_text(
        "gpus:\n  x4:\n    base: mi300x\n    gemm_clock: 1.4\n    source: {gemm_clock: 'M: ours'}\n"
    )
    with pytest.raises(InputError) as e:
        load_catalog([tmp_path])
    assert f"{f}:4: gpus.x4.gemm_clock: must be a fraction in (0, 1]" in str(e.value)
    f.write_text("gpus:\n  x4:\n    base: h100\n    gemm_clock: 0.8\n")
    with pytest.raises(InputError, match="no source for 'gemm_clock'"):
        load_catalog([tmp_path])
    f.write_text(
        "gpus:\n  x4:\n    base: h100\n    gemm_clock: 0.8\n    source: {gemm_clock: 'M: ours'}\n"
    )
    assert load_catalog([tmp_path]).gpu("x4").gemm_clock == 0.8


def test_an_unknown_gpu_is_named_with_a_suggestion(catalog):
    with pytest.raises(UnknownName, match=r"unknown GPU 'h1000' \(did you mean 'h100'\?\)"):
        catalog.gpu("h1000")


@pytest.mark.parametrize(
    "key, value, says",
    [
        ("fp4_moe_dense_precision", "fp6", "expected one of bf16, fp8, fp4"),
        ("ep_load_imbalance", "{measured_ep: 1}", "measured_ep: expected an expert-group width"),
        ("ep_load_imbalance", "{unbalanced: -1}", "expected a mapping"),
        ("vendor_mtp_max_drafts", "{amd: 1.5}", "amd: expected a whole number of draft tokens"),
    ],
)
def test_a_constant_override_out_of_its_domain_names_the_line(tmp_path, key, value, says):
    """Type-correct but meaningless overrides (a precision the catalog has no bytes for, an
    expert group of one) are refused at load, not as a traceback in the serving model."""
    (tmp_path / "k.yaml").write_text(
        f"constants:\n  {key}:\n    value: {value}\n    source: 'E: ours'\n"
    )
    with pytest.raises(InputError) as e:
        load_catalog([tmp_path])
    assert f"k.yaml:3: constants.{key}.value: {says}" in str(e.value)
