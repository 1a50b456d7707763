"""`twin run`: a headless run, its summary, and its JSON report."""

import json

import pytest

from twin.cli import main
from twin.core.report import SUMMARY_KEYS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "r.json"
    assert main(["run", "blackwell-ultra", "--for", "5m", "--report", str(path), "--quiet"]) == 0
    return path, json.loads(path.read_text())


def test_the_report_has_summary_series_components_and_events(report):
    _, doc = report
    assert set(SUMMARY_KEYS) <= set(doc["summary"])
    assert doc["summary"]["output_tok_s"] > 0 and 0 <= doc["summary"]["slo_attainment"] <= 1
    series = doc["series"]
    assert set(SUMMARY_KEYS) | {"t_s"} <= set(series)
    assert len(series["t_s"]) == len(series["output_tok_s"]) > 100
    assert series["t_s"] == sorted(series["t_s"]) and series["t_s"][-1] == pytest.approx(300)
    comps = doc["components"]
    for kind in ("racks", "pdus", "feeds", "cooling_loops", "switches", "links", "deployments"):
        assert comps[kind], kind
    rack = comps["racks"][0]
    assert {"id", "gpu", "pdus", "cooling", "leaf"} <= set(rack)
    assert all(r["id"] in {x for p in comps["pdus"] for x in p["racks"]} for r in comps["racks"])
    assert doc["events"] and doc["events"][0]["message"].startswith("factory started")


def test_the_summary_is_consistent_with_its_own_figures(report):
    _, doc = report
    s = doc["summary"]
    assert s["facility_power_kw"] == pytest.approx(
        s["it_power_kw"] * 1.12, rel=1e-3
    )  # blackwell-ultra PUE
    assert s["tok_s_per_mw"] == pytest.approx(
        s["output_tok_s"] / (s["facility_power_kw"] / 1000), rel=1e-3
    )
    assert s["tok_per_joule"] == pytest.approx(
        s["output_tok_s"] / (s["facility_power_kw"] * 1000), rel=1e-3
    )


def test_same_layout_and_seed_give_a_byte_identical_report(report, tmp_path):
    path, _ = report
    again = tmp_path / "again.json"
    assert main(["run", "blackwell-ultra", "--for", "5m", "--report", str(again), "--quiet"]) == 0
    assert again.read_bytes() == path.read_bytes()


def test_another_seed_gives_another_run(report, tmp_path):
    path, _ = report
    other = tmp_path / "other.json"
    assert (
        main(
            [
                "run",
                "blackwell-ultra",
                "--for",
                "5m",
                "--seed",
                "99",
                "--report",
                str(other),
                "--quiet",
            ]
        )
        == 0
    )
    assert other.read_bytes() != path.read_bytes()
    assert json.loads(other.read_text())["seed"] == 99


def test_the_summary_table_is_printed(capsys):
    assert main(["run", "blackwell-ultra", "--for", "1m", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "output throughput" in out and "SLO attainment" in out and "facility power" in out


def test_random_faults_show_up_in_a_long_run(tmp_path):
    path = tmp_path / "f.json"
    # a coarse tick keeps a simulated week fast; fault arrivals do not depend on it
    assert (
        main(
            [
                "run",
                "blackwell-ultra",
                "--for",
                "7d",
                "--tick",
                "60s",
                "--faults",
                "--report",
                str(path),
                "--quiet",
            ]
        )
        == 0
    )
    doc = json.loads(path.read_text())
    failed = [e for e in doc["events"] if "failed (random)" in e["message"]]
    # 5,184 GPUs at ~0.1 GPU failures per GPU-year and ~0.14 per node-year: about 10 + 3 a week
    assert 4 <= len(failed) <= 40, len(failed)
    assert any("repaired" in e["message"] for e in doc["events"])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "nowhere"], "unknown layout 'nowhere'"),
        (["run", "default", "--for", "5x"], "--for"),
        (["run", "default", "--for", "0s"], "longer than 0s"),
        (["run", "default", "--report", "/no/such/dir/r.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("command", ["run", "perf", "check", "resume", "compare", "sweep", "serve"])
def test_a_subcommands_help_names_the_subcommand(capsys, command):
    """`twin run --help` starts `usage: twin run …`, not the top-level usage glued to it."""
    assert main([command, "--help"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"usage: twin {command} ")


def test_the_markdown_report_counts_every_lost_request(report):
    """Requests abandoned by clients that waited too long are lost work too: the
    Markdown says how many, beside shed and failed."""
    from twin.frontends.markdown import render

    _, doc = report
    doc = json.loads(json.dumps(doc))
    doc["summary"]["requests_abandoned"] = 1234.0
    row = next(line for line in render(doc).splitlines() if line.startswith("| requests"))
    assert "abandoned" in row and "/ 1,234)" in row
