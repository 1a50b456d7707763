"""SSH into a class: each login with a terminal is ``twin attach`` on a PTY, in the user's seat.

An asyncssh server in ``twin serve``. Users and their roles come from the users file
(passwords as argon2 hashes, or listed public keys). A session that asks for a terminal
and a shell gets a child ``twin attach SOCKET --name USER`` on a fresh PTY in its own
process group; its output goes to the channel, the channel's input to it, and window
changes to its PTY (with SIGWINCH). Everything else is refused with one line: a session
without a terminal, exec and subsystem requests (no shell, no SFTP), port and agent
forwarding. When the connection drops (keep-alives catch half-open ones) the child's
group gets SIGHUP, then SIGTERM, then SIGKILL: nothing is left behind, and the user can
log in again to the same seat.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import asyncssh

from twin.core.errors import TwinError
from twin.frontends.classroom.users import User, check_password

#: Seconds between the signals that end a dropped login's console (HUP, TERM, KILL).
GRACE_S = 1.0
KEEPALIVE_S = 15


def host_key(path: Path) -> asyncssh.SSHKey:
    """The server's key: read, or created once (0600) so clients never see it change."""
    if path.exists():
        try:
            return asyncssh.read_private_key(str(path))
        except (asyncssh.KeyImportError, OSError) as e:
            raise TwinError(f"serve: --host-key {path}: not a private key ({e})") from None
    key = asyncssh.generate_private_key("ssh-ed25519")
    old = os.umask(0o077)
    try:
        key.write_private_key(str(path))
    except OSError as e:
        raise TwinError(f"serve: cannot write the host key {path}: {e.strerror or e}") from None
    finally:
        os.umask(old)
    print(f"twin serve: created the SSH host key {path} (kept for next time)", file=sys.stderr)
    return key


def color_env(color: str) -> dict[str, str]:
    """The terminal colour settings consoles get (SSH forwards TERM, not COLORTERM)."""
    if color == "none":
        return {"NO_COLOR": "1"}
    if color == "truecolor":
        return {"COLORTERM": "truecolor"}
    if color in ("256", "16"):
        return {"TEXTUAL_COLOR_SYSTEM": "256" if color == "256" else "standard"}
    return {k: os.environ[k] for k in ("COLORTERM", "NO_COLOR") if k in os.environ}


class Front:
    """The SSH side of a class: the listening server and the consoles it started."""

    def __init__(self, room, socket_path: Path, users: dict[str, User], color: str):
        self.room, self.socket_path, self.users, self.color = room, socket_path, users, color
        self.children: set[subprocess.Popen] = set()
        self.server: asyncssh.SSHAcceptor | None = None
        self.port = 0

    def log(self, text: str) -> None:
        self.room.log(f"ssh: {text}")

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        await asyncio.gather(*(end_group(p) for p in list(self.children)))

    def spawn(self, user: str, term: str, cols: int, rows: int) -> tuple[subprocess.Popen, int]:
        master, slave = pty.openpty()
        set_size(slave, cols, rows)
        env = {
            k: v
            for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "TWIN_CATALOG", "TMPDIR")
        }
        env.update({"TERM": term or "xterm-256color", **color_env(self.color)})
        env.setdefault("LANG", "C.UTF-8")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "twin", "attach", str(self.socket_path), "--name", user],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,  # its own process group: signalled as one
                close_fds=True,
                env=env,
            )
        finally:
            os.close(slave)
        self.children.add(proc)
        return proc, master


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def end_group(proc: subprocess.Popen) -> None:
    """HUP, then TERM, then KILL to the console's process group, until it is gone."""
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        for _ in range(int(GRACE_S / 0.05)):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything it started, too


class _Server(asyncssh.SSHServer):
    def __init__(self, front: Front):
        self.front = front
        self.peer = "?"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.peer = "{}:{}".format(*(conn.get_extra_info("peername") or ("?", "?"))[:2])

    def begin_auth(self, username: str) -> bool:
        if username not in self.front.users:
            self.front.log(f"unknown user {username!r} from {self.peer} refused")
        return True  # always ask (an unknown name is refused like a wrong password)

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        user = self.front.users.get(username)
        if user is None:
            return False
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, check_password, user, password)
        if not ok:
            self.front.log(f"wrong password for {username} from {self.peer}")
        return ok

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self.front.users.get(username)
        if user is None:
            return False
        for text in user.keys:
            with contextlib.suppress(asyncssh.KeyImportError, ValueError):
                if asyncssh.import_public_key(text).public_data == key.public_data:
                    return True
        self.front.log(f"a key not listed for {username} from {self.peer} refused")
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def connection_requested(self, *args):  # direct-tcpip: no port forwarding
        self.front.log(f"port forwarding refused ({self.peer})")
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "twin: no port forwarding"
        )

    def server_requested(self, listen_host: str, listen_port: int):
        self.front.log(f"remote port forwarding refused ({self.peer})")
        return False

    def unix_connection_requested(self, dest_path: str):
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "twin: no socket forwarding"
        )

    def unix_server_requested(self, listen_path: str):
        return False

    def session_requested(self):
        return _Session(self.front, self.conn.get_extra_info("username"))


class _Session(asyncssh.SSHServerSession):
    """One login: a refusal in one line, or a console on a PTY."""

    def __init__(self, front: Front, user: str):
        self.front, self.user = front, user
        self.term: str | None = None
        self.size = (80, 24)
        self.refusal: str | None = None
        self.proc: subprocess.Popen | None = None
        self.master: int | None = None
        self.chan = None

    def connection_made(self, chan) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size, term_modes) -> bool:
        self.term = term_type
        self.size = (term_size[0] or 80, term_size[1] or 24)
        return True

    def shell_requested(self) -> bool:
        if self.term is None:
            self.refusal = (
                "twin: this is a control room and needs a terminal: ssh -t "
                f"{self.user}@HOST (no commands, no shell)"
            )
        return True

    def exec_requested(self, command: str) -> bool:
        self.refusal = (
            "twin: no commands here, only the control room (ssh -t, nothing after the host)"
        )
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.refusal = f"twin: no {subsystem} here, only the control room"
        return True

    def session_started(self) -> None:
        if self.refusal is not None:
            self.front.log(f"{self.user}: {self.refusal}")
            self.chan.write_stderr((self.refusal + "\r\n").encode())
            self.chan.exit(1)
            return
        self.proc, self.master = self.front.spawn(self.user, self.term or "", *self.size)
        role = self.front.users[self.user].role
        self.front.log(f"{self.user} ({role}) logged in: console pid {self.proc.pid}")
        asyncio.get_running_loop().add_reader(self.master, self._output)

    def _output(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if data:
            self.chan.write(data)
            return
        self._finish()

    def _finish(self) -> None:
        loop = asyncio.get_running_loop()
        if self.master is not None:
            loop.remove_reader(self.master)
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
        if self.proc is not None:
            proc = self.proc
            status = proc.poll()
            self.front.children.discard(proc)
            if status is None:
                loop.create_task(end_group(proc))
            with contextlib.suppress(Exception):
                self.chan.exit(status if status is not None and status >= 0 else 1)

    def data_received(self, data, datatype) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, data)

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int):
        self.size = (width or 80, height or 24)
        if self.master is not None and self.proc is not None:
            set_size(self.master, *self.size)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGWINCH)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.front.log(f"{self.user}: connection lost; ending the console")
        self._finish()


async def start_ssh(room, socket_path: Path, users, key_path: Path, addr, color: str) -> Front:
    front = Front(room, socket_path, users, color)
    key = host_key(key_path)
    try:
        front.server = await asyncssh.create_server(
            lambda: _Server(front),
            addr[0],
            addr[1],
            server_host_keys=[key],
            encoding=None,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            sftp_factory=None,
            keepalive_interval=KEEPALIVE_S,
            keepalive_count_max=3,
            login_timeout=60,
        )
    except OSError as e:
        raise TwinError(f"serve: --ssh {addr[0]}:{addr[1]}: {e.strerror or e}") from None
    front.port = front.server.sockets[0].getsockname()[1]
    return front
