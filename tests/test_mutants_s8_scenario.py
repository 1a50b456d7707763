"""The scenario contracts a fresh mutation sample probes (session 8, issue 15): conditions and
verdicts at their bounds, a drill's score and windows at their edges, which commands count,
every mistake at its line. Each test says what an author or a trainee reads (a verdict, a
task's outcome, a score, a refusal with its line) and was checked against mutants planted
by hand (``benchmarks/MUTATION.md``). No factory but one 90-second pod run: milliseconds."""

from __future__ import annotations

import importlib
import json

import pytest
from test_drills import POD
from test_mutants_scenario import _drill, _line, _problems

from twin.cli import main
from twin.core.scenario import Runner, scenario_from_doc, scenario_report, worse
from twin.core.scenario.drill import pattern_matches
from twin.core.scenario.parse import parse_condition
from twin.core.scenario.play import Applied
from twin.core.scenario.score import DrillScore
from twin.core.yamlsrc import load_text

#: the serving curves module (``twin.core.serving.curves`` is also the name of its function)
SC = importlib.import_module("twin.core.serving.curves")


def _perf(capsys, *args: str) -> dict:
    assert main(["perf", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# -- scenario: conditions, verdicts and a drill's score at their limits ------------------------


def _cond(text: str):
    cond, rest, err = parse_condition(text, "expect[1]")
    assert err is None and rest == "", err
    return cond


@pytest.mark.parametrize(
    ("op", "below", "at", "above"),
    [
        ("<=", True, True, False),
        ("<", True, False, False),
        (">=", False, True, True),
        (">", False, False, True),
        ("==", False, True, False),
        ("!=", True, False, True),
    ],
)
def test_each_operator_holds_on_its_side_of_the_bound_and_at_it_as_written(op, below, at, above):
    """``ttft_p95_s <= 500ms`` passes at exactly 0.5 s, ``<`` does not; a value in the
    metric's unit (ms, %, kW) is read in the registry's unit (s, a fraction, kW); a
    reading with no number (NaN) never passes, whatever the operator."""
    for text, bound, step in (
        (f"ttft_p95_s {op} 500ms", 0.5, 0.01),
        (f"slo_attainment {op} 95%", 0.95, 0.001),
        (f"facility_power_kw {op} 2MW", 2000.0, 1.0),
    ):
        cond = _cond(text)
        assert cond.value == pytest.approx(bound)
        assert (cond.holds(bound - step), cond.holds(bound), cond.holds(bound + step)) == (
            below,
            at,
            above,
        ), text
        assert not cond.holds(float("nan"))


@pytest.mark.parametrize(
    ("text", "a", "b", "a_worse"),
    [
        ("ttft_p95_s <= 500ms", 0.9, 0.7, True),  # further above an upper bound
        ("ttft_p95_s < 500ms", 0.7, 0.9, False),
        ("slo_attainment >= 95%", 0.80, 0.90, True),  # further below a lower bound
        ("slo_attainment > 95%", 0.90, 0.80, False),
        ("active_faults == 2", 5.0, 3.0, True),  # further from the value
        ("active_faults == 2", 1.0, 4.0, False),
        ("active_faults == 2", 3.0, 2.0, True),  # any miss is worse than a hit
        ("active_faults != 2", 2.0, 3.0, True),
        ("active_faults != 2", 2.0, 2.0, False),  # a miss of != keeps the first
    ],
)
def test_a_failed_verdict_reports_the_observation_furthest_from_its_bound(text, a, b, a_worse):
    """An ``always`` expectation that fails reports its worst reading: the one furthest
    past the bound on the operator's side (``worse``), and two readings equal to float
    noise are the same reading."""
    cond = _cond(text)
    assert worse(cond, a, b) is a_worse
    if cond.op in ("<=", "<", ">=", ">"):
        assert not worse(cond, a, a * (1 + 1e-15))


_TIMED = """
critical_tasks:
  - id: act
    task: act
    cue: at 1m
    do: "fail *"
    within: 1m
    late: 1m
    weight: 30
objectives:
  - hold: slo_attainment >= 0.9
    window: during 2m..6m
    weight: 10
"""


@pytest.mark.parametrize(
    ("done", "now", "status", "lost"),
    [
        (None, 60.0 + 30, "open", 0.0),
        (None, 60.0 + 61, "overdue", 0.5),  # past the deadline: the late half is gone
        (60.0 + 60, 200.0, "on time", 0.0),  # at the deadline exactly
        (30.0, 200.0, "on time", 0.0),  # before its cue: anticipated
        (60.0 + 61, 200.0, "late", 0.5),
        (60.0 + 120, 200.0, "late", 0.5),  # at the end of the late window exactly
        (None, 60.0 + 121, "missed", 1.0),
        (60.0 + 121, 200.0, "missed", 1.0),
    ],
)
def test_a_task_is_on_time_late_or_missed_at_the_edges_of_its_windows(done, now, status, lost):
    """A task cued at 1 m with ``within: 1m`` and ``late: 1m``: done by 2 m exactly is on
    time, by 3 m exactly late (half its points), after that missed; while it runs, a task
    past its deadline shows the late half lost. Its 30 of 40 weight are 75 points."""
    _, sc = _drill(_TIMED)
    s = DrillScore(sc.drill, sc.duration_s, 1.0)
    s.cued[0], s.done[0] = 60.0, done
    assert s.task_status(0, now) == status
    assert s.task_lost(0, now) == pytest.approx(75.0 * lost)
    assert s.live(now)["score"] == pytest.approx(100.0 - 75.0 * lost)


@pytest.mark.parametrize(
    ("outside", "lost"), [(0.0, 0.0), (60.0, 25.0 / 4), (240.0, 25.0), (500.0, 25.0)]
)
def test_an_objective_loses_its_points_in_proportion_to_its_time_outside_up_to_all(outside, lost):
    """An objective worth 25 points over a 4-minute window loses 25 × seconds outside ÷
    240, never more than its 25 (a resumed clock can count a tick twice)."""
    _, sc = _drill(_TIMED)
    s = DrillScore(sc.drill, sc.duration_s, 1.0)
    s.outside[0] = outside
    assert s.window(0) == (120.0, 360.0)
    assert s.objective_lost(0) == pytest.approx(lost)
    assert s.breakdown(400.0)["objectives"] == pytest.approx(lost)


def test_hints_cost_their_price_each_and_the_score_never_goes_below_zero():
    _, sc = _drill(_TIMED + "hints: [a, b, c]\nhint_cost: 40\n")
    s = DrillScore(sc.drill, sc.duration_s, 1.0)
    assert s.take_hint(10.0) == "a" and s.score(10.0) == 60.0
    assert s.take_hint(11.0) == "b" and s.score(11.0) == 20.0
    assert s.take_hint(12.0) == "c" and s.score(12.0) == 0.0  # 100 − 120, floored
    assert s.take_hint(13.0) is None and s.live(13.0)["hints_left"] == 0


@pytest.mark.parametrize(
    ("event", "anchor", "message"),
    [
        (
            "- at: 1m\n    every: 1m\n    do: drain pod-01\n",
            "- at: 1m",
            "exactly one of 'at', 'every' or 'when'",
        ),
        ("- at: 1m\n    by: bo\n", "- at: 1m", "missing 'do'"),
        (
            "- do: drain pod-01\n    when: ttft_p95_s > 1s soon\n",
            "when:",
            "unexpected 'soon' after the condition",
        ),
        ("- do: drain pod-01\n    when: ttft_p95 > 1s\n", "when:", "unknown metric 'ttft_p95'"),
        ("- at: 1m\n    do: drain pod-01\n    once: maybe\n", "once:", "once"),
        ("- at: 1m\n    do: drain pod-01\n    colour: red\n", "colour:", "colour"),
        (
            "- at: 1m\n    do:\n      - drain pod-01\n      - fly away\n",
            "- fly away",
            "unknown command 'fly'",
        ),
        ("- every: 1m\n    do: repair pod-01\n    by: bo\n", "- every: 1m", "is given 'at' a time"),
    ],
)
def test_a_mistake_in_an_event_names_its_own_line(event, anchor, message):
    """Every mistake in an event is reported at the line that holds it (``FILE:LINE``), the
    one a scenario author has to fix."""
    body = "events:\n  " + event
    probs = _problems(body)
    assert any(message in m for _, m in probs), probs
    assert _line(body, anchor) in [ln for ln, m in probs if message in m], probs


# -- scenario: which of a trainee's commands count -----------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "command", "hit"),
    [
        ("drain pod-01", "drain pod-01", True),
        ("drain pod-01", "DRAIN Pod-01", True),  # compared case-blind
        ("drain pod-01", "drain pod-01 now", False),  # a longer command is another one
        ("drain pod-01 now", "drain pod-01", False),
        ("cap * 900kW", "cap row-h 900kW", True),  # * inside: exactly one word
        ("cap * 900kW", "cap row-h 800kW", False),
        ("cap * 900kW", "cap 900kW", False),
        ("fail pod-02-n3 *", "fail pod-02-n3", True),  # a trailing * is any rest, or none
        ("fail pod-02-n3 *", "fail pod-02-n3 for 5m", True),
        ("fail pod-02-n3 *", "fail pod-02-n4 for 5m", False),
        ("*", "route kv-aware", True),
    ],
)
def test_a_drills_command_pattern_matches_word_by_word(pattern, command, hit):
    assert pattern_matches(pattern, command) is hit


def _applied(t, text, source="operator", ok=True):
    return Applied(t, text, "ok" if ok else "error: no", ok, source)


def test_only_the_trainees_own_successful_commands_do_tasks_or_cost_penalties():
    """A task is done by the first command of the trainee's that matches it and succeeded;
    the script's events and an instructor's injects neither do a task nor cost a penalty,
    and neither does a refused command."""
    _, sc = _drill(_TIMED + 'penalties:\n  - do: "repair *"\n    points: 4\n    why: too soon\n')
    s = DrillScore(sc.drill, sc.duration_s, 1.0)
    s._actions(
        [
            _applied(10.0, "fail pod-01", source="script"),
            _applied(20.0, "repair pod-01", source="inject"),
            _applied(30.0, "fail pod-02", ok=False),
            _applied(40.0, "repair pod-02", ok=False),
            _applied(50.0, "fail pod-03"),
            _applied(70.0, "fail pod-04"),
            _applied(80.0, "repair pod-03"),
        ]
    )
    assert s.done == [50.0]
    assert s.penalties == [[80.0, "repair pod-03", 4.0, "too soon"]]
    s._actions([*[None] * 7, _applied(90.0, "repair pod-04")])  # only what is new is read
    assert [p[0] for p in s.penalties] == [80.0, 90.0]


_VERDICTS = f"""
name: v
layout: {POD}
seed: 21
duration: 90s
events:
  - at: 30s
    do: fail pod-01
expect:
  - deployment llama-70b replicas_up == 16 during 10s..80s
  - deployment llama-70b replicas_up >= 16 at 60s
  - deployment llama-70b replicas_up <= 12
  - rack pod-01 state == ok always
  - deployment llama-70b replicas_up >= 16 during 5s..25s
  - feed feed-a capacity_kw == 400kW
  - feed feed-b load_kw >= 1kW
  - loop crah-1 capacity_kw == 250kW
  - loop crah-1 load_kw >= 1kW at 60s
"""


def test_each_verdict_reports_what_was_observed_when_and_by_how_much():
    """A rack of four replicas fails at 30 s: a ``during`` or ``always`` expectation fails
    at the first check after it, reporting the worst reading (12 of 16, by 4); ``at 60s``
    reads at 60 s; a bare one reads the end; a string state has no "by"; a window that
    closed before the failure passes with what it saw; a feed's and a loop's figures are their own."""
    sc = scenario_from_doc(load_text(_VERDICTS, "v.yaml"), "v.yaml")
    rep = scenario_report(Runner(sc).run())["expectations"]
    v = [(e["status"], e["observed"], e["by"]) for e in rep]
    when = [e["at_s"] for e in rep]
    assert v[0] == ("failed", 12, 4) and 30 < when[0] <= 32
    assert v[1] == ("failed", 12, 4) and when[1] == 60
    assert v[2][:2] == ("passed", 12)
    assert v[3][0] == "failed" and v[3][1] != "ok" and v[3][2] is None and 30 <= when[3] <= 31
    assert v[4][:2] == ("passed", 16)
    # a feed and a cooling loop are read as themselves (not one for the other)
    assert v[5] == ("passed", 400.0, None) and v[7] == ("passed", 250.0, None)
    assert v[6][0] == v[8][0] == "passed" and v[6][1] > 1 and v[8][1] > 1


@pytest.mark.parametrize(
    ("do", "message"),
    [
        ("swap pod-01 zz9000", "unknown GPU 'zz9000'; known: b200"),
        ("scale nosuch 3", "unknown deployment 'nosuch'; deployments: llama-70b"),
        ("surge 2 30s nosuch", "unknown workload class 'nosuch'; classes: chat"),
        ("fail pod-9-n3", "no component 'pod-9-n3' in layout inference-pod"),
        ("fail pdo-01", "no component 'pdo-01' in layout inference-pod (did you mean 'pod-01'?)"),
        ("fail pod-02-n9-g1-x", "no component 'pod-02-n9-g1-x'"),
        ("pause", "'pause' is a console command; scenarios take factory commands"),
    ],
)
def test_a_scripted_command_on_nothing_the_layout_has_is_refused_with_what_it_has(do, message):
    """A scenario's command is checked against its layout when the file is read: an
    unknown GPU, deployment, class or component is named with what there is (and the
    nearest name); a console command is no factory command."""
    probs = _problems(f"events:\n  - at: 1m\n    do: {do}\n")
    assert [(ln, message in m) for ln, m in probs] == [(7, True)], probs


@pytest.mark.parametrize("target", ["pod-02", "pod-02-n3", "pod-02-n3-g1", "llama-70b"])
def test_a_scripted_command_on_a_rack_a_node_or_a_gpu_of_it_is_accepted(target):
    verb = "scale" if target == "llama-70b" else "fail"
    text, sc = _drill(
        f"events:\n  - at: 1m\n    do: {verb} {target}{' 8' if verb == 'scale' else ''}\n"
    )
    assert [c.text for e in sc.events for c in e.commands] == [
        f"{verb} {target}{' 8' if verb == 'scale' else ''}"
    ]


_TASK1 = """critical_tasks:
  - id: act
    task: act
    cue: at 1m
    do: "fail *"
    within: 1m
    weight: 10
"""


@pytest.mark.parametrize(
    ("extra", "anchor", "message"),
    [
        (
            "reference:\n  - at: 11m\n    do: fail pod-01\n",
            "- at: 11m",
            "not inside the scenario (0s to 10m",
        ),
        ("reference:\n  - at: 1m\n    why: x\n", "- at: 1m\n    why", "missing required key 'do'"),
        ("penalties:\n  - do: fly *\n    points: 3\n", "do: fly", "is not a command pattern"),
        ("penalties:\n  - do: repair *\n    points: -3\n", "points: -3", "points"),
        ("hints: [one, 3]\n", "hints:", "hints[2]: expected text, got 3"),
        ("hint_cost: -1\n", "hint_cost:", "hint_cost"),
        ("worse_penalty: -5\n", "worse_penalty:", "worse_penalty"),
        ("drill_duration: -1s\n", "drill_duration:", "cannot be negative"),
        (
            "objectives:\n  - hold: slo_attainment >= 0.9\n    window: from 11m\n    weight: 1\n",
            "window: from 11m",
            "opens after the scenario ends",
        ),
        (
            "objectives:\n  - hold: slo_attainment >= 0.9\n    window: after nobody\n    weight: 1\n",
            "window: after",
            "no critical task 'nobody' (tasks: act)",
        ),
        (
            "objectives:\n  - hold: slo_attainment >= 0.9\n    weight: 1001\n",
            "weight: 1001",
            "at most 1000",
        ),
    ],
)
def test_a_mistake_in_a_drill_section_names_its_line(extra, anchor, message):
    """Each drill section's mistakes come back at the line that holds them (reference steps
    outside the scenario or without a command, penalty patterns that are no command,
    negative points and costs, hints that are not text, windows that open too late or
    after no task, weights over 1000)."""
    body = _TASK1 + extra
    probs = _problems(body)
    assert any(message in m for _, m in probs), probs
    assert _line(body, anchor) in [ln for ln, m in probs if message in m], probs


def test_a_drill_reads_back_what_it_was_given():
    """Penalties, hints and costs, the reference's steps (one per command) and a drill
    clock of its own reach the drill as written."""
    _, sc = _drill(
        _TASK1
        + 'penalties:\n  - do: "repair  *"\n    points: 3\n    why: too early\n'
        + "reference:\n  - at: 2m\n    do: [fail pod-01, fail pod-02]\n    why: both\n"
        + "  - at: 8m\n    do: repair pod-01\n"  # the drill's last instant
        + "objectives:\n  - hold: slo_attainment >= 0.9\n    weight: 1000\n"
        + "hints: [' look up ']\nhint_cost: 2.5\nworse_penalty: 0\ndrill_duration: 8m\n"
    )
    d = sc.drill
    assert [(p.do, p.points, p.why) for p in d.penalties] == [("repair *", 3.0, "too early")]
    assert [(s.at_s, s.command.text, s.why) for s in d.reference] == [
        (120.0, "fail pod-01", "both"),
        (120.0, "fail pod-02", "both"),
        (480.0, "repair pod-01", ""),
    ]
    assert d.objectives[0].weight == 1000.0
    assert d.hints == ("look up",) and d.hint_cost == 2.5 and d.worse_penalty == 0.0
    assert d.duration_s == 480.0
