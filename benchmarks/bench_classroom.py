"""A class of 20 consoles on one ``twin serve``: the server's CPU and memory, and the delay
from a command to every console having its effect.

    python3 benchmarks/bench_classroom.py [LAYOUT] [--consoles 20] [--commands 20] [--speed 1,60]

The server runs as it does for a class (a subprocess, ``twin serve LAYOUT``); the consoles
are headless protocol clients in this process that read every frame and patch and decode
it as ``twin attach`` does (without drawing it). One instructor sends commands (a drain,
then its undrain, …); the delay of a command is from sending it to the last console
holding the frame with its outcome. Goal: under 250 ms on ``default``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from twin.frontends.classroom import codec, protocol  # noqa: E402


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _mem_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Console:
    def __init__(self, name: str, role: str):
        self.name, self.role = name, role
        self.tree = None
        self.frames = 0
        self.seen: dict[int, float] = {}  # instructor's command id: when this console had it
        self.bytes = 0
        self.decode_snapshot, self.decode_script = codec.Decoder(), codec.Decoder()  # as attach

    async def run(self, path: Path, ready: asyncio.Event, counter: list[int]) -> None:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=2**28)
        self.writer = writer
        writer.write(
            protocol.pack(
                {"t": "hello", "v": protocol.VERSION, "name": self.name, "role": self.role}
            )
        )
        await writer.drain()
        while True:
            body = await protocol.read_body(reader, protocol.MAX_SERVER_MESSAGE)
            if body is None:
                return
            self.bytes += len(body)
            msg = protocol.unpack(body)
            if msg["t"] not in ("full", "update"):
                continue
            self.tree = (
                msg["frame"]
                if msg["t"] == "full"
                else codec.patch(self.tree, {**msg["frame"], "@u": 1})
            )
            self.decode_snapshot(self.tree["snapshot"])  # what the console shows
            self.decode_script(self.tree["script"])
            now = time.perf_counter()
            for o in msg["outcomes"]:
                if o["by"] == "ada" and o["id"] is not None:
                    self.seen.setdefault(o["id"], now)
            if self.frames == 0:
                counter[0] += 1
                if counter[0] == counter[1]:
                    ready.set()
            self.frames += 1


async def bench(target: str, n: int, commands: int, speed: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="twin-bench-"))
    sock = folder / "class.sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "twin", "serve", target, "--socket", str(sock), "--speed", speed],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        server.stdout.readline()  # the banner: the class is served
        consoles = [Console("ada", "instructor")] + [
            Console(f"t{i:02d}", "trainee") for i in range(n - 1)
        ]
        ready = asyncio.Event()
        counter = [0, len(consoles)]
        tasks = [asyncio.create_task(c.run(sock, ready, counter)) for c in consoles]
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(2)
        ada = consoles[0]
        cpu0, wall0 = _cpu_s(server.pid), time.perf_counter()
        frames0 = [c.frames for c in consoles]
        sent: dict[int, float] = {}
        for i in range(1, commands + 1):
            rack = f"row-{'abcd'[(i // 2) % 4]}-{(i // 8) % 16 + 1:02d}"
            text = f"drain {rack}" if i % 2 else f"undrain {rack}"
            sent[i] = time.perf_counter()
            ada.writer.write(protocol.pack({"t": "cmd", "id": i, "text": text}))
            await ada.writer.drain()
            await asyncio.sleep(1.0)
        await asyncio.sleep(2)
        wall = time.perf_counter() - wall0
        cpu = _cpu_s(server.pid) - cpu0
        delays = []
        missing = 0
        for i, t in sent.items():
            got = [c.seen.get(i) for c in consoles]
            if any(g is None for g in got):
                missing += 1
                continue
            delays.append((max(got) - t) * 1000)
        rate = statistics.mean(
            (c.frames - f0) / wall for c, f0 in zip(consoles, frames0, strict=True)
        )
        mb = sum(c.bytes for c in consoles) / 1e6
        print(
            f"twin serve {target} --speed {speed} · {n} consoles · {commands} commands over {wall:.0f} s"
        )
        print(f"  server CPU      {cpu / wall * 100:5.1f} % of one core")
        print(
            f"  server memory   {_mem_mb(server.pid, 'VmRSS'):5.0f} MB resident (peak {_mem_mb(server.pid, 'VmHWM'):.0f} MB)"
        )
        print(
            f"  frames          {rate:5.2f} per second per console · {mb / wall:.2f} MB/s to all consoles"
        )
        if delays:
            delays.sort()
            p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
            print(
                f"  command → every console: median {statistics.median(delays):.0f} ms · "
                f"p95 {p95:.0f} ms · max {delays[-1]:.0f} ms (goal < 250 ms)"
            )
        if missing:
            print(f"  {missing} commands did not reach every console")
        for t in tasks:
            t.cancel()
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", nargs="?", default="default")
    p.add_argument("--consoles", type=int, default=20)
    p.add_argument("--commands", type=int, default=20)
    p.add_argument(
        "--speed", default="1,60", help="the class's clocks, one run each (default 1,60; max …)"
    )
    a = p.parse_args()
    for speed in a.speed.split(","):
        asyncio.run(bench(a.target, a.consoles, a.commands, speed.strip()))


if __name__ == "__main__":
    main()
