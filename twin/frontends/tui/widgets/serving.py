"""View 4, serving: deployments and their replicas, queues and batches; request classes
against their latency SLOs; the routing policy."""

from __future__ import annotations

import math

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from twin.core.api import POLICIES, Snapshot
from twin.frontends.tui import fmt
from twin.frontends.tui.model import prefill_racks, span_text, util_text
from twin.frontends.tui.widgets.view import View


def theme_styles(app) -> dict[str, str]:
    """Rich style strings in the current theme's colours, for Rich tables."""
    th = app.current_theme
    return {
        "ok": th.success or "green",
        "warn": th.warning or "yellow",
        "bad": f"bold {th.error or 'red'}",
        "muted": "dim",
        "accent": th.accent or "cyan",
    }


def _table(title: str, roomy: bool) -> Table:
    return Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 1) if roomy else (0, 0),
        pad_edge=False,
        expand=False,
        title=title,
        title_justify="left",
        title_style="bold",
        show_edge=False,
    )


#: The deployment sorts `o` cycles through: (words, value to sort by, highest first).
SORTS = (
    ("layout order", None),
    ("queue ▼", lambda d: d.queue),
    ("tok/s ▼", lambda d: d.output_tok_s),
    ("TTFT95 ▼", lambda d: d.ttft_p95_s if d.ttft_p95_s == d.ttft_p95_s else -1.0),
)


class ServingView(View):
    TITLE = "Serving"
    KEYS = (
        ("↑↓ j k pgup/pgdn", "scroll"),
        (
            "o",
            "sort deployments: layout order → queue → tok/s → TTFT95 (the order holds until o again)",
        ),
    )

    BINDINGS = [
        Binding("o", "sort", "sort", show=False),
        Binding("j", "scroll(1)", show=False),
        Binding("k", "scroll(-1)", show=False),
    ]

    def __init__(self, ctx, *, id: str | None = None):
        super().__init__(ctx, id=id)
        self.sort = 0
        self.order: list[str] | None = None  # deployment ids as sorted when o was pressed

    def action_sort(self) -> None:
        self.sort = (self.sort + 1) % len(SORTS)
        words, key = SORTS[self.sort]
        if key is None or self.snapshot is None:
            self.order = None
        else:
            self.order = [d.id for d in sorted(self.snapshot.deployments, key=key, reverse=True)]
        self.app.room.say(f"deployments sorted by {words} — the order holds until o again", "info")  # type: ignore[attr-defined]
        if self.snapshot is not None:
            self.show(self.snapshot)

    def action_scroll(self, dy: int) -> None:
        self.primary.scroll_relative(y=dy, animate=False)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="serving-scroll"):
            yield Static(id="serving-body")

    @property
    def primary(self) -> VerticalScroll:
        return self.query_one("#serving-scroll", VerticalScroll)

    def select_component(self, component: str) -> bool:
        return any(d.id == component for d in (self.snapshot.deployments if self.snapshot else ()))

    def show(self, snap: Snapshot) -> None:
        super().show(snap)
        st = theme_styles(self.app)
        head = Text()
        head.append("routing ", style=st["muted"])
        for i, p in enumerate(POLICIES):
            if i:
                head.append(" · ", style=st["muted"])
            head.append(
                f"▸{p}" if p == snap.routing else p,
                style="bold reverse" if p == snap.routing else st["muted"],
            )
        g = snap.gauges
        head.append(
            f"\ndemand ×{snap.surge:g} · queued {fmt.si(g['queue_depth'])} req · "
            f"util {util_text(g['utilisation'])} of capacity at the SLO pace · shed {fmt.si(g['shed_rps'])}/s · "
            f"failed {fmt.si(g['failed_rps'])}/s\n"
        )
        head.append("p50/p95/p99 ", style=st["muted"])
        head.append(
            "TTFT "
            + "/".join(fmt.seconds(g[f"ttft_p{q}_s"]) for q in (50, 95, 99))
            + "  TPOT "
            + "/".join(fmt.seconds(g[f"tpot_p{q}_s"]) for q in (50, 95, 99))
            + "\n"
        )
        head.append("cost ", style=st["muted"])
        usd = g["usd_per_mtok"]
        head.append(
            f"${usd:.3f}/Mtok: capital+opex ${g['usd_per_mtok_capital']:.3f} · energy "
            f"${g['usd_per_mtok_energy']:.3f} · {g['tok_per_joule']:.2f} tok/J"
            if usd == usd and usd < 1e9
            else "no output: no cost per token"
        )

        roomy = self.size.width >= 100
        deps = _table(
            f"deployments · sorted by {SORTS[self.sort][0]} (o)" if self.sort else "deployments",
            roomy,
        )
        for name, just in (
            ("deployment", "left"),
            ("model", "left"),
            ("replicas", "right"),
            ("prefill", "right"),
            ("queue", "right"),
            ("batch", "right"),
            ("tok/s", "right"),
            ("TTFT95", "right"),
            ("TPOT95", "right"),
        ):
            deps.add_column(
                name,
                justify=just,
                no_wrap=True,
                overflow="ellipsis",
                max_width={"model": 17, "deployment": 12}.get(name),
            )
        shown = list(snap.deployments)
        if self.order is not None:
            rank = {k: i for i, k in enumerate(self.order)}
            shown.sort(key=lambda d: rank.get(d.id, len(rank)))
        for d in shown:
            up_style = (
                st["ok"]
                if d.replicas_up == d.replicas
                else (st["bad"] if d.replicas_up < 0.8 * d.replicas else st["warn"])
            )
            glyph = (
                "■"
                if d.replicas_up == d.replicas
                else ("✗" if d.replicas_up < 0.8 * d.replicas else "▲")
            )
            up = (
                f"{d.replicas_up}/{d.replicas}"
                if d.replicas_up == d.replicas
                else f"{glyph} {d.replicas_up}/{d.replicas}"
            )
            deps.add_row(
                Text(d.id),
                Text(f"{d.model} {d.precision}"),
                Text(up, style=up_style),
                str(d.prefill_replicas) if d.prefill_replicas else "–",
                fmt.si(d.queue),
                f"{d.batch_mean:.0f}",
                fmt.si(d.output_tok_s),
                fmt.seconds(d.ttft_p95_s),
                fmt.seconds(d.tpot_p95_s),
            )

        pools = [
            Text(
                f"prefill pool of {d.id}: {d.prefill_replicas} replicas on "
                f"{span_text(prefill_racks(self.ctx.topology, d.id))}, prefill only",
                style=st["muted"],
            )
            for d in snap.deployments
            if d.prefill_replicas
        ]
        classes = _table("request classes", roomy)
        for name, just in (
            ("class", "left"),
            ("deployment", "left"),
            ("req/s", "right"),
            ("TTFT p95/SLO", "right"),
            ("TPOT p95/SLO", "right"),
            ("SLO met", "right"),
            ("shed/s", "right"),
        ):
            classes.add_column(name, justify=just, no_wrap=True, overflow="ellipsis")
        for c in snap.classes:
            classes.add_row(
                Text(c.id),
                Text(c.deployment),
                fmt.si(c.rate_rps),
                self._vs(c.ttft_p95_s, c.slo_ttft_s, st),
                self._vs(c.tpot_p95_s, c.slo_tpot_s, st),
                self._attainment(c.slo_attainment, st),
                fmt.si(c.shed_rps),
            )
        self.query_one("#serving-body", Static).update(Group(head, deps, *pools, classes))

    @staticmethod
    def _vs(value: float, slo: float, st: dict[str, str]) -> Text:
        if not math.isfinite(value):  # no request completed: no latency, no verdict
            return Text(f"—/{fmt.seconds(slo)}  ")
        ratio = value / slo if slo > 0 else 0.0
        glyph, style = (
            ("✗", st["bad"])
            if ratio > 1
            else (("▲", st["warn"]) if ratio > 0.8 else ("■", st["ok"]))
        )
        t = Text(f"{fmt.seconds(value)}/{fmt.seconds(slo)} ")
        t.append(glyph, style=style)
        return t

    @staticmethod
    def _attainment(att: float, st: dict[str, str]) -> Text:
        glyph, style = (
            ("✗", st["bad"])
            if att < 0.95
            else (("▲", st["warn"]) if att < 0.99 else ("■", st["ok"]))
        )
        t = Text(f"{att * 100:.1f}% ")
        t.append(glyph, style=style)
        return t
