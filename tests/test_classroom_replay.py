"""A drill run live over the class's socket replays with `twin run` to the same score.

The trainee's commands and hints, the instructor's injects (shown and hidden) and the
script are journaled with their authors; the file carries the drill; `twin run FILE`
scores it exactly as the live session was scored: same score, same task outcomes, same
curves, and the instructor's injects never count as the trainee's actions.
"""

from __future__ import annotations

import json

import pytest
from classroom_helpers import applied, attach, build_room, is_frame, reply

from twin.cli import main
from twin.frontends.classroom import codec

DRILL = """\
name: class-replay
description: A PDU fails; drain its racks' neighbours in time
layout: default
seed: 7
warmup: 30s
duration: 3m
events:
  - at: 20s
    do: fail row-a-pdu-1 for 5m
objectives:
  - text: the site keeps its SLO
    hold: slo_attainment >= 0.9
    weight: 40
critical_tasks:
  - id: drain
    task: Drain row-a-02
    cue: at 20s
    do: drain row-a-02
    within: 1m
    late: 1m
    weight: 40
  - id: never
    task: Set a cap when the site burns more than a megawatt more than it can
    cue: when facility_power_kw > 1000000
    do: cap row-h *
    within: 1m
    weight: 20
penalties:
  - {do: "fail *", points: 30, why: breaking things is the instructor's job}
hints: [Look at row A, "`:drain row-a-02`"]
hint_cost: 7
"""


async def test_a_live_drill_replays_with_twin_run_to_the_same_score(tmp_path):
    target = tmp_path / "class-replay.yaml"
    target.write_text(DRILL)
    rec = tmp_path / "session.yaml"
    # frozen; then at 20× (flat out, a fast engine can finish the 3-minute drill before
    # the instructor's freeze arrives)
    room = build_room(target, rec, frozen=True, speed=20.0)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        ada = await attach(sock, "ada", "instructor")
        bo = await attach(sock, "bo", "trainee")
        assert (await reply(ada, "run"))["t"] == "result"
        await ada.until(lambda m: is_frame(m) and ada.snapshot().t_s >= 30 + 25)
        assert (await reply(ada, "freeze"))["t"] == "result"
        hint = await reply(bo, "hint")
        assert hint["message"].startswith("hint (−7, 1 left)"), hint
        out = await applied(bo, "drain row-a-02")
        assert out["ok"] and out["by"] == "bo", out
        out = await applied(ada, "inject fail row-b-pdu-1 for 1m")  # shown to the class
        assert out["ok"] and out["by"] == "ada"
        out = await applied(ada, "inject hidden fail row-b-pdu-2 for 1m")
        assert out["ok"] and out["hidden"]
        assert (await reply(ada, "run"))["t"] == "result"
        await ada.until(lambda m: is_frame(m) and m["frame"].get("halted"), timeout=120)
        w = room.worlds["class"]
        with w.driver.lock:
            live = w.player.drill.report(w.player.t_rel(), w.player.applied)
        await ada.until(is_frame)
        shown = codec.decode(ada.tree["script"]).drill
    finally:
        await room.stop()
    text = rec.read_text()
    assert "hint: true, by: bo}" in text and "drain row-a-02, by: bo}" in text
    assert "by: ada, inject: true}" in text and "by: ada, inject: hidden}" in text
    assert "critical_tasks:" in text and "drill_duration:" in text

    report = tmp_path / "r.json"
    assert main(["run", str(rec), "--report", str(report), "--quiet"]) in (0, 1)
    replay = json.loads(report.read_text())["drill"]
    replay.pop("reference_score", None)
    assert shown["score"] == live["score"] == replay["score"]
    assert [t["outcome"] for t in replay["tasks"]] == [t["outcome"] for t in live["tasks"]]
    assert live["tasks"][0]["outcome"] in ("on time", "late")  # bo's drain counted as bo's
    assert live["hints_taken"] == replay["hints_taken"] == 1
    # the instructor's `fail` injects are the exercise's, not the trainee's: no penalty
    assert live["penalties"] == replay["penalties"] == []
    curves, replay_curves = live.pop("curves"), replay.pop("curves")  # (a report rounds them)
    for h in live["hints"]:  # a hint at 20× falls between ticks; a report keeps 4 decimals
        h["t_s"] = round(h["t_s"], 4)
    assert json.loads(json.dumps(live)) == replay  # actions, breakdown, objectives: all of it
    for key, values in curves.items():
        assert replay_curves[key] == pytest.approx(values, rel=1e-5, nan_ok=True), key


@pytest.mark.parametrize(
    "event, message",
    [
        ("{at: 1m, do: drain row-a-02, by: bo, inject: maybe}", "inject: say 'true' or 'hidden'"),
        ("{at: 1m, hint: true, do: drain row-a-02}", "a hint taken carries no 'do'"),
        ("{every: 1m, do: drain row-a-02, by: bo}", "is given 'at' a time"),
        ("{at: 1m, do: drain row-a-02, by: 'bo smith'}", "is not a name"),
    ],
)
def test_a_bad_recorded_event_is_a_file_line_error(tmp_path, capsys, event, message):
    path = tmp_path / "bad.yaml"
    path.write_text(
        DRILL.replace(
            "    do: fail row-a-pdu-1 for 5m\n", f"    do: fail row-a-pdu-1 for 5m\n  - {event}\n"
        )
    )
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:10: events[2]" in err and message in err, err
