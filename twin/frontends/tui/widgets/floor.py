"""View 1, the floor: every rack as one cell, in its row; a detail panel for the selection."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.widgets import DataTable, Static

from twin.core.api import RACK_STATE_NAMES, Snapshot
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
from twin.frontends.tui.widgets.drill import (
    COLUMNS,
    SORTS,
    DrillTable,
    Level,
    level_lines,
    level_title,
)
from twin.frontends.tui.widgets.view import View, ViewContext

SUMMARY_W = 32


class FloorView(View):
    TITLE = "Floor"
    KEYS = (
        ("←↑↓→ j k", "move over racks; ← past the first rack selects the whole row"),
        ("home/end", "the whole row / its last rack"),
        ("Enter", "drill down: a row's racks → a rack's nodes → a node's GPUs (a table)"),
        ("Esc", "back up one level of the drill-down"),
        ("o", "in the drill-down: sort by layout order → power → utilisation → temperature"),
        ("h", "heat: state → utilisation → temperature"),
        ("/", "filter racks by id, row, GPU or state (down, drained …)"),
    )
    FILTERS = "racks"

    def __init__(self, ctx: ViewContext, *, id: str | None = None):
        super().__init__(ctx, id=id)
        self.mode = HEAT_MODES[0]
        self.levels: list[Level] = []  # the drill-down, outermost first; empty: the floor grid
        self.sort = 0  # index into SORTS
        self._order: list[str] = []  # the drill table's row keys, in the order shown
        self._lines: list = []  # the drill table's lines, in that order

    def compose(self) -> ComposeResult:
        yield Static(id="floor-legend", classes="legend")
        with Container(classes="body"):
            yield CellGrid(group_select=True, summary_w=SUMMARY_W, id="floor-grid")
            yield DrillTable(id="floor-drill", cursor_type="row", zebra_stripes=False)
            yield Static(id="floor-detail", classes="detail")

    def on_mount(self) -> None:
        topo = self.ctx.topology
        self.grid.set_groups(list(topo.rows), [rr.tolist() for rr in topo.row_racks])
        self.drill.display = False
        self._legend()

    # ---- the drill-down -----------------------------------------------------------------
    @property
    def drill(self) -> DrillTable:
        return self.query_one("#floor-drill", DrillTable)

    def on_cell_grid_entered(self, message: CellGrid.Entered) -> None:
        message.stop()
        topo = self.ctx.topology
        self.open_level(
            Level("row", topo.rows[message.group])
            if message.item is None
            else Level("rack", topo.rack_ids[message.item])
        )

    def open_level(self, level: Level) -> None:
        self.levels.append(level)
        self._build()

    def back(self) -> bool:
        """Esc: one level up; False if already on the floor grid."""
        if not self.levels:
            return False
        left = self.levels.pop()
        if self.levels:
            self._build(keep=left.id if left.kind != "node" else left.id)
        else:
            self.drill.display = False
            self.grid.display = True
            self.select_component(left.rack if left.kind != "row" else left.id)
            self._legend()
        return True

    def on_drill_table_back(self, message: DrillTable.Back) -> None:
        message.stop()
        self.back()

    def on_drill_table_sort(self, message: DrillTable.Sort) -> None:
        message.stop()
        self.sort = (self.sort + 1) % len(SORTS)
        self._build(keep=self._cursor_key())
        self.app.room.say(
            f"sorted by {SORTS[self.sort][1]} — the order holds until o again", "info"
        )  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        message.stop()
        line = next((ln for ln in self._lines if ln.key == message.row_key.value), None)
        if line is not None and line.drill is not None:
            self.open_level(line.drill)
        elif line is not None:
            self.app.room.say("a GPU is the deepest level · Esc goes back up", "info")  # type: ignore[attr-defined]

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        message.stop()
        if self.snapshot is not None and self.levels:
            self._detail(self.snapshot, row_summaries(self.snapshot, self.ctx.topology))

    def _cursor_key(self) -> str | None:
        t = self.drill
        if not self._order or not 0 <= t.cursor_row < len(self._order):
            return None
        return self._order[t.cursor_row]

    def _build(self, keep: str | None = None) -> None:
        """Lay out the table of the level on top, sorted as asked (then frozen: frames only update cells)."""
        snap = self.snapshot
        if snap is None or not self.levels:
            return
        level = self.levels[-1]
        lines = level_lines(level, snap, self.ctx.topology, self.ctx.catalog)
        key, _ = SORTS[self.sort]
        if key != "layout":
            lines = sorted(lines, key=lambda ln: -ln.values[key])
        self._lines = lines
        self._order = [ln.key for ln in lines]
        t = self.drill
        t.clear(columns=True)
        for i, name in enumerate(COLUMNS[level.kind]):
            t.add_column(name, key=str(i))
        for ln in lines:
            t.add_row(*ln.cells, key=ln.key)
        self.grid.display = False
        t.display = True
        t.focus()
        if keep in self._order:
            t.move_cursor(row=self._order.index(keep))
        self._legend()
        self._detail(snap, row_summaries(snap, self.ctx.topology))

    def _update_drill(self, snap: Snapshot) -> None:
        level = self.levels[-1]
        lines = {ln.key: ln for ln in level_lines(level, snap, self.ctx.topology, self.ctx.catalog)}
        if set(lines) != set(self._order):  # a swap changed the rack's GPUs: lay out again
            self._build(keep=self._cursor_key())
            return
        self._lines = [lines[k] for k in self._order]
        t = self.drill
        for k in self._order:
            for i, cell in enumerate(lines[k].cells):
                t.update_cell(k, str(i), cell)
        self._legend()

    @property
    def grid(self) -> CellGrid:
        return self.query_one("#floor-grid", CellGrid)

    @property
    def primary(self):
        return self.drill if self.levels else self.grid

    def cycle_heat(self) -> str:
        self.mode = HEAT_MODES[(HEAT_MODES.index(self.mode) + 1) % len(HEAT_MODES)]
        self._legend()
        if self.snapshot is not None:
            self.show(self.snapshot)
        return self.mode

    def _legend(self) -> None:
        if self.levels and self.snapshot is not None:
            level = self.levels[-1]
            trail = " › ".join(
                f"node {lv.node}" if lv.kind == "node" else lv.id for lv in self.levels
            )
            parts = [
                ("floor › ", "$text-muted"),
                (trail, "bold"),
                "  ",
                (level_title(level, self.snapshot, self.ctx.topology, self.ctx.catalog), ""),
                ("\n", ""),
                (f"sorted by {SORTS[self.sort][1]}", "bold"),
                (" · o sorts, then holds · Enter opens · Esc back", "$text-muted"),
            ]
            if level.kind != "row":
                parts.append(
                    (
                        "\nthe twin models racks: power is the rack's shared evenly, the rest the rack's own",
                        "$text-muted",
                    )
                )
            self.query_one("#floor-legend", Static).update(Content.assemble(*parts))
            return
        parts: list = [("heat ", "$text-muted"), (self.mode, "bold"), "  "]
        if self.mode == "state":
            for code, name in enumerate(RACK_STATE_NAMES):
                parts += [(STATE_GLYPH[code], STATE_STYLE[name]), f" {name}  "]
        else:
            lo, hi = (
                ("0%", "100%")
                if self.mode == "utilisation"
                else (f"{self.ctx.ambient_c:.0f}°C", f"{self.ctx.throttle_c:.0f}°C")
            )
            parts += [
                f"{lo} {LEVEL_GLYPHS} {hi}  ",
                ("faults keep their glyph: ✕ ▼ ◆ ↻ □", "$text-muted"),
            ]
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
        if self.levels:
            if self.drill.row_count == 0:
                self._build()
            else:
                self._update_drill(snap)
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

    def item_ids(self) -> list[str]:
        return list(self.ctx.topology.rack_ids)

    def select_component(self, component: str) -> bool:
        topo = self.ctx.topology
        if self.levels:  # out of the drill-down, onto the floor
            self.levels.clear()
            self.drill.display = False
            self.grid.display = True
            self._legend()
        if component in topo.rows:  # a row: its label
            self.grid.select(topo.rows.index(component), -1)
            self.grid.focus()
            return True
        return super().select_component(component)

    def selection(self) -> str | None:
        topo = self.ctx.topology
        if not topo.rows:
            return None
        if (
            self.levels
        ):  # in the drill-down: the rack under the cursor, or the rack being looked into
            key = self._cursor_key() if self.levels[-1].kind == "row" else None
            return key or self.levels[-1].rack
        g, item = self.grid.selected
        return topo.rows[g] if item is None else topo.rack_ids[item]

    def on_cell_grid_moved(self, _message: CellGrid.Moved) -> None:
        if self.snapshot is not None:
            self._detail(self.snapshot, row_summaries(self.snapshot, self.ctx.topology))

    def _detail(self, snap: Snapshot, rows) -> None:
        topo, cat = self.ctx.topology, self.ctx.catalog
        g, item = self.grid.selected
        if self.levels:
            sel = self.selection()
            if sel in topo.rack_index:
                item = topo.rack_index[sel]
                g = int(topo.rack_row[item])
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
                *(
                    [
                        f"prefill pool: {r.prefill} of its racks prefill prompts for decode elsewhere "
                        "(their util is prefill work)\n"
                    ]
                    if r.prefill
                    else []
                ),
                f"fed by {len(pdus)} PDUs on {', '.join(dict.fromkeys(topo.pdu_feed[p] for p in pdus))} · "
                f"cooled by {', '.join(dict.fromkeys(topo.rack_loop[i] for i in topo.row_racks[g]))}",
            ]
        else:
            racks = snap.racks
            sku = racks.gpu[item]
            gpu = cat.gpus.get(sku)
            n_gpus = (
                topo.rack_gpus[item]
                if sku == topo.rack_sku[item] or gpu is None
                else gpu.gpus_per_rack
            )
            code = int(racks.state[item])
            state = RACK_STATE_NAMES[code]
            feeds = " + ".join(f"{p} ({topo.pdu_feed[p]})" for p in topo.rack_pdus[item])
            deps = topo.rack_deployments[item]
            parts = [
                (f"rack {topo.rack_ids[item]}", "bold"),
                f" · {gpu.name if gpu else sku} × {n_gpus} · ",
                (f"{STATE_GLYPH[code]} {state}", STATE_STYLE[state]),
                f"\npower {fmt.kw(float(racks.power_kw[item]))} · util {util_text(float(racks.utilisation[item]))} · "
                f"GPU {float(racks.temp_c[item]):.0f} °C · clock {float(racks.clock[item]):.0%}\n",
                f"power from {feeds} · cooled by {topo.rack_loop[item]} · leaf {topo.rack_leaf[item]}\n",
                f"serves {', '.join(deps) if deps else 'nothing (spare)'}",
            ]
            pf = topo.rack_prefill[item]
            if pf > 0:
                parts.append(
                    (
                        f" · prefill pool{'' if pf >= 1 else f' ({pf:.0%} of its GPUs)'}: it prefills prompts "
                        "for decode replicas elsewhere",
                        "italic",
                    )
                )
        parts.append((f"\n{UTIL_MEANING}", "$text-muted"))
        self.query_one("#floor-detail", Static).update(Content.assemble(*parts))
