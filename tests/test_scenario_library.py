"""The scenario library: every file validates, and every scenario's lesson holds.

The short scenarios (half an hour of simulated time or so) run here exactly as shipped,
and every expectation in them must hold. The two long ones run shortened:

- ``hopper-to-blackwell-ultra`` (27 h: an 8 h swap, compared at the same hour next
  day) runs with the same commands and expectations on a compressed timeline: the
  swap's downtime cut to 15 minutes and the phases 20-30 minutes each;
- ``week-of-random-failures`` (7 days) runs as four hours in which faults arrive 42×
  as often and are repaired 42× as fast — the same number of faults and the same
  share of time each component is down as in the week — with its overall and
  "never pile up" expectations, and the faults and repairs counted.

``benchmarks/bench_scenarios.py`` runs all of them at full length.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import MappingProxyType

import pytest

from twin.cli import main
from twin.core.catalog import load_catalog
from twin.core.scenario import Runner, load_scenario, scenario_from_doc
from twin.core.yamlsrc import YList, load_file

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "scenarios"
EVERY_FILE = sorted(LIBRARY.rglob("*.yaml"))
SCENARIOS = sorted(LIBRARY.glob("*.yaml"))  # scenarios/layouts/ holds layouts they use
ISSUE_LIST = (
    "pdu-loss-at-peak",
    "cooling-loop-failure",
    "spine-loss-disaggregated",
    "agentic-surge-kv-vs-rr",
    "utility-demand-response",
    "hopper-to-blackwell-ultra",
    "week-of-random-failures",
    "straggler-tail-latency",
)
SHORT = (
    "pdu-loss-at-peak",
    "cooling-loop-failure",
    "spine-loss-disaggregated",
    "agentic-surge-kv-vs-rr",
    "utility-demand-response",
    "straggler-tail-latency",
    "breaker-cascade-ab",
)


def failures(out) -> list[str]:
    return [
        f"line {v.line}: {v.text} — {v.status}, observed {v.observed!r} at {v.at_s}"
        for v in out.verdicts
        if v.status != "passed"
    ] + ([f"aborted: {out.aborted}"] if out.aborted else [])


def test_the_library_has_every_scenario_the_issue_asks_for():
    names = {p.stem for p in SCENARIOS}
    assert set(ISSUE_LIST) <= names
    assert len(names) >= 8
    assert set(SHORT) | {"hopper-to-blackwell-ultra", "week-of-random-failures"} == names, (
        "a new scenario needs a test"
    )


@pytest.mark.parametrize("path", EVERY_FILE, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_every_file_passes_twin_check(path, capsys):
    assert main(["check", str(path)]) == 0, capsys.readouterr()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_says_what_it_teaches_and_expects_something(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# {path.stem} — "), "the header names the scenario and its lesson"
    assert "# Teaches:" in text and "# Look at:" in text
    sc = load_scenario(path)
    assert sc.name == path.stem and sc.description
    assert len(sc.expect) >= 5
    assert sc.events or sc.faults


@pytest.mark.parametrize("name", SHORT)
def test_each_short_scenario_runs_as_shipped_and_its_lesson_holds(name):
    out = Runner(load_scenario(LIBRARY / f"{name}.yaml")).run()
    assert out.passed, failures(out)
    assert all(not r.startswith("error") for _, _, r in out.applied), out.applied


@pytest.mark.parametrize(
    ("name", "effect"),
    [
        (
            "straggler-tail-latency",
            {"tpot_p99_s >= 50ms during 7m..15m", "slo_attainment <= 0.99 during 7m..15m"},
        ),
        (
            "utility-demand-response",
            {
                "facility_power_kw <= 6MW during 5.5m..15m",
                "output_tok_s <= 14e6 during 6m..15m",
                "usd_per_mtok >= 0.40 during 6m..15m",
                "tpot_p95_s >= 60ms during 7m..15m",
            },
        ),
    ],
)
def test_without_its_events_a_scenario_fails_the_expectations_about_their_effect(name, effect):
    """The expectations are not vacuous: take the straggler or the cap away and they fail."""
    sc = load_scenario(LIBRARY / f"{name}.yaml")
    out = Runner(dataclasses.replace(sc, events=())).run()
    failed = {v.text for v in out.verdicts if v.status == "failed"}
    assert effect <= failed, effect - failed


# --- the long ones, shortened ---------------------------------------------------------


def _catalog(**constants):
    cat = load_catalog()
    return dataclasses.replace(cat, constants=MappingProxyType({**cat.constants, **constants}))


_TIME = re.compile(r"(?<!\w)(?<!\d\.)(\d+(?:\.\d+)?[smhd])(?!\w)(?!\.\d)")


def _retimed(path: Path, times: dict[str, str], **top: str):
    """The scenario's document with every time in its events and expectations mapped
    through ``times`` at once (``at 24h`` → ``at 45m`` …), and top-level keys replaced."""
    doc = load_file(path)

    def remap(text: str) -> str:
        return _TIME.sub(lambda m: times.get(m.group(1), m.group(1)), text)

    for ev in doc["events"]:
        for key in ("at", "every", "from", "until"):
            if key in ev:
                ev[key] = remap(str(ev[key]))
    for i, item in enumerate(doc["expect"]):
        doc["expect"][i] = remap(item)
    for key, value in top.items():
        doc[key] = value
    return doc


def test_hopper_to_blackwell_ultra_shortened():
    """The same swap and expectations: 15 minutes of downtime instead of 8 hours, and
    the phases (before, swapping, after, demand doubled) 20-30 minutes each."""
    src = LIBRARY / "hopper-to-blackwell-ultra.yaml"
    times = {
        "10m": "5m",
        "20m": "10m",
        "30m": "15m",
        "1h": "25m",
        "5h": "35m",
        "24h": "45m",
        "24.5h": "55m",
        "25h": "65m",
        "26h": "80m",
        "26.5h": "85m",
        "27h": "90m",
    }
    doc = _retimed(src, times, warmup="10m", duration="90m")
    cat = _catalog(swap_downtime_s=900.0)
    sc = scenario_from_doc(doc, str(src), cat, base_dir=LIBRARY)
    assert [(e.at_s, e.commands[0].text) for e in sc.events] == [
        (1500.0, "swap row-h gb300"),
        (3900.0, "surge 2 reasoning"),
    ]
    assert len(sc.expect) == len(load_scenario(src).expect)
    out = Runner(sc, cat).run()
    assert out.passed, failures(out)


def test_a_week_of_random_failures_compressed_into_four_hours():
    """A week's faults in four hours: failure rates ×42, repair times ÷42 — the same
    number of faults, and the same share of time each component is down."""
    k = 42.0
    base = load_catalog().constants
    rates = {
        key: float(base[key]) * k
        for key in base
        if key.startswith(("failures_per_", "network_failures_per_"))
    }
    cat = _catalog(**rates, repair_s={kind: float(s) / k for kind, s in base["repair_s"].items()})
    src = LIBRARY / "week-of-random-failures.yaml"
    doc = load_file(src)
    # the week's own overall and "never pile up" expectations; its "faults happen at
    # these hours" ones are for its seed's timeline, so here the events are counted
    keep = [i for i, e in enumerate(doc["expect"]) if "overall" in e or "always" in e]
    expect = YList([doc["expect"][i] for i in keep])
    expect.lines = [doc["expect"].line_of(i) for i in keep]
    doc["expect"] = expect
    doc["duration"] = "4h"
    sc = scenario_from_doc(doc, str(src), cat, base_dir=LIBRARY)
    assert sc.faults and sc.tick_s == 2.0 and len(sc.expect) == 2
    out = Runner(sc, cat).run()
    assert out.passed, failures(out)
    failed = [e for e in out.factory.events if "failed (random)" in e.message]
    repaired = [e for e in out.factory.events if "repaired (repair crew)" in e.message]
    assert len(failed) >= 10, "faults happen"
    assert len(repaired) >= len(failed) - 6, "and get repaired"
    assert out.factory.run_summary()["requests_failed"] > 0, (
        "each takes its replica's running requests with it"
    )
