"""Quantities written by people: durations, power, bandwidth, token counts.

Every parser returns a number in the unit its name says (``parse_duration_s`` returns
seconds) and raises ``ValueError`` with a message fit to show after ``FILE:LINE:``.
"""

from __future__ import annotations

import math
import re

from twin.core import kpis
from twin.core.errors import clip

_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_QTY = re.compile(rf"^\s*(?P<num>[-+]?{_NUMBER})\s*(?P<unit>[A-Za-z/%]*)\s*$")

_DURATION_S = {
    "": 1.0,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_POWER_KW = {"w": 1e-3, "kw": 1.0, "mw": 1e3, "gw": 1e6}
_BW_GB_S = {"gb/s": 1.0, "gbps": 1 / 8, "gbit/s": 1 / 8, "tb/s": 1e3, "tbps": 1e3 / 8, "mb/s": 1e-3}
_COUNT = {"": 1, "k": 1_000, "m": 1_000_000}


def _split(text: object, what: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise ValueError(f"expected a {what}, got {text!r}")
    if isinstance(text, int | float):
        if not math.isfinite(float(text)):
            raise ValueError(f"a {what} must be a finite number, got {text!r}")
        return float(text), ""
    m = _QTY.match(str(text)[:200])
    if not m:
        raise ValueError(f"expected a {what} like {_EXAMPLES[what]}, got {clip(str(text))!r}")
    value = float(m["num"])
    if not math.isfinite(value):
        raise ValueError(f"a {what} must be a finite number, got {clip(str(text))!r}")
    return value, m["unit"]


_EXAMPLES = {
    "duration": "'30s', '5m', '2h' or '1d'",
    "power": "'30MW', '120kW' or '700W'",
    "bandwidth": "'400Gbps' or '50GB/s'",
    "count": "'512', '8k' or '1M'",
}


_COMPOUND = re.compile(r"^\s*((?:[0-9]+(?:\.[0-9]+)?(?:ms|[smhdw])){2,})\s*$")
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|[smhdw])")


def parse_duration_s(text: object) -> float:
    """'30s' → 30.0, '5m' → 300.0, '2h', '1d'; a bare number is seconds. Compound
    durations as twin prints them ('1m30s', '2h05m', '1d6h') are their parts' sum."""
    m = _COMPOUND.match(str(text)[:200]) if isinstance(text, str) else None
    if m:
        return sum(float(v) * _DURATION_S[u] for v, u in _PART.findall(m[1]))
    value, unit = _split(text, "duration")
    try:
        scale = _DURATION_S[unit.lower()] if unit != "M" else None
    except KeyError:
        scale = None
    if scale is None:
        raise ValueError(f"unknown duration unit {unit!r} in {text!r} (use ms, s, m, h, d, w)")
    if value < 0:
        raise ValueError(f"a duration cannot be negative: {text!r}")
    return value * scale


def parse_power_kw(text: object) -> float:
    """'30MW' → 30000.0, '120kW' → 120.0, '700W' → 0.7. A bare number is refused (ambiguous)."""
    value, unit = _split(text, "power")
    if not unit:
        raise ValueError(f"power needs a unit (W, kW or MW): {text!r}")
    try:
        return value * _POWER_KW[unit.lower()]
    except KeyError:
        raise ValueError(f"unknown power unit {unit!r} in {text!r} (use W, kW, MW)") from None


def parse_bandwidth_gb_s(text: object) -> float:
    """'400Gbps' → 50.0 GB/s, '900GB/s' → 900.0; a bare number is GB/s."""
    value, unit = _split(text, "bandwidth")
    if not unit:
        return value
    try:
        return value * _BW_GB_S[unit.lower()]
    except KeyError:
        raise ValueError(
            f"unknown bandwidth unit {unit!r} in {text!r} (use GB/s, Gbps, TB/s)"
        ) from None


def parse_count(text: object) -> int:
    """'8k' → 8000, '1M' → 1000000, '512' → 512."""
    value, unit = _split(text, "count")
    try:
        return int(round(value * _COUNT[unit.lower()]))
    except KeyError:
        raise ValueError(f"unknown count suffix {unit!r} in {text!r} (use k or M)") from None


def format_metric(metric: str, value: object) -> str:
    """An observed value in its metric's unit (the registry's, `twin.core.kpis`, or a
    component field's): ``ttft_p95_s`` 0.0168 → '16.8 ms', ``facility_power_kw`` 31200 →
    '31.2 MW'."""
    if isinstance(value, str) or value is None:
        return "—" if value is None else str(value)
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v):
        return "—"
    q = kpis.quantity(metric)
    if q == kpis.DURATION:
        return f"{v * 1e3:.3g} ms" if abs(v) < 1 else f"{v:,.3g} s"
    if q == kpis.TIME:
        return format_duration(v)
    if q == kpis.POWER:
        return f"{v / 1e3:,.3g} MW" if abs(v) >= 1e3 else f"{v:,.4g} kW"
    if q == kpis.TEMPERATURE:
        return f"{v:.3g} °C"
    if q == kpis.SHARE:
        return f"{v * 100:.4g} %"
    if q == kpis.REQUEST_RATE:
        return f"{v:,.4g} req/s"
    if q == kpis.TOKEN_RATE:
        return f"{v:,.0f} tok/s"
    if q in (kpis.USD, kpis.USD_PER_MTOK):
        return f"${v:,.4g}" + ("/Mtok" if q == kpis.USD_PER_MTOK else "")
    return f"{v:.6g}"


def format_duration(seconds: float) -> str:
    """A compact clock for screens and reports: 75 → '1m15s', 3725 → '1h02m'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
