"""The header line: factory, simulated clock, speed, routing policy, alarms; and the view tabs."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from twin.frontends.tui import fmt
from twin.frontends.tui.clock import speed_label


@dataclass(frozen=True)
class HeaderState:
    factory: str
    t_s: float
    start_hour: float
    speed: float | None
    paused: bool
    achieved: float | None  # the rate actually kept when the engine cannot keep up
    routing: str
    alarms: int
    worst: str | None  # severity of the worst unacknowledged alarm
    faults: int
    readonly: bool
    random_faults: bool
    scenario: str | None = None  # the scenario clock: 'T+06:12/30m', with 'ended' or 'aborted'
    recording: bool = False  # --record: every command goes to a file as it is applied
    baseline: str | None = None  # the marked moment the gauges compare against ('12:05:10')


class HeaderBar(Static):
    """One line; everything an operator glances at first."""

    def show(self, h: HeaderState) -> None:
        for level in range(3):
            parts = self._parts(h, compact=level > 0, tight=level > 1)
            if sum(len(t) for t, _ in parts) <= self.size.width - 2:
                break
        self.update(Content.assemble(*parts))

    @staticmethod
    def _parts(h: HeaderState, compact: bool, tight: bool = False) -> list:
        sep = (" │ " if not compact else "│", "$text-muted")
        clock = fmt.sim_clock(h.t_s, h.start_hour)
        parts: list = [
            ("" if tight else "twin ", "bold $accent"),
            (h.factory, "bold"),
            sep,
            (clock, "bold"),
            sep,
        ]
        if h.scenario:
            stopped = h.scenario.endswith(("ended", "aborted"))
            style = (
                (
                    "bold reverse $error"
                    if h.scenario.endswith("aborted")
                    else "bold reverse $success"
                )
                if stopped
                else "bold $accent"
            )
            text = h.scenario if not compact else h.scenario.replace(" ended", " end")
            if tight:  # 'T+06:12/30m00s' → 'T+06:12'
                head, _, tail = text.partition("/")
                text = head + (" " + tail.split(" ", 1)[1] if " " in tail else "")
            parts += [(text, style), sep]
        if h.paused:
            parts.append(("‖ paused", "bold reverse $warning"))
        else:
            parts.append(("▶ ", "$success"))
            parts.append((speed_label(h.speed), "bold"))
            if h.achieved is not None:
                parts.append(
                    (f" ({'≈' if compact else 'keeping '}{fmt.si(h.achieved, 2)}×)", "$warning")
                )
        parts += (
            [sep] + ([] if compact else [("route ", "$text-muted")]) + [(h.routing, "bold"), sep]
        )
        if h.alarms:
            glyph = "✕" if h.worst == "critical" else "▲"
            style = "bold $error" if h.worst == "critical" else "bold $warning"
            parts.append(
                (
                    f"{glyph}{h.alarms}"
                    if tight
                    else f"{glyph} {h.alarms} alarm{'s' if h.alarms != 1 else ''}",
                    style,
                )
            )
        else:
            parts.append(("✓ no alarms", "$success"))
        if h.faults:
            parts += [
                sep,
                (
                    f"{h.faults} fault{'s' if h.faults != 1 else ''}{'' if compact else ' open'}",
                    "$warning",
                ),
            ]
        if h.random_faults:
            parts += [sep, ("random faults" if compact else "random faults on", "$text-muted")]
        if h.readonly:
            parts += [sep, ("read-only", "bold reverse")]
        if h.recording:
            parts += [sep, ("● rec" if compact else "● recording", "bold $error")]
        if h.baseline:
            parts += [
                sep,
                (f"Δ {h.baseline}" if compact else f"Δ since {h.baseline}", "bold $accent"),
            ]
        return parts


class TabBar(Static):
    """`1 Floor  2 Fabric …` with the current view marked, and the two keys everyone needs."""

    def show(self, titles: list[str], current: int, hint: str = "") -> None:
        parts: list = []
        for i, title in enumerate(titles):
            if i == current:
                parts.append((f" {i + 1} {title} ", "bold reverse"))
            else:
                parts.append((" ", ""))
                parts.append((f"{i + 1}", "bold $accent"))
                parts.append((f" {title} ", ""))
        used = sum(len(t) for t, _ in parts)
        tail = "   ? help  : command  ^p palette  q quit"
        if used + len(tail) > self.size.width:
            tail = "  ? help  : cmd  q quit"
        if used + len(tail) > self.size.width:
            tail = "  ? help"
        parts.append((tail, "$text-muted"))
        if hint:
            parts.append((f"  {hint}", "$text-muted"))
        self.update(Content.assemble(*parts))
