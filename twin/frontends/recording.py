"""The commands of a live session, as a scenario file that replays it exactly.

`SessionLog` keeps every command applied in a session (the operator's and a scenario's
script) with its simulated time and, with ``--record FILE``, journals each one to disk
the moment it is applied (`twin.core.journal.Journal`: one fsynced line per command, so a
crash or a dropped connection loses nothing). ``:save FILE`` writes the same file at once.

A layout session is recorded with absolute times. A scenario session is recorded with the
scenario's own warm-up (``warmup:``), its layout overrides, and times counted from the
end of the warm-up, because that is what `Runner` replays: it runs the warm-up, starts
the run totals afresh, then applies each command at ``warm-up + at`` — the very instant
it was applied live — so the replay's report equals the live session's.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from twin.core.api import Journal, Layout, builtin_layouts, save_session
from twin.core.api import commands as C
from twin.core.errors import TwinError
from twin.frontends.playback import exact_offset


def layout_reference(layout: Layout) -> str:
    """How a recording names its layout: a built-in's name, else the file's absolute path."""
    builtin = builtin_layouts().get(layout.name)
    file = Path(layout.file)
    if builtin is not None and file.exists() and file.resolve() == builtin.resolve():
        return layout.name
    return str(file.resolve()) if file.exists() else layout.name


def scenario_overrides(path: str | Path) -> dict[str, Any] | None:
    """A scenario file's ``overrides:`` as plain data (to copy into its recordings)."""
    return scenario_part(path, "overrides")


def scenario_part(path: str | Path, key: str) -> Any:
    """One section of a scenario file (``overrides``, ``expect``, ``abort_if``) as plain data."""
    from twin.core.api import load_file

    doc = load_file(Path(path))
    part = doc.get(key) if isinstance(doc, dict) else None
    return _plain(part) if part else None


def drill_sections(path: str | Path) -> dict[str, Any] | None:
    """A drill's sections (objectives, tasks, reference, hints …) as plain data, with its
    length, to copy into its recordings; None for a scenario that is not a drill."""
    from twin.core.api import DRILL_KEYS, load_file

    doc = load_file(Path(path))
    if not isinstance(doc, dict) or not any(k in doc for k in DRILL_KEYS):
        return None
    out = {k: _plain(doc[k]) for k in DRILL_KEYS if k in doc}
    if "drill_duration" not in out and "duration" in doc:
        out["drill_duration"] = _plain(doc["duration"])
    return out


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, bool | int | float) or x is None:
        return x
    return str(x)


class SessionLog:
    """Every command applied in a session, in order, optionally journaled as it happens."""

    def __init__(
        self,
        layout: Layout,
        seed: int,
        tick_s: float | None = None,
        *,
        t0: float = 0.0,
        warmup_s: float = 0.0,
        overrides: dict[str, Any] | None = None,
        scenario: str | None = None,
        record: str | Path | None = None,
        scenario_file: str | Path | None = None,
        force: bool = False,
    ):
        self.layout_ref = layout_reference(layout)
        self.seed, self.tick_s = seed, tick_s
        self.t0, self.warmup_s, self.overrides, self.scenario = t0, warmup_s, overrides, scenario
        self.force = force
        # a recorded drill keeps its expectations, so `twin run` grades the recording
        self.expect = scenario_part(scenario_file, "expect") if scenario_file else None
        self.abort_if = scenario_part(scenario_file, "abort_if") if scenario_file else None
        self.drill = drill_sections(scenario_file) if scenario_file else None
        # (time as written, command or "hint", "script" | "operator" | "hint")
        self.entries: list[tuple[float, str, str]] = []
        self.authors: list[tuple[str | None, str | None]] = []  # each entry's (by, inject)
        self.journal: Journal | None = self._open(record) if record is not None else None
        self.saved_operator = 0  # operator commands written by the last :save

    #: The journal this session writes (a class's session writes commands with authors).
    JOURNAL: type[Journal] = Journal

    def _open(self, path: str | Path) -> Journal:
        return self.JOURNAL(
            path,
            self.layout_ref,
            self.seed,
            self.tick_s,
            warmup_s=self.warmup_s,
            overrides=self.overrides,
            scenario=self.scenario,
            expect=self.expect,
            abort_if=self.abort_if,
            drill=self.drill,
            force=self.force,
        )

    @property
    def recording(self) -> Path | None:
        return self.journal.path if self.journal is not None else None

    def offset(self, t_abs: float) -> float:
        return exact_offset(t_abs, self.t0) if self.t0 else t_abs

    def record(self, t_abs: float, cmd: C.Command, source: str = "operator") -> None:
        """Called the moment a command is applied (from the engine's thread): journal it now."""
        self._add(t_abs, cmd, source, "operator" if source == "operator" else None)

    def hint(self, t_abs: float, by: str = "operator") -> None:
        """A drill hint taken (it costs points, so a replay takes it too)."""
        self._add(t_abs, None, "hint", by)

    def _add(
        self, t_abs: float, cmd: C.Command | None, source: str, by: str | None, inject=None
    ) -> None:
        t = self.offset(t_abs)
        self.entries.append((t, cmd.text if cmd is not None else "hint", source))
        self.authors.append((by, inject))
        if self.journal is not None:
            self.journal.record(t, cmd, by, inject)

    @property
    def operator_commands(self) -> int:
        return sum(1 for _, _, src in self.entries if src == "operator")

    @property
    def unsaved(self) -> int:
        """Operator commands not yet in a file (none when recording: each is written at once)."""
        if self.journal is not None and not self.journal.closed:
            return 0
        return self.operator_commands - self.saved_operator

    def save(self, path: str | Path, t_abs: float, force: bool = False) -> Path:
        """``:save FILE`` (``:save! FILE`` overwrites): the session so far as a complete scenario file."""
        out = save_session(
            path,
            self.layout_ref,
            self.seed,
            [
                (t, None if src == "hint" else text, *who)
                for (t, text, src), who in zip(list(self.entries), list(self.authors), strict=True)
            ],
            self.offset(t_abs),
            self.tick_s,
            force=force,
            warmup_s=self.warmup_s,
            overrides=self.overrides,
            scenario=self.scenario,
            expect=self.expect,
            abort_if=self.abort_if,
            drill=self.drill,
        )
        self.saved_operator = self.operator_commands
        return out

    def close(self, t_abs: float) -> None:
        """End the recording with the session's length (idempotent)."""
        if self.journal is not None and not self.journal.closed:
            with contextlib.suppress(
                TwinError
            ):  # the commands are on disk already; only the length is lost
                self.journal.close(self.offset(t_abs))
