"""The gauge strip: each gauge a readable number with its unit, a trend sparkline, and a
colour *and* a glyph when out of bounds (so it reads the same without colour)."""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.renderables.digits import DIGITS, DIGITS3X3
from textual.widget import Widget

from twin.core.api import Snapshot
from twin.core.units import format_duration
from twin.frontends.tui import fmt
from twin.frontends.tui.glossary import gauge_words
from twin.frontends.tui.readings import (
    BAD,
    OK,
    STATUS_GLYPH,
    WARN,
    GaugeReading,
    GaugeSpec,
    gauge_delta,
    gauge_specs,
    read_gauges,
)

STATUS_STYLE = {OK: "", WARN: "bold $warning", BAD: "bold $error"}
#: A gauge this tall draws its number in 3×3 digits.
BIG_HEIGHT = 6


def big_digits(text: str) -> list[str]:
    """Three lines of the 3×3 digit font (Textual's); characters it lacks go on the last line."""
    rows = ["", "", ""]
    for ch in text.replace(".", "•"):
        try:
            pos = DIGITS.index(ch) * 3
        except ValueError:
            rows[0] += " "
            rows[1] += " "
            rows[2] += ch
            continue
        for k in range(3):
            rows[k] += DIGITS3X3[pos + k].ljust(3)
    return rows


def _value_parts(value: str) -> tuple[str, str]:
    """'5.90M' → ('5.90', 'M'): the digits and an SI suffix."""
    if value and value[-1] in "kMGT":
        return value[:-1], value[-1]
    return value, ""


class Gauge(Widget):
    """One gauge; it draws itself from its reading and history (no child widgets)."""

    DEFAULT_CSS = """
    Gauge { width: 1fr; height: 100%; padding: 0 0 0 1; }
    """

    def __init__(self, spec: GaugeSpec):
        super().__init__(id=f"gauge-{spec.key.replace('_', '-')}", classes="gauge")
        self.spec = spec
        self.reading: GaugeReading | None = None
        self.history = np.zeros(0)
        self.span_s = 0.0  # the time the sparkline covers
        self.delta = ""  # change since the baseline, if one is marked

    def on_click(self) -> None:
        self.app.room.say(gauge_words(self.spec.key), "info")  # type: ignore[attr-defined]

    def show(
        self, reading: GaugeReading, history: np.ndarray, span_s: float = 0.0, delta: str = ""
    ) -> None:
        self.reading = reading
        self.history = history
        self.span_s = span_s
        self.delta = delta
        self.set_class(reading.status == WARN, "-warn")
        self.set_class(reading.status == BAD, "-bad")
        self.refresh()

    def render(self) -> Content:
        r = self.reading
        w = max(self.size.width, 4)
        if r is None:
            return Content(self.spec.short)
        big = self.size.height >= BIG_HEIGHT and w >= 16
        digits, suffix = _value_parts(r.value)
        rows = big_digits(digits)
        unit = f"{suffix}{'' if r.unit == '%' else ' '}{r.unit}" if suffix or r.unit else ""
        glyph = STATUS_GLYPH[r.status]
        # the big digits, their glyph and their unit must fit the gauge's width, or it draws them small
        if big and len(rows[0]) + max(len(unit), len(glyph)) + 1 > w - 1:
            big = False
        title = self.spec.title if big and len(self.spec.title) <= w else self.spec.short
        status = STATUS_STYLE[r.status]
        # the time axis of the sparkline: '‹5m' = it spans the last five minutes, newest on the right
        axis = (
            f"‹{format_duration(self.span_s).replace('m00s', 'm').replace('h00m', 'h')}"
            if self.span_s >= 1
            else ""
        )
        head = (
            title
            if len(title) + len(axis) + 1 > w - 1
            else title + " " * (w - 1 - len(title) - len(axis)) + axis
        )
        lines: list[Content] = [Content.styled(fmt.clip(head, w), "$text-muted")]
        if big:
            for k, row in enumerate(rows):
                tail = f" {glyph}" if k == 0 and glyph else (f" {unit}" if k == 2 else "")
                lines.append(Content.assemble((row, status or "bold"), (tail, status)))
            if self.delta:
                since = next(
                    (
                        t
                        for t in (" since baseline", " since b")
                        if len(t) + len(self.delta) + 2 <= w - 1
                    ),
                    "",
                )
                lines.append(
                    Content.assemble(
                        ("Δ ", "bold $accent"), (self.delta, "bold $accent"), (since, "$text-muted")
                    )
                )
            else:
                lines.append(Content.styled(r.note_for(w - 1), status or "$text-muted"))
        else:
            value = (
                r.compact
                if len(r.compact) + len(glyph) + 1 <= w - 1
                else r.compact.replace(" ", "")
            )
            tail = f" {glyph}" if glyph else ""
            delta = (
                f" Δ{self.delta}"
                if len(value) + len(tail) + len(self.delta) + 2 <= w - 1
                else (
                    f" {self.delta}"
                    if len(value) + len(tail) + len(self.delta) + 1 <= w - 1
                    else ""
                )
            )
            lines.append(
                Content.assemble(
                    (fmt.clip(value, w - 1), status or "bold"),
                    (tail, status),
                    (delta if self.delta else "", "bold $accent"),
                )
            )
            if self.size.height >= 4:
                lines.append(Content.styled(r.note_for(w - 1), status or "$text-muted"))
        spark_h = self.size.height - len(lines)
        if spark_h > 0:
            spark = fmt.sparkline(self.history, w - 1)
            lines.append(Content.styled(spark, status or "$accent"))
        return Content("\n").join(lines[: self.size.height])


class GaugeStrip(Horizontal):
    """The registry's gauges side by side; `show` applies one snapshot to all of them."""

    def compose(self) -> ComposeResult:
        for spec in gauge_specs():
            yield Gauge(spec)

    history_from_s = 0.0  # the ramp from a cold start (early in the warm-up) is not drawn
    baseline: dict | None = None  # the gauges at the marked moment

    def show(self, snap: Snapshot) -> None:
        readings = {r.key: r for r in read_gauges(snap)}
        t = snap.history.get("t_s", np.zeros(0))
        keep = t >= self.history_from_s - 1e-9 if len(t) else slice(None)
        if len(t) and int(np.count_nonzero(keep)) < 10:  # too little after it to draw: all of it
            keep = slice(None)
        shown_t = t[keep] if len(t) else t
        span = float(shown_t[-1] - shown_t[0]) + 1.0 if len(shown_t) > 1 else 0.0
        for gauge in self.query(Gauge):
            key = gauge.spec.key
            hist = snap.history.get(key, np.zeros(0))
            if len(hist) == len(t):
                hist = hist[keep]
            if key == "slo_attainment":  # drawn in percent, like its number
                hist = hist * 100
            delta = (
                gauge_delta(key, snap.gauges.get(key), self.baseline.get(key))
                if self.baseline
                else ""
            )
            gauge.show(readings[key], hist, span, delta)
