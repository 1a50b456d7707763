"""Drills and scenarios where a planted bug (a surviving mutant, issue 15) went unnoticed.

Each test is what an author or a player reads — every mistake with its line, a task's
name, an objective's window in the debrief — checked by planting the mutant by hand.
They only read drills (no factory runs), so they take milliseconds.
"""

from __future__ import annotations

import pytest
from test_drills import POD

from twin.core.errors import InputError
from twin.core.scenario import scenario_from_doc
from twin.core.scenario.parse import parse_condition
from twin.core.yamlsrc import load_text

HEAD = f"""
name: d
layout: {POD}
duration: 10m
"""

TASK = """
  - {id}task: {task}
    cue: at 1m
    do: "fail *"
    within: {within}
    weight: 10
"""


def _drill(body: str):
    text = HEAD + body
    return text, scenario_from_doc(load_text(text, "d.yaml"), "d.yaml")


def _problems(body: str) -> list[tuple[int, str]]:
    text = HEAD + body
    with pytest.raises(InputError) as e:
        scenario_from_doc(load_text(text, "d.yaml"), "d.yaml")
    return [(p.line, p.message) for p in e.value.problems]


def _line(text: str, anchor: str, nth: int = 0) -> int:
    at = -1
    for _ in range(nth + 1):
        at = text.index(anchor, at + 1)
    return (HEAD + text)[: len(HEAD) + at].count("\n") + 1


def test_tasks_without_an_id_are_named_task_1_task_2_in_their_order():
    _, sc = _drill(
        "critical_tasks:"
        + TASK.format(id="", task="first", within="1m")
        + TASK.format(id="", task="second", within="1m")
    )
    assert [(t.id, t.task) for t in sc.drill.tasks] == [("task-1", "first"), ("task-2", "second")]


def test_every_broken_task_and_objective_is_reported_not_only_the_first():
    """An author fixes a drill in one pass: a task (or objective) that cannot be read does
    not hide the mistakes of the ones after it."""
    body = (
        "critical_tasks:"
        + TASK.format(id="", task="first", within="soon")
        + TASK.format(id="", task="second", within="1m").replace('do: "fail *"', "check: nope > 1")
        + TASK.format(id="", task="third", within="later")
        + "objectives:\n"
        + "  - weight: 10\n"
        + "  - hold: slo_attainment >= 0.9\n    window: sometimes\n    weight: 10\n"
        + "  - hold: slo_attainment >= 2 apples\n    weight: 10\n"
        + "  - hold: nonsense_metric > 1\n    weight: 10\n"
    )
    lines = [ln for ln, _ in _problems(body)]
    for anchor in (
        "within: soon",
        "check: nope",
        "within: later",
        "weight: 10\n  - hold",
        "window: sometimes",
        "hold: slo_attainment >= 2",
        "hold: nonsense_metric",
    ):
        assert _line(body, anchor) in lines, anchor


@pytest.mark.parametrize(
    ("window", "start_s", "shown"),
    [
        ("after isolate + 30s", 30.0, "after isolate + 30s"),
        ("after isolate", 0.0, "after isolate"),
        ("during 2m..5m", 120.0, "during 2m..5m"),
    ],
)
def test_an_objectives_window_opens_when_it_says_and_reads_back_the_same(window, start_s, shown):
    _, sc = _drill(
        "critical_tasks:"
        + TASK.format(id="id: isolate\n    ", task="isolate", within="1m")
        + f"objectives:\n  - hold: slo_attainment >= 0.9\n    window: {window}\n    weight: 10\n"
    )
    (o,) = sc.drill.objectives
    assert o.start_s == start_s
    assert o.window_text.replace("m00s", "m") == shown


def test_a_drill_whose_items_all_weigh_nothing_is_refused():
    """(So ``Drill.points`` never divides by a zero total: its guard is never reached.)"""
    body = "critical_tasks:" + TASK.format(id="", task="first", within="1m")
    problems = _problems(body.replace("weight: 10", "weight: 0"))
    assert problems == [(2, "drill: the objectives' and tasks' weights add up to 0")]


# ---- scenario files: what the author wrote is what is judged and reported -------------------
def test_a_percentage_in_a_condition_is_a_fraction():
    cond, rest, err = parse_condition("slo_attainment >= 95%", "expect[1]")
    assert (err, rest) == (None, "") and cond.value == pytest.approx(0.95)
    assert cond.holds(0.96) and not cond.holds(0.94)


def test_a_scenarios_description_reaches_its_report():
    _, sc = _drill("description: the night shift loses a PDU\n")
    assert sc.description == "the night shift loses a PDU"


def test_a_mistake_in_the_first_event_is_reported_as_events_1():
    body = "events:\n  - at: 1m\n"  # no 'do'
    assert _problems(body) == [
        (_line(body, "- at"), "events[1]: missing 'do' (a command, or a list of them)")
    ]
