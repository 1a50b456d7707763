"""A class served in-process for tests: a drill file, a server, raw protocol clients."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
import threading
from pathlib import Path

from twin.frontends.classroom import codec, protocol
from twin.frontends.classroom.roles import Policy
from twin.frontends.classroom.server import Classroom
from twin.frontends.classroom.setup import world_builder

#: A short drill on the default factory: a scripted PDU failure at 20 s, expectations.
DRILL = """\
name: class-drill
description: A PDU fails; the class must notice
layout: default
seed: 7
warmup: 30s
duration: 10m
events:
  - at: 20s
    do: fail row-a-pdu-1 for 5m
expect:
  - rack row-a-01 state == down during 30s..60s
  - slo_attainment >= 0.5 at 5m
"""


def drill(tmp_path: Path) -> Path:
    p = tmp_path / "class-drill.yaml"
    p.write_text(DRILL)
    return p


def build_room(
    target: Path,
    record: Path | None = None,
    *,
    per_trainee: bool = False,
    exam: bool = False,
    users: dict[str, str] | None = None,
    fps: float = 20.0,
    frozen: bool = True,
    speed: float | None = 1.0,
) -> Classroom:
    args = argparse.Namespace(
        target=str(target),
        catalog=[],
        seed=None,
        record=str(record) if record else None,
        force=False,
        per_trainee=per_trainee,
        speed=speed,
        frozen=frozen,
    )
    new_world, welcome = world_builder(args)
    return Classroom(
        new_world,
        policy=Policy(per_trainee=per_trainee, exam=exam),
        users=users,
        fps=fps,
        welcome=welcome,
        log=lambda text: None,
    )


class Raw:
    """A console speaking the protocol by hand (asyncio streams)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.received = bytearray()  # every byte the server sent this console
        self.ids = 0
        self.tree = None

    @classmethod
    async def connect(cls, path: Path, name: str | None = None, role: str | None = None) -> Raw:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=2**28)
        raw = cls(reader, writer)
        if name is not None:
            await raw.send({"t": "hello", "v": protocol.VERSION, "name": name, "role": role})
        return raw

    async def send(self, msg: dict) -> None:
        self.writer.write(protocol.pack(msg))
        await self.writer.drain()

    async def send_bytes(self, body: bytes) -> None:
        self.writer.write(struct.pack(">I", len(body)) + body)
        await self.writer.drain()

    async def cmd(self, text: str) -> int:
        self.ids += 1
        await self.send({"t": "cmd", "id": self.ids, "text": text})
        return self.ids

    async def recv(self, timeout: float = 10.0) -> dict | None:
        body = await asyncio.wait_for(protocol.read_body(self.reader, 2**28), timeout)
        if body is None:
            return None
        self.received += body
        msg = protocol.unpack(body)
        if msg["t"] == "full":
            self.tree = msg["frame"]
        elif msg["t"] == "update":
            self.tree = codec.patch(self.tree, {**msg["frame"], "@u": 1})
        return msg

    def snapshot(self):
        """The snapshot as this console has it (every frame so far, patched together)."""
        return codec.decode(self.tree["snapshot"])

    async def until(self, test, timeout: float = 20.0) -> dict:
        """Read messages until one passes ``test``; returns it."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, end - loop.time()))
            if msg is None:
                raise EOFError("the server closed the connection")
            if test(msg):
                return msg

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
            await self.writer.wait_closed()


class ServerThread:
    """A class served from its own thread and event loop (for blocking consoles: the TUI)."""

    def __init__(self, room: Classroom, path: Path):
        self.room, self.path = room, path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    async def _start(self) -> None:
        self.room.kick = asyncio.Event()
        self.room.stopped = asyncio.Event()
        await self.room.start(self.path)

    def call(self, fn, timeout: float = 30):
        async def run():
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.room.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def is_frame(msg: dict) -> bool:
    """A message that carries the factory's state: the full one on attach, or an update."""
    return msg["t"] in ("full", "update")


async def attach(path, name: str, role: str) -> Raw:
    """A raw console attached as NAME with ROLE, past its welcome and first full frame."""
    c = await Raw.connect(path, name, role)
    welcome = await c.until(lambda m: m["t"] in ("welcome", "error"))
    assert welcome["t"] == "welcome", welcome
    await c.until(lambda m: m["t"] == "full")
    return c


async def reply(c: Raw, text: str) -> dict:
    """Send a command and wait for its result or error."""
    i = await c.cmd(text)
    return await c.until(lambda m: m.get("id") == i and m["t"] in ("result", "error"))


async def applied(c: Raw, text: str) -> dict:
    """Send an operator command and wait for the frame that reports its outcome."""
    i = await c.cmd(text)
    m = await c.until(lambda m: is_frame(m) and any(o["id"] == i for o in m["outcomes"]))
    return next(o for o in m["outcomes"] if o["id"] == i)
