"""What travels between ``twin serve`` and its consoles: length-prefixed JSON messages.

Each message is a 4-byte big-endian length, then that many bytes of JSON: an object with
a type ``t``. A console opens with ``hello`` (its protocol version, name and the role it
asks for); the server answers ``welcome`` (the role it grants, the layout) then ``full``
(a whole frame), and from then on ``update`` (what changed since the last frame) at the
frame rate, ``full`` again after a rewind, ``result`` for each command and ``error`` for
anything refused. A console sends ``cmd`` (a command line, as typed after ``:``) and
``bye``.

client → server: hello {v, name, role} · cmd {id, text} · bye
server → client: welcome {v, name, role, world, layout, catalog, scenario, …} ·
                 full {frame} · update {frame} · result {id, ok, message} ·
                 error {message, id?} · bye {reason}
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from twin.frontends.classroom import codec

VERSION = 1
#: The largest message a console may send (a command line is a few dozen bytes).
MAX_CLIENT_MESSAGE = 64 * 1024
#: The largest message the server sends (a hyperscale layout is ~3 MB of JSON).
MAX_SERVER_MESSAGE = 256 * 1024 * 1024
ROLES = ("instructor", "trainee", "observer")
_LEN = struct.Struct(">I")


class ProtocolError(Exception):
    """A message that cannot be read: the connection is in an unknown state."""


def pack(msg: Any) -> bytes:
    body = codec.dumps(msg)
    return _LEN.pack(len(body)) + body


def pack_tree(kind: str, **fields: Any) -> bytes:
    return pack({"t": kind, **fields})


def unpack(body: bytes) -> dict:
    try:
        msg = codec.loads(body)
    except (ValueError, UnicodeDecodeError, codec.CodecError) as e:
        raise ValueError(f"not JSON ({type(e).__name__})") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
        raise ValueError("not a message (an object with a type 't')")
    return msg


async def read_body(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """The next message's bytes; None at a clean end of stream. A length over ``limit``
    raises `ProtocolError` (the stream cannot be resynchronised after it)."""
    try:
        head = await reader.readexactly(_LEN.size)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise ProtocolError("the connection closed inside a message") from None
        return None
    (n,) = _LEN.unpack(head)
    if n > limit:
        raise ProtocolError(f"a message of {n} bytes (the limit is {limit})")
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise ProtocolError("the connection closed inside a message") from None


def recv_blocking(sock: socket.socket, limit: int = MAX_SERVER_MESSAGE) -> dict | None:
    """One message from a blocking socket (the console's reader thread); None at the end."""
    head = _recv_exactly(sock, _LEN.size)
    if head is None:
        return None
    (n,) = _LEN.unpack(head)
    if n > limit:
        raise ProtocolError(f"a message of {n} bytes (the limit is {limit})")
    body = _recv_exactly(sock, n)
    if body is None:
        raise ProtocolError("the connection closed inside a message")
    return unpack(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            if buf:
                raise ProtocolError("the connection closed inside a message")
            return None
        buf += chunk
    return bytes(buf)
