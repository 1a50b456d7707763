"""``twin attach``: the control room on a class's simulation, through a socket.

`RemoteDriver` has the `EngineDriver` interface the control room steps (``submit``,
``step``, ``now``, ``lock``): commands go up to ``twin serve`` as they are given, and
``step`` returns the newest frame the server sent (a whole one on attach and after a
rewind, compact updates in between, patched together here). `RemoteApp` is the control
room with that driver in place of the engine; it differs only where the role hides
controls (the clock is the server's) and in saying who did what.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from twin.core.api import commands as C
from twin.core.errors import TwinError
from twin.frontends.classroom import codec, protocol
from twin.frontends.classroom.roles import CLASS_VERBS, Policy
from twin.frontends.tui.driver import Frame, Outcome

#: Seconds ``step`` waits for the server's next frame before showing the last one again.
WAIT_S = 0.5


@dataclass(frozen=True)
class RemoteOutcome(Outcome):
    author: str = ""


@dataclass(frozen=True)
class Said:
    """Something the server said to this console: a result, an error or a session note."""

    text: str
    level: str  # ok | error | info | warn
    by: str = ""
    t_s: float | None = None


class RemoteDriver:
    """The control room's driver for a class: the engine is in ``twin serve``."""

    def __init__(self, path: str | Path, name: str, role: str | None = None, timeout: float = 10):
        self.name = name
        self.lock = threading.Lock()  # nothing to guard here: the app takes it around :save
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(str(path))
        except OSError as e:
            self._sock.close()
            raise TwinError(
                f"attach: cannot reach a class at {path}: {e.strerror or e} "
                "(is 'twin serve' running there?)"
            ) from None
        self._tokens = itertools.count(1)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._tree = None
        self._decode_snapshot, self._decode_script = codec.Decoder(), codec.Decoder()
        self._frame: Frame | None = None
        self._seq = 0
        self._shown = 0
        self._outcomes: list[Outcome] = []
        self.said: list[Said] = []
        self.debriefs: list[str] = []  # Markdown the server sent (:debrief, the end of a drill)
        self.clock: dict = {}
        self.closed: str | None = None
        self.frames = 0
        self._send({"t": "hello", "v": protocol.VERSION, "name": name, "role": role})
        try:
            welcome = protocol.recv_blocking(self._sock)
        except (OSError, protocol.ProtocolError, ValueError) as e:
            self._sock.close()
            raise TwinError(f"attach: {path}: no answer from the class ({e})") from None
        if welcome is None or welcome.get("t") == "error":
            self._sock.close()
            why = welcome.get("message") if welcome else "the server closed the connection"
            raise TwinError(f"attach: refused: {why}")
        self.welcome = welcome
        self.role: str = welcome["role"]
        self.layout = codec.decode(welcome["layout"])
        self.clock = {"speed": welcome.get("speed", 1.0), "paused": welcome.get("paused", False)}
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name="class reader", daemon=True)
        self._reader.start()

    # ---- up ----------------------------------------------------------------------------------
    def _send(self, msg: dict) -> None:
        data = protocol.pack(msg)
        with self._send_lock:
            try:
                self._sock.sendall(data)
            except OSError as e:
                self._lost(f"the connection to the class was lost ({e.strerror or e})")

    def submit(self, command: C.Command) -> int:
        return self.send_text(command.text)

    def send_text(self, text: str) -> int:
        token = next(self._tokens)
        self._send({"t": "cmd", "id": token, "text": text})
        return token

    @property
    def has_pending(self) -> bool:
        return False

    def start(self) -> None:
        pass

    @property
    def start_hour(self) -> float:
        """The simulated hour of day at t = 0 (the server's factory's)."""
        return float(self.welcome["start_hour"])

    @property
    def now(self) -> float:
        return self._frame.snapshot.t_s if self._frame is not None else 0.0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send({"t": "bye"})
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    # ---- down --------------------------------------------------------------------------------
    def _lost(self, why: str) -> None:
        with self._cond:
            if self.closed is None:
                self.closed = why
            self._cond.notify_all()

    def _read(self) -> None:
        try:
            while True:
                msg = protocol.recv_blocking(self._sock)
                if msg is None:
                    return self._lost("the class closed the connection")
                self._handle(msg)
        except (OSError, protocol.ProtocolError, ValueError, codec.CodecError) as e:
            self._lost(f"the connection to the class was lost ({e})")

    def _handle(self, msg: dict) -> None:
        t = msg["t"]
        if t in ("full", "update"):
            tree = (
                msg["frame"] if t == "full" else codec.patch(self._tree, {**msg["frame"], "@u": 1})
            )
            snap = self._decode_snapshot(tree["snapshot"])
            script = self._decode_script(tree["script"])
            outs = [self._outcome(o) for o in msg.get("outcomes", ())]
            notes = [
                Said(n["text"], "warn" if n["severity"] != "info" else "info", n["by"], n["t_s"])
                for n in msg.get("notes", ())
            ]
            with self._cond:
                self._tree = tree
                self._frame = Frame(snap, (), 0.0, True, script, bool(tree.get("halted")))
                self._outcomes += [o for o in outs if o is not None]
                self.said += notes
                self.clock = msg.get("clock", self.clock)
                self._seq += 1
                self.frames += 1
                self._cond.notify_all()
        elif t in ("result", "error"):
            with self._cond:
                self.said.append(Said(msg.get("message", ""), "ok" if t == "result" else "error"))
                self._cond.notify_all()
            if msg.get("fatal"):
                self._lost(msg.get("message", "refused"))
        elif t == "debrief":
            with self._cond:
                self.debriefs.append(str(msg.get("text", "")))
                self._cond.notify_all()
        elif t == "bye":
            self._lost(msg.get("reason", "the class ended"))

    def _outcome(self, o: dict) -> Outcome | None:
        try:
            cmd = C.parse_command(o["cmd"])
        except C.CommandError:
            return None
        mine = o["by"] == self.name and o["id"] is not None
        token = o["id"] if mine else -1
        source = "script" if o["source"] == "script" else "operator"
        return RemoteOutcome(token, cmd, o["ok"], o["message"], o["t_s"], source, o["by"])

    def step(self, until_s: float | None = None, budget_s: float | None = None) -> Frame:
        """The newest frame (waiting a little for one the console has not shown yet), with
        the outcomes that came since the last step."""
        with self._cond:
            if self._seq == self._shown and self.closed is None:
                self._cond.wait_for(lambda: self._seq != self._shown or self.closed, WAIT_S)
            while self._frame is None and self.closed is None:
                self._cond.wait(WAIT_S)
            self._shown = self._seq
            outs, self._outcomes = tuple(self._outcomes), []
            frame = self._frame
        if frame is None:
            raise TwinError(f"attach: {self.closed}")
        return Frame(frame.snapshot, outs, 0.0, True, frame.script, frame.halted)

    def take_said(self) -> tuple[list[Said], list[str]]:
        with self._cond:
            out, self.said = self.said, []
            debriefs, self.debriefs = self.debriefs, []
        return out, debriefs


def policy_of(welcome: dict) -> Policy:
    return Policy(per_trainee=bool(welcome.get("per_trainee")), exam=bool(welcome.get("exam")))


def is_class_line(text: str) -> bool:
    words = text.strip().removeprefix(":").split()
    return bool(words) and words[0].lower() in CLASS_VERBS
