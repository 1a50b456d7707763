"""Commands on the factory, one value each: fail, repair, drain, degrade, swap, route, cap,
scale, surge, faults. Each parses its words and prints its canonical line."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from twin.core import limits
from twin.core.commands.grammar import (
    _EXAMPLE,
    DEFAULT_SLOWDOWN,
    POLICIES,
    Command,
    _Action,
    _Args,
    _check,
    _duration_text,
    _float,
    _hint,
    _is_quantity,
    _num,
    _percent,
    _percent_text,
    _power_text,
)
from twin.core.units import parse_power_kw
from twin.core.vocab import POLICY_ALIASES


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
