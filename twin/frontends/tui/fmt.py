"""Numbers as an operator reads them: short, with their unit, never a traceback.

Pure functions (no Textual): each returns plain text that fits a narrow gauge.
"""

from __future__ import annotations

import math

import numpy as np

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def si(x: float, digits: int = 3) -> str:
    """1234567 → '1.23M', 980 → '980', 0.5 → '0.5' (three significant digits by default)."""
    if x is None or not math.isfinite(x):
        return "—"
    ax = abs(x)
    if ax < 0.0005:
        return "0"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if ax >= div * 0.9995:
            return _sig(x / div, digits) + suffix
    return _sig(x, digits)


def _sig(x: float, digits: int) -> str:
    if x == 0:
        return "0"
    ax = abs(x)
    decimals = max(0, digits - 1 - int(math.floor(math.log10(ax))))
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def seconds(s: float) -> str:
    """Latency: 0.0123 → '12ms', 1.5 → '1.50s', 75 → '75s'."""
    if s is None or not math.isfinite(s):
        return "—"
    if s < 1.0:
        return f"{s * 1000:.3g}ms" if s >= 0.001 else f"{s * 1e6:.0f}µs"
    if s < 10:
        return f"{s:.2f}s"
    return f"{s:.0f}s"


def percent(x: float, decimals: int = 0) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x * 100:.{decimals}f}%"


def kw(x: float) -> str:
    """Power in the unit that reads best: 840 → '840kW', 12345 → '12.3MW'."""
    if x is None or not math.isfinite(x):
        return "—"
    if abs(x) >= 1000:
        return f"{_sig(x / 1000, 3)}MW"
    return f"{x:,.0f}kW" if abs(x) >= 10 else f"{x:.1f}kW"


def bits(gb_s: float) -> str:
    """Bandwidth as network people write it, in bits: 800 GB/s → '6.4 Tb/s', 50 GB/s → '400 Gb/s'."""
    if gb_s is None or not math.isfinite(gb_s):
        return "—"
    gbit = gb_s * 8.0
    if gbit >= 1000:
        return f"{_sig(gbit / 1000, 3)} Tb/s"
    return f"{_sig(gbit, 3)} Gb/s"


def usd(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"${x:.3f}" if x < 10 else f"${x:,.1f}"


def sim_clock(t_s: float, start_hour: float = 0.0) -> str:
    """Simulated time as a wall clock of the factory: 'd1 12:00:30' (day 1 is the first)."""
    total = int(math.floor(t_s + start_hour * 3600.0))
    day, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"d{day + 1} {h:02d}:{m:02d}:{s:02d}"


def sim_time(t_s: float, start_hour: float = 0.0) -> str:
    """The time-of-day part only, for log lines: '12:00:30'."""
    return sim_clock(t_s, start_hour).split(" ", 1)[1]


def rel_time(t_s: float) -> str:
    """Scenario time, counted from the end of the warm-up: 'T+05:12', 'T+1:05:12', 'T+2d03:00:00'."""
    sign = "-" if t_s <= -1.0 else "+"
    total = (
        int(math.floor(abs(t_s) + 1e-6)) if sign == "-" else int(math.floor(max(t_s, 0.0) + 1e-6))
    )
    day, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if day:
        return f"T{sign}{day}d{h:02d}:{m:02d}:{s:02d}"
    if h:
        return f"T{sign}{h}:{m:02d}:{s:02d}"
    return f"T{sign}{m:02d}:{s:02d}"


def sparkline(
    values: np.ndarray,
    width: int,
    lo: float | None = None,
    hi: float | None = None,
    min_span: float = 0.05,
) -> str:
    """The last values as ``width`` block characters, each the mean of its slice of history.

    The scale is the series' own range, but never narrower than ``min_span`` × its
    largest magnitude, so noise of a tenth of a percent does not draw as a cliff.
    Non-finite values are skipped; a flat series draws a flat line at the bottom.
    """
    if width <= 0:
        return ""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return " " * width
    n = min(width, v.size)
    edges = np.linspace(0, v.size, n + 1).astype(int)
    sums = np.add.reduceat(v, edges[:-1])
    means = sums / np.maximum(np.diff(edges), 1)
    lo = float(means.min()) if lo is None else lo
    hi = float(means.max()) if hi is None else hi
    floor_span = min_span * max(abs(hi), abs(lo))
    if hi - lo < floor_span:
        mid = (hi + lo) / 2
        lo, hi = mid - floor_span / 2, mid + floor_span / 2
    span = hi - lo
    if span <= max(abs(hi), 1e-12) * 1e-9:
        idx = np.zeros(n, dtype=int)
    else:
        idx = np.clip(
            ((means - lo) / span * (len(SPARK_BLOCKS) - 1)).round().astype(int),
            0,
            len(SPARK_BLOCKS) - 1,
        )
    line = "".join(SPARK_BLOCKS[i] for i in idx)
    return line.rjust(width)


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells: '█████▌    ' (eighths for the last cell)."""
    if width <= 0:
        return ""
    f = 0.0 if not math.isfinite(fraction) else min(max(fraction, 0.0), 1.0)
    eighths = int(round(f * width * 8))
    full, part = divmod(eighths, 8)
    text = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part and full < width else "")
    return text.ljust(width)


def clip(text: str, width: int) -> str:
    """Cut to ``width`` cells with an ellipsis."""
    return text if len(text) <= width else (text[: max(0, width - 1)] + "…")
