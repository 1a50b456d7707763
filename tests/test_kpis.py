"""The metric registry: one place for a metric's name, label, unit, formula and gauge.

Every metric a scenario may name has a label and a unit; a metric registered once (with
its formula) is a gauge, a run aggregate, a report series, a condition, a Markdown key
figure, a sweep KPI and a gauge in the control room — nothing else to edit.
"""

from __future__ import annotations

import pytest
from engine_helpers import small_layout

from twin.core import kpis
from twin.core.engine import Factory
from twin.core.report import Recorder, report
from twin.core.scenario import parse_condition
from twin.core.sweep import kpis_by_direction
from twin.frontends import markdown
from twin.frontends.tui.glossary import gauge_words
from twin.frontends.tui.readings import gauge_specs, read_gauges


def test_every_metric_a_condition_accepts_has_a_label_and_a_unit():
    names = kpis.condition_keys()
    assert {"ttft_p95_s", "slo_attainment", "facility_power_kw", "active_faults", "t_s"} <= set(
        names
    )
    for name in names:
        m = kpis.get(name)
        assert m.label and m.unit, name
        cond, _, err = parse_condition(f"{name} > 0", "x.yaml:1")
        assert err is None and cond.metric == name


def test_an_unknown_metric_is_refused_with_the_registrys_names():
    _, _, err = parse_condition("ttft_p95 < 1", "x.yaml:3")
    assert err.startswith("x.yaml:3: unknown metric 'ttft_p95' (did you mean 'ttft_p95_s'?)")


def test_a_run_aggregate_is_its_gauges_formula_over_the_runs_totals(tmp_path):
    """Tokens/s per MW over a run is all its tokens over all its energy — the mean of the
    per-tick output over the mean facility power, not the mean of the per-tick ratio."""
    f = Factory(small_layout(tmp_path))
    f.advance_to(30.0)
    f.reset_run_totals()
    f.advance_to(90.0)
    run = f.run_summary()
    n = round(60.0 / f.dt)
    h = {k: v[-n:] for k, v in f.snapshot().history.items()}
    out, fac = h["output_tok_s"], h["facility_power_kw"]
    assert run["tok_s_per_mw"] == pytest.approx(out.mean() / fac.mean() * 1000, rel=1e-9)
    cost = (h["usd_per_mtok"] * out).sum()
    assert run["usd_per_mtok"] == pytest.approx(cost / out.sum(), rel=1e-9)
    assert set(kpis.summary_keys()) == set(run)
    assert set(kpis.gauge_keys()) == set(f.gauges)


def test_every_gauge_on_screen_has_words_in_the_glossary():
    for spec in gauge_specs():
        assert gauge_words(spec.key).startswith(kpis.get(spec.key).gauge.short + ": ")


@pytest.fixture
def prefill_share():
    """A new metric, registered the one way a metric is added."""
    m = kpis.register(
        kpis.Metric(
            "prefill_share",
            "share of tokens that are input",
            "%",
            100.0,
            "{:.1f}",
            "",
            lambda q: q["prefill_tok_s"] / max(q["output_tok_s"] + q["prefill_tok_s"], 1e-9),
            headline=True,
            series=True,
            gauge=kpis.Gauge("input share", "in share", "input tokens over all tokens, %"),
        )
    )
    yield m
    kpis.unregister(m.name)


def test_a_registered_metric_reaches_the_report_the_conditions_the_markdown_and_the_gauges(
    tmp_path, prefill_share
):
    f = Factory(small_layout(tmp_path))
    rec = Recorder(f, 60.0)
    rec.run_until(60.0)
    doc = report(rec)
    share = doc["summary"]["prefill_share"]
    assert 0.0 < share < 1.0
    g = f.gauges
    assert g["prefill_share"] == pytest.approx(1 - g["output_tok_s"] / g["total_tok_s"])
    assert len(doc["series"]["prefill_share"]) == len(doc["series"]["t_s"])
    cond, _, err = parse_condition("prefill_share >= 5%", "s.yaml:7")
    assert err is None and cond.value == pytest.approx(0.05)
    assert cond.holds(cond.observe(f)) == (f.gauges["prefill_share"] >= 0.05)
    md = markdown.render(doc)
    assert f"| share of tokens that are input (%) | {share * 100:.1f} |" in md
    assert "prefill_share" in kpis_by_direction()
    readings = {r.key: r for r in read_gauges(f.snapshot())}
    assert readings["prefill_share"].value == f"{f.gauges['prefill_share'] * 100:.1f}"
    assert readings["prefill_share"].unit == "%"
    assert [s.key for s in gauge_specs()][-1] == "prefill_share"


def test_slo_attainment_is_a_share_even_when_the_counts_round_over():
    """The windows' running sums can leave ``met`` a rounding above the requests counted;
    the share a user reads (and a condition ``slo_attainment <= 1`` tests) stays in [0, 1]."""
    m = kpis.get("slo_attainment")

    def share(met, admitted):
        counts = {"admitted": admitted, "met": met, "shed": 0.0, "failed": 0.0}
        q = kpis.Quantities({}, {**counts, "abandoned": 0.0, "requests": admitted}, {}, 1.0, None)
        return m.formula(q)

    assert share(3.0 + 1e-12, 3.0) == 1.0
    assert share(-1e-15, 3.0) == 0.0
    assert share(1.5, 3.0) == 0.5
    assert share(0.0, 0.0) == 1.0  # nothing asked, nothing missed
