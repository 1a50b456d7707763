"""Recording a live session as a scenario file, write-ahead.

Every command applied in a session is appended (and flushed to disk) the moment it is
applied, with its simulated time, so the file is a valid, replayable scenario after
every line: a crash or a dropped SSH connection loses nothing. Replayed with the same
seed, the commands land at the same simulated times and the run is the same.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from pathlib import Path

import yaml

import twin
from twin.core import commands as C
from twin.core.errors import TwinError


def shipped_folders() -> list[Path]:
    """Folders twin ships (its package; in a checkout also ``layouts/`` and ``scenarios/``):
    a recording or ``:save`` never writes inside them."""
    pkg = Path(twin.__file__).resolve().parent
    out = [pkg]
    if (pkg.parent / "pyproject.toml").is_file():
        out += [pkg.parent / "layouts", pkg.parent / "scenarios"]
    return out


def check_writable(path: Path, force: bool, label: str) -> None:
    """Refuse (``label: …``) a path in a shipped folder, in a missing folder, or that exists
    when not told to overwrite it."""
    where = path.resolve()
    for folder in shipped_folders():
        if where.is_relative_to(folder):
            raise TwinError(
                f"{label}: {path} is inside twin's own {folder.name}/ folder; write somewhere else"
            )
    if not where.parent.is_dir():
        raise TwinError(f"{label}: folder {path.parent} does not exist")
    if where.is_dir():
        raise TwinError(f"{label}: {path} is a folder")
    if where.exists() and not force:
        how = ":save! FILE" if label == "save" else "--force"
        raise TwinError(f"{label}: {path} exists; {how} overwrites it")


class Journal:
    """Append-only recording of one session into ``path``."""

    def __init__(
        self,
        path: str | Path,
        layout: str,
        seed: int,
        tick_s: float | None = None,
        name: str | None = None,
        warmup_s: float = 0.0,
        overrides: dict | None = None,
        scenario: str | None = None,
        expect: list | None = None,
        abort_if: list | None = None,
        drill: dict | None = None,
        *,
        force: bool = False,
        label: str = "record",
        atomic: bool = False,
    ):
        """A scenario session records its warm-up, overrides and expectations (so a recorded
        drill is graded by ``twin run``); its times count from the end of the warm-up.

        An existing file is refused unless ``force``; then it is replaced whole, never
        emptied first (a temporary file renamed over it). ``atomic`` keeps the whole
        file temporary until `close` (``:save``); otherwise the file is in place from
        the header on and every line is on disk as it is written (``--record``)."""
        self.path = Path(path)
        self.label = label
        self.entries: list[tuple[float, str]] = []
        self.closed = False
        self.layout, self.seed, self.tick_s = layout, seed, tick_s
        self.warmup_s, self.overrides, self.scenario = warmup_s, overrides, scenario
        self.expect, self.abort_if, self.drill = expect, abort_if, drill
        self.name = name or self.path.stem
        check_writable(self.path, force, label)
        self._tmp: Path | None = None
        try:
            if force or atomic:
                fd, tmp = tempfile.mkstemp(
                    dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
                )
                self._fh, self._tmp = os.fdopen(fd, "w", encoding="utf-8"), Path(tmp)
            else:
                self._fh = self.path.open("x", encoding="utf-8")
        except FileExistsError:
            raise TwinError(
                f"{label}: {self.path} exists; {':save! FILE' if label == 'save' else '--force'} "
                f"overwrites it"
            ) from None
        except OSError as e:
            raise TwinError(f"{label}: cannot write {self.path}: {e.strerror or e}") from None
        self._write(self.header())
        if self._tmp is not None and not atomic:  # a recording is in place from its first line
            self._rename()

    def header(self) -> str:
        when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        what = f"A live session of scenario {self.scenario}" if self.scenario else "A live session"
        head: dict = {
            "name": self.name,
            "description": f"{what}, recorded by twin on {when}.",
            "layout": self.layout,
        }
        if self.overrides:
            head["overrides"] = self.overrides
        head["seed"] = self.seed
        if self.tick_s:
            head["tick"] = f"{self.tick_s!r}s"  # exact: a rounded tick would move every step
        if self.warmup_s:
            head["warmup"] = float(self.warmup_s)
        if self.expect or self.drill:
            # the session may end before a window: that one is not evaluated
            head["recorded"] = True
        if self.expect:
            head["expect"] = self.expect
        if self.abort_if:
            head["abort_if"] = self.abort_if
        if self.drill:  # so `twin run` scores the recording as the live session was scored
            head.update(self.drill)
        return (
            f"# A twin session recording: replay with `twin run {self.path.name}`.\n"
            + (
                "# Times count from the end of the warm-up, as in any scenario.\n"
                if self.warmup_s
                else ""
            )
            + yaml.safe_dump(head, sort_keys=False, allow_unicode=True)
            + "events:\n"
        )

    @staticmethod
    def line(
        t_s: float, cmd: C.Command | None, by: str | None = None, inject: str | None = None
    ) -> str:
        """One event: ``{at, do}``, with its author (``by``) and, for an instructor's inject,
        ``inject: true | hidden``; without a command, a drill hint taken (``hint: true``)."""
        ev: dict = {"at": float(t_s)}
        if cmd is None:
            ev["hint"] = True
        else:
            ev["do"] = cmd.text
        if by is not None:
            ev["by"] = by
        if inject is not None:
            ev["inject"] = True if inject == "shown" else inject
        return (
            "  - "
            + yaml.safe_dump(ev, default_flow_style=True, width=1000, sort_keys=False).strip()
            + "\n"
        )

    def record(
        self,
        t_s: float,
        cmd: C.Command | None,
        by: str | None = None,
        inject: str | None = None,
    ) -> None:
        """A command (or, ``cmd`` None, a hint) at scenario time ``t_s``, by ``by``."""
        if self.closed:
            return
        self.entries.append((t_s, cmd.text if cmd is not None else "hint"))
        self._write(self.line(t_s, cmd, by, inject))

    def close(self, end_s: float) -> None:
        """Write the session's length; the recording is complete."""
        if self.closed:
            return
        self._write(f"duration: {float(end_s)!r}\n")
        self._fh.close()
        self.closed = True
        if self._tmp is not None:
            self._rename()

    def _rename(self) -> None:
        try:
            os.replace(self._tmp, self.path)
        except OSError as e:
            raise TwinError(f"{self.label}: cannot write {self.path}: {e.strerror or e}") from None
        self._tmp = None

    def _write(self, text: str) -> None:
        try:
            self._fh.write(text)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as e:
            raise TwinError(f"{self.label}: cannot write {self.path}: {e.strerror or e}") from None


def save_session(
    path: str | Path,
    layout: str,
    seed: int,
    entries: list[tuple],
    end_s: float,
    tick_s: float | None = None,
    force: bool = False,
    **header,
) -> Path:
    """``:save FILE``: the session so far as a complete scenario file, written whole or not
    at all (``header``: the warm-up, overrides, expectations and scenario name a `Journal`
    takes). ``entries``: (time, command or None for a hint[, by[, inject]]). An existing
    file is refused unless ``force`` (``:save! FILE``)."""
    j = Journal(path, layout, seed, tick_s, **header, force=force, label="save", atomic=True)
    for t, text, *who in entries:
        j.record(t, None if text is None else C.parse_command(text), *who)
    j.close(end_s)
    return j.path
