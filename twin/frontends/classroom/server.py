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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from twin.core.errors import TwinError
from twin.frontends.classroom import codec, protocol
from twin.frontends.classroom.commands import NAME, ClassCommands, Refused
from twin.frontends.classroom.roles import Policy
from twin.frontends.classroom.world import World, blind_script

FPS = 5.0
STEP_BUDGET_S = 0.15
#: Messages a console may fall behind by before it is dropped (~6 s of frames).
QUEUE_MAX = 32


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


class Classroom(ClassCommands):
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
        self.prev_base: dict[str, dict | None] = {}  # world: last snapshot tree sans events
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
            self.kick.clear()  # a command that arrives during this frame starts the next at once
            try:
                await self.tick()
            except Exception as e:  # a bug must not take the class down silently
                self.log(f"internal error in a frame ({type(e).__name__}: {e})")
            rest = period - (time.monotonic() - started)
            if rest > 0 and not self.kick.is_set():
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
        """Encode the frame once — the snapshot without its events is the same for every
        viewer, so it is encoded and diffed once — then each kind of viewer's events,
        script and extras, and the same bytes go to every console of that kind."""
        notes = w.notes
        w.notes = []
        outcomes = [self._outcome(w, o) for o in frame.outcomes]
        kinds = {c.kind for c in self.clients if c.world == w.name}
        base = base_diff = None
        if kinds:
            base = codec.encode(dataclasses.replace(frame.snapshot, events=()))
            old = self.prev_base.get(w.name)
            base_diff = None if old is None else codec.diff(base, old)
        self.prev_base[w.name] = base
        for kind in ("all", "blind"):
            clients = [c for c in self.clients if c.world == w.name and c.kind == kind]
            key = (w.name, kind)
            if not clients:
                self.prev.pop(key, None)
                continue
            tree, extra = self._view(w, frame, notes, kind, outcomes, base)
            prev = self.prev.get(key)
            self.prev[key] = tree
            full = update = None
            for c in clients:
                if c.need_full or prev is None or base_diff is None:
                    if full is None:
                        full = protocol.pack_tree("full", frame=tree, **extra)
                    c.need_full = False
                    c.send(full)
                else:
                    if update is None:
                        d = _frame_diff(tree, prev, base_diff)
                        update = protocol.pack_tree("update", frame=d, **extra)
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

    def _view(
        self, w: World, frame, notes, kind: str, all_outcomes, base: dict
    ) -> tuple[dict, dict]:
        """The frame as ``kind`` sees it: ``base`` (the snapshot's tree without its events)
        with the events this kind may see, the script as it may see it, the extras."""
        d = w.driver
        blind = kind == "blind"
        events = []
        for e in frame.snapshot.events:
            if blind and (e.id in d.hidden or e.source == "scenario"):
                continue
            events.append(d.shown(e, blind))
        script = blind_script(frame.script, d.hidden_applied) if blind else frame.script
        tree = {
            "snapshot": {**base, "events": codec.encode(tuple(events))},
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
        except Refused as e:
            self._error(c, str(e), msg_id)
        except TwinError as e:
            self._error(c, str(e).splitlines()[0], msg_id, journal=False)


def _frame_diff(tree: dict, prev: dict, base_diff) -> dict:
    """`codec.diff` of two views of consecutive frames, given the diff of their shared
    snapshot part (``base_diff``): only the events, script and flags are compared here."""
    snap = {} if base_diff is codec.SAME else {k: v for k, v in base_diff.items() if k != "@u"}
    events = codec.diff(tree["snapshot"]["events"], prev["snapshot"]["events"])
    if events is not codec.SAME:
        snap["events"] = events
    out = {"snapshot": {**snap, "@u": 1}} if snap else {}
    for k in ("script", "halted"):
        d = codec.diff(tree[k], prev[k])
        if d is not codec.SAME:
            out[k] = d
    return out


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
