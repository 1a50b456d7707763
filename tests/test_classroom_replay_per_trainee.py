"""``twin serve --per-trainee --record FILE``: each trainee's own copy of the drill is
journaled to its own file (``FILE-NAME.yaml``), and `twin run` on each file replays that
trainee's session to the score it had live — copies started from the warmed-up world's
checkpoint, played through the real server over its socket."""

from __future__ import annotations

import json

from classroom_helpers import Raw, applied, attach, build_room, is_frame, reply
from test_classroom_replay import DRILL

from twin.cli import main


async def _to_the_end(c: Raw) -> None:
    assert (await reply(c, "run"))["t"] == "result"
    await c.until(lambda m: is_frame(m) and m["frame"].get("halted"), timeout=180)


def _live(room, name: str) -> dict:
    w = room.worlds[name]
    with w.driver.lock:
        return w.player.drill.report(w.player.t_rel(), w.player.applied)


async def test_each_trainees_recording_replays_to_their_own_live_score(tmp_path):
    target = tmp_path / "class-replay.yaml"
    target.write_text(DRILL)
    rec = tmp_path / "session.yaml"
    room = build_room(target, rec, per_trainee=True, frozen=True, speed=20.0)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        bo = await attach(sock, "bo", "trainee")
        cy = await attach(sock, "cy", "trainee")
        assert set(room.worlds) == {"instructor", "bo", "cy"}
        # bo: runs their copy to 25 s after the start, freezes it, takes a hint and drains
        assert (await reply(bo, "run"))["t"] == "result"
        await bo.until(lambda m: is_frame(m) and bo.snapshot().t_s >= 30 + 25)
        assert (await reply(bo, "freeze"))["t"] == "result"
        assert (await reply(bo, "hint"))["message"].startswith("hint (−7, 1 left)")
        out = await applied(bo, "drain row-a-02")
        assert out["ok"] and out["by"] == "bo", out
        await _to_the_end(bo)
        await _to_the_end(cy)  # cy does nothing in their own copy
        live = {name: _live(room, name) for name in ("bo", "cy")}
    finally:
        await room.stop()
    bo_file, cy_file = tmp_path / "session-bo.yaml", tmp_path / "session-cy.yaml"
    assert "drain row-a-02, by: bo}" in bo_file.read_text()
    assert "hint: true, by: bo}" in bo_file.read_text()
    assert "drain row-a-02, by:" not in cy_file.read_text()  # cy's copy never saw bo's drain
    assert live["bo"]["tasks"][0]["outcome"] in ("on time", "late")
    assert live["cy"]["tasks"][0]["outcome"] == "missed"
    assert live["bo"]["score"] > live["cy"]["score"]
    for name, path in (("bo", bo_file), ("cy", cy_file)):
        report = tmp_path / f"{name}.json"
        assert main(["run", str(path), "--report", str(report), "--quiet"]) in (0, 1)
        replay = json.loads(report.read_text())["drill"]
        assert replay["score"] == live[name]["score"], name
        assert [t["outcome"] for t in replay["tasks"]] == [
            t["outcome"] for t in live[name]["tasks"]
        ], name
        assert replay["hints_taken"] == live[name]["hints_taken"], name
        assert replay["breakdown"] == json.loads(json.dumps(live[name]["breakdown"])), name
