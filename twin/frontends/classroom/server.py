"""``twin serve``: one simulation (or one per trainee), many consoles, no screen.

The server owns the worlds (`World`: factory, scenario, clock, journal, checkpoints),
steps them in one engine thread a few times a second (at once when a command arrives),
and sends each attached console its frame: in full on attach and after a rewind, as a
compact update otherwise. Frames are encoded once per world and per kind of viewer
(``all`` for the instructor; ``blind`` for trainees and observers, without the script,
hidden events or expectations) and the same bytes go to every console of that kind.

A console's messages are checked on arrival: malformed, oversized or not allowed for its
role, they get an ``error`` and a journal line, never a crash. Each console has a bounded
send queue; one that stops reading is dropped when it fills, without slowing the others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from twin.core import commands as C
from twin.core.errors import TwinError
from twin.frontends.classroom import codec, protocol
from twin.frontends.classroom.roles import CLASS_VERBS, Policy
from twin.frontends.classroom.world import World, blind_script
from twin.frontends.tui.clock import speed_label

FPS = 5.0
STEP_BUDGET_S = 0.15
#: Messages a console may fall behind by before it is dropped (~6 s of frames).
QUEUE_MAX = 32
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


@dataclass(eq=False)
class Client:
    name: str
    role: str
    world: str
    writer: asyncio.StreamWriter
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    need_full: bool = True
    closed: bool = False

    @property
    def kind(self) -> str:
        return "all" if self.role == "instructor" else "blind"

    def send(self, data: bytes) -> bool:
        """Queue ``data``; False (and the console is dropped) when it has stopped reading."""
        if self.closed:
            return False
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.drop()
            return False
        return True

    def drop(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.transport.abort()


class Classroom:
    """The server: worlds, consoles, roles."""

    def __init__(
        self,
        new_world: Callable[[str], World],
        *,
        policy: Policy | None = None,
        users: dict[str, str] | None = None,
        fps: float = FPS,
        checkpoint_every_s: float | None = None,
        auto_freeze: bool = False,
        welcome: dict | None = None,
        log: Callable[[str], None] | None = None,
    ):
        self.new_world = new_world
        self.policy = policy or Policy()
        self.users = users
        self.fps = fps
        self.checkpoint_every_s = checkpoint_every_s
        self.auto_freeze = auto_freeze
        self.welcome = welcome or {}
        self.log = log or (lambda text: print(f"twin serve: {text}", file=sys.stderr, flush=True))
        self.worlds: dict[str, World] = {}
        self.clients: list[Client] = []
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.prev: dict[tuple[str, str], object] = {}  # (world, kind): last tree sent
        self.kick = asyncio.Event()
        self.stopped = asyncio.Event()
        self.ended_by: str | None = None
        self._alarm_seen: dict[str, int] = {}
        self._server: asyncio.AbstractServer | None = None
        self._ticker: asyncio.Task | None = None
        self._tasks: set = set()  # one per connected console
        self._stopping: asyncio.Future | None = None
        self.frames = 0

    # ---- life ----------------------------------------------------------------------------------
    async def start(self, socket_path: str | Path) -> None:
        path = Path(socket_path)
        if path.exists():
            if _alive(path):
                raise TwinError(f"serve: {path} is in use by a running class")
            path.unlink()
        first = "class" if not self.policy.per_trainee else "instructor"
        self.worlds[first] = await self._run(self.new_world, first)
        old = os.umask(0o077)  # the socket is its owner's only: the OS user is the trust boundary
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(path), limit=protocol.MAX_CLIENT_MESSAGE + 16
            )
        finally:
            os.umask(old)
        self.socket_path = path
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self, reason: str = "the server stopped") -> None:
        """Say goodbye to every console, close the journals, remove the socket (every caller
        waits for the one stop under way)."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(reason))
        await asyncio.shield(self._stopping)

    async def _stop(self, reason: str) -> None:
        self.stopped.set()
        if self._ticker is not None:
            self._ticker.cancel()
        bye = protocol.pack_tree("bye", reason=reason)
        for c in list(self.clients):
            c.send(bye)
        await asyncio.sleep(0.05)
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                c.writer.close()
        if self._server is not None:
            self._server.close()
        if self._tasks:  # let each console's task see its connection closed
            _, late = await asyncio.wait(list(self._tasks), timeout=2)
            for t in late:
                t.cancel()
        for w in self.worlds.values():
            await self._run(w.close)
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        self.pool.shutdown(wait=True)

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    # ---- stepping ------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        period = 1.0 / self.fps
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                await self.tick()
            except Exception as e:  # a bug must not take the class down silently
                self.log(f"internal error in a frame ({type(e).__name__}: {e})")
            rest = period - (time.monotonic() - started)
            self.kick.clear()
            if rest > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.kick.wait(), rest)

    async def tick(self) -> None:
        for w in list(self.worlds.values()):
            frame = await self._run(w.step, STEP_BUDGET_S, self.checkpoint_every_s)
            if self.auto_freeze:
                self._check_alarms(w, frame)
            self.broadcast(w, frame)
        self.frames += 1

    def _check_alarms(self, w: World, frame) -> None:
        seen = self._alarm_seen.get(w.name, 0)
        new = [e for e in frame.snapshot.events if e.id > seen and e.severity == "critical"]
        if frame.snapshot.events:
            self._alarm_seen[w.name] = frame.snapshot.events[-1].id
        if new and not w.clock.paused:
            for x in self.worlds.values():
                x.clock.pause()
                x.clock.sync(x.factory.now)
                x.note(f"auto-freeze: {new[0].source}: {new[0].message}", "server", "warning")

    def broadcast(self, w: World, frame) -> None:
        notes = w.notes
        w.notes = []
        outcomes = [self._outcome(w, o) for o in frame.outcomes]
        for kind in ("all", "blind"):
            clients = [c for c in self.clients if c.world == w.name and c.kind == kind]
            key = (w.name, kind)
            if not clients:
                self.prev.pop(key, None)
                continue
            tree, extra = self._view(w, frame, notes, kind, outcomes)
            prev = self.prev.get(key)
            self.prev[key] = tree
            full = update = None
            for c in clients:
                if c.need_full or prev is None:
                    if full is None:
                        full = protocol.pack_tree("full", frame=tree, **extra)
                    c.need_full = False
                    c.send(full)
                else:
                    if update is None:
                        d = codec.diff(tree, prev)
                        update = protocol.pack_tree(
                            "update", frame={} if d is codec.SAME else d, **extra
                        )
                    c.send(update)

    @staticmethod
    def _outcome(w: World, o) -> dict:
        by, inject, msg_id = w.driver.outcome_meta.pop(o.token, ("operator", None, None))
        hidden = inject == "hidden"
        if o.source == "script":
            by, hidden, msg_id = "script", True, None
        return {
            "cmd": o.command.text,
            "ok": o.ok,
            "message": o.message,
            "t_s": o.t_s,
            "source": o.source,
            "by": by,
            "id": msg_id,
            "hidden": hidden,
        }

    def _view(self, w: World, frame, notes, kind: str, all_outcomes) -> tuple[dict, dict]:
        d = w.driver
        blind = kind == "blind"
        events = []
        for e in frame.snapshot.events:
            if blind and (e.id in d.hidden or e.source == "scenario"):
                continue
            events.append(d.shown(e, blind))
        snap = dataclasses.replace(frame.snapshot, events=tuple(events))
        script = blind_script(frame.script, d.hidden_applied) if blind else frame.script
        tree = {
            "snapshot": codec.encode(snap),
            "script": codec.encode(script),
            "halted": frame.halted,
        }
        outcomes = [o for o in all_outcomes if not (blind and o["hidden"])]
        clock = {"speed": w.clock.speed, "paused": w.clock.paused, "world": w.name}
        shown = [
            {"t_s": n.t_s, "text": n.text, "by": n.by, "severity": n.severity}
            for n in notes
            if not (blind and n.instructor_only)
        ]
        return tree, {"outcomes": outcomes, "notes": shown, "clock": clock}

    # ---- consoles ------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client: Client | None = None
        sender: asyncio.Task | None = None
        me = asyncio.current_task()
        self._tasks.add(me)
        try:
            body = await asyncio.wait_for(
                protocol.read_body(reader, protocol.MAX_CLIENT_MESSAGE), 10
            )
            if body is None:
                return
            client = await self._hello(body, writer)
            if client is None:
                await writer.drain()
                return
            sender = asyncio.create_task(self._sender(client))
            while not client.closed:
                body = await protocol.read_body(reader, protocol.MAX_CLIENT_MESSAGE)
                if body is None:
                    break
                await self._message(client, body)
        except protocol.ProtocolError as e:
            who = client.name if client else "a console"
            self._journal_refusal(client, f"{who} dropped: {e}")
            with contextlib.suppress(Exception):
                writer.write(protocol.pack_tree("error", message=f"dropped: {e}"))
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if client is not None:
                client.drop()
                with contextlib.suppress(ValueError):
                    self.clients.remove(client)
                self.log(f"{client.name} ({client.role}) left")
            if sender is not None:
                sender.cancel()
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(me)

    async def _sender(self, c: Client) -> None:
        try:
            while not c.closed:
                data = await c.queue.get()
                c.writer.write(data)
                await c.writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            c.drop()

    async def _hello(self, body: bytes, writer: asyncio.StreamWriter) -> Client | None:
        def refuse(text: str) -> None:
            writer.write(protocol.pack_tree("error", message=text, fatal=True))
            self._journal_refusal(None, f"a console refused: {text}")

        try:
            msg = protocol.unpack(body)
        except ValueError as e:
            refuse(f"malformed hello: {e}")
            return None
        if msg.get("t") != "hello":
            refuse("the first message must be a hello")
            return None
        if msg.get("v") != protocol.VERSION:
            refuse(
                f"protocol version {msg.get('v')!r}; this server speaks {protocol.VERSION} "
                "(attach with the same twin as the server)"
            )
            return None
        name, role = msg.get("name"), msg.get("role") or "trainee"
        if not isinstance(name, str) or not NAME.match(name):
            refuse("a name is 1-32 letters, digits, '.', '_' or '-'")
            return None
        if self.users is not None:
            if name not in self.users:
                refuse(f"{name} is not in the class's users file")
                return None
            role = self.users[name]
        elif role not in protocol.ROLES:
            refuse(f"role {role!r}: one of {', '.join(protocol.ROLES)}")
            return None
        if self.ended_by is not None:
            refuse(f"the session was ended by {self.ended_by}")
            return None
        for old in [c for c in self.clients if c.name == name]:  # a reconnect takes the seat
            old.send(protocol.pack_tree("bye", reason=f"{name} attached again elsewhere"))
            old.drop()
            self.clients.remove(old)
        world = await self._seat(name, role)
        c = Client(name, role, world, writer)
        w = self.worlds[world]
        welcome = {
            **self.welcome,
            "v": protocol.VERSION,
            "name": name,
            "role": role,
            "world": world,
            "exam": self.policy.exam,
            "per_trainee": self.policy.per_trainee,
            "speed": w.clock.speed,
            "paused": w.clock.paused,
        }
        if role != "instructor":
            welcome.pop("scenario_description", None)
        writer.write(protocol.pack_tree("welcome", **welcome))
        self.clients.append(c)
        self.log(f"{name} attached as {role} ({world})")
        w.note(f"{name} attached ({role})", name, instructor_only=True)
        self.kick.set()
        return c

    async def _seat(self, name: str, role: str) -> str:
        if not self.policy.per_trainee:
            return "class"
        if role == "trainee":
            if name not in self.worlds:
                self.worlds[name] = await self._run(self.new_world, name)
            return name
        trainees = [n for n in self.worlds if n != "instructor"]
        return trainees[0] if trainees and role == "observer" else "instructor"

    # ---- messages ------------------------------------------------------------------------------
    def _journal_refusal(self, c: Client | None, text: str) -> None:
        self.log(text)
        worlds = [self.worlds[c.world]] if c is not None and c.world in self.worlds else []
        for w in worlds or list(self.worlds.values())[:1]:
            w.session.comment(f"refused: {text}")

    def _error(self, c: Client, text: str, msg_id=None, journal: bool = True) -> None:
        c.send(protocol.pack_tree("error", message=text, id=msg_id))
        if journal:
            self._journal_refusal(c, f"{c.name} ({c.role}): {text}")

    def _result(self, c: Client, msg_id, text: str) -> None:
        c.send(protocol.pack_tree("result", id=msg_id, ok=True, message=text))

    async def _message(self, c: Client, body: bytes) -> None:
        try:
            msg = protocol.unpack(body)
        except ValueError as e:
            self._error(c, f"malformed message: {e}")
            return
        kind, msg_id = msg["t"], msg.get("id")
        if not (msg_id is None or (isinstance(msg_id, int) and not isinstance(msg_id, bool))):
            self._error(c, "a message id is a whole number")
            return
        if kind == "bye":
            c.drop()
            return
        if kind != "cmd":
            self._error(c, f"unknown message type {kind!r}", msg_id)
            return
        text = msg.get("text")
        if not isinstance(text, str) or not text.strip():
            self._error(c, "a cmd carries the command line as 'text'", msg_id)
            return
        try:
            await self._command(c, text.strip().removeprefix(":").strip(), msg_id)
        except _Refused as e:
            self._error(c, str(e), msg_id)
        except TwinError as e:
            self._error(c, str(e).splitlines()[0], msg_id, journal=False)

    async def _command(self, c: Client, text: str, msg_id) -> None:
        words = text.split()
        verb = words[0].lower()
        w = self.worlds[c.world]
        if verb in CLASS_VERBS:
            return await self._class_command(c, w, verb, words[1:], text, msg_id)
        try:
            cmd = C.parse_command(text)
        except C.CommandError as e:
            self._error(c, str(e), msg_id, journal=False)
            return
        if isinstance(cmd, C.Pause | C.Resume | C.Speed):
            return await self._clock(c, w, cmd, msg_id)
        if isinstance(cmd, C.Save):
            self._allow(c, "save")
            out = await self._run(lambda: w.session.save(cmd.path, w.factory.now, cmd.force))
            return self._result(c, msg_id, f"saved to {out} (replay: twin run {out})")
        if isinstance(cmd, C.SessionCommand):
            self._error(c, f"{cmd.verb}: each console does this itself", msg_id, journal=False)
            return
        self._allow(c, "operator")
        w.driver.submit_as(cmd, c.name, msg_id=msg_id)
        self.kick.set()

    def _allow(self, c: Client, kind: str) -> None:
        why = self.policy.refusal(c.role, kind)
        if why is not None:
            raise _Refused(f"{kind if kind != 'operator' else 'commands'} refused: {why}")

    async def _clock(self, c: Client, w: World, cmd, msg_id) -> None:
        self._allow(c, "clock")
        worlds = list(self.worlds.values()) if c.role == "instructor" else [w]
        for x in worlds:
            if isinstance(cmd, C.Pause):
                x.clock.pause()
                x.clock.sync(x.factory.now)
                x.note("froze the clock", c.name)
            elif isinstance(cmd, C.Resume):
                if x.ended:
                    continue
                x.clock.sync(x.factory.now)
                x.clock.resume()
                x.note(f"runs the clock at {speed_label(x.clock.speed)}", c.name)
            else:
                old = speed_label(x.clock.speed)
                x.clock.set_speed(cmd.factor)
                x.note(f"speed {old} → {speed_label(cmd.factor)}", c.name)
        self.kick.set()
        self._result(c, msg_id, "ok")

    async def _class_command(self, c: Client, w: World, verb: str, args, text, msg_id) -> None:
        if verb in ("freeze", "run"):
            return await self._clock(c, w, C.Pause() if verb == "freeze" else C.Resume(), msg_id)
        if verb == "who":
            people = ", ".join(f"{x.name} ({x.role}, {x.world})" for x in self.clients)
            return self._result(c, msg_id, f"attached: {people}")
        if verb == "hint":
            self._allow(c, "hint")
            return self._result(c, msg_id, self._hint(c, w))
        if verb == "debrief":
            return self._debrief(c, w, msg_id)
        if verb in ("checkpoint", "checkpoints"):
            self._allow(c, "checkpoint")
            if verb == "checkpoints":
                return self._result(c, msg_id, w.checkpoint_list())
            name = args[0] if args else None
            if name is not None and not NAME.match(name):
                raise TwinError("checkpoint: a name is 1-32 letters, digits, '.', '_' or '-'")
            for x in self._worlds_for(c, w):
                cp = await self._run(x.checkpoint, name)
                x.note(f"checkpoint {cp.name} at {x.rel(cp.t_s)}", c.name)
            return self._result(c, msg_id, f"checkpoint {cp.name} taken")
        if verb == "rewind":
            self._allow(c, "rewind")
            if len(args) != 1:
                raise TwinError(f"rewind NAME; checkpoints: {w.checkpoint_list()}")
            for x in self._worlds_for(c, w):
                if args[0] not in x.checkpoints:
                    continue
                cp = await self._run(x.rewind, args[0], c.name)
                x.note(
                    f"rewound to {cp.name} ({x.rel(cp.t_s)}); the clock is frozen",
                    c.name,
                    "warning",
                )
                for other in self.clients:
                    if other.world == x.name:
                        other.need_full = True
                self._alarm_seen.pop(x.name, None)
            if args[0] not in w.checkpoints:
                raise TwinError(f"rewind: no checkpoint {args[0]!r}; {w.checkpoint_list()}")
            self.kick.set()
            return self._result(c, msg_id, f"rewound to {args[0]}")
        if verb == "inject":
            self._allow(c, "inject")
            hidden = bool(args) and args[0].lower() == "hidden"
            rest = " ".join(args[1:] if hidden else args)
            cmd = C.parse_command(rest) if rest else None
            if not isinstance(cmd, C.Command):
                raise TwinError("inject [hidden] COMMAND, e.g. inject hidden fail pdu-3")
            for x in self._worlds_for(c, w):
                x.driver.submit_as(cmd, c.name, "hidden" if hidden else "shown", msg_id)
            self.kick.set()
            return None
        if verb == "watch":
            self._allow(c, "watch")
            if len(args) != 1 or args[0] not in self.worlds:
                raise TwinError(f"watch NAME: one of {', '.join(self.worlds)}")
            c.world, c.need_full = args[0], True
            self.kick.set()
            return self._result(c, msg_id, f"watching {args[0]}")
        if verb == "autofreeze":
            self._allow(c, "autofreeze")
            if args not in (["on"], ["off"]):
                raise TwinError("autofreeze on|off")
            self.auto_freeze = args[0] == "on"
            w.note(f"auto-freeze on critical alarms {args[0]}", c.name)
            return self._result(c, msg_id, f"autofreeze {args[0]}")
        if verb == "end":
            self._allow(c, "end")
            self.ended_by = c.name
            for x in self.worlds.values():
                x.note("ended the session", c.name)
                x.ended = True
            self._result(c, msg_id, "session ended")
            asyncio.get_running_loop().call_later(
                0.1, lambda: asyncio.ensure_future(self.stop(f"the session was ended by {c.name}"))
            )
            return None
        raise TwinError(f"{verb}: not available")

    def _worlds_for(self, c: Client, w: World) -> list[World]:
        return list(self.worlds.values()) if c.role == "instructor" else [w]

    def _hint(self, c: Client, w: World) -> str:
        p = w.player
        if p is None:
            return "hint: no drill is playing"
        drill = getattr(p, "drill", None)
        if drill is not None:  # a drill's own hints, for its points
            with w.driver.lock:
                text = drill.take_hint(p.t_rel())
                cost = drill.drill.hint_cost
                left = len(drill.drill.hints) - len(drill.hints)
                if text is not None:  # journaled: it costs points, so a replay takes it too
                    w.session.hint(w.factory.now, c.name)
            if text is None:
                return "hint: no hints left" if not drill.finished else "hint: the drill is over"
            w.note(f"took a hint (−{cost:g})", c.name, instructor_only=True)
            return f"hint (−{cost:g}, {left} left): {text}"
        w.note("took a hint", c.name, instructor_only=True)
        for v in p.live_verdicts():
            if v.status in ("pending", "holding"):
                return f"hint: the drill expects {v.text}"
        return "hint: every expectation is settled"

    def _debrief(self, c: Client, w: World, msg_id) -> None:
        """The drill's debrief as Markdown (the console shows it); a trainee's at the end only."""
        p = w.player
        if p is None or getattr(p, "drill", None) is None:
            raise TwinError("debrief: no drill is running (a drill is a scenario with objectives)")
        if c.role != "instructor" and not p.finished:
            raise TwinError("debrief: it opens when the drill is over")
        from twin.frontends import debrief

        with w.driver.lock:
            rep = p.drill.report(p.t_rel(), p.applied)
            events = list(p.factory.events)
        actions = [debrief.Action(a["t_s"], a["do"], a["source"], a["ok"]) for a in rep["actions"]]
        blind = c.role != "instructor"
        shown = [
            w.driver.shown(e, blind)
            for e in events
            if e.t_s >= p.t0
            and (not blind or (e.id not in w.driver.hidden and e.source != "scenario"))
        ]
        notes = [debrief.Note(e.t_s - p.t0, e.severity, e.source, e.message) for e in shown]
        text = debrief.render(p.sc.name, rep, actions, notes)
        c.send(protocol.pack_tree("debrief", id=msg_id, text=text))


class _Refused(TwinError):
    pass


def _alive(path: Path) -> bool:
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.5)
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()
