"""Recording a live session as a scenario file, write-ahead.

Every command applied in a session is appended (and flushed to disk) the moment it is
applied, with its simulated time, so the file is a valid, replayable scenario after
every line: a crash or a dropped SSH connection loses nothing. Replayed with the same
seed, the commands land at the same simulated times and the run is the same.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import yaml

from twin.core import commands as C
from twin.core.errors import TwinError


class Journal:
    """Append-only recording of one session into ``path``."""

    def __init__(self, path: str | Path, layout: str, seed: int, tick_s: float | None = None, name: str | None = None,
                 warmup_s: float = 0.0, overrides: dict | None = None, scenario: str | None = None):
        """A scenario session records its warm-up and overrides; its times then count from
        the end of the warm-up, as in any scenario file."""
        self.path = Path(path)
        self.entries: list[tuple[float, str]] = []
        self.closed = False
        self.layout, self.seed, self.tick_s = layout, seed, tick_s
        self.warmup_s, self.overrides, self.scenario = warmup_s, overrides, scenario
        self.name = name or self.path.stem
        try:
            self._fh = self.path.open("w", encoding="utf-8")
        except OSError as e:
            raise TwinError(f"record: cannot write {self.path}: {e.strerror or e}") from None
        self._write(self.header())

    def header(self) -> str:
        when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        what = f"A live session of scenario {self.scenario}" if self.scenario else "A live session"
        head: dict = {"name": self.name, "description": f"{what}, recorded by twin on {when}.", "layout": self.layout}
        if self.overrides:
            head["overrides"] = self.overrides
        head["seed"] = self.seed
        if self.tick_s:
            head["tick"] = f"{self.tick_s!r}s"  # exact: a rounded tick would move every step
        if self.warmup_s:
            head["warmup"] = float(self.warmup_s)
        return (f"# A twin session recording: replay with `twin run {self.path.name}`.\n"
                + ("# Times count from the end of the warm-up, as in any scenario.\n" if self.warmup_s else "")
                + yaml.safe_dump(head, sort_keys=False, allow_unicode=True) + "events:\n")

    @staticmethod
    def line(t_s: float, cmd: C.Command) -> str:
        return "  - " + yaml.safe_dump({"at": float(t_s), "do": cmd.text}, default_flow_style=True, width=1000).strip() + "\n"

    def record(self, t_s: float, cmd: C.Command) -> None:
        if self.closed:
            return
        self.entries.append((t_s, cmd.text))
        self._write(self.line(t_s, cmd))

    def close(self, end_s: float) -> None:
        """Write the session's length; the recording is complete."""
        if self.closed:
            return
        self._write(f"duration: {float(end_s)!r}\n")
        self._fh.close()
        self.closed = True

    def _write(self, text: str) -> None:
        try:
            self._fh.write(text)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as e:
            raise TwinError(f"record: cannot write {self.path}: {e.strerror or e}") from None


def save_session(path: str | Path, layout: str, seed: int, entries: list[tuple[float, str]], end_s: float,
                 tick_s: float | None = None, **header) -> Path:
    """``:save FILE``: the session so far as a complete scenario file (``header``: the
    warm-up, overrides and scenario name a `Journal` takes)."""
    j = Journal(path, layout, seed, tick_s, **header)
    for t, text in entries:
        j.record(t, C.parse_command(text))
    j.close(end_s)
    return j.path
