"""Issue 10's lost work and leaks: `:save` and `--record` never overwrite by accident, write
atomically, stay out of twin's shipped folders and write nothing read-only; SIGTERM and
SIGINT end a session cleanly; a recorded drill keeps its expectations (issue 11)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twin.cli import main
from twin.core.commands import Save, parse_command
from twin.core.errors import TwinError
from twin.core.journal import save_session
from twin.core.layout import load_layout
from twin.core.scenario import Runner, load_scenario
from twin.frontends.recording import SessionLog
from twin.frontends.tui.app import TwinApp
from twin.frontends.tui.clock import ManualWall

ROOT = Path(__file__).resolve().parent.parent


def test_save_bang_is_a_command_that_reads_back():
    assert parse_command("save! drill.yaml") == Save("drill.yaml", force=True)
    assert parse_command(":save drill.yaml") == Save("drill.yaml")
    assert parse_command(Save("x.yaml", force=True).text) == Save("x.yaml", force=True)


def test_save_refuses_an_existing_file_and_save_bang_replaces_it_whole(tmp_path):
    old = tmp_path / "drill.yaml"
    old.write_text("precious: true\n")
    with pytest.raises(TwinError, match=r"^save: .*drill.yaml exists; :save! FILE overwrites it"):
        save_session(old, "default", 1, [(5.0, "fail row-a-pdu-1")], 10.0)
    assert old.read_text() == "precious: true\n"  # untouched
    save_session(old, "default", 1, [(5.0, "fail row-a-pdu-1")], 10.0, force=True)
    assert [c.text for e in load_scenario(old).events for c in e.commands] == ["fail row-a-pdu-1"]
    assert not [
        p for p in tmp_path.iterdir() if p.name.endswith(".tmp")
    ]  # no temporary left behind


@pytest.mark.parametrize("shipped", ["layouts/default.yaml", "scenarios/new.yaml", "twin/x.yaml"])
def test_nothing_is_ever_written_into_a_shipped_folder(shipped):
    target = ROOT / shipped
    before = target.read_bytes() if target.exists() else None
    with pytest.raises(TwinError, match="inside twin's own"):
        save_session(target, "default", 1, [], 10.0, force=True)
    assert (target.read_bytes() if target.exists() else None) == before


def test_record_refuses_an_existing_file_unless_forced(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(TwinApp, "run", lambda self: None)
    rec = tmp_path / "session.yaml"
    rec.write_text("precious: true\n")
    assert main(["default", "--record", str(rec)]) == 2
    err = capsys.readouterr().err
    assert "exists; --force overwrites it" in err and rec.read_text() == "precious: true\n"
    assert main(["default", "--record", str(ROOT / "layouts" / "default.yaml"), "--force"]) == 2
    assert "inside twin's own layouts/ folder" in capsys.readouterr().err
    assert main(["default", "--readonly", "--record", str(tmp_path / "new.yaml")]) == 2
    assert "--readonly writes nothing" in capsys.readouterr().err
    assert not (tmp_path / "new.yaml").exists()
    assert main(["default", "--record", str(rec), "--force"]) == 0
    assert load_scenario(rec).layout.name == "default"  # replaced by the new recording


async def test_read_only_refuses_save(tmp_path):
    app = TwinApp(
        "default", seed=1, wall=ManualWall(), live=False, step_budget_s=None, readonly=True
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await app.frame()
        msg = app.run_line(f"save {tmp_path / 'x.yaml'}")
        await pilot.pause()
        assert msg and "read-only session" in msg
    assert not (tmp_path / "x.yaml").exists()


def test_a_recorded_drill_keeps_its_expectations_and_is_graded_by_run(tmp_path):
    drill = ROOT / "scenarios" / "pdu-loss-at-peak.yaml"
    sc = load_scenario(drill)
    log = SessionLog(
        sc.layout,
        sc.seed,
        sc.tick_s,
        t0=0.0,
        warmup_s=sc.warmup_s,
        scenario=sc.name,
        scenario_file=drill,
        record=tmp_path / "rec.yaml",
    )
    log.close(120.0)  # a drill cut short two minutes in
    rec = load_scenario(tmp_path / "rec.yaml")
    assert rec.recorded and [e.text for e in rec.expect] == [e.text for e in sc.expect]
    out = Runner(rec).run()
    statuses = {v.status for v in out.verdicts}
    assert "not evaluated" in statuses  # the windows after the session ended


LAUNCH = "import sys; from twin.cli import main; sys.exit(main())"


def _spawn_tui(args: list[str], cwd: Path) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: twin in a terminal
        os.chdir(cwd)
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execv(sys.executable, [sys.executable, "-c", LAUNCH, *args])
    return pid, fd


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    out, end = b"", time.monotonic() + timeout
    while time.monotonic() < end and needle not in out:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_restores_the_terminal_and_closes_the_recording(tmp_path, sig):
    rec = tmp_path / "session.yaml"
    pid, fd = _spawn_tui(["default", "--record", str(rec)], tmp_path)
    status = None
    try:
        shown = _read_until(fd, b"\x1b[?1049h", 60)  # the alternate screen is on
        assert b"\x1b[?1049h" in shown, shown[-500:]
        time.sleep(3)  # let it draw a few frames
        os.kill(pid, sig)
        rest = _read_until(fd, b"\x1b[?1049l", 30)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
        if status is None:  # still ours and not reaped: end it
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert b"\x1b[?1049l" in rest  # back from the alternate screen
    assert os.waitstatus_to_exitcode(status) == 128 + sig
    assert "duration:" in rec.read_text()  # the recording got its closing line


def test_the_launcher_the_signal_test_uses_runs_twin():
    out = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert out.returncode == 0 and "usage" in out.stdout.lower()


def test_load_layout_still_reads_the_builtins():
    assert load_layout("default").racks


# A launcher whose control room crashes two seconds after it opens (a bug in a frame).
CRASH = (
    "import sys; from twin.frontends.tui.app import TwinApp; from twin.cli import main\n"
    "mount = TwinApp.on_mount\n"
    "def on_mount(self):\n"
    "    mount(self)\n"
    "    self.set_timer(2.0, lambda: 1 / 0)\n"
    "TwinApp.on_mount = on_mount\n"
    "sys.exit(main())"
)


def test_a_crash_in_the_control_room_restores_the_terminal_and_exits_non_zero(tmp_path):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp_path)
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execv(sys.executable, [sys.executable, "-c", CRASH, "default"])
    status = None
    try:
        shown = _read_until(fd, b"\x1b[?1049h", 60)
        assert b"\x1b[?1049h" in shown, shown[-500:]
        rest = _read_until(fd, b"ZeroDivisionError", 60)
        rest += _read_until(fd, b"\x00never", 3)  # the rest of what it prints
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert b"\x1b[?1049l" in rest  # the terminal is back from the alternate screen
    assert b"ZeroDivisionError" in rest  # the error is shown to the operator
    assert os.waitstatus_to_exitcode(status) not in (0, None)
