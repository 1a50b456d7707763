"""Scenario files: parsing, validation, timed and conditional events, every expectation
form passing and failing, abort, determinism, record → replay, and what-if compare."""

import json
import textwrap

import pytest

from twin.cli import main
from twin.core.commands import parse_command
from twin.core.engine import Factory
from twin.core.errors import InputError
from twin.core.journal import Journal, save_session
from twin.core.layout import load_layout
from twin.core.scenario import Runner, load_scenario

HEAD = """\
name: t
layout: blackwell-ultra
seed: 3
"""


def scenario(tmp_path, body: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(body), encoding="utf-8")
    return path


def run(tmp_path, body: str):
    return Runner(load_scenario(scenario(tmp_path, body))).run()


def test_a_timed_event_applies_its_command_at_its_time(tmp_path):
    out = run(
        tmp_path,
        """\
        duration: 3m
        warmup: 30s
        events:
          - at: 1m
            do: fail nvl-04-01
        expect:
          - rack nvl-04-01 state == ok at 50s
          - rack nvl-04-01 state == down at 70s
        """,
    )
    assert out.passed, out.verdicts
    assert out.applied[0][:2] == (60.0, "fail nvl-04-01")


def test_every_repeats_and_when_fires_once_the_condition_holds(tmp_path):
    out = run(
        tmp_path,
        """\
        duration: 4m
        events:
          - every: 1m
            from: 30s
            until: 3m
            do: surge 1.1 10s
          - when: active_faults >= 1
            do: repair nvl-02-05
          - at: 2m
            do: fail nvl-02-05
        """,
    )
    times = [t for t, c, _ in out.applied if c.startswith("surge")]
    assert times == [30.0, 90.0, 150.0]
    repair = [t for t, c, _ in out.applied if c.startswith("repair")]
    assert repair and 120.0 <= repair[0] <= 122.0  # the condition is checked every tick


def test_each_expectation_form_passes_and_fails_with_what_was_observed(tmp_path):
    out = run(
        tmp_path,
        """\
        duration: 2m
        expect:
          - output_tok_s >= 1e6 always
          - output_tok_s >= 1e12 during 30s..60s
          - facility_power_kw <= 20MW at 1m
          - facility_power_kw <= 1kW at 1m
          - slo_attainment >= 0.9 overall
          - slo_attainment >= 1.01 at end
          - {metric: ttft_p95_s, op: "<=", value: 5, always: true}
        """,
    )
    status = [v.status for v in out.verdicts]
    assert status == ["passed", "failed", "passed", "failed", "passed", "failed", "passed"]
    big = out.verdicts[1]
    assert (
        30 <= big.at_s <= 60
        and big.observed < 1e12
        and big.by == pytest.approx(1e12 - big.observed)
    )
    assert out.verdicts[3].by > 1000  # facility power is MW, not kW
    assert not out.passed


def test_abort_if_stops_the_run_early_and_says_why(tmp_path):
    out = run(
        tmp_path,
        """\
        duration: 10m
        events:
          - at: 1m
            do: fail nvl-02-03
        abort_if:
          - active_faults >= 1
        expect:
          - output_tok_s >= 0 overall
        """,
    )
    assert out.aborted and out.aborted.startswith("active_faults >= 1 at 60s")
    assert out.factory.now < 600
    assert out.verdicts[0].status == "not evaluated"
    assert any("aborted" in e.message for e in out.factory.events)


def test_the_cli_exit_code_says_whether_expectations_held(tmp_path, capsys):
    good = scenario(tmp_path, "duration: 1m\nexpect:\n  - output_tok_s > 0 overall\n", "good.yaml")
    bad = scenario(tmp_path, "duration: 1m\nexpect:\n  - output_tok_s < 0 overall\n", "bad.yaml")
    assert main(["run", str(good), "--quiet"]) == 0
    assert main(["run", str(bad), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "output_tok_s < 0 overall" in out


def test_the_report_has_expectations_name_and_seed_and_is_byte_identical(tmp_path):
    path = scenario(
        tmp_path,
        """\
        duration: 2m
        events:
          - at: 30s
            do: fail nvl-01-pdu-a1
        expect:
          - slo_attainment >= 0.5 overall
        """,
    )
    r1, r2, md = tmp_path / "1.json", tmp_path / "2.json", tmp_path / "r.md"
    assert main(["run", str(path), "--report", str(r1), "--markdown", str(md), "--quiet"]) == 0
    assert main(["run", str(path), "--report", str(r2), "--quiet"]) == 0
    assert r1.read_bytes() == r2.read_bytes()
    doc = json.loads(r1.read_text())
    assert doc["scenario"] == "t" and doc["seed"] == 3 and doc["status"] == "passed"
    assert doc["expectations"][0]["status"] == "passed" and doc["expectations"][0]["observed"] > 0.5
    text = md.read_text()
    assert "# t" in text and "## Expectations" in text and "fail nvl-01-pdu-a1" in text


def test_a_seed_on_the_command_line_overrides_the_file(tmp_path):
    path = scenario(tmp_path, "duration: 1m\n")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main(["run", str(path), "--report", str(a), "--quiet"])
    main(["run", str(path), "--seed", "4", "--report", str(b), "--quiet"])
    assert json.loads(b.read_text())["seed"] == 4 and a.read_bytes() != b.read_bytes()


def test_overrides_change_routing_rates_and_the_gpu_of_a_row(tmp_path):
    path = scenario(
        tmp_path,
        """\
        duration: 1m
        overrides:
          routing: round-robin
          rates: {chat: 2x}
          rows: {nvl-04: gb200}
        """,
    )
    sc = load_scenario(path)
    base = load_layout("blackwell-ultra")
    assert sc.layout.routing == "round-robin"
    chat = next(w for w in sc.layout.workloads if w.id == "chat")
    assert chat.rate_rps == 2 * next(w for w in base.workloads if w.id == "chat").rate_rps
    assert {r.gpu for r in sc.layout.racks if r.row == "nvl-04"} == {"gb200"}


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        (
            "duration: 1m\nevents:\n  - at: 10s\n    do: fial nvl-01-01\n",
            7,
            "unknown command 'fial'",
        ),
        (
            "duration: 1m\nevents:\n  - at: 10s\n    do: fail nvl-99-01\n",
            7,
            "no component 'nvl-99-01'",
        ),
        ("duration: 1m\nevents:\n  - at: 2m\n    do: pause\n", 7, "console command"),
        ("duration: 1m\nexpect:\n  - tps >= 3 always\n", 6, "unknown metric 'tps'"),
        ("duration: 1m\nexpect:\n  - output_tok_s >= 3 sometimes\n", 6, "'sometimes'"),
        ("duration: 1m\nexpect:\n  - output_tok_s >= 3 during 2m..3m\n", 6, "after the scenario"),
        ("duration: 1m\nabort_if:\n  - rack nvl-01-01 heat > 3\n", 6, "a rack has no 'heat'"),
        ("duration: soon\n", 4, "duration"),
        ("duration: 1m\nrouting: fast\n", 5, "unknown key 'routing'"),
    ],
)
def test_every_mistake_is_reported_with_its_file_and_line(tmp_path, body, line, needle):
    path = scenario(tmp_path, body)
    with pytest.raises(InputError) as e:
        load_scenario(path)
    assert f"{path}:{line}:" in str(e.value) and needle in str(e.value)


def test_several_mistakes_are_reported_at_once(tmp_path, capsys):
    path = scenario(
        tmp_path, "duration: 1m\nevents:\n  - at: 5s\n    do: fial x\nexpect:\n  - nope > 1\n"
    )
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count(str(path)) == 2 and "Traceback" not in err


def test_a_recorded_session_replays_exactly(tmp_path):
    """Commands journaled with their simulated times replay to the same run."""
    rec = tmp_path / "rec.yaml"
    live = Factory(load_layout("blackwell-ultra"), seed=11)
    journal = Journal(rec, "blackwell-ultra", 11)
    for t, text in [
        (12.25, "fail nvl-01-pdu-a1"),
        (40.5, "surge 2 30s"),
        (61.0, "route round-robin"),
    ]:
        live.advance_to(t)
        cmd = parse_command(text)
        live.apply(cmd)
        journal.record(live.now, cmd)
    live.advance_to(120)
    journal.close(live.now)
    replay = Runner(load_scenario(rec)).run()
    assert replay.factory.run_summary() == live.run_summary()
    assert [c for _, c, _ in replay.applied] == [
        "fail nvl-01-pdu-a1",
        "surge 2 30s",
        "route round-robin",
    ]


def test_a_recording_cut_short_by_a_crash_still_replays(tmp_path):
    rec = tmp_path / "crash.yaml"
    journal = Journal(rec, "blackwell-ultra", 2)
    journal.record(30.0, parse_command("fail nvl-02-03"))
    # no close(): the process died; what was written is on disk and valid
    sc = load_scenario(rec)
    assert sc.duration_s == 90.0 and sc.events[0].at_s == 30.0


def test_save_writes_the_session_so_far_as_a_scenario(tmp_path):
    path = save_session(
        tmp_path / "saved.yaml", "blackwell-ultra", 1, [(5.0, "drain nvl-01-02")], 20.0
    )
    sc = load_scenario(path)
    assert (
        sc.duration_s == 20.0
        and sc.seed == 1
        and sc.events[0].commands[0].text == "drain nvl-01-02"
    )


def test_compare_runs_both_with_the_same_seed_and_reports_deltas(tmp_path, capsys):
    out = tmp_path / "cmp.json"
    assert (
        main(
            [
                "compare",
                "blackwell-ultra",
                "--with",
                "cap 5MW",
                "--for",
                "2m",
                "--report",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    assert doc["a"]["seed"] == doc["b"]["seed"] and doc["b"]["with"] == ["cap 5MW"]
    a, b = doc["a"]["summary"], doc["b"]["summary"]
    assert b["facility_power_kw"] < a["facility_power_kw"]  # the cap holds power down
    assert doc["delta"]["facility_power_kw"] == pytest.approx(
        b["facility_power_kw"] - a["facility_power_kw"], rel=1e-4
    )
    assert "Δ%" in capsys.readouterr().out


def test_compare_two_files(tmp_path):
    a = scenario(tmp_path, "duration: 1m\n", "a.yaml")
    b = scenario(tmp_path, "duration: 1m\noverrides:\n  rates: {chat: 2x}\n", "b.yaml")
    out = tmp_path / "cmp.json"
    assert main(["compare", str(a), str(b), "--report", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    sa, sb = doc["a"]["summary"], doc["b"]["summary"]
    assert doc["a"]["seed"] == doc["b"]["seed"] == 3
    # b doubles the chat demand: more requests, more tokens, more power, each in the delta
    assert sb["requests"] > 1.1 * sa["requests"]
    assert sb["output_tok_s"] > 1.05 * sa["output_tok_s"]
    for k in ("output_tok_s", "facility_power_kw"):
        assert doc["delta"][k] == pytest.approx(sb[k] - sa[k], rel=1e-4)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["compare", "default"], "give a variant"),
        (["compare", "default", "--with", "fial x"], "unknown command"),
        (["compare", "default", "--with", "fail nowhere"], "nowhere"),
        (["compare", "default", "--with", "pause"], "console command"),
    ],
)
def test_compare_bad_input_is_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
