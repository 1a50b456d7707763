"""View 3, power and cooling: feeds → PDUs → racks with load against capacity, the site
envelope and caps, and the cooling loops."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.widgets import Static

from twin.core.api import RACK_STATE_NAMES, Snapshot
from twin.frontends.tui import fmt
from twin.frontends.tui.model import (
    COMPONENT_STATE,
    P_BAD,
    P_OK,
    P_WARN,
    PALETTE_STYLE,
    STATE_GLYPH,
    STATE_STYLE,
    load_cell,
)
from twin.frontends.tui.widgets.cellgrid import CellGrid
from twin.frontends.tui.widgets.view import View, ViewContext


class PowerView(View):
    TITLE = "Power"
    KEYS = (("←↑↓→", "move over feeds, the PDUs of each row, and the cooling loops"),)

    def __init__(self, ctx: ViewContext, *, id: str | None = None):
        super().__init__(ctx, id=id)
        topo = ctx.topology
        feeds = list(topo.feed_pdus)
        loops = list(topo.loop_racks)
        self.ids = [*feeds, *dict.fromkeys(p for pdus in topo.row_pdus for p in pdus), *loops]
        index = {c: i for i, c in enumerate(self.ids)}
        self.labels = ["feeds", *topo.rows, "cooling"]
        self.members = (
            [[index[f] for f in feeds]]
            + [[index[p] for p in pdus] for pdus in topo.row_pdus]
            + [[index[lp] for lp in loops]]
        )

    def compose(self) -> ComposeResult:
        yield Static(id="power-site", classes="legend")
        with Container(classes="body"):
            yield CellGrid(summary_w=24, cell_widths=(5, 2, 1), keep_below=4, id="power-grid")
            yield Static(id="power-detail", classes="detail")

    def on_mount(self) -> None:
        self.grid.set_groups(self.labels, self.members)

    @property
    def grid(self) -> CellGrid:
        return self.query_one("#power-grid", CellGrid)

    @property
    def primary(self) -> CellGrid:
        return self.grid

    def item_ids(self) -> list[str]:
        return self.ids

    def selection(self) -> str | None:
        _, item = self.grid.selected
        return None if item is None else self.ids[item]

    def on_cell_grid_moved(self, _message: CellGrid.Moved) -> None:
        if self.snapshot is not None:
            self._detail(self.snapshot)

    def show(self, snap: Snapshot) -> None:
        super().show(snap)
        comp = self._components(snap)
        glyphs, pal, wide = [], [], []
        for cid in self.ids:
            state, load, cap, _ = comp[cid]
            g, p = load_cell(state, load, cap)
            glyphs.append(g)
            pal.append(p)
            wide.append(
                f"{load / cap:.0%}" if state in ("ok", "high", "overloaded") and cap > 0 else g
            )
        summaries = []
        for members in self.members:
            load = sum(comp[self.ids[i]][1] for i in members)
            cap = sum(comp[self.ids[i]][2] for i in members)
            bad = sum(1 for i in members if comp[self.ids[i]][0] not in ("ok", "high"))
            t = Text(f"{fmt.kw(load):>7}/{fmt.kw(cap):<7}{load / cap if cap else 0:>4.0%} ")
            if bad:
                t.append(f"✕{bad}", style="bold")
            summaries.append(t)
        self.grid.set_cells(glyphs, pal, summaries, wide_glyphs=wide)
        self._site(snap)
        self._detail(snap)

    @staticmethod
    def _components(snap: Snapshot) -> dict[str, tuple[str, float, float, float | None]]:
        out = {p.id: (p.state, p.load_kw, p.capacity_kw, p.cap_kw) for p in snap.power}
        out.update({lp.id: (lp.state, lp.load_kw, lp.capacity_kw, None) for lp in snap.loops})
        return out

    def _site(self, snap: Snapshot) -> None:
        g = snap.gauges
        fac, env, it = g["facility_power_kw"], g["envelope_kw"], g["it_power_kw"]
        share = fac / env if env else 0.0
        style = PALETTE_STYLE[P_BAD if share > 1 else P_WARN if share > 0.9 else P_OK]
        cap = (
            f"capped at {fmt.kw(snap.site_cap_kw)}" if snap.site_cap_kw is not None else "uncapped"
        )
        parts = [
            (f"facility {fmt.kw(fac)}", f"bold {style}"),
            f" of {fmt.kw(env)} ({share:.0%}) · headroom {fmt.kw(env - fac)} · IT {fmt.kw(it)} · "
            f"{cap}\n",
            ("cells: load of capacity · ", "$text-muted"),
            ("▲ > 80%", PALETTE_STYLE[P_WARN]),
            (" · ✕ failed · ⊘ tripped · ○ unpowered", "$text-muted"),
        ]
        self.query_one("#power-site", Static).update(Content.assemble(*parts))

    def _detail(self, snap: Snapshot) -> None:
        topo = self.ctx.topology
        sel = self.selection()
        if sel is None:
            return
        comp = self._components(snap)
        state, load, cap, limit = comp[sel]
        kind = topo.kind(sel)
        glyph, pal = COMPONENT_STATE.get(state, ("?", P_WARN))
        parts: list = [
            (f"{kind} {sel}", "bold"),
            " · ",
            (f"{glyph} {state}", PALETTE_STYLE[pal]),
            f" · {fmt.kw(load)} of {fmt.kw(cap)} ({load / cap if cap else 0:.0%}) · headroom {fmt.kw(cap - load)}",
        ]
        if kind == "pdu":
            parts.append(f" · on {topo.pdu_feed[sel]}")
            parts.append(f" · cap {fmt.kw(limit)}" if limit is not None else " · no cap")
            racks = topo.pdu_racks.get(sel, ())
        elif kind == "feed":
            pdus = topo.feed_pdus.get(sel, ())
            hurt = [p for p in pdus if comp[p][0] not in ("ok", "high")]
            parts.append(f" · {len(pdus)} PDUs" + (f", {len(hurt)} not ok" if hurt else ""))
            parts.append("\n")
            busiest = sorted(
                pdus,
                key=lambda p: (comp[p][0] in ("ok", "high"), -comp[p][1] / max(comp[p][2], 1e-9)),
            )
            for p in busiest[:12]:
                st, ld, cp, _ = comp[p]
                g, pal = COMPONENT_STATE.get(st, ("?", P_WARN))
                parts += [
                    (g, PALETTE_STYLE[pal]),
                    f" {p:<14} {fmt.bar(ld / cp if cp else 0, 10)} {ld / cp if cp else 0:>4.0%} "
                    f"{fmt.kw(ld)}/{fmt.kw(cp)}\n",
                ]
            racks = ()
        else:  # a cooling loop
            lp = next(lp for lp in snap.loops if lp.id == sel)
            parts.append(f" · {lp.racks} racks · hottest GPU {lp.hottest_c:.0f} °C")
            rows = sorted(
                {
                    topo.rows[int(topo.rack_row[topo.rack_index[r]])]
                    for r in topo.loop_racks.get(sel, ())
                },
                key=topo.rows.index,
            )
            parts.append(f"\ncools rows {', '.join(rows)}")
            racks = ()
        if racks:
            parts.append("\nracks behind it:\n")
            idx = topo.rack_index
            for r in racks[:24]:
                i = idx[r]
                name = RACK_STATE_NAMES[int(snap.racks.state[i])]
                parts += [
                    (STATE_GLYPH[int(snap.racks.state[i])], STATE_STYLE[name]),
                    f" {r} {fmt.kw(float(snap.racks.power_kw[i]))}\n",
                ]
        self.query_one("#power-detail", Static).update(Content.assemble(*parts))
