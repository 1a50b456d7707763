"""Commands on the session (clock, files, alarms), carried out by a front end, never the
engine: speed, pause, resume, save, ack, hint, debrief."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from twin.core import limits
from twin.core.commands.grammar import (
    SessionCommand,
    _Args,
    _check,
    _num,
)


@dataclass(frozen=True)
class Speed(SessionCommand):
    """Run the clock ``factor`` times faster than real time; ``None`` is as fast as possible."""

    verb: ClassVar[str] = "speed"
    factor: float | None

    def __post_init__(self) -> None:
        f = self.factor
        _check(
            f is None or 0 < f <= limits.MAX_SPEED,
            self.verb,
            f"the factor must be above 0 and at most {limits.MAX_SPEED:g}, got {f!r}",
        )

    def _args(self) -> tuple[str, ...]:
        return ("max" if self.factor is None else _num(self.factor),)

    @classmethod
    def _parse(cls, a: _Args) -> Speed:
        word = a.take("factor")
        a.end()
        return cls(None if word.lower() == "max" else a.number(word, "speed factor or 'max'"))


class Pause(SessionCommand):
    """Freeze the simulation clock (the screen stays live)."""

    verb: ClassVar[str] = "pause"


class Resume(SessionCommand):
    """Restart the simulation clock at the speed it had."""

    verb: ClassVar[str] = "resume"


@dataclass(frozen=True)
class Save(SessionCommand):
    """Write the session so far as a scenario file that replays it."""

    verb: ClassVar[str] = "save"
    path: str
    force: bool = False  # ``save! FILE``: overwrite FILE if it exists

    @property
    def text(self) -> str:
        return f"save{'!' if self.force else ''} {self.path}"

    def _args(self) -> tuple[str, ...]:
        return (self.path,)

    @classmethod
    def _parse(cls, a: _Args) -> Save:
        path = a.take("file")
        a.end()
        return cls(path)


def _parse_save_bang(a: _Args) -> Save:
    a.verb = "save"
    path = a.take("file")
    a.end()
    return Save(path, force=True)


@dataclass(frozen=True)
class Ack(SessionCommand):
    """Acknowledge one alarm by id; no id (``ack`` or ``ack all``) acknowledges every one."""

    verb: ClassVar[str] = "ack"
    event: str | None = None

    def _args(self) -> tuple[str, ...]:
        return (self.event or "all",)

    @classmethod
    def _parse(cls, a: _Args) -> Ack:
        word = a.maybe()
        a.end()
        return cls(None if word is None or word.lower() == "all" else word)


class Hint(SessionCommand):
    """In a drill: show the next hint; each one taken costs the drill's ``hint_cost``."""

    verb: ClassVar[str] = "hint"


@dataclass(frozen=True)
class Debrief(SessionCommand):
    """In a drill: open the debrief; with a file, also write it there as Markdown."""

    verb: ClassVar[str] = "debrief"
    path: str | None = None

    def _args(self) -> tuple[str, ...]:
        return (self.path,) if self.path else ()

    @classmethod
    def _parse(cls, a: _Args) -> Debrief:
        path = a.maybe()
        a.end()
        return cls(path)
