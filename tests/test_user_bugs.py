"""Bugs a user would suffer, each written as what they would notice (issue 15).

Each test here was checked by planting its bug by hand: it fails on the bug and passes on
the product. They run on the small factory of ``engine_helpers`` (seconds, not minutes).
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from engine_helpers import SMALL, cls, cmd, dep, run, small_layout, write_layout

from twin.core.engine import Factory
from twin.core.scenario import Runner, load_scenario
from twin.core.scenario.play import scenario_report


def _scenario(tmp_path, body: str):
    """A scenario over the small factory (written beside it), played headless."""
    write_layout(tmp_path, SMALL, "small.yaml")
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nlayout: small.yaml\nseed: 3\n" + textwrap.dedent(body))
    return Runner(load_scenario(path)).run()


# ---------------------------------------------------------------------------------------
# SLO attainment: a shed request is a request that missed its SLO


def test_shed_requests_count_against_slo_attainment_in_the_run_summary(tmp_path):
    """slo-aware routing at 3× demand sheds most requests: the report must not say 100 %."""
    out = _scenario(
        tmp_path,
        """\
        warmup: 30s
        duration: 90s
        overrides: {routing: slo-aware}
        events:
          - {at: 0s, do: surge 3}
        expect:
          - slo_attainment >= 0.95 overall
        """,
    )
    s = out.factory.run_summary()
    assert s["requests_shed"] > 0.3 * s["requests"]
    # at most the requests that were not shed can have met their SLO
    assert s["slo_attainment"] <= 1 - s["requests_shed"] / s["requests"] + 0.01
    assert s["slo_attainment"] < 0.6
    doc = scenario_report(out)
    assert doc["summary"]["slo_attainment"] == s["slo_attainment"]
    (v,) = doc["expectations"]
    assert v["status"] == "failed" and v["observed"] == pytest.approx(s["slo_attainment"])


def test_overall_expectations_are_judged_on_the_whole_run_not_its_last_instant(tmp_path):
    """A surge that is over by the end: the last minute is fine, the run is not."""
    out = _scenario(
        tmp_path,
        """\
        warmup: 30s
        duration: 5m
        overrides: {routing: slo-aware}
        events:
          - {at: 0s, do: surge 3 90s}
        expect:
          - slo_attainment >= 0.95 overall
          - slo_attainment >= 0.95 at end
        """,
    )
    overall, at_end = out.verdicts
    run_att = out.factory.run_summary()["slo_attainment"]
    assert at_end.status == "passed" and at_end.observed > 0.95  # the last minute recovered
    assert overall.status == "failed"
    assert overall.observed == pytest.approx(run_att) and run_att < 0.8
    assert overall.by == pytest.approx(0.95 - run_att)


# ---------------------------------------------------------------------------------------
# verdicts: every operator exactly on its limit, and the worst value and when

#: (expectation, status, observed, at_s): ``t_s`` is the simulated clock, which runs from
#: 10 s (the warm-up) at scenario time 0 to 70 s at 60 s — exact values, no noise.
LIMITS = [
    ("t_s <= 70 during 0s..60s", "passed", 70.0, None),
    ("t_s < 70 during 0s..60s", "failed", 70.0, 60.0),
    ("t_s >= 10 during 0s..60s", "passed", 10.0, None),
    ("t_s > 10 during 0s..60s", "failed", 10.0, 0.0),
    ("t_s == 40 at 30s", "passed", 40.0, None),
    ("t_s != 40 at 30s", "failed", 40.0, 30.0),
    ("t_s == 50 during 0s..60s", "failed", 10.0, 0.0),  # the furthest from 50
    ("t_s != 40 during 0s..60s", "failed", 40.0, 30.0),
    ("t_s <= 40 during 0s..60s", "failed", 70.0, 60.0),  # the worst (latest) value
    ("t_s >= 40 during 0s..60s", "failed", 10.0, 0.0),  # the worst (earliest) value
    ("t_s >= 10 always", "passed", 10.0, None),
    ("t_s <= 69.5 always", "failed", 70.0, 60.0),
]


def test_every_operator_is_exact_on_its_limit_and_a_failure_reports_the_worst_value(tmp_path):
    body = "warmup: 10s\nduration: 60s\nexpect:\n" + "".join(f"  - {e}\n" for e, *_ in LIMITS)
    out = _scenario(tmp_path, body)
    got = [
        (v.text, v.status, v.observed, v.at_s if v.status == "failed" else None)
        for v in out.verdicts
    ]
    assert got == [(e, st, obs, at) for e, st, obs, at in LIMITS]
    by = {v.text: v.by for v in out.verdicts}
    assert by["t_s <= 40 during 0s..60s"] == pytest.approx(30.0)
    assert by["t_s >= 40 during 0s..60s"] == pytest.approx(30.0)
    assert by["t_s < 70 during 0s..60s"] == 0.0  # failed exactly on the limit


def test_structured_expectations_are_judged_in_their_own_window(tmp_path):
    out = _scenario(
        tmp_path,
        """\
        warmup: 10s
        duration: 60s
        expect:
          - {metric: t_s, op: ">=", value: 40, always: true}
          - {metric: t_s, op: "<=", value: 40, during: "0s..30s"}
          - {metric: t_s, op: "<", value: 40, during: "0s..30s"}
          - {metric: t_s, op: "==", value: 70, overall: true}
        """,
    )
    got = [(v.text, v.status, v.observed) for v in out.verdicts]
    assert got == [
        ("t_s >= 40 always", "failed", 10.0),  # at the start; at the end it would hold
        ("t_s <= 40 during 0s..30s", "passed", 40.0),
        ("t_s < 40 during 0s..30s", "failed", 40.0),
        ("t_s == 70 overall", "passed", 70.0),
    ]


def test_a_nan_reading_or_a_word_compared_with_a_number_never_satisfies_an_expectation():
    """No value (a deployment that served nothing) is no evidence that a limit held."""
    from twin.core.scenario.model import OPS, Condition

    for op in OPS:
        c = Condition(f"x {op} 1", "x", op, 1.0)
        assert not c.holds(float("nan")), op
        assert not Condition(f"state {op} 1", "state", op, 1.0).holds("down") or op == "!="
    assert Condition("state == ok", "state", "==", "ok").holds("ok")


def test_critical_events_counts_only_critical_events(tmp_path):
    out = _scenario(
        tmp_path,
        """\
        warmup: 10s
        duration: 20s
        events:
          - {at: 5s, do: "degrade row-a-01 50%"}
          - {at: 10s, do: fail row-a-02}
        expect:
          - critical_events == 0 at 9s
          - critical_events == 1 at 12s
        """,
    )
    assert [v.status for v in out.verdicts] == ["passed", "passed"], out.verdicts


@pytest.mark.parametrize(("once", "fired"), [("", 1), ("once: false", 2)])
def test_a_when_event_fires_once_unless_told_to_fire_each_time_it_holds_again(
    tmp_path, once, fired
):
    out = _scenario(
        tmp_path,
        f"""\
        warmup: 10s
        duration: 10s
        events:
          - {{at: 2s, do: fail row-a-01}}
          - {{at: 4s, do: repair row-a-01}}
          - {{at: 6s, do: fail row-a-01}}
          - when: rack row-a-01 state == down
            {once}
            do: surge 1.1 1s
        """,
    )
    assert [t for t, c, _ in out.applied if c.startswith("surge")] == [2.0, 6.0][:fired]


def test_scripted_and_what_if_commands_apply_at_their_time_not_before(tmp_path):
    from twin.core.commands import parse_command

    write_layout(tmp_path, SMALL, "small.yaml")
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: t
            layout: small.yaml
            warmup: 10s
            duration: 30s
            events:
              - {at: 1s, do: fail row-a-01}
            expect:
              - rack row-a-01 state == ok at 0.5s
              - rack row-a-01 state == down at 1s
              - rack row-a-03 state == ok at 9.5s
              - rack row-a-03 state == down at 10s
              - rack row-a-04 state == ok at 19.5s
              - rack row-a-04 state == down at 20s
            """
        )
    )
    extra = ((20.0, parse_command("fail row-a-04")), (10.0, parse_command("fail row-a-03")))
    out = Runner(load_scenario(path), extra=extra).run()
    assert [v.status for v in out.verdicts] == ["passed"] * 6, out.verdicts
    assert [(t, c) for t, c, _ in out.applied] == [
        (1.0, "fail row-a-01"),
        (10.0, "fail row-a-03"),
        (20.0, "fail row-a-04"),
    ]


def test_a_failed_minimum_reports_the_lowest_throughput_in_its_window_and_when(tmp_path):
    """The verdict names the trough of the dip, not the best (or first) value seen."""
    out = _scenario(
        tmp_path,
        """\
        warmup: 30s
        duration: 2m
        events:
          - {at: 40s, do: fail row-a-pdu-1 for 30s}
        expect:
          - deployment chat-70b output_tok_s >= 1e9 during 20s..100s
          - output_tok_s >= 1e9 during 20s..100s
        """,
    )
    doc = scenario_report(out)
    t = np.array(doc["series"]["t_s"]) - doc["start_s"]
    y = np.array(doc["series"]["output_tok_s"])
    inside = (t >= 20 - 1e-6) & (t <= 100 + 1e-6)
    assert np.all(np.diff(t) == pytest.approx(0.5))  # the report samples every tick here
    site = out.verdicts[1]
    assert site.status == "failed"
    assert site.observed == pytest.approx(float(y[inside].min()), rel=1e-5)
    assert site.at_s == pytest.approx(float(t[inside][np.argmin(y[inside])]))
    assert site.observed < 0.9 * float(y[inside].max())  # the dip is real
    chat = out.verdicts[0]
    assert 40 <= chat.at_s <= 75 and chat.by == pytest.approx(1e9 - chat.observed)


# ---------------------------------------------------------------------------------------
# the day wraps round midnight


def _diurnal(d):
    d["tick"] = "10s"
    for w in d["workloads"]:
        w["diurnal"] = {0: 0.3, 12: 1.0, 20: 1.0}


def test_demand_and_throughput_follow_the_diurnal_curve_across_midnight(tmp_path):
    """20:00 → next 00:00 falls from 1.0 to 0.3 (the curve wraps); it does not stay at 1.0."""
    f = Factory(small_layout(tmp_path, edit=_diurnal), start_hour=21.0)
    s21 = run(f, 600)  # 21:10
    peak = cls(s21, "chat").rate_rps / 60.0
    assert peak == pytest.approx(1.0 - 0.7 * (1 + 1 / 6) / 4, abs=0.002)
    f.advance_to(3 * 3600 - 10)  # 23:59:50
    late = run(f, 0)
    assert cls(late, "chat").rate_rps / 60.0 == pytest.approx(0.3, abs=0.01)
    s0 = run(f, 30 * 60)  # 00:30, on the next day's curve
    assert cls(s0, "chat").rate_rps / 60.0 == pytest.approx(0.3 + 0.7 * 0.5 / 12, abs=0.002)
    # what is served follows what arrives
    assert late.gauges["output_tok_s"] < 0.45 * s21.gauges["output_tok_s"]


# ---------------------------------------------------------------------------------------
# the latency gauges cover the last minute, the report the whole run


def test_the_live_ttft_p95_forgets_a_surge_a_minute_after_it_cleared(small):
    f = Factory(small)
    calm = run(f, 60).gauges["ttft_p95_s"]
    f.reset_run_totals()
    cmd(f, "surge 3 30s")
    hot = run(f, 45).gauges["ttft_p95_s"]
    assert hot > 5 * calm
    for _ in range(20):  # until the backlog has drained
        s = run(f, 15)
        if s.gauges["queue_depth"] < 20:
            break
    s = run(f, 65)
    assert s.gauges["ttft_p95_s"] < 2 * calm
    assert f.run_summary()["ttft_p95_s"] > 5 * calm  # the run still remembers


# ---------------------------------------------------------------------------------------
# what a token costs: capital + opex + energy, from first principles


def _gpu_capital_floor_usd_s(f: Factory, catalog) -> float:
    """The GPUs' price paid off in a straight line over the site's amortisation (no
    server, network, interest or opex): a floor under any honest capital cost."""
    site = f.layout.site
    price = sum(
        site.capex_usd_per_gpu.get(sku, catalog.gpu(sku).capex_usd_per_gpu) * n
        for sku, n in zip(f.snapshot().racks.gpu, f.rack_gpus, strict=True)
    )
    return price / (site.amortisation_years * 365.25 * 86400)


def test_the_live_cost_per_token_is_capital_plus_energy_and_energy_is_facility_power(
    small, catalog
):
    f = Factory(small)
    g = run(f, 60).gauges
    out = g["output_tok_s"]
    assert out > 1000
    assert g["facility_power_kw"] == pytest.approx(1.25 * g["it_power_kw"])  # the site's PUE
    # energy: facility kW × $/kWh (0.08 in the small layout) per token
    assert g["usd_per_mtok_energy"] == pytest.approx(
        g["facility_power_kw"] * 0.08 / 3600 / out * 1e6, rel=1e-6
    )
    assert g["usd_per_mtok_capital"] >= _gpu_capital_floor_usd_s(f, catalog) / out * 1e6
    assert g["usd_per_mtok"] == pytest.approx(g["usd_per_mtok_capital"] + g["usd_per_mtok_energy"])
    assert g["usd_per_mtok_energy"] > 0.02 * g["usd_per_mtok"]  # energy is not a rounding error


def test_the_run_summary_cost_adds_up_over_the_tokens_of_the_run(small, catalog):
    f = Factory(small)
    run(f, 30)
    f.reset_run_totals()
    run(f, 120)
    s = f.run_summary()
    mtok = s["output_tok_s"] * 120 / 1e6
    assert s["cost_usd"] == pytest.approx(s["usd_per_mtok"] * mtok)
    assert s["usd_per_mtok"] == pytest.approx(s["usd_per_mtok_capital"] + s["usd_per_mtok_energy"])
    energy_usd = s["energy_mwh"] * 1000 * 0.08
    assert s["usd_per_mtok_energy"] == pytest.approx(energy_usd / mtok, rel=1e-6)
    assert s["energy_mwh"] == pytest.approx(s["facility_power_kw"] * 120 / 3600 / 1000)
    assert s["usd_per_mtok_capital"] * mtok >= _gpu_capital_floor_usd_s(f, catalog) * 120


def _annuity(rate: float, years: float) -> float:
    return rate / (1 - (1 + rate) ** -years)


@pytest.mark.parametrize("gpu", ["h100", "gb300"])
def test_perf_prices_a_token_with_capital_facility_opex_and_energy(capsys, catalog, gpu):
    """$/GPU-hr from the catalog's parts, written out here; $/Mtok from it and tok/s."""
    from twin.cli import main

    assert main(["perf", "--gpu", gpu, "--model", "llama-3.3-70b", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    k, g = catalog.constants, catalog.gpu(gpu)
    price = k["economics_gpu_price_usd"].get(gpu, g.capex_usd_per_gpu)
    system = price * k["economics_system_capex_multiplier"]
    rate, hours = k["economics_cost_of_capital"], 8766.0
    capital = (
        system
        * (1 + k["economics_network_capex_fraction"])
        * _annuity(rate, k["economics_amortisation_years"])
    )
    facility = g.allin_kw_per_gpu / 1000 * k["economics_facility_usd_per_mw"]
    facility *= _annuity(rate, k["economics_facility_years"])
    opex = system * k["economics_opex_fraction_per_year"]
    energy = g.allin_kw_per_gpu * k["economics_pue"] * k["economics_usd_per_kwh"]
    usd_hr = (capital + facility + opex) / hours + energy
    assert p["usd_per_gpu_hr"] == pytest.approx(usd_hr, rel=1e-5)
    assert p["usd_per_mtok"] == pytest.approx(usd_hr * 1e6 / (3600 * p["tok_s_per_gpu"]), rel=1e-4)


# ---------------------------------------------------------------------------------------
# gpt-oss ships its experts in 4-bit MXFP4, whatever precision the rest is served at


def test_gpt_oss_fits_one_80_gb_h100_at_fp8_because_its_experts_stay_4_bit(capsys, catalog):
    """The model card: gpt-oss-120b runs on a single 80 GB GPU (MXFP4 experts, 4.25 bits)."""
    from twin.cli import main
    from twin.core.serving import Parallelism, Replica

    m = catalog.model("gpt-oss-120b")
    r = Replica(catalog.gpu("h100"), m, "fp8", Parallelism(1), catalog)
    expected = m.expert_params_b * 1e9 * 4.25 / 8 + (m.params_b - m.expert_params_b) * 1e9
    assert r.weight_bytes == pytest.approx(expected, rel=1e-6)
    assert r.weights_per_gpu < 70e9
    argv = ["perf", "--gpu", "h100", "--model", "gpt-oss-120b", "--parallelism", "TP1", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["gpus"] == 1


def test_the_engine_sizes_gpt_oss_replicas_on_h100_by_its_4_bit_experts(tmp_path):
    # "auto" picks the split with the best throughput at the SLO's pace (a wide one since
    # the engine steps with twin perf's physics); its memory counts the experts in MXFP4:
    # ~61 GB of weights for the replica, not the ~117 GB they would be at fp8
    def oss(d):
        d["deployments"][0].update(model="gpt-oss-120b", gpus_per_replica="auto")

    f = Factory(small_layout(tmp_path, edit=oss))
    d = dep(run(f, 10), "chat-70b")
    rep = f.profiles[f.rep_prof[f.dep_reps[0][0]]].replica
    assert rep.weight_bytes < 70e9 and d.replicas * d.gpus_per_replica == 128
    assert d.output_tok_s > 0
