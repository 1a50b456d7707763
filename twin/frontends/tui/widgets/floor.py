"""View 1, the floor: every rack as one cell, in its row; a detail panel for the selection."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.widgets import Static

from twin.core.engine.snapshot import RACK_STATE_NAMES, Snapshot
from twin.frontends.tui import fmt
from twin.frontends.tui.model import (
    HEAT_MODES,
    LEVEL_GLYPHS,
    STATE_GLYPH,
    STATE_STYLE,
    UTIL_MEANING,
    filter_mask,
    rack_cells,
    row_summaries,
    state_counts_text,
    util_text,
)
from twin.frontends.tui.widgets.cellgrid import CellGrid
from twin.frontends.tui.widgets.view import View, ViewContext

SUMMARY_W = 32


class FloorView(View):
    TITLE = "Floor"
    KEYS = (
        ("←↑↓→", "move over racks; ← past the first rack selects the whole row"),
        ("home/end", "the whole row / its last rack"),
        ("h", "heat: state → utilisation → temperature"),
        ("/", "filter racks by id, row, GPU or state (down, drained …)"),
    )
    FILTERS = "racks"

    def __init__(self, ctx: ViewContext, *, id: str | None = None):
        super().__init__(ctx, id=id)
        self.mode = HEAT_MODES[0]

    def compose(self) -> ComposeResult:
        yield Static(id="floor-legend", classes="legend")
        with Container(classes="body"):
            yield CellGrid(group_select=True, summary_w=SUMMARY_W, id="floor-grid")
            yield Static(id="floor-detail", classes="detail")

    def on_mount(self) -> None:
        topo = self.ctx.topology
        self.grid.set_groups(list(topo.rows), [rr.tolist() for rr in topo.row_racks])
        self._legend()

    @property
    def grid(self) -> CellGrid:
        return self.query_one("#floor-grid", CellGrid)

    @property
    def primary(self) -> CellGrid:
        return self.grid

    def cycle_heat(self) -> str:
        self.mode = HEAT_MODES[(HEAT_MODES.index(self.mode) + 1) % len(HEAT_MODES)]
        self._legend()
        if self.snapshot is not None:
            self.show(self.snapshot)
        return self.mode

    def _legend(self) -> None:
        parts: list = [("heat ", "$text-muted"), (self.mode, "bold"), "  "]
        if self.mode == "state":
            for code, name in enumerate(RACK_STATE_NAMES):
                parts += [(STATE_GLYPH[code], STATE_STYLE[name]), f" {name}  "]
        else:
            lo, hi = ("0%", "100%") if self.mode == "utilisation" else (f"{self.ctx.ambient_c:.0f}°C", f"{self.ctx.throttle_c:.0f}°C")
            parts += [f"{lo} {LEVEL_GLYPHS} {hi}  ", ("faults keep their glyph: ✕ ▼ ◆ ↻ □", "$text-muted")]
        if any(self.ctx.topology.rack_prefill):
            parts.append(("  pfN: N prefill racks", "$text-muted"))
        if self.filter_text:
            parts.append((f"  filter: {self.filter_text}", "bold"))
        self.query_one("#floor-legend", Static).update(Content.assemble(*parts))

    def set_filter(self, text: str) -> None:
        super().set_filter(text)
        self._legend()

    def show(self, snap: Snapshot) -> None:
        super().show(snap)
        glyphs, pal = rack_cells(snap, self.mode, self.ctx.throttle_c, self.ctx.ambient_c)
        rows = row_summaries(snap, self.ctx.topology)
        summaries = [self._summary(r) for r in rows]
        mask = filter_mask(snap, self.ctx.topology, self.filter_text)
        self.grid.set_cells(glyphs, pal, summaries, None if mask is None else mask.tolist())
        self._detail(snap, rows)

    @staticmethod
    def _summary(r) -> Text:
        t = Text(f"{fmt.kw(r.power_kw):>7} {util_text(r.util):>5} {r.hottest_c:>3.0f}°C ")
        if r.prefill:
            t.append(f"pf{r.prefill} ", style="italic")
        bad = state_counts_text(r.counts)
        if bad:
            t.append(bad, style="bold")
        return t

    def selection(self) -> str | None:
        topo = self.ctx.topology
        if not topo.rows:
            return None
        g, item = self.grid.selected
        return topo.rows[g] if item is None else topo.rack_ids[item]

    def on_cell_grid_moved(self, _message: CellGrid.Moved) -> None:
        if self.snapshot is not None:
            self._detail(self.snapshot, row_summaries(self.snapshot, self.ctx.topology))

    def _detail(self, snap: Snapshot, rows) -> None:
        topo, cat = self.ctx.topology, self.ctx.catalog
        g, item = self.grid.selected
        if item is None:
            r = rows[g]
            skus = sorted({snap.racks.gpu[i] for i in topo.row_racks[g]})
            states = ", ".join(f"{n} {RACK_STATE_NAMES[s]}" for s, n in enumerate(r.counts) if n)
            pdus = topo.row_pdus[g]
            parts = [
                (f"row {topo.rows[g]}", "bold"),
                f" · {r.racks} racks of {', '.join(cat.gpus[s].name if s in cat.gpus else s for s in skus)}\n",
                f"power {fmt.kw(r.power_kw)} · util {util_text(r.util)} · hottest GPU {r.hottest_c:.0f} °C\n",
                f"racks: {states}\n",
                *([f"prefill pool: {r.prefill} of its racks prefill prompts for decode elsewhere "
                   "(their util is prefill work)\n"] if r.prefill else []),
                f"fed by {len(pdus)} PDUs on {', '.join(dict.fromkeys(topo.pdu_feed[p] for p in pdus))} · "
                f"cooled by {', '.join(dict.fromkeys(topo.rack_loop[i] for i in topo.row_racks[g]))}",
            ]
        else:
            racks = snap.racks
            sku = racks.gpu[item]
            gpu = cat.gpus.get(sku)
            n_gpus = topo.rack_gpus[item] if sku == topo.rack_sku[item] or gpu is None else gpu.gpus_per_rack
            code = int(racks.state[item])
            state = RACK_STATE_NAMES[code]
            feeds = " + ".join(f"{p} ({topo.pdu_feed[p]})" for p in topo.rack_pdus[item])
            deps = topo.rack_deployments[item]
            parts = [
                (f"rack {topo.rack_ids[item]}", "bold"), f" · {gpu.name if gpu else sku} × {n_gpus} · ",
                (f"{STATE_GLYPH[code]} {state}", STATE_STYLE[state]),
                f"\npower {fmt.kw(float(racks.power_kw[item]))} · util {util_text(float(racks.utilisation[item]))} · "
                f"GPU {float(racks.temp_c[item]):.0f} °C · clock {float(racks.clock[item]):.0%}\n",
                f"power from {feeds} · cooled by {topo.rack_loop[item]} · leaf {topo.rack_leaf[item]}\n",
                f"serves {', '.join(deps) if deps else 'nothing (spare)'}",
            ]
            pf = topo.rack_prefill[item]
            if pf > 0:
                parts.append((f" · prefill pool{'' if pf >= 1 else f' ({pf:.0%} of its GPUs)'}: it prefills prompts "
                              "for decode replicas elsewhere", "italic"))
        parts.append((f"\n{UTIL_MEANING}", "$text-muted"))
        self.query_one("#floor-detail", Static).update(Content.assemble(*parts))
