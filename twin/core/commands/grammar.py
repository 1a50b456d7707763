"""The command grammar (verbs, usages, examples) and what every command value shares:
reading its words, printing its canonical line, and the errors that name the verb."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar, NoReturn

from twin.core.errors import TwinError
from twin.core.units import parse_duration_s, parse_power_kw
from twin.core.vocab import ROUTING_POLICIES

POLICIES = ROUTING_POLICIES
"""Routing policies, in the order help lists them (from `twin.core.vocab`)."""

DEFAULT_SLOWDOWN = 1.5
"""How much longer a straggler's steps take when ``straggle`` is given no factor."""

MAX_COMPLETIONS = 50
MAX_LINE = 1_000  # characters in one command line

# verb, usage, one-line help, example (shown in errors), argument kinds (for completion)
_GRAMMAR = (
    (
        "fail",
        "fail TARGET [for DURATION]",
        "Fail a component; it is repaired after DURATION or its usual repair time",
        "fail pdu-3 for 30m",
        ("target", "for"),
    ),
    (
        "repair",
        "repair TARGET",
        "Repair a failed or degraded component now",
        "repair pdu-3",
        ("target",),
    ),
    (
        "degrade",
        "degrade TARGET FRACTION",
        "Leave a link, NVLink domain or cooling loop with FRACTION of its capacity (0.5 or 50%)",
        "degrade link-leaf-3-spine-1 50%",
        ("target",),
    ),
    (
        "straggle",
        "straggle TARGET [FACTOR]",
        f"Make a node's steps take FACTOR times longer (default {DEFAULT_SLOWDOWN})",
        "straggle node-r07-2 1.5",
        ("target",),
    ),
    (
        "drain",
        "drain TARGET",
        "Send no new requests to a component; let running ones finish",
        "drain rack-a07",
        ("target",),
    ),
    (
        "undrain",
        "undrain TARGET",
        "Return a drained component to service",
        "undrain rack-a07",
        ("target",),
    ),
    (
        "route",
        "route POLICY",
        "Route requests by POLICY: " + ", ".join(POLICIES),
        "route kv-aware",
        ("policy",),
    ),
    (
        "cap",
        "cap [TARGET] LIMIT|off",
        "Cap the site, or a rack/PDU/row, at a power (30MW, 40kW) or a share of its capacity (80%)",
        "cap rack-a01 40kW",
        ("target|off", "off"),
    ),
    (
        "uncap",
        "uncap [TARGET]",
        "Remove a power cap (same as 'cap [TARGET] off')",
        "uncap rack-a01",
        ("target",),
    ),
    (
        "swap",
        "swap TARGET GPU",
        "Re-equip a rack or row with another GPU generation",
        "swap row-b gb300",
        ("target", "gpu"),
    ),
    (
        "scale",
        "scale DEPLOYMENT N",
        "Run N replicas of a model deployment",
        "scale llama-70b 4",
        ("deployment",),
    ),
    (
        "surge",
        "surge FACTOR [DURATION] [CLASS]",
        "Multiply arrivals (of one request class) by FACTOR, for DURATION",
        "surge 3 10m",
        ("", "workload", "workload"),
    ),
    (
        "faults",
        "faults on|off",
        "Turn random faults from published failure rates on or off",
        "faults on",
        ("on|off",),
    ),
    (
        "speed",
        "speed N|max",
        "Run the clock N times faster than real time, or as fast as possible",
        "speed 60",
        ("max",),
    ),
    ("pause", "pause", "Freeze the simulation clock", "pause", ()),
    ("resume", "resume", "Restart the simulation clock", "resume", ()),
    (
        "save",
        "save FILE",
        "Save this session as a scenario file that replays it (save! FILE overwrites)",
        "save drill.yaml",
        (),
    ),
    ("ack", "ack [ID|all]", "Acknowledge one alarm, or all of them", "ack all", ("all",)),
    ("hint", "hint", "In a drill: show the next hint (each one costs points)", "hint", ()),
    (
        "debrief",
        "debrief [FILE]",
        "In a drill: open the debrief; with FILE, also write it there as Markdown",
        "debrief drill-debrief.md",
        (),
    ),
)
VERBS = MappingProxyType({verb: (usage, help_) for verb, usage, help_, _, _ in _GRAMMAR})
"""verb -> (usage, one-line help), in the order the help screen and palette show them."""
_EXAMPLE = {verb: example for verb, _, _, example, _ in _GRAMMAR}
_ARG_KINDS = {verb: kinds for verb, *_, kinds in _GRAMMAR}
_QUANTITY = re.compile(r"^[-+]?\.?[0-9]")


class CommandError(TwinError):
    """A line that is not a valid command; the message is one line that names the verb."""


def _check(ok: bool, verb: str, problem: str) -> None:
    if not ok:
        raise CommandError(f"{verb}: {problem} (e.g. {_EXAMPLE[verb]!r})")


def _is_quantity(word: str) -> bool:
    """Numbers start with a digit and ids with a letter; that is how ``cap`` tells them apart."""
    return bool(_QUANTITY.match(word))


def _num(x: float) -> str:
    """The shortest text that reads back as exactly ``x``: 3.0 -> '3', 0.1 -> '0.1'."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _shortest(
    value: float, units: tuple[tuple[str, float], ...], parse: Callable[[str], float]
) -> str:
    """The shortest text in one of ``units`` that ``parse`` reads back as exactly ``value``.

    Recordings must replay bit for bit, yet read as people write: '30m', not '1800.0s'.
    Ties go to the first unit, then to the fewest digits.
    """
    texts = (
        f"{_num(round(value / scale, digits))}{unit}"
        for unit, scale in units
        for digits in range(17)
    )
    fallback = f"{_num(value / units[-1][1])}{units[-1][0]}"
    return min((t for t in texts if parse(t) == value), key=len, default=fallback)


def _duration_text(seconds: float) -> str:
    return _shortest(
        seconds, (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)), parse_duration_s
    )


def _power_text(kw: float) -> str:
    return _shortest(kw, (("MW", 1e3), ("kW", 1.0), ("W", 1e-3)), parse_power_kw)


def _percent_text(fraction: float) -> str:
    """0.123 -> '12.3%': the decimal point of the shortest repr moved, so `_percent` reads it back exactly."""
    return f"{Decimal(repr(float(fraction))).scaleb(2).normalize():f}%"


def _float(word: str) -> float:
    """A finite number, or NaN (which every range check below refuses)."""
    try:
        value = float(word)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _percent(word: str) -> float:
    """'12.3%' -> 0.123 exactly as written (decimal arithmetic, not 12.3 / 100), or NaN."""
    try:
        value = float(Decimal(word.removesuffix("%")) / 100)
    except (ArithmeticError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


class _Args:
    """The words after the verb, taken left to right; every error names the verb."""

    def __init__(self, verb: str, words: list[str]):
        self.verb, self.words = verb, words

    def fail(self, problem: str) -> NoReturn:
        raise CommandError(f"{self.verb}: {problem}")

    def take(self, what: str) -> str:
        if not self.words:
            self.fail(f"missing {what} (e.g. {_EXAMPLE[self.verb]!r})")
        return self.words.pop(0)

    def maybe(self) -> str | None:
        return self.words.pop(0) if self.words else None

    def end(self) -> None:
        if self.words:
            self.fail(f"too many words: {' '.join(self.words)!r} (usage: {VERBS[self.verb][0]})")

    def number(self, word: str, what: str) -> float:
        """A plain number; a trailing 'x' is allowed, since people write factors as '3x'."""
        value = _float(word[:-1] if word[-1] in "xX" else word)
        if math.isnan(value):
            self.fail(f"{word!r} is not a {what} (e.g. {_EXAMPLE[self.verb]!r})")
        return value

    def duration(self, word: str) -> float:
        try:
            return parse_duration_s(word)
        except ValueError:
            self.fail(f"{word!r} is not a duration like '30s', '10m' or '2h'")


@dataclass(frozen=True)
class _Action:
    """What both kinds of command share: a verb, a canonical line, and how to read one."""

    verb: ClassVar[str]

    @property
    def text(self) -> str:
        """The canonical line; ``parse_command(self.text) == self`` holds for every value."""
        return " ".join((self.verb, *self._args()))

    def _args(self) -> tuple[str, ...]:
        return ()

    @classmethod
    def _parse(cls, a: _Args) -> _Action:
        a.end()
        return cls()

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Command(_Action):
    """An action on the factory, carried out by the engine."""


@dataclass(frozen=True)
class SessionCommand(_Action):
    """An action on the session (clock, files, alarms), carried out by a front end."""


def _hint(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
