"""`twin perf` as a user runs it."""

import json

import pytest

from twin.cli import main

KEYS = {
    "tok_s_per_gpu",
    "tok_s_per_user",
    "usd_per_mtok",
    "tok_s_per_mw",
    "j_per_tok",
    "batch",
    "gpus",
    "ttft_s",
}


def test_perf_json_has_the_documented_keys(capsys):
    assert main(["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= KEYS
    assert out["gpus"] >= 1 and out["tok_s_per_gpu"] > 0


def test_perf_at_an_interactivity_gives_each_user_that_speed(capsys):
    assert (
        main(["perf", "--gpu", "b200", "--model", "deepseek-r1", "--tps-user", "42", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["tok_s_per_user"] >= 41.9


@pytest.mark.parametrize(
    ("gpu", "precision"), [("mi325x", "bf16"), ("h100", "bf16"), ("mi355x", "fp4")]
)
def test_a_plain_query_serves_gpt_oss_as_it_ships(capsys, gpu, precision):
    """gpt-oss-120b ships MXFP4 experts beside BF16 layers: a GPU with fp4 tensor cores
    runs it in fp4, one without (Hopper, CDNA3) reads the 4-bit experts as stored and
    computes in BF16 (InferenceX's MI325X column, 1,208 tok/s/GPU at 86 tok/s/user, is
    that run); the plain query does not re-quantise it to fp8, which priced MI325X 1.7x
    above the measurement. ``--precision fp8`` still prices that what-if."""
    argv = ["perf", "--gpu", gpu, "--model", "gpt-oss-120b", "--tps-user", "86", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["precision"] == precision
    if gpu == "mi325x":
        assert abs(out["total_tok_s_per_gpu"] / 1208 - 1) < 0.25
        assert main([*argv, "--precision", "fp8"]) == 0
        fp8 = json.loads(capsys.readouterr().out)
        assert fp8["precision"] == "fp8" and fp8["total_tok_s_per_gpu"] > out["total_tok_s_per_gpu"]


def test_perf_curve_prints_the_frontier(capsys):
    assert main(["perf", "--gpu", "gb300", "--model", "gpt-oss-120b", "--curve"]) == 0
    out = capsys.readouterr().out
    assert "frontier" in out and "tok/s/user" in out and out.count("\n") > 10


def test_perf_curve_json_is_a_list_of_points(capsys):
    assert main(["perf", "--gpu", "h200", "--model", "llama-2-70b", "--curve", "--json"]) == 0
    pts = json.loads(capsys.readouterr().out)["curve"]
    assert len(pts) > 5 and set(pts[0]) >= KEYS


def test_a_given_parallelism_is_used(capsys):
    assert (
        main(
            ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--parallelism", "TP8", "--json"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["gpus"] == 8


def test_experts_split_like_dense_layers_is_a_what_if_on_any_gpu(capsys):
    """The search offers TP8 EP1 only where the vendor's recipes run it (ROCm); a user can
    still price it on NVIDIA, and the replica line names it."""
    argv = ["perf", "--gpu", "b200", "--model", "deepseek-r1", "--parallelism", "TP8-EP1"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parallelism"].startswith("TP8-EP1")
    _fails(capsys, [*argv[:-1], "DP8-EP1"], "TP only")


def test_kv_reserved_for_the_maximum_output_caps_the_batch(capsys):
    """A stack that reserves KV for a request's max_tokens at admission (TensorRT-LLM's
    default scheduler; MLPerf DeepSeek-R1 allows 20k output tokens) fits far fewer
    requests than one that takes KV as outputs grow, so it delivers fewer tokens; a
    reservation below the mean context changes nothing."""
    base = ["perf", "--gpu", "b200", "--model", "deepseek-r1", "--precision", "fp4"]
    base += ["--isl", "1024", "--osl", "3736", "--no-mtp", "--parallelism", "DP8", "--json"]

    def point(*extra):
        assert main([*base, *extra]) == 0
        return json.loads(capsys.readouterr().out)

    free, held, small = point(), point("--reserve-output", "20000"), point("--reserve-output", "9")
    assert held["batch"] * (1024 + 20000) <= free["batch"] * (1024 + 3736 / 2) * 1.01
    assert held["batch"] < free["batch"] / 3
    assert held["tok_s_per_gpu"] < 0.9 * free["tok_s_per_gpu"]
    assert small == free
    _fails(capsys, [*base, "--reserve-output", "-5"], "--reserve-output")


def test_multi_step_scheduling_pays_the_host_once_per_n_steps(capsys):
    """vLLM V0's multi-step scheduling (AMD's MLPerf Llama-2-70B recipes: 7-19 steps per
    pass) schedules and books the running requests once per N decode steps: at a batch of
    thousands, where the host's per-sequence work is a large share of a step, a TP1 MI300X
    serves more; at one request, where it is not, about the same."""
    base = ["perf", "--gpu", "mi300x", "--model", "llama-2-70b", "--isl", "294", "--osl", "294"]
    base += ["--parallelism", "TP1", "--json"]

    def point(*extra):
        assert main([*base, *extra]) == 0
        return json.loads(capsys.readouterr().out)

    once, multi = point(), point("--scheduler-steps", "11")
    assert multi["tok_s_per_gpu"] > 1.05 * once["tok_s_per_gpu"]
    slow_once, slow_multi = (
        point("--tps-user", "25"),
        point("--tps-user", "25", "--scheduler-steps", "11"),
    )
    assert slow_multi["tok_s_per_gpu"] > slow_once["tok_s_per_gpu"]
    assert main([*base[:-1], "--scheduler-steps", "11"]) == 0
    assert "11-step scheduling" in " ".join(capsys.readouterr().out.split())
    _fails(capsys, [*base, "--scheduler-steps", "0"], "--scheduler-steps")


def _fails(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for n in needles:
        assert n in err
    return err


def test_unknown_gpu_lists_the_known_ones(capsys):
    _fails(
        capsys,
        ["perf", "--gpu", "h10", "--model", "llama-3.3-70b"],
        "unknown GPU 'h10'",
        "did you mean 'h100'",
        "mi355x",
    )


def test_unknown_model_lists_the_known_ones(capsys):
    _fails(
        capsys,
        ["perf", "--gpu", "h100", "--model", "llama-9"],
        "unknown model 'llama-9'",
        "deepseek-r1",
    )


def test_unknown_precision_is_refused(capsys):
    _fails(
        capsys,
        ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--precision", "fp2"],
        "--precision",
    )


def test_fp4_on_hopper_is_refused_with_the_precisions_it_has(capsys):
    _fails(
        capsys,
        ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--precision", "fp4"],
        "precisions: bf16, fp8",
    )


def test_unreachable_interactivity_gives_the_reachable_range(capsys):
    _fails(
        capsys,
        ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--tps-user", "900"],
        "out of reach",
        "tok/s per user",
    )


def test_bad_numbers_and_parallelism_are_one_line_errors(capsys):
    _fails(capsys, ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--isl", "lots"], "--isl")
    _fails(
        capsys, ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--parallelism", "XX9"], "TP8"
    )
    _fails(
        capsys,
        ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--parallelism", "TP8+MTP"],
        "multi-token",
    )


def test_disagg_forces_a_prefill_pool_and_says_so(capsys):
    assert (
        main(
            [
                "perf",
                "--gpu",
                "gb300",
                "--model",
                "deepseek-r1",
                "--tps-user",
                "100",
                "--disagg",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (
        out["prefill_gpus"] > 0
        and out["parallelism"].startswith("P")
        and "+ D" in out["parallelism"]
    )
    assert out["gpus"] == round(
        int(out["parallelism"].split("+ D")[1].split(",")[0]) + out["prefill_gpus"]
    )


def _perf_json(capsys, *args):
    assert main(["perf", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_plain_query_serves_a_model_as_its_public_recipes_do(capsys):
    """Llama-3.3-70B is served co-located everywhere it is published (InferenceX single
    node, MLPerf), so a plain query answers co-located; --disagg still prices a prefill
    pool, which a user asks for. DeepSeek-R1, which the recipes disaggregate, still weighs
    both and picks a prefill pool at rack scale."""
    q = ["--gpu", "b200", "--model", "llama-3.3-70b", "--tps-user", "139"]
    plain = _perf_json(capsys, *q)
    pool = _perf_json(capsys, *q, "--disagg")
    assert plain["prefill_gpus"] == 0 and not plain["parallelism"].startswith("P")
    assert pool["prefill_gpus"] > 0 and pool["tok_s_per_gpu"] != plain["tok_s_per_gpu"]
    r1 = _perf_json(capsys, "--gpu", "gb300", "--model", "deepseek-r1", "--tps-user", "100")
    assert r1["prefill_gpus"] > 0 and "+ D" in r1["parallelism"]


def test_no_mtp_and_a_ttft_bound_are_honoured(capsys):
    assert (
        main(
            [
                "perf",
                "--gpu",
                "b200",
                "--model",
                "deepseek-r1",
                "--curve",
                "--json",
                "--no-mtp",
                "--ttft-max",
                "0.2",
            ]
        )
        == 0
    )
    pts = json.loads(capsys.readouterr().out)["curve"]
    assert pts and all("MTP" not in p["parallelism"] and p["ttft_s"] <= 0.2 for p in pts)
    _fails(
        capsys,
        ["perf", "--gpu", "b200", "--model", "deepseek-r1", "--ttft-max", "0.000001"],
        "time to first token",
    )


def test_vs_compares_two_generations_across_interactivity(capsys):
    assert main(["perf", "--gpu", "gb300", "--vs", "h200", "--model", "deepseek-r1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["precision"], out["vs_precision"]) == ("fp4", "fp8")  # each side at its best
    rows = {r["tok_s_per_user"]: r for r in out["rows"]}
    for r in rows.values():
        assert r["tok_s_per_gpu_ratio"] == pytest.approx(
            r["a"]["tok_s_per_gpu"] / r["b"]["tok_s_per_gpu"]
        )
        # per MW: the per-GPU ratio times the all-in kW ratio (1.73 / 2.10)
        assert r["tok_s_per_mw_ratio"] == pytest.approx(
            r["tok_s_per_gpu_ratio"] * 1.73 / 2.10, rel=1e-6
        )
    # the headline: H200 collapses first, so the ratio grows with interactivity
    assert rows[100]["tok_s_per_gpu_ratio"] > 5 * rows[25]["tok_s_per_gpu_ratio"]
    assert rows[100]["usd_per_mtok_ratio"] > 20
    assert (
        main(
            [
                "perf",
                "--gpu",
                "gb300",
                "--vs",
                "h200",
                "--model",
                "deepseek-r1",
                "--vs-precision",
                "fp8",
                "--precision",
                "fp8",
                "--tps-user",
                "50",
            ]
        )
        == 0
    )
    assert "gb300 fp8 vs h200 fp8" in capsys.readouterr().out
    _fails(
        capsys,
        ["perf", "--gpu", "gb300", "--vs", "h20", "--model", "deepseek-r1"],
        "unknown GPU 'h20'",
    )


def test_a_spread_of_output_lengths_costs_kv_room_and_throughput(capsys):
    """Long requests stay in the batch longer: with a spread the batch holds more context."""
    argv = [
        "perf",
        "--gpu",
        "h100",
        "--model",
        "llama-3.3-70b",
        "--isl",
        "2048",
        "--osl",
        "2048",
        "--json",
    ]
    assert main(argv) == 0
    alike = json.loads(capsys.readouterr().out)
    assert main([*argv, "--osl-spread", "1"]) == 0
    spread = json.loads(capsys.readouterr().out)
    assert spread["tok_s_per_gpu"] < alike["tok_s_per_gpu"]
    _fails(capsys, [*argv, "--osl-spread", "-1"], "--osl-spread")


def test_random_prompts_accept_fewer_mtp_drafts_so_interactive_points_yield_less(capsys):
    """Benchmark suites (InferenceX) send random tokens: the model's own continuation of
    noise is harder to draft, so at high interactivity the same GPUs serve fewer users."""
    args = ["perf", "--gpu", "b200", "--model", "deepseek-r1", "--tps-user", "120", "--json"]
    assert main(args) == 0
    natural = json.loads(capsys.readouterr().out)
    assert main([*args, "--prompts", "random"]) == 0
    random = json.loads(capsys.readouterr().out)
    assert "MTP" in natural["parallelism"]
    assert random["tok_s_per_gpu"] < 0.9 * natural["tok_s_per_gpu"]
    assert main(args[:-1] + ["--prompts", "random"]) == 0
    assert "random prompts" in capsys.readouterr().out
    # a model with no draft head does not care what the prompts are
    llama = ["perf", "--gpu", "b200", "--model", "llama-3.3-70b", "--tps-user", "60", "--json"]
    assert main(llama) == 0
    a = json.loads(capsys.readouterr().out)["tok_s_per_gpu"]
    assert main([*llama, "--prompts", "random"]) == 0
    assert json.loads(capsys.readouterr().out)["tok_s_per_gpu"] == a


def _perf_json(capsys, *extra):
    argv = ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--isl", "2000", "--json"]
    assert main([*argv, *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_prompt_spread_gives_the_ttft_of_the_p99_prompt(capsys):
    """--isl-spread CV: prompts are lognormal around --isl, and the point adds the TTFT of
    the 99th-percentile prompt, which prefills several chunks alone; the mean stays."""
    alike = _perf_json(capsys, "--tps-user", "30")
    spread = _perf_json(capsys, "--tps-user", "30", "--isl-spread", "1")
    wider = _perf_json(capsys, "--tps-user", "30", "--isl-spread", "2")
    assert alike["ttft_p99_s"] == alike["ttft_s"]  # every prompt the mean
    assert spread["ttft_s"] == pytest.approx(alike["ttft_s"])
    assert spread["tok_s_per_gpu"] == pytest.approx(alike["tok_s_per_gpu"])
    assert spread["ttft_p99_s"] > 2 * spread["ttft_s"]
    assert wider["ttft_p99_s"] > spread["ttft_p99_s"]
    assert main(["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--isl-spread", "1"]) == 0
    out = capsys.readouterr().out
    assert "time to first token, p99" in out and "-token prompt (p99)" in out
    _fails(capsys, ["perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--isl-spread", "-1"])


def test_ttft_max_bounds_the_p99_prompt_with_a_spread(capsys):
    """MLPerf's TTFT limits are p99 limits: with a prompt spread --ttft-max holds the
    99th-percentile prompt, so a bound the mean prompt meets can rule a point out."""
    bound = ["--curve", "--ttft-max", "1.0"]
    alike = _perf_json(capsys, *bound)["curve"]
    spread = _perf_json(capsys, "--isl-spread", "1.5", *bound)["curve"]
    assert alike and all(p["ttft_s"] <= 1.0 for p in alike)
    assert spread and all(p["ttft_s"] < p["ttft_p99_s"] <= 1.0 for p in spread)
    # the bound costs: the tail needs faster prefill, so fewer points are on the frontier
    # or they are dearer
    best = [max(p["tok_s_per_gpu"] for p in pts) for pts in (alike, spread)]
    assert best[1] < best[0]
