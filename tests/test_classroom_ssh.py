"""SSH into a class: a real ``twin serve --ssh`` and a real asyncssh client on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest
from classroom_helpers import Raw, drill

from twin.frontends.classroom.users import hash_password

PASSWORD = "correct horse battery"


class Served:
    """``twin serve DRILL --ssh 127.0.0.1:0`` in a subprocess, with its log in a file."""

    def __init__(self, folder: Path, bo_key: asyncssh.SSHKey):
        self.folder = folder
        self.sock = folder / "class.sock"
        self.users = folder / "users.yaml"
        if not self.users.exists():
            h = hash_password(PASSWORD)
            self.users.write_text(
                "users:\n"
                f'  ada: {{role: instructor, password: "{h}"}}\n'
                f'  bo: {{role: trainee, keys: ["{bo_key.export_public_key().decode().strip()}"]}}\n'
                f'  cy: {{role: observer, password: "{h}"}}\n'
            )
        self.log = folder / "serve.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "twin",
                "serve",
                str(drill(folder)),
                "--socket",
                str(self.sock),
                "--ssh",
                "127.0.0.1:0",
                "--users",
                str(self.users),
                "--color",
                "none",
            ],
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        line = self.proc.stdout.readline()
        m = re.search(r"-p (\d+)", line)
        assert m, (line, self.log.read_text())
        self.port = int(m.group(1))

    def console_pids(self, user: str, timeout: float = 20) -> list[int]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pids = [
                int(p)
                for p in re.findall(
                    rf"{user} \(\w+\) logged in: console pid (\d+)", self.log.read_text()
                )
            ]
            if pids:
                return pids
            time.sleep(0.1)
        raise AssertionError(self.log.read_text())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # the process may be reaped between the signal and the read
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


async def _gone(pid: int, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        await asyncio.sleep(0.05)
    return not _alive(pid)


@pytest.fixture(scope="module")
def keys():
    return asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key(
        "ssh-ed25519"
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory, keys):
    s = Served(tmp_path_factory.mktemp("ssh"), keys[0])
    yield s
    s.stop()


def _connect(served, user: str, **kw):
    return asyncssh.connect(
        "127.0.0.1", served.port, username=user, known_hosts=None, agent_path=None, **kw
    )


async def _read_until(proc, needle: bytes, timeout: float = 30) -> bytes:
    seen = b""
    end = time.monotonic() + timeout
    while needle not in seen:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} never came; the last bytes: {seen[-400:]!r}")
        try:
            seen += await asyncio.wait_for(proc.stdout.read(65536), left)
        except TimeoutError:
            continue
    return seen


async def test_a_trainee_logs_in_sees_the_gauges_and_the_instructor_sees_their_command(
    served, keys
):
    ada = await Raw.connect(served.sock, "ada")
    await ada.until(lambda m: m["t"] == "welcome")
    async with _connect(served, "bo", client_keys=[keys[0]], password=None) as conn:
        proc = await conn.create_process(
            term_type="xterm-256color", term_size=(160, 48), encoding=None
        )
        await _read_until(proc, b"SLO attainment")
        proc.stdin.write(b":")
        await asyncio.sleep(0.5)
        proc.stdin.write(b"drain row-a-01\r")
        msg = await ada.until(
            lambda m: (
                m["t"] in ("full", "update")
                and any(o["cmd"] == "drain row-a-01" for o in m["outcomes"])
            ),
            timeout=30,
        )
        (out,) = [o for o in msg["outcomes"] if o["cmd"] == "drain row-a-01"]
        assert out["by"] == "bo" and out["ok"]
        # the instructor's event log names the trainee
        assert any(
            e.source == "bo" and "drain row-a-01" in e.message for e in ada.snapshot().events
        )
        proc.change_terminal_size(100, 30)  # forwarded to the console's terminal
        await asyncio.sleep(0.3)
        proc.stdin.write(b"q")
        await asyncio.wait_for(proc.wait_closed(), 20)
    await ada.close()


async def test_logins_that_are_not_a_console_are_refused_in_one_line(served, keys):
    with pytest.raises(asyncssh.PermissionDenied):
        async with _connect(served, "ada", password="wrong one", client_keys=None):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with _connect(served, "zed", password=PASSWORD, client_keys=None):
            pass
    with pytest.raises(asyncssh.PermissionDenied):  # a key not listed for bo
        async with _connect(served, "bo", client_keys=[keys[1]], password=None):
            pass
    async with _connect(served, "ada", password=PASSWORD, client_keys=None) as conn:
        r = await conn.run("ls /", check=False)
        assert r.exit_status == 1 and "no commands here" in r.stderr and r.stdout == ""
        r = await conn.run(check=False, input="")  # a shell without a terminal
        assert r.exit_status == 1 and "needs a terminal" in r.stderr
        with pytest.raises(
            (asyncssh.SFTPError, asyncssh.ChannelOpenError, asyncssh.ProcessError, OSError)
        ):
            async with conn.start_sftp_client():
                pass
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", 22)
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 22)
    assert "wrong password for ada" in served.log.read_text()


async def test_a_dropped_connection_leaves_no_process_and_the_seat_waits(served, keys):
    async with _connect(served, "cy", password=PASSWORD, client_keys=None) as conn:
        proc = await conn.create_process(term_type="xterm", term_size=(120, 40), encoding=None)
        await _read_until(proc, b"SLO attainment")
        pid = served.console_pids("cy")[-1]
        assert _alive(pid)
        conn.abort()  # the network goes away
    assert await _gone(pid, 5), "the console outlived its connection"
    async with _connect(served, "cy", password=PASSWORD, client_keys=None) as conn:  # again
        proc = await conn.create_process(term_type="xterm", term_size=(120, 40), encoding=None)
        await _read_until(proc, b"observer")
        proc.close()


async def test_stopping_the_server_leaves_nothing_and_keeps_its_host_key(tmp_path, keys):
    s = Served(tmp_path, keys[0])
    key = (tmp_path / "ssh_host_key").read_bytes()
    try:
        conn = await _connect(s, "ada", password=PASSWORD, client_keys=None)
        proc = await conn.create_process(term_type="xterm", term_size=(120, 40), encoding=None)
        await _read_until(proc, b"SLO attainment")
        pid = s.console_pids("ada")[-1]
        assert s.stop() == 0
        assert await _gone(pid, 5)
        conn.abort()
    finally:
        s.stop()
    assert not s.sock.exists()
    again = Served(tmp_path, keys[0])  # the host key is kept, so clients see the same server
    try:
        assert (tmp_path / "ssh_host_key").read_bytes() == key
    finally:
        again.stop()


def test_the_users_file_reports_each_mistake_at_its_line(tmp_path):
    from twin.core.errors import InputError
    from twin.frontends.classroom.users import load_users

    f = tmp_path / "users.yaml"
    f.write_text(
        "users:\n"
        "  ada: {role: teacher, password: x}\n"
        "  bo:\n"
        "    role: trainee\n"
        "    keys: [not-a-key]\n"
        "  cy: {role: observer}\n"
    )
    with pytest.raises(InputError) as e:
        load_users(f)
    text = str(e.value)
    assert f"{f}:2: users.ada.role: 'teacher' is not one of" in text
    assert f"{f}:2: users.ada.password: not an argon2 hash" in text
    assert f"{f}:5: users.bo.keys[0]: not an OpenSSH public key" in text
    assert f"{f}:6: users.cy: give a password" in text


def test_passwd_prints_a_salted_argon2_hash(tmp_path):
    from twin.frontends.classroom.users import User, check_password

    run = [sys.executable, "-m", "twin", "passwd"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    a = subprocess.run(run, input="hunter22hunter\n", capture_output=True, text=True, env=env)
    b = subprocess.run(run, input="hunter22hunter\n", capture_output=True, text=True, env=env)
    assert a.returncode == 0 and a.stdout.startswith("$argon2id$")
    assert a.stdout != b.stdout  # salted
    user = User("ada", "instructor", a.stdout.strip(), ())
    assert check_password(user, "hunter22hunter") and not check_password(user, "hunter22")
    short = subprocess.run(run, input="abc\n", capture_output=True, text=True, env=env)
    assert (
        short.returncode == 2 and short.stderr.count("\n") == 1 and "8 characters" in short.stderr
    )
    bad = subprocess.run(
        [sys.executable, "-m", "twin", "serve", "default", "--ssh", "127.0.0.1:2222"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2 and "--ssh needs --users" in bad.stderr
