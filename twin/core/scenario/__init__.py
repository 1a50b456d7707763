"""Scenario files: drills, what-ifs and regression runs in one format.

A scenario names a layout (with optional overrides), a seed, a duration and a warm-up;
``events`` apply commands at a time, ``every`` some interval, or ``when`` a condition
becomes true; ``expect`` asserts on metrics and states; ``abort_if`` stops a run early.
Times in a scenario count from the end of the warm-up. Metric names are the report's
keys; conditions may also name a component: ``rack r07 temp_c > 35``.

The package parses and validates (every mistake as ``FILE:LINE: message``) and runs a
scenario headless against the engine; front ends (``twin run``, the TUI) drive it.

Modules, each importing only those before it: ``drill`` (a drill's values and keys),
``model`` (the scenario's values; observing a condition), ``conditions`` (the condition
and command-list readers), ``drill_format`` (reading a drill's sections), ``parse`` (the
file format), ``score`` (grading a drill), ``play`` (running it).
"""

from twin.core.scenario.conditions import (  # noqa: F401
    _commands,
    _unknown_target,
    _value,
    parse_condition,
)
from twin.core.scenario.model import (  # noqa: F401
    _COND,
    _WINDOW,
    COMPONENT_FIELDS,
    OPS,
    SCENARIO_KEYS,
    Condition,
    Event,
    Expectation,
    Scenario,
)
from twin.core.scenario.parse import (  # noqa: F401
    _apply_overrides,
    _as_list,
    _duration,
    _events,
    _expectations,
    _layout,
    _window,
    is_scenario_doc,
    load_scenario,
    scenario_for_layout,
    scenario_from_doc,
)
from twin.core.scenario.play import (  # noqa: F401
    Applied,
    Outcome,
    Runner,
    ScenarioPlayer,
    Verdict,
    _engine_apply,
    fmt_value,
    margin,
    scenario_report,
    worse,
)

__all__ = [
    "Applied",
    "COMPONENT_FIELDS",
    "Condition",
    "Event",
    "Expectation",
    "OPS",
    "Outcome",
    "Runner",
    "SCENARIO_KEYS",
    "Scenario",
    "ScenarioPlayer",
    "Verdict",
    "fmt_value",
    "is_scenario_doc",
    "load_scenario",
    "margin",
    "observe",
    "parse_condition",
    "scenario_for_layout",
    "scenario_from_doc",
    "scenario_report",
    "worse",
]
