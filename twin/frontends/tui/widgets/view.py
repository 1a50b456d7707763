"""What every view (floor, fabric, power, serving, events, timeline) shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from textual.containers import Vertical
from textual.widget import Widget

from twin.core.api import Catalog, Snapshot
from twin.frontends.tui.model import AlarmBook, Topology

if TYPE_CHECKING:
    from twin.core.api import Scenario
    from twin.frontends.playback import ScriptState


@dataclass
class ViewContext:
    """What the views read besides the snapshot: static shape, catalog and session state."""

    topology: Topology
    catalog: Catalog
    start_hour: float
    ambient_c: float
    throttle_c: float
    alarms: AlarmBook = field(default_factory=AlarmBook)
    scenario: Scenario | None = None  # the scenario playing, if any
    blind: bool = False  # hide what the scenario does next (trainees)
    script: ScriptState | None = None  # the scenario as of the last frame
    history_from_s: float = (
        0.0  # sparklines start here (past the ramp from a cold start, in the warm-up)
    )


class View(Vertical):
    """A view: shows snapshots, and may have a selection the f/r/d/s keys act on."""

    TITLE: ClassVar[str] = ""
    #: Keys handled by the view itself, for help and the hint line: (key, what it does).
    KEYS: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: Whether the view can filter with `/` (and what a filter matches).
    FILTERS: ClassVar[str] = ""

    def __init__(self, ctx: ViewContext, *, id: str | None = None):
        super().__init__(id=id, classes="view")
        self.ctx = ctx
        self.snapshot: Snapshot | None = None
        self.filter_text = ""

    def show(self, snap: Snapshot) -> None:
        """Apply one snapshot (called only while the view is on screen)."""
        self.snapshot = snap

    def selection(self) -> str | None:
        """The component the selection keys act on, if any."""
        return None

    def select_component(self, component: str) -> bool:
        """Put the selection on ``component``; False if this view does not show it."""
        grid = getattr(self, "grid", None)
        ids = self.item_ids()
        if grid is None or component not in ids:
            return False
        item = ids.index(component)
        for g, members in enumerate(grid.members):
            if item in members:
                grid.select(g, members.index(item))
                grid.focus()
                return True
        return False

    def item_ids(self) -> list[str]:
        """The component of each cell of the view's grid, by item index."""
        return []

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        if self.snapshot is not None:
            self.show(self.snapshot)

    @property
    def primary(self) -> Widget:
        """The widget that takes focus when the view opens."""
        return self

    #: Width of the detail panel when it stands beside the grid (matches app.tcss).
    SIDE_DETAIL_W = 52

    def on_resize(self) -> None:
        """Put the detail panel beside the grid only if the grid keeps its roomiest cells.

        On a wide screen a side panel is the better use of space, unless the grid then
        has to shrink its cells (hyperscale rows of 26 racks): then the panel goes below.
        """
        from twin.frontends.tui.widgets.cellgrid import CellGrid

        grids = list(self.query(CellGrid))
        if not grids or not self.screen.has_class("-wide"):
            self.set_class(False, "-detail-below")
            return
        grid = grids[0]
        w, h = self.size
        side = grid._arrange(w - self.SIDE_DETAIL_W - 4, h - 2)
        below = grid._arrange(w - 2, max(h - 2 - grid.keep_below, 1))
        cramped = (side.cell_w, side.summary_w > 0) < (below.cell_w, below.summary_w > 0)
        self.set_class(cramped, "-detail-below")
