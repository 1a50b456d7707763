"""Operator actions as values: parse a typed line into a command, and print one back.

Every action — a ``:`` line in the TUI, a key press, a ``do:`` line in a scenario, a remote
client — becomes one frozen value here. Values rather than callbacks, because a log of
values *is* a recording and feeding it back *is* a replay. That holds only if
``parse_command(cmd.text) == cmd`` for every value, so each value prints a canonical line
and validates itself on construction (a value built in code obeys the same rules).

The parser knows the grammar, not the factory: ``fail rack-z99`` parses, and the engine
answers that there is no such rack. Actions on the factory derive from `Command`; actions on
the session (clock, files, alarms) derive from `SessionCommand`, so the engine can refuse
them by type and front ends carry them out.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar, NoReturn

from twin.core import limits
from twin.core.errors import TwinError, clip
from twin.core.units import parse_duration_s, parse_power_kw
from twin.core.vocab import POLICY_ALIASES, ROUTING_POLICIES

__all__ = [
    "POLICIES",
    "POLICY_ALIASES",
    "VERBS",
    "Ack",
    "Cap",
    "Command",
    "CommandError",
    "Debrief",
    "Degrade",
    "Drain",
    "Fail",
    "Faults",
    "Hint",
    "Pause",
    "Repair",
    "Resume",
    "Route",
    "Save",
    "Scale",
    "SessionCommand",
    "Speed",
    "Straggle",
    "Surge",
    "Swap",
    "Undrain",
    "complete",
    "parse_command",
]

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


@dataclass(frozen=True)
class _OnTarget(Command):
    """A command aimed at one component, named by its id (checked by the engine, not here)."""

    target: str

    def _args(self) -> tuple[str, ...]:
        return (self.target,)

    @classmethod
    def _parse(cls, a: _Args) -> _Action:
        target = a.take("target")
        a.end()
        return cls(target)


@dataclass(frozen=True)
class Fail(_OnTarget):
    """Take a component down; with no repair time the engine's failure model picks one."""

    verb: ClassVar[str] = "fail"
    repair_after_s: float | None = None

    def __post_init__(self) -> None:
        t = self.repair_after_s
        _check(
            t is None or 0 < t <= limits.MAX_DURATION_S,
            self.verb,
            f"the repair time must be longer than 0s and at most 90 days, got {t!r}s",
        )

    def _args(self) -> tuple[str, ...]:
        t = self.repair_after_s
        return (self.target,) if t is None else (self.target, "for", _duration_text(t))

    @classmethod
    def _parse(cls, a: _Args) -> Fail:
        target, word, after = a.take("target"), a.maybe(), None
        if word is not None:
            if word.lower() != "for":
                a.fail(
                    f"expected 'for DURATION' after {target!r}, got {word!r} (e.g. {_EXAMPLE['fail']!r})"
                )
            after = a.duration(a.take("duration after 'for'"))
        a.end()
        return cls(target, after)


class Repair(_OnTarget):
    """Bring a failed or degraded component back now, before its repair time is up."""

    verb: ClassVar[str] = "repair"


class Drain(_OnTarget):
    """Send no new work to a component while its running requests finish (before maintenance)."""

    verb: ClassVar[str] = "drain"


class Undrain(_OnTarget):
    """Return a drained component to service."""

    verb: ClassVar[str] = "undrain"


@dataclass(frozen=True)
class Degrade(_OnTarget):
    """Leave a link, NVLink domain or cooling loop with ``remaining`` of its capacity (0
    would be a failure)."""

    verb: ClassVar[str] = "degrade"
    remaining: float

    def __post_init__(self) -> None:
        r = self.remaining
        _check(
            0 < r < 1,
            self.verb,
            f"the remaining capacity must be between 0 and 1 (0% and 100%) exclusive, got {r!r}",
        )

    def _args(self) -> tuple[str, ...]:
        return (self.target, _percent_text(self.remaining))

    @classmethod
    def _parse(cls, a: _Args) -> Degrade:
        target, word = a.take("target"), a.take("remaining capacity")
        a.end()
        value = _percent(word) if word.endswith("%") else _float(word)
        if math.isnan(value):
            a.fail(f"{word!r} is not a fraction like '0.5' or '50%'")
        return cls(target, value)


@dataclass(frozen=True)
class Straggle(_OnTarget):
    """Make a node a straggler: its steps take ``slowdown`` times longer, holding back its peers."""

    verb: ClassVar[str] = "straggle"
    slowdown: float = DEFAULT_SLOWDOWN

    def __post_init__(self) -> None:
        s = self.slowdown
        _check(
            1 <= s <= limits.MAX_FACTOR,
            self.verb,
            f"the factor must be 1 or more, at most {limits.MAX_FACTOR:g}, got {s!r}",
        )

    def _args(self) -> tuple[str, ...]:
        return (self.target, _num(self.slowdown))

    @classmethod
    def _parse(cls, a: _Args) -> Straggle:
        target, word = a.take("target"), a.maybe()
        a.end()
        return cls(target, DEFAULT_SLOWDOWN if word is None else a.number(word, "slowdown factor"))


@dataclass(frozen=True)
class Swap(_OnTarget):
    """Re-equip a rack or row with another GPU (a catalog id, lower-case as the catalog keeps them)."""

    verb: ClassVar[str] = "swap"
    gpu: str

    def _args(self) -> tuple[str, ...]:
        return (self.target, self.gpu)

    @classmethod
    def _parse(cls, a: _Args) -> Swap:
        target, gpu = a.take("target"), a.take("GPU")
        a.end()
        return cls(target, gpu.lower())


@dataclass(frozen=True)
class Route(Command):
    """Switch the routing policy: always one of `POLICIES` (the parser resolves aliases)."""

    verb: ClassVar[str] = "route"
    policy: str

    def __post_init__(self) -> None:
        _check(
            self.policy in POLICIES,
            self.verb,
            f"unknown policy {self.policy!r}; policies: {', '.join(POLICIES)}",
        )

    def _args(self) -> tuple[str, ...]:
        return (self.policy,)

    @classmethod
    def _parse(cls, a: _Args) -> Route:
        word = a.take("policy")
        a.end()
        policy = POLICY_ALIASES.get(word.lower(), word.lower())
        if policy not in POLICIES:
            a.fail(
                f"unknown policy {word!r}{_hint(word, POLICIES)}; policies: {', '.join(POLICIES)}"
            )
        return cls(policy)


@dataclass(frozen=True)
class Cap(Command):
    """A power cap on the site (no target) or on one rack, PDU or row.

    The limit is absolute (``limit_kw``) or a ``fraction`` of the current envelope or
    capacity, as a utility demand-response event is; neither means the cap is lifted.
    """

    verb: ClassVar[str] = "cap"
    target: str | None = None
    limit_kw: float | None = None
    fraction: float | None = None

    def __post_init__(self) -> None:
        kw, f = self.limit_kw, self.fraction
        _check(kw is None or f is None, self.verb, "give a power or a percentage, not both")
        _check(
            kw is None or 0 < kw <= 1e7,
            self.verb,
            f"the limit must be above 0kW and at most 10GW, got {kw!r}kW",
        )
        _check(
            f is None or 0 < f <= 1,
            self.verb,
            f"the share must be above 0% and at most 100%, got {_percent_text(f or 0)}",
        )

    def _args(self) -> tuple[str, ...]:
        if self.limit_kw is not None:
            limit = _power_text(self.limit_kw)
        elif self.fraction is not None:
            limit = _percent_text(self.fraction)
        else:
            limit = "off"
        return (limit,) if self.target is None else (self.target, limit)

    @classmethod
    def _parse(cls, a: _Args) -> Cap:
        first = a.take("limit")
        is_limit = first.lower() == "off" or _is_quantity(first)
        target, word = (None, first) if is_limit else (first, a.take(f"limit for {first!r}"))
        a.end()
        if word.lower() == "off":
            return cls(target)
        if word.endswith("%") and not math.isnan(share := _percent(word)):
            return cls(target, fraction=share)
        try:
            return cls(target, limit_kw=parse_power_kw(word))
        except ValueError:
            a.fail(f"{word!r} is not a power like '30MW' or '80%'")


def _parse_uncap(a: _Args) -> Cap:
    target = a.maybe()
    if target is not None and (_is_quantity(target) or target.lower() == "off"):
        a.fail(f"expected a target like 'rack-a01', got {target!r}")
    a.end()
    return Cap(target)


@dataclass(frozen=True)
class Scale(Command):
    """Set a deployment's replica count; 0 stops serving it."""

    verb: ClassVar[str] = "scale"
    deployment: str
    replicas: int

    def __post_init__(self) -> None:
        n = self.replicas
        ok = isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= limits.MAX_REPLICAS
        _check(
            ok,
            self.verb,
            f"replicas must be a whole number, 0 or more, at most {limits.MAX_REPLICAS:,}, got {n!r}",
        )

    def _args(self) -> tuple[str, ...]:
        return (self.deployment, str(self.replicas))

    @classmethod
    def _parse(cls, a: _Args) -> Scale:
        deployment, word = a.take("deployment"), a.take("replica count")
        a.end()
        try:
            return cls(deployment, int(word))
        except ValueError:
            a.fail(f"{word!r} is not a whole number of replicas (e.g. {_EXAMPLE['scale']!r})")


@dataclass(frozen=True)
class Surge(Command):
    """Multiply arrivals by ``factor`` (below 1 is a lull), for every class or one ``workload``.

    With no duration the surge lasts until the next ``surge``.
    """

    verb: ClassVar[str] = "surge"
    factor: float
    duration_s: float | None = None
    workload: str | None = None

    def __post_init__(self) -> None:
        f, d = self.factor, self.duration_s
        _check(
            0 < f <= limits.MAX_FACTOR,
            self.verb,
            f"the factor must be above 0 and at most {limits.MAX_FACTOR:g} (times the planned load), got {f!r}",
        )
        _check(
            d is None or 0 < d <= limits.MAX_DURATION_S,
            self.verb,
            f"the duration must be longer than 0s and at most 90 days, got {d!r}s",
        )

    def _args(self) -> tuple[str, ...]:
        words = [_num(self.factor)]
        if self.duration_s is not None:
            words.append(_duration_text(self.duration_s))
        if self.workload is not None:
            words.append(self.workload)
        return tuple(words)

    @classmethod
    def _parse(cls, a: _Args) -> Surge:
        factor, word, duration = a.number(a.take("factor"), "factor"), a.maybe(), None
        if word is not None and _is_quantity(word):
            duration, word = a.duration(word), a.maybe()
        a.end()
        return cls(factor, duration, word)


@dataclass(frozen=True)
class Faults(Command):
    """Turn random faults (drawn from published failure rates) on or off."""

    verb: ClassVar[str] = "faults"
    enabled: bool

    def _args(self) -> tuple[str, ...]:
        return ("on" if self.enabled else "off",)

    @classmethod
    def _parse(cls, a: _Args) -> Faults:
        word = a.take("'on' or 'off'")
        a.end()
        if word.lower() not in ("on", "off"):
            a.fail(f"expected 'on' or 'off', got {word!r}")
        return cls(word.lower() == "on")


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


_ACTIONS: tuple[type[_Action], ...] = (
    Fail,
    Repair,
    Degrade,
    Straggle,
    Drain,
    Undrain,
    Route,
    Cap,
    Swap,
    Scale,
    Surge,
    Faults,
    Speed,
    Pause,
    Resume,
    Save,
    Ack,
    Hint,
    Debrief,
)
_PARSERS: dict[str, Callable[[_Args], _Action]] = {cls.verb: cls._parse for cls in _ACTIONS}
_PARSERS["uncap"] = _parse_uncap
_PARSERS["save!"] = _parse_save_bang


def _hint(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_command(text: str) -> Command | SessionCommand:
    """Read one command line (a leading ``:`` is allowed); raise `CommandError` if it is not one."""
    if len(text) > MAX_LINE:
        raise CommandError(
            f"a command is at most {MAX_LINE} characters; this one has {len(text):,}"
        )
    bad = next((ch for ch in text.strip() if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127), None)
    if bad is not None:
        raise CommandError(
            f"a command cannot hold control characters (found {bad!r} in {clip(text)!r})"
        )
    words = text.strip().removeprefix(":").split()
    if not words:
        raise CommandError(f"empty command; commands: {', '.join(VERBS)}")
    verb = words[0].lower()
    if verb not in _PARSERS:
        raise CommandError(
            f"unknown command {words[0]!r}{_hint(verb, VERBS)}; commands: {', '.join(VERBS)}"
        )
    return _PARSERS[verb](_Args(verb, words[1:]))  # type: ignore[return-value]


def complete(
    text: str,
    ids: Iterable[str],
    gpus: Iterable[str] = (),
    deployments: Iterable[str] = (),
    workloads: Iterable[str] = (),
) -> list[str]:
    """Whole-line candidates for a partly typed line: the verb first, then each argument by kind.

    Only the last word is completed; what comes before it is kept as typed, so a front end
    can replace the line with any candidate. Sorted, and at most `MAX_COMPLETIONS`.
    """
    body = text.lstrip().removeprefix(":")
    words = body.split()
    partial = words.pop() if words and not body[-1].isspace() else ""
    head = text[: len(text) - len(partial)]
    if not words:
        choices: list[str] = list(VERBS)
    else:
        verb, args = words[0].lower(), words[1:]
        kinds = _ARG_KINDS.get(verb, ())
        kind = kinds[len(args)] if len(args) < len(kinds) else ""
        if verb == "cap" and args and (_is_quantity(args[0]) or args[0].lower() == "off"):
            kind = ""  # 'cap 80%' and 'cap off' are complete
        if verb == "surge" and len(args) == 2 and not _is_quantity(args[1]):
            kind = ""  # the class came straight after the factor
        sources = {
            "target": ids,
            "policy": POLICIES,
            "gpu": gpus,
            "deployment": deployments,
            "workload": workloads,
        }
        choices = []
        for part in filter(None, kind.split("|")):
            choices.extend(sources.get(part, (part,)))
    matches = {head + c for c in choices if c.lower().startswith(partial.lower())}
    return sorted(matches)[:MAX_COMPLETIONS]
