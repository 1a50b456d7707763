"""A metric's unit is the registry's (`twin.core.kpis`), never guessed from its name: a
condition's value is read in it and a verdict shows it, whatever the metric is called."""

from __future__ import annotations

import pytest

from twin.core import kpis
from twin.core.scenario import parse_condition
from twin.core.units import format_metric
from twin.frontends.debrief import _num as debrief_number


@pytest.fixture
def plain_names():
    """Two metrics whose names say nothing of their unit: a power and a latency."""
    added = (
        kpis.Metric("hall_draw", "hall draw", "MW", 1e-3, "{:,.2f}", formula=lambda q: 0.0),
        kpis.Metric("first_wait", "first wait", "ms", 1e3, "{:.1f}", formula=lambda q: 0.0),
        kpis.Metric("met_share", "met share", "%", 100.0, "{:.1f}", formula=lambda q: 0.0),
    )
    for m in added:
        kpis.register(m)
    yield
    for m in added:
        kpis.unregister(m.name)


def _value(text: str):
    cond, rest, err = parse_condition(text, "drill.yaml:4")
    assert err is None and rest == "", err
    return cond.value


def test_a_metric_named_without_a_unit_suffix_reads_and_shows_in_its_registry_unit(plain_names):
    assert _value("hall_draw <= 30MW") == 30000.0  # kW, as the engine stores power
    assert _value("hall_draw <= 750kW") == 750.0
    assert _value("first_wait < 500ms") == pytest.approx(0.5)  # seconds
    assert _value("met_share >= 99%") == pytest.approx(0.99)
    assert format_metric("hall_draw", 31200.0) == "31.2 MW"
    assert format_metric("first_wait", 0.0168) == "16.8 ms"
    assert format_metric("met_share", 0.991) == "99.1 %"
    assert debrief_number(31200.0, "hall_draw") == "31.2 MW"  # a debrief curve's range


def test_a_unit_the_metric_does_not_have_is_refused_in_a_line():
    _, _, err = parse_condition("queue_depth > 30MW", "drill.yaml:4")
    assert err == "drill.yaml:4: '30MW' is not a number for queue_depth"
    _, _, err = parse_condition("facility_power_kw > 5m", "drill.yaml:5")
    assert err is not None and err.startswith("drill.yaml:5: ")


def test_the_built_in_metrics_and_component_fields_show_as_before():
    assert format_metric("ttft_p95_s", 1.5) == "1.5 s"
    assert format_metric("tpot_p95_s", 0.021) == "21 ms"
    assert format_metric("facility_power_kw", 850.0) == "850 kW"
    assert format_metric("slo_attainment", 0.95) == "95 %"
    assert format_metric("output_tok_s", 123456.7) == "123,457 tok/s"
    assert format_metric("shed_rps", 2.5) == "2.5 req/s"
    assert format_metric("usd_per_mtok", 0.42) == "$0.42/Mtok"
    assert format_metric("t_s", 75.0) == "1m15s"
    assert format_metric("temp_c", 41.26) == "41.3 °C"  # a rack's field
    assert format_metric("load_kw", 2500.0) == "2.5 MW"  # a PDU's
    assert format_metric("queue_depth", 12.0) == "12"
    assert _value("rack row-a-01 temp_c > 35") == 35.0
    assert _value("pdu row-a-pdu-1 load_kw > 1.2MW") == 1200.0
    assert _value("t_s > 2m") == 120.0


def test_a_failed_expectation_says_by_how_much_in_its_metrics_unit(tmp_path, capsys):
    """'by' was a bare number (0.2553 for a TTFT 255 ms over); now '255 ms', as observed."""
    from engine_helpers import SMALL, write_layout

    from twin.cli import main

    write_layout(tmp_path, SMALL, "small.yaml")
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nlayout: small.yaml\nseed: 3\nwarmup: 30s\nduration: 1m\n"
        "expect:\n  - ttft_p95_s < 10ms at 30s\n  - facility_power_kw < 1kW at 30s\n"
    )
    md = tmp_path / "r.md"
    assert main(["run", str(path), "--markdown", str(md), "--quiet"]) == 1
    printed = capsys.readouterr().out
    for text in (printed, md.read_text()):
        ttft = next(x for x in text.splitlines() if "ttft_p95_s < 10ms" in x)
        power = next(x for x in text.splitlines() if "facility_power_kw < 1kW" in x)
        assert ttft.count(" ms") == 2, ttft  # observed and by, both in ms
        assert power.count(" kW") == 2, power
