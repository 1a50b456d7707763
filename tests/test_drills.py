"""Drills: the format's mistakes, the score's rules, the shipped drills, `twin run --reference`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.cli import main
from twin.core import commands as C
from twin.core.errors import InputError
from twin.core.scenario import Runner, load_scenario, scenario_from_doc, scenario_report
from twin.core.yamlsrc import load_text

ROOT = Path(__file__).resolve().parent.parent
DRILLS = sorted((ROOT / "scenarios" / "drills").glob("*.yaml"))
POD = ROOT / "scenarios" / "layouts" / "inference-pod.yaml"

#: A short drill on the 16-node pod (fast): a straggler at 30s, a node failure at 2m.
SMALL = f"""
name: small-drill
layout: {POD}
seed: 21
warmup: 1m
duration: 4m
events:
  - at: 30s
    do: straggle pod-02-n3 3
objectives:
  - text: tail latency
    hold: tpot_p99_s <= 30ms
    weight: 40
critical_tasks:
  - id: isolate
    task: take the slow node out
    cue: when tpot_p99_s > 40ms
    alarm: the tail has tripled
    do: "fail pod-02-n3 *"
    within: 1m
    late: 1m
    weight: 40
  - id: never
    task: a cue that never fires
    cue: when active_faults > 50
    do: route kv-aware
    within: 1m
    weight: 20
penalties:
  - do: "repair *"
    points: 15
    why: the crew repairs
reference:
  - at: 1m
    do: fail pod-02-n3
hints: [one, two]
hint_cost: 7
"""


def small(**changes) -> object:
    text = SMALL
    for old, new in changes.items():
        text = text.replace(old.replace("_", " "), new)
    return scenario_from_doc(load_text(text, "small.yaml"), "small.yaml")


def play(sc, *actions: tuple[float, str]):
    extra = tuple((t, C.parse_command(c)) for t, c in actions)
    return Runner(sc, extra=extra).run()


@pytest.fixture(scope="module")
def sc():
    return small()


@pytest.fixture(scope="module")
def idle(sc):
    return play(sc)


@pytest.fixture(scope="module")
def expert(sc):
    return play(sc, (60.0, "fail pod-02-n3"))


# ---- the format -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "old, new, message, anchor",
    [
        ("hold: tpot_p99_s", "hold: tpot_p99", "unknown metric 'tpot_p99'", "hold:"),
        (
            "weight: 40\ncritical",
            "weight: 40\n    window: after x\ncritical",
            "no critical task 'x'",
            "window:",
        ),
        ('do: "fail pod-02-n3 *"', "do: fly pod-02-n3", "is not a command pattern", "do: fly"),
        (
            "late: 1m\n    weight: 40",
            "late: 1m\n    check: t_s > 1\n    weight: 40",
            "or outcome ('check')",
            "- id: isolate",
        ),
        ("cue: when tpot_p99_s > 40ms", "cue: soon", "say 'at 2m'", "cue: soon"),
        (
            "within: 1m\n    late",
            "within: 1m\n    deadline: 2m\n    late",
            "unknown key 'deadline'",
            "deadline:",
        ),
        ("  - at: 1m\n", "  - at: 9m\n", "not inside the scenario", "- at: 9m"),
        (
            "do: fail pod-02-n3\n",
            "do: fail pod-99-n3\n",
            "no component 'pod-99-n3'",
            "do: fail pod-99",
        ),
        ("hint_cost: 7", "hint_cost: -1", "hint_cost: cannot be negative", "hint_cost:"),
    ],
)
def test_a_mistake_in_a_drill_is_reported_with_its_line(old, new, message, anchor):
    text = SMALL.replace(old, new)
    assert text != SMALL
    with pytest.raises(InputError) as e:
        scenario_from_doc(load_text(text, "small.yaml"), "small.yaml")
    line = text[: text.index(anchor)].count("\n") + 1
    assert [p.line for p in e.value.problems if message in p.message] == [line], str(e.value)


def test_drill_keys_are_read_into_the_scenario(sc):
    d = sc.drill
    assert [o.text for o in d.objectives] == ["tail latency"]
    assert [t.id for t in d.tasks] == ["isolate", "never"]
    assert d.reference[0].command == C.parse_command("fail pod-02-n3")
    assert d.hints == ("one", "two") and d.hint_cost == 7
    assert d.points(40) == pytest.approx(40.0)


# ---- the score --------------------------------------------------------------------------------
def test_doing_nothing_loses_the_task_and_the_time_outside(idle):
    d = idle.drill
    isolate, never = d["tasks"]
    assert isolate["outcome"] == "missed" and isolate["lost"] == 40
    assert (
        never["outcome"] == "not cued" and never["lost"] == 0
    )  # a cue that never fired costs nothing
    o = d["objectives"][0]
    assert 120 < o["outside_s"] < 240  # from the straggle to the end
    assert o["lost"] == pytest.approx(40 * o["outside_s"] / 240, abs=0.05)
    assert d["score"] == pytest.approx(100 - 40 - o["lost"], abs=0.1)


def test_the_expected_action_in_time_scores_more(idle, expert):
    task = expert.drill["tasks"][0]
    assert task["outcome"] == "on time" and task["done_at_s"] == 60.0
    assert expert.drill["objectives"][0]["outside_s"] < idle.drill["objectives"][0]["outside_s"]
    assert expert.drill["score"] >= 80 > 50 >= idle.drill["score"]


def test_a_late_action_loses_half_the_task_and_a_penalised_one_its_points(sc, idle):
    cued = idle.drill["tasks"][0]["cued_at_s"]
    late = play(sc, (cued + 90.0, "fail pod-02-n3"), (200.0, "repair pod-02-n3"))
    d = late.drill
    assert d["tasks"][0]["outcome"] == "late" and d["tasks"][0]["lost"] == 20
    assert [(p["do"], p["points"]) for p in d["penalties"]] == [("repair pod-02-n3", 15)]
    assert d["breakdown"]["penalties"] == 15


def test_an_action_that_breaks_a_holding_objective_costs_points():
    # the node is out of service at 40s (on time); draining its whole rack then overloads the
    # pod: the queue, hence the TTFT tail, runs away (the prefill budget keeps decode's
    # pace). A backlog's prompts fill whole prefill chunks, so the pod left absorbs 140/s
    # (TTFT p95 < 1 s): it takes 160/s
    text = SMALL.replace("hold: tpot_p99_s <= 30ms", "hold: ttft_p95_s <= 2s")
    doc = load_text(
        text.replace("seed: 21", "seed: 21\noverrides: {rates: {chat: 160/s}}"), "s.yaml"
    )
    sc = scenario_from_doc(doc, "s.yaml")
    out = play(sc, (40.0, "fail pod-02-n3"), (100.0, "drain pod-01"))
    worse = [p for p in out.drill["penalties"] if p["do"] == "drain pod-01"]
    assert worse and worse[0]["points"] == 5 and "tail latency broke" in worse[0]["why"]


def test_hints_cost_their_points_and_run_out(sc):
    from twin.core.engine import Factory
    from twin.core.scenario import ScenarioPlayer

    p = ScenarioPlayer(sc, Factory(sc.layout, seed=sc.seed, tick_s=sc.tick_s))
    p.warm_up()
    p.start()
    p.advance_to(p.t0 + 10)
    assert p.drill.take_hint(p.t_rel()) == "one"
    assert p.drill.take_hint(p.t_rel()) == "two"
    assert p.drill.take_hint(p.t_rel()) is None
    assert p.drill.score(p.t_rel()) == pytest.approx(100 - 14)
    assert p.drill.live(p.t_rel())["hints_left"] == 0


def test_the_same_actions_give_the_same_score_byte_for_byte(sc, expert):
    again = play(sc, (60.0, "fail pod-02-n3"))
    assert json.dumps(again.drill, sort_keys=True) == json.dumps(expert.drill, sort_keys=True)


def test_a_resumed_drill_scores_exactly_as_the_uninterrupted_one(sc, expert):
    saved = {}

    def grab(runner, rec):
        saved.update(
            engine=runner.factory.checkpoint(),
            player=json.loads(json.dumps(runner.player.state())),
            recorder=json.loads(json.dumps(rec.state())),
        )

    extra = ((60.0, C.parse_command("fail pod-02-n3")),)
    Runner(sc, extra=extra).run(at=((45.0, grab),))
    resumed = Runner(sc).resume(saved["engine"], saved["player"], saved["recorder"])
    assert json.dumps(resumed.drill, sort_keys=True) == json.dumps(expert.drill, sort_keys=True)


def test_the_live_state_never_shows_the_reference_or_a_cue_to_come(sc):
    from twin.core.engine import Factory
    from twin.core.scenario import ScenarioPlayer

    p = ScenarioPlayer(sc, Factory(sc.layout, seed=sc.seed, tick_s=sc.tick_s))
    p.warm_up()
    p.start()
    p.advance_to(p.t0 + 5)
    live = json.dumps(p.drill.live(p.t_rel()))
    assert "reference" not in live and "fail pod-02-n3" not in live
    assert "the tail has tripled" not in live and "take the slow node out" not in live
    assert json.loads(live)["tasks_waiting"] == 2
    p.advance_to(p.t0 + 100)  # the cue has fired: its alarm shows; what to do does not, yet
    live = p.drill.live(p.t_rel())
    assert [t["alarm"] for t in live["tasks"]] == ["the tail has tripled"]
    assert live["tasks"][0]["task"] is None and live["tasks"][0]["status"] in ("open", "overdue")


# ---- the shipped drills -----------------------------------------------------------------------
@pytest.mark.parametrize("path", DRILLS, ids=[p.stem for p in DRILLS])
def test_each_drill_rewards_the_reference_and_not_doing_nothing(path):
    sc = load_scenario(path)
    assert sc.drill is not None and sc.drill.reference and sc.drill.hints
    assert sc.duration_s + sc.warmup_s <= 15 * 60  # short: the suite stays fast
    nothing = Runner(sc).run()
    ref = Runner(sc, extra=tuple((s.at_s, s.command) for s in sc.drill.reference)).run()
    assert not ref.failed_commands
    assert ref.drill["score"] >= 80, ref.drill["breakdown"]
    assert nothing.drill["score"] <= 50, nothing.drill["breakdown"]


def test_there_are_five_drills_of_graded_difficulty():
    assert len(DRILLS) >= 5
    texts = [p.read_text() for p in DRILLS]
    for level in ("(easy)", "(medium)", "(hard)"):
        assert any(level in t for t in texts), level


# ---- twin run ---------------------------------------------------------------------------------
def test_twin_run_reference_reports_the_score_and_each_task(tmp_path, capsys):
    drill = ROOT / "scenarios" / "drills" / "3-straggler.yaml"
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    code = main(
        ["run", str(drill), "--reference", "--quiet", "--report", str(out), "--markdown", str(md)]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["reference"] is True and doc["score"] == doc["drill"]["score"] >= 80
    assert [t["outcome"] for t in doc["drill"]["tasks"]] == ["on time"]
    assert [a["source"] for a in doc["drill"]["actions"]] == ["script", "what-if"]
    text = md.read_text()
    assert f"**Score {doc['score']:g} / 100** (the reference response)" in text
    assert "✔ on time" in text and "KPI curves" in text and "▸ script: `straggle" in text
    assert "score" in capsys.readouterr().out


def test_the_markdown_of_a_plain_run_says_what_the_reference_did(tmp_path):
    drill = ROOT / "scenarios" / "drills" / "3-straggler.yaml"
    md = tmp_path / "r.md"
    assert main(["run", str(drill), "--quiet", "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "What the reference response did differently" in text
    assert "the reference did `fail pod-02-n3` at T+3m00s; you did not" in text
    assert "✘ missed" in text
    assert "The reference response scores **95.9**; this run 28.1." in text


def test_twin_check_says_what_a_drill_holds(capsys):
    assert main(["check", str(ROOT / "scenarios" / "drills" / "4-ab-breaker.yaml")]) == 0
    out = capsys.readouterr().out
    assert "a drill: 2 objectives, 2 critical tasks, 1 reference command, 3 hints" in out


def test_reference_on_something_without_one_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", "default", "--for", "1m", "--reference", "--quiet"]) == 2
    assert "not a drill" in capsys.readouterr().err
    plain = ROOT / "scenarios" / "pdu-loss-at-peak.yaml"
    assert main(["run", str(plain), "--reference", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no 'reference' response" in err and len(err.strip().splitlines()) == 1


def test_scenario_report_of_a_plain_scenario_has_no_score():
    out = Runner(
        scenario_from_doc(
            load_text(f"layout: {POD}\nduration: 1m\nevents: []\n", "p.yaml"), "p.yaml"
        )
    ).run()
    assert "score" not in scenario_report(out) and out.drill is None


def test_the_readme_drill_example_is_a_valid_drill():
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Drills.*?```yaml\n(.*?)```", text, re.S).group(1)
    head = "name: example\nlayout: hopper-hall\nduration: 12m\n"
    sc = scenario_from_doc(load_text(head + block, "example.yaml"), "example.yaml")
    assert sc.drill.tasks[0].check is not None and sc.drill.reference[0].at_s == 60


def test_a_drill_resumed_from_its_checkpoint_writes_the_same_report(tmp_path):
    drill = ROOT / "scenarios" / "drills" / "3-straggler.yaml"
    whole, part, ckpt = tmp_path / "whole.json", tmp_path / "part.json", tmp_path / "d.ckpt"
    args = ["run", str(drill), "--quiet", "--report"]
    assert main([*args, str(whole), "--checkpoint", f"4m={ckpt}"]) == 0
    assert main(["resume", str(ckpt), "--quiet", "--report", str(part)]) == 0
    doc = json.loads(whole.read_text())
    assert doc["drill"]["reference_score"] > doc["score"]
    assert part.read_text() == whole.read_text()


def test_a_curves_range_shows_zero_not_float_dust():
    """A running mean that returns to zero ends as 1e-16; the debrief says 0."""
    from twin.frontends.debrief import curves

    lines = curves({"curves": {"t_s": [0.0, 60.0, 120.0], "slo_attainment": [0.99, 0.5, 1.39e-16]}})
    row = next(line for line in lines if "SLO" in line or "slo_attainment" in line)
    assert row.endswith("0 … 0.99") and "e-" not in row


def test_a_degraded_cooling_loop_removes_only_its_share_of_the_heat():
    """`degrade loop-2 25%`: the loop removes a quarter of its capacity, its racks warm
    while they make more heat than that, a cap that fits them under it keeps them cool,
    and a repair gives the loop its whole capacity back."""
    from twin.core import commands as C
    from twin.core.engine import Factory
    from twin.core.layout import load_layout

    default = load_layout("default")

    def loop2(f):
        return next(x for x in f.snapshot().loops if x.id == "loop-2")

    runs = {}
    for caps in ((), ("cap nvl-01 580kW", "cap nvl-02 580kW", "cap nvl-03 580kW")):
        f = Factory(default, seed=7, faults=False)
        f.advance_to(60)
        full = loop2(f).capacity_kw
        before = f.snapshot().gauges["output_tok_s"]
        assert "1,750 kW (25%)" in f.apply(C.parse_command("degrade loop-2 25%"))
        for text in caps:
            f.apply(C.parse_command(text))
        f.advance_to(360)
        lp = loop2(f)
        assert lp.capacity_kw == pytest.approx(0.25 * full)
        g = f.snapshot().gauges
        runs[bool(caps)] = (lp.state, lp.hottest_c, g["slo_attainment"], g["output_tok_s"] / before)
        if caps:
            f.apply(C.parse_command("repair loop-2"))
            assert loop2(f).capacity_kw == full and "loop-2" not in f.faults
    assert runs[False][0] == "overloaded" and runs[False][1] > 70  # ~6 K a minute
    assert runs[True][0] == "ok" and runs[True][1] < 40
    # the caps fit the boards' floor: the rows slow down, they do not shed their replicas
    assert runs[True][2] >= 0.95 and runs[True][3] >= 0.9
    with pytest.raises(Exception, match="degrade a link, a rack's NVLink domain or a cooling"):
        Factory(default, seed=7, faults=False).apply(C.parse_command("degrade row-a-pdu-1 50%"))
