"""A class over a real Unix socket: roles, blind consoles, rewinds, slow consoles, the journal."""

from __future__ import annotations

import asyncio
import json
import socket

import numpy as np
import pytest
from classroom_helpers import Raw, attach, build_room, drill, is_frame

from twin.core.engine.snapshot import RACK_DOWN
from twin.frontends.classroom import codec, protocol


async def test_roles_are_enforced_on_raw_messages(tmp_path):
    rec = tmp_path / "session.yaml"
    room = build_room(drill(tmp_path), rec)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        bo = await attach(sock, "bo", "trainee")
        cy = await attach(sock, "cy", "observer")
        for text in (
            "freeze",
            "speed 60",
            "rewind cp1",
            "checkpoint x",
            "inject fail row-b-pdu-1",
            "end",
        ):
            i = await bo.cmd(text)
            err = await bo.until(lambda m, i=i: m.get("id") == i and m["t"] in ("error", "result"))
            assert err["t"] == "error" and "refused" in err["message"], (text, err)
        i = await cy.cmd("drain row-a-01")
        err = await cy.until(lambda m: m.get("id") == i and m["t"] == "error")
        assert "observer watches only" in err["message"]
        # malformed, unknown and ill-typed messages: an error each, and the console stays
        await bo.send_bytes(b"{not json")
        assert "malformed" in (await bo.until(lambda m: m["t"] == "error"))["message"]
        await bo.send({"t": "teleport"})
        assert "unknown message type" in (await bo.until(lambda m: m["t"] == "error"))["message"]
        await bo.send({"t": "cmd", "id": "x", "text": "drain row-a-01"})
        assert "whole number" in (await bo.until(lambda m: m["t"] == "error"))["message"]
        # the trainee's own operator command is applied, in their name
        i = await bo.cmd("drain row-a-02")
        upd = await bo.until(lambda m: is_frame(m) and any(o["id"] == i for o in m["outcomes"]))
        (out,) = [o for o in upd["outcomes"] if o["id"] == i]
        assert out["ok"] and out["by"] == "bo"
        # an oversized message drops that console only
        await bo.send_bytes(b"x" * (protocol.MAX_CLIENT_MESSAGE + 1))
        err = await bo.until(lambda m: m["t"] == "error")
        assert "bytes" in err["message"]
        with pytest.raises((EOFError, ConnectionError, asyncio.IncompleteReadError)):
            await bo.until(lambda m: False, timeout=5)
        i = await cy.cmd("who")
        who = await cy.until(lambda m: m.get("id") == i)
        assert "cy (observer" in who["message"] and "bo (" not in who["message"]
        # a bad hello is refused with a reason
        bad = await Raw.connect(sock)
        await bad.send({"t": "hello", "v": 99, "name": "dee"})
        err = await bad.until(lambda m: m["t"] == "error")
        assert "protocol version 99" in err["message"]
    finally:
        await room.stop()
    text = rec.read_text()
    assert "refused: bo (trainee): clock refused" in text
    assert "refused: cy (observer)" in text
    assert "malformed message" in text
    assert "drain row-a-02, by: bo}" in text


async def test_trainees_never_receive_the_script_or_hidden_injects(tmp_path):
    room = build_room(drill(tmp_path), fps=20.0)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        ada = await attach(sock, "ada", "instructor")
        bo = await attach(sock, "bo", "trainee")
        cy = await attach(sock, "cy", "observer")
        i = await ada.cmd("inject hidden fail row-b-pdu-1 for 5m")
        await ada.until(lambda m: is_frame(m) and any(o["id"] == i for o in m["outcomes"]))
        # 60x at 20 frames a second: 3 s a frame, so the first frame past 40 s is long
        # before the failures' repair at 5 min (at "speed max" an idle machine's first
        # frame could land after it, with the racks back up)
        await ada.cmd("speed 60")
        await ada.cmd("run")
        # run past the scripted failure at 20 s
        while True:
            await bo.until(is_frame)
            snap = bo.snapshot()
            if snap.t_s > room.worlds["class"].t0 + 40:
                break
        await ada.cmd("freeze")
        await asyncio.sleep(0.5)
        for c in (ada, bo, cy):
            await c.until(is_frame)
        t_end = room.worlds["class"].t0 + 40
        await ada.until(lambda m: is_frame(m) and ada.snapshot().t_s > t_end)  # ada reads on
    finally:
        await room.stop()
    secret = [
        b"fail row-a-pdu-1",
        b"fail row-b-pdu-1",
        b"rack row-a-01 state == down",
        b"slo_attainment >= 0.5",
    ]
    for raw in (bo.received, cy.received):
        for s in secret:
            assert s not in raw, s
    for s in secret:  # the instructor gets all of it (so the test can fail)
        assert s in ada.received, s
    # …but the trainee sees the symptoms: the racks of the failed PDUs are dark
    assert snap.t_s < room.worlds["class"].t0 + 300  # inside the 5-minute failures
    st = snap.racks.state
    assert st[snap.racks.ids.index("row-a-01")] == RACK_DOWN
    assert any("racks lost power" in e.message for e in snap.events)
    # the failures name no one to a trainee (not "operator"), their cause to the instructor
    lost = [e.message for e in snap.events if "pdu failed" in e.message]
    assert len(lost) == 2 and all(m.startswith("pdu failed, ") for m in lost), lost
    assert b"pdu failed (script), " in ada.received
    assert b"pdu failed (instructor ada), " in ada.received
    assert b"(operator)" not in bo.received
    assert b"class-drill" in bo.received  # the scenario's name and clock are not secret


async def test_a_rewind_continues_exactly_from_the_checkpoint(tmp_path):
    from twin.core import commands as C

    def gauges(w):
        s = w.factory.snapshot()
        return {k: v for k, v in s.gauges.items()}, np.array(s.racks.power_kw)

    target = drill(tmp_path)
    rec = tmp_path / "session.yaml"
    room = build_room(target, rec)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        w = room.worlds["class"]
        ada = await attach(sock, "ada", "instructor")
        t0 = w.factory.now
        i = await ada.cmd("checkpoint before")
        await ada.until(lambda m: m.get("id") == i)
        # a branch that is abandoned: a drain, ten simulated seconds
        w.driver.submit_as(C.parse_command("drain row-d-01"), "ada")
        await room._run(w.driver.step, t0 + 10)
        i = await ada.cmd("rewind before")
        assert (await ada.until(lambda m: m.get("id") == i))["t"] == "result"
        full = await ada.until(lambda m: m["t"] == "full")
        assert codec.decode(full["frame"]["snapshot"]).t_s == pytest.approx(t0)
        await room._run(w.driver.step, t0 + 10)
        after = gauges(w)
    finally:
        await room.stop()
    # the same ten seconds on a class that never took the branch
    other = build_room(target)
    await other.start(tmp_path / "d.sock")
    try:
        w2 = other.worlds["class"]
        await other._run(w2.driver.step, t0 + 10)
        straight = gauges(w2)
    finally:
        await other.stop()
    assert after[0] == straight[0]
    assert np.array_equal(after[1], straight[1])
    text = rec.read_text()
    assert "(abandoned) - {at: 0.0, do: drain row-d-01, by: ada}" in text
    assert "rewind to before (T+0s) by ada" in text


def test_the_session_file_replays_the_branch_kept(tmp_path):
    """A rewound session's file gives `twin run` the report of the branch kept."""
    import argparse

    from twin.cli import main
    from twin.core import commands as C
    from twin.frontends.classroom.setup import world_builder

    target = drill(tmp_path)

    def session(path, branch: bool):
        args = argparse.Namespace(
            target=str(target),
            catalog=[],
            seed=None,
            record=str(path),
            force=False,
            per_trainee=False,
            speed=1.0,
            frozen=True,
        )
        new_world, _ = world_builder(args)
        w = new_world("class")
        t0 = w.factory.now
        w.driver.step(t0 + 15)
        if branch:
            w.checkpoint("a")
            w.driver.submit_as(C.parse_command("drain row-d-01"), "ada")
            w.driver.step(t0 + 40)
            w.rewind("a", "ada")
        w.driver.submit_as(C.parse_command("route round-robin"), "bo")
        w.driver.step(t0 + 60)
        w.close()

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    session(tmp_path / "a" / "s.yaml", True)
    session(tmp_path / "b" / "s.yaml", False)
    reports = []
    for d in ("a", "b"):
        out = tmp_path / d / "r.json"
        assert main(["run", str(tmp_path / d / "s.yaml"), "--report", str(out), "--quiet"]) in (
            0,
            1,
        )
        reports.append(json.loads(out.read_text()))
    for r in reports:
        r.pop("file", None)
    assert reports[0] == reports[1]
    assert "round-robin" in (tmp_path / "a" / "s.yaml").read_text()


async def test_a_console_that_stops_reading_is_dropped_and_others_keep_up(tmp_path):
    room = build_room(drill(tmp_path), fps=50.0, frozen=False, speed=None)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # never reads
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(str(sock))
        stuck.sendall(protocol.pack({"t": "hello", "v": protocol.VERSION, "name": "stuck"}))
        ada = await attach(sock, "ada", "instructor")
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        frames = 0
        while loop.time() < end and any(c.name == "stuck" for c in room.clients):
            await ada.until(is_frame)
            frames += 1
        assert not any(c.name == "stuck" for c in room.clients), "the stuck console was not dropped"
        assert frames > 20
        for _ in range(5):  # and the others still get every frame
            await ada.until(is_frame, timeout=2)
        stuck.close()
    finally:
        await room.stop()


@pytest.mark.parametrize("exam", [False, True])
async def test_a_drill_over_the_class_hints_scores_and_debriefs(tmp_path, exam):
    from pathlib import Path

    target = Path(__file__).resolve().parents[1] / "scenarios" / "drills" / "1-agentic-surge.yaml"
    room = build_room(target, exam=exam)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        ada = await attach(sock, "ada", "instructor")
        bo = await attach(sock, "bo", "trainee")
        i = await bo.cmd("hint")
        reply = await bo.until(lambda m: m.get("id") == i)
        if exam:
            assert reply["t"] == "error" and "no hints in an exam" in reply["message"]
        else:
            assert reply["t"] == "result" and reply["message"].startswith("hint (−")
        i = await bo.cmd("debrief")
        reply = await bo.until(lambda m: m.get("id") == i)
        assert reply["t"] == "error" and "when the drill is over" in reply["message"]
        i = await ada.cmd("debrief")
        reply = await ada.until(lambda m: m.get("id") == i)
        assert reply["t"] == "debrief" and "drill-1-agentic-surge" in reply["text"]
        assert "score" in reply["text"].lower()
        await bo.until(is_frame)
        drill = codec.decode(bo.tree["script"]).drill
        assert drill is not None and "score" in drill  # the drill panel reaches the trainee
    finally:
        await room.stop()
    assert b"route kv-aware" not in bo.received  # …but never the reference response


async def test_per_trainee_copies_are_separate_and_the_exam_keeps_the_clock(tmp_path):
    room = build_room(drill(tmp_path), tmp_path / "s.yaml", per_trainee=True)
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        ada = await attach(sock, "ada", "instructor")
        bo = await attach(sock, "bo", "trainee")
        dee = await attach(sock, "dee", "trainee")
        assert set(room.worlds) == {"instructor", "bo", "dee"}
        i = await bo.cmd("drain row-a-01")
        await bo.until(lambda m: is_frame(m) and any(o["id"] == i for o in m["outcomes"]))
        i = await bo.cmd("freeze")  # their own copy: allowed outside an exam
        assert (await bo.until(lambda m: m.get("id") == i))["t"] == "result"
        await dee.until(is_frame)
        await dee.until(is_frame)
        assert b"drain row-a-01" not in dee.received  # dee's copy never saw bo's drain
        i = await ada.cmd("watch bo")
        assert (await ada.until(lambda m: m.get("id") == i))["t"] == "result"
        await ada.until(lambda m: m["t"] == "full")
        assert any("drain row-a-01" in e.message for e in ada.snapshot().events)
    finally:
        await room.stop()
    for name in ("bo", "dee", "instructor"):  # one journal per copy
        assert (tmp_path / f"s-{name}.yaml").exists()
    assert "drain row-a-01, by: bo}" in (tmp_path / "s-bo.yaml").read_text()
    exam = build_room(drill(tmp_path), per_trainee=True, exam=True)
    await exam.start(tmp_path / "e.sock")
    try:
        bo = await attach(tmp_path / "e.sock", "bo", "trainee")
        for text in ("freeze", "rewind x", "hint"):
            i = await bo.cmd(text)
            err = await bo.until(lambda m, i=i: m.get("id") == i)
            assert err["t"] == "error" and "exam" in err["message"], text
    finally:
        await exam.stop()


async def test_auto_freeze_on_a_critical_alarm_and_checkpoints_every_interval(tmp_path):
    room = build_room(drill(tmp_path), frozen=True, speed=None)
    room.auto_freeze, room.checkpoint_every_s = True, 5.0
    sock = tmp_path / "c.sock"
    await room.start(sock)
    try:
        ada = await attach(sock, "ada", "instructor")
        bo = await attach(sock, "bo", "trainee")
        await ada.cmd("run")
        # the script fails a PDU at 20 s: a critical alarm, and the class freezes on it
        msg = await bo.until(
            lambda m: is_frame(m) and any("auto-freeze" in n["text"] for n in m["notes"]), 60
        )
        assert msg["clock"]["paused"]
        w = room.worlds["class"]
        t = w.factory.now
        await asyncio.sleep(0.5)
        assert w.factory.now == t  # frozen
        i = await ada.cmd("checkpoints")
        listed = (await ada.until(lambda m: m.get("id") == i))["message"]
        assert "cp1 T+5s" in listed and "cp4 T+20s" in listed
    finally:
        await room.stop()


def test_a_consoles_decoder_reuses_what_an_update_left_alone():
    """`codec.Decoder` decodes a patched tree to what `decode` gives, and a part the
    update did not touch is the very object decoded last time (not decoded again)."""
    from twin.core.engine import Factory
    from twin.core.layout import load_layout

    f = Factory(load_layout("default"), seed=7, faults=False)
    f.advance_to(30)
    old = codec.encode(f.snapshot())
    dec = codec.Decoder()
    first = dec(old)
    f.advance_to(31)
    new = codec.encode(f.snapshot())
    d = codec.diff(new, old)
    tree = codec.patch(old, {**d, "@u": 1})
    second = dec(tree)
    assert codec.dumps(codec.encode(second)) == codec.dumps(codec.encode(codec.decode(tree)))
    same = [k for k in old if k in tree and tree[k] is old[k] and isinstance(old[k], dict)]
    assert same, "the update touched every part"
    for k in same:
        assert getattr(second, k) is getattr(first, k), k
    changed = [k for k in d if not k.startswith("@")]
    assert any(getattr(second, k) is not getattr(first, k) for k in changed)
