"""View 2, the fabric: spines, the leaves of each row, uplinks that are down, degraded or busy,
and the scale-up (NVLink) domains that lost bandwidth."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.widgets import Static

from twin.core.api import Snapshot
from twin.frontends.tui import fmt
from twin.frontends.tui.model import P_BAD, P_OK, P_WARN, PALETTE_STYLE
from twin.frontends.tui.widgets.cellgrid import CellGrid
from twin.frontends.tui.widgets.view import View, ViewContext

LINKS_SHOWN = 6


def _link_faults(snap: Snapshot, state: dict[str, str]) -> list:
    """Links down or degraded in themselves (not merely cut off by a failed switch)."""
    return [
        ln
        for ln in snap.links
        if ln.capacity_fraction < 1.0
        and state.get(ln.a) != "failed"
        and state.get(ln.b) != "failed"
    ]


def _switch_state(sw) -> tuple[str, str]:
    """A switch's state with its uplinks (``Switch.links_down``/``links_degraded``):
    '✕ failed', '◆ 1 of 6 uplinks down, 2 degraded' or '■ ok'."""
    if sw is None:
        return ("■ ok", PALETTE_STYLE[P_OK])
    if sw.state == "failed":
        return ("✕ failed", PALETTE_STYLE[P_BAD])
    n, down, deg = sw.links, sw.links_down, sw.links_degraded
    if down and deg:
        return (f"◆ {down} of {n} uplinks down, {deg} degraded", PALETTE_STYLE[P_WARN])
    if down or deg:
        return (
            f"◆ {down or deg} of {n} uplinks {'down' if down else 'degraded'}",
            PALETTE_STYLE[P_WARN],
        )
    return ("■ ok", PALETTE_STYLE[P_OK])


class FabricView(View):
    TITLE = "Fabric"
    KEYS = (("←↑↓→", "move over switches: spines first, then the leaves serving each row"),)

    def compose(self) -> ComposeResult:
        yield Static(
            Content.assemble(
                ("switches ", "$text-muted"),
                ("■", PALETTE_STYLE[P_OK]),
                " ok  ",
                ("◆", PALETTE_STYLE[P_WARN]),
                " an uplink down or degraded  ",
                ("✕", PALETTE_STYLE[P_BAD]),
                " failed",
            ),
            id="fabric-legend",
            classes="legend",
        )
        with Container(classes="body"):
            yield CellGrid(summary_w=22, keep_below=10, id="fabric-grid")
            yield Static(id="fabric-detail", classes="detail")

    def __init__(self, ctx: ViewContext, *, id: str | None = None):
        super().__init__(ctx, id=id)
        topo = ctx.topology
        self.labels = ["spines", *topo.rows]
        self.switch_ids = [
            *topo.spines,
            *dict.fromkeys(s for leaves in topo.row_leaves for s in leaves),
        ]
        index = {s: i for i, s in enumerate(self.switch_ids)}
        self.members = [[index[s] for s in topo.spines]] + [
            [index[s] for s in leaves] for leaves in topo.row_leaves
        ]

    def on_mount(self) -> None:
        self.grid.set_groups(self.labels, self.members)

    @property
    def grid(self) -> CellGrid:
        return self.query_one("#fabric-grid", CellGrid)

    @property
    def primary(self) -> CellGrid:
        return self.grid

    def item_ids(self) -> list[str]:
        return self.switch_ids

    def selection(self) -> str | None:
        _, item = self.grid.selected
        return None if item is None else self.switch_ids[item]

    def on_cell_grid_moved(self, _message: CellGrid.Moved) -> None:
        if self.snapshot is not None:
            self.show(self.snapshot)

    def show(self, snap: Snapshot) -> None:
        super().show(snap)
        state = {s.id: s.state for s in snap.switches}
        hurt: dict[str, int] = {}
        for ln in _link_faults(
            snap, state
        ):  # links down because a switch failed belong to that switch
            hurt[ln.a] = hurt.get(ln.a, 0) + 1
            hurt[ln.b] = hurt.get(ln.b, 0) + 1
        glyphs, pal = [], []
        for s in self.switch_ids:
            if state.get(s) == "failed":
                glyphs.append("✕")
                pal.append(P_BAD)
            elif hurt.get(s):
                glyphs.append("◆")
                pal.append(P_WARN)
            else:
                glyphs.append("■")
                pal.append(P_OK)
        summaries = []
        for members in self.members:
            failed = sum(1 for i in members if pal[i] == P_BAD)
            warn = sum(1 for i in members if pal[i] == P_WARN)
            t = Text(f"{len(members)} switches ")
            if failed:
                t.append(f"✕{failed} ", style="bold")
            if warn:
                t.append(f"◆{warn}", style="bold")
            summaries.append(t)
        self.grid.set_cells(glyphs, pal, summaries)
        self._detail(snap, state)

    def _detail(self, snap: Snapshot, state: dict[str, str]) -> None:
        topo = self.ctx.topology
        sel = self.selection()
        parts: list = []
        if sel:
            sw = next((s for s in snap.switches if s.id == sel), None)
            tier = topo.kind(sel)
            parts += [(f"{tier} {sel}", "bold"), " · ", _switch_state(sw)]
            if tier == "leaf":
                racks = topo.leaf_racks.get(sel, ())
                parts.append(f" · serves {', '.join(racks)}")
                ups = topo.leaf_uplinks.get(sel, ())
                if ups:
                    each = fmt.bits(ups[0]) if len(set(ups)) == 1 else "mixed"
                    parts.append(
                        f"\nuplinks {len(ups)} × {each} = {fmt.bits(sum(ups))} to the spines (layout)"
                    )
            else:
                parts.append(
                    f" · uplinks from every leaf ({len(self.switch_ids) - len(topo.spines)})"
                )
            parts.append("\n")
        own = _link_faults(snap, state)
        failed = sorted(s for s, st in state.items() if st == "failed")
        cut = [
            ln
            for ln in snap.links
            if ln.capacity_fraction < 1.0
            and (state.get(ln.a) == "failed" or state.get(ln.b) == "failed")
        ]
        busy = sorted(
            (ln for ln in snap.links if ln.capacity_fraction >= 1.0), key=lambda ln: -ln.load
        )
        summary = []
        if own:
            summary.append(f"{len(own)} down or degraded")
        if cut:
            summary.append(
                f"{len(cut)}{'+' if len(snap.links) >= 200 else ''} cut off by failed "
                f"{', '.join(failed[:4])}{' …' if len(failed) > 4 else ''}"
            )
        parts.append((f"uplinks: {' · '.join(summary) if summary else 'all up'}", "bold"))
        parts.append(("   (faults first, then the busiest)\n", "$text-muted"))
        for ln in (own + busy)[:LINKS_SHOWN]:
            frac = ln.capacity_fraction
            if frac <= 0:
                parts.append(("✕ down      ", PALETTE_STYLE[P_BAD]))
            elif frac < 1:
                parts.append((f"◆ {frac:>4.0%} cap ", PALETTE_STYLE[P_WARN]))
            else:
                parts.append(("■ ok        ", PALETTE_STYLE[P_OK]))
            parts.append(
                f"{ln.a}→{ln.b:<9} {fmt.bar(ln.load, 8)} {ln.load:>4.0%} of {fmt.bits(ln.gb_s)}\n"
            )
        nvl = [f for f in snap.active_faults if f[1] in ("degrade-rack", "straggler")]
        parts.append(("scale-up domains: ", "bold"))
        if nvl:
            parts.append(
                ", ".join(
                    f"{c} ({'NVLink degraded' if k == 'degrade-rack' else 'straggler'})"
                    for c, k, _ in nvl
                )
            )
        else:
            parts.append("every NVLink domain at full bandwidth")
        self.query_one("#fabric-detail", Static).update(Content.assemble(*parts))
