"""Scenario files: drills, what-ifs and regression runs in one format.

A scenario names a layout (with optional overrides), a seed, a duration and a warm-up;
``events`` apply commands at a time, ``every`` some interval, or ``when`` a condition
becomes true; ``expect`` asserts on metrics and states; ``abort_if`` stops a run early.
Times in a scenario count from the end of the warm-up. Metric names are the report's
keys; conditions may also name a component: ``rack r07 temp_c > 35``.

The package parses and validates (every mistake as ``FILE:LINE: message``) and runs a
scenario headless against the engine; front ends (``twin run``, the TUI) drive it.

Modules: ``model`` (the values), ``parse`` (the file format), ``play`` (running it).
"""

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
    _commands,
    _duration,
    _events,
    _expectations,
    _layout,
    _unknown_target,
    _value,
    _window,
    is_scenario_doc,
    load_scenario,
    parse_condition,
    scenario_for_layout,
    scenario_from_doc,
)
from twin.core.scenario.play import (  # noqa: F401
    Applied,
    Outcome,
    Runner,
    ScenarioPlayer,
    Verdict,
    _component,
    _engine_apply,
    fmt_value,
    margin,
    observe,
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
