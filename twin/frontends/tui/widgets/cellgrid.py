"""A dense grid of one-glyph cells in labelled groups, drawn with Textual's Line API.

One widget draws every cell (a rack, a leaf switch, a PDU), so a 1,040-rack floor is one
widget and a frame only re-renders the lines on screen. Groups (rows of racks, say) are
laid out in as many side-by-side columns as the width allows, filled top to bottom, so
``↑``/``↓`` walk the groups in order and ``←``/``→`` walk the cells; ``←`` past the first
cell selects the whole group when the grid allows it. A click selects the cell under the
pointer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from twin.frontends.tui.model import P_DIM, PALETTE_CLASSES

GAP = 3  # blank cells between side-by-side columns of groups


@dataclass(frozen=True)
class Arrangement:
    cell_w: int
    label_w: int
    summary_w: int
    columns: int
    lines: int  # lines per column
    max_cells: int

    @property
    def block_w(self) -> int:
        return self.label_w + self.cell_w * self.max_cells + self.summary_w


def arrange(
    n_groups: int,
    max_cells: int,
    label_w: int,
    width: int,
    height: int,
    cell_widths: tuple[int, ...] = (2, 1),
    summary_w: int = 0,
) -> Arrangement:
    """The roomiest arrangement that shows every group without scrolling, if one exists.

    Preference: wide cells with summaries, then wide cells, then narrow cells (each with
    and without summaries), each in as few columns as fit the height. If nothing fits,
    narrow cells in as many columns as the width takes, and the grid scrolls.
    """
    n_groups = max(n_groups, 1)
    height = max(height, 1)
    options = []
    for cw in cell_widths:
        for sw in (summary_w, 0) if summary_w else (0,):
            options.append((cw, sw))
    for cw, sw in options:
        block = label_w + cw * max_cells + sw
        cols = math.ceil(n_groups / height)
        if cols * block + (cols - 1) * GAP <= width:
            return Arrangement(cw, label_w, sw, cols, math.ceil(n_groups / cols), max_cells)
    cw = cell_widths[-1]
    block = label_w + cw * max_cells
    cols = max(1, (width + GAP) // (block + GAP))
    cols = min(cols, n_groups)
    return Arrangement(cw, label_w, 0, cols, math.ceil(n_groups / cols), max_cells)


class CellGrid(ScrollView, can_focus=True):
    """Groups of one-glyph cells with a cursor; the owner feeds glyphs and palette indices."""

    COMPONENT_CLASSES = {
        "cellgrid--label",
        "cellgrid--summary",
        "cellgrid--cursor",
        *(f"cellgrid--{c}" for c in PALETTE_CLASSES),
    }

    DEFAULT_CSS = """
    CellGrid { height: 1fr; }
    """

    BINDINGS = [
        Binding("up,k", "move(0, -1)", "up", show=False),
        Binding("down,j", "move(0, 1)", "down", show=False),
        Binding("enter", "enter", "drill down", show=False),
        Binding("left", "move(-1, 0)", "left", show=False),
        Binding("right", "move(1, 0)", "right", show=False),
        Binding("home", "edge(-1)", "first", show=False),
        Binding("end", "edge(1)", "last", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
    ]

    class Moved(Message):
        """The cursor moved: ``item`` is None when the whole group is selected."""

        def __init__(self, grid: CellGrid, group: int, item: int | None):
            super().__init__()
            self.grid, self.group, self.item = grid, group, item

    class Entered(Message):
        """Enter on the cursor: ``item`` None for a whole group."""

        def __init__(self, grid: CellGrid, group: int, item: int | None):
            super().__init__()
            self.grid, self.group, self.item = grid, group, item

    def action_enter(self) -> None:
        if self.labels:
            g, item = self.selected
            self.post_message(self.Entered(self, g, item))

    def __init__(
        self,
        *,
        group_select: bool = False,
        cell_widths: tuple[int, ...] = (2, 1),
        summary_w: int = 0,
        keep_below: int = 6,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(id=id, classes=classes)
        self.keep_below = keep_below  # with height auto: lines left for the panel below
        self.group_select = group_select
        self.cell_widths = cell_widths
        self.summary_w = summary_w
        self.labels: list[str] = []
        self.members: list[list[int]] = []  # item indices per group
        self.glyphs: list[str] = []  # per item
        self.wide_glyphs: list[str] | None = None  # per item, used when cells are 4+ wide
        self.palette: list[int] = []  # per item
        self.summaries: list[Text] = []  # per group (may be empty)
        self.dim: list[bool] | None = None  # per item, from a filter
        self.cursor = (0, -1 if group_select else 0)
        self._arr = arrange(0, 0, 0, 80, 1)
        self._lines: dict[int, Strip] = {}

    # ---- data ---------------------------------------------------------------------------
    def set_groups(self, labels: list[str], members: list[list[int]]) -> None:
        self.labels, self.members = list(labels), [list(m) for m in members]
        self.summaries = []
        g, i = self.cursor
        g = min(g, max(len(self.labels) - 1, 0))
        self.cursor = (g, min(i, len(self.members[g]) - 1) if self.members else i)
        self._relayout()

    def set_cells(
        self,
        glyphs: list[str],
        palette,
        summaries: list[Text] | None = None,
        dim: list[bool] | None = None,
        wide_glyphs: list[str] | None = None,
    ) -> None:
        """Apply one frame's cells; only the lines on screen are redrawn.

        ``wide_glyphs`` (a few characters each, e.g. '42%') replace ``glyphs`` when the
        arrangement gives cells four or more columns.
        """
        self.glyphs = glyphs
        self.wide_glyphs = wide_glyphs
        self.palette = [int(p) for p in palette]
        self.summaries = summaries or []
        self.dim = dim
        self._lines.clear()
        self.refresh()

    @property
    def selected(self) -> tuple[int, int | None]:
        """(group, item index) — item None when the whole group is selected."""
        g, i = self.cursor
        if not self.members:
            return 0, None
        return g, (None if i < 0 else self.members[g][i])

    # ---- layout -------------------------------------------------------------------------
    def _arrange(self, width: int, height: int) -> Arrangement:
        label_w = max((len(s) for s in self.labels), default=0) + 1
        max_cells = max((len(m) for m in self.members), default=0)
        return arrange(
            len(self.labels),
            max_cells,
            label_w,
            max(width, 20),
            max(height, 1),
            self.cell_widths,
            self.summary_w,
        )

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """With ``height: auto`` the grid is as tall as its groups need, leaving
        ``keep_below`` lines of its container for the panel under it."""
        budget = max(1, container.height - self.keep_below)
        self._budget = budget
        return min(self._arrange(width, budget).lines, budget)

    def _relayout(self) -> None:
        height = self.size.height
        if self.styles.height is not None and self.styles.height.is_auto:
            height = max(height, getattr(self, "_budget", height))
        self._arr = self._arrange(self.size.width, height)
        a = self._arr
        self.virtual_size = Size(a.columns * a.block_w + (a.columns - 1) * GAP, a.lines)
        self._lines.clear()
        self.refresh()

    def on_resize(self) -> None:
        self._relayout()
        self._scroll_to_cursor()

    def _position(self, group: int, item: int) -> tuple[int, int]:
        """Screen (x, y) in virtual space of a group's cell (item -1: its label)."""
        a = self._arr
        col, line = divmod(group, max(a.lines, 1))
        x = col * (a.block_w + GAP)
        if item >= 0:
            x += a.label_w + item * a.cell_w
        return x, line

    def _scroll_to_cursor(self) -> None:
        if not self.labels:
            return
        x, y = self._position(*self.cursor)
        w = self._arr.cell_w if self.cursor[1] >= 0 else self._arr.label_w
        self.scroll_to_region(Region(x, y, w, 1), animate=False, immediate=True)

    # ---- rendering ----------------------------------------------------------------------
    def _styles(self) -> list[Style]:
        return [self.get_component_rich_style(f"cellgrid--{c}") for c in PALETTE_CLASSES]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line = y + scroll_y
        strip = self._lines.get(line)
        if strip is None:
            strip = self._render_virtual_line(line)
            self._lines[line] = strip
        return strip.crop(scroll_x, scroll_x + self.size.width).extend_cell_length(
            self.size.width, self.rich_style
        )

    def _render_virtual_line(self, line: int) -> Strip:
        a = self._arr
        if line >= a.lines or not self.glyphs:
            return Strip.blank(self.virtual_size.width, self.rich_style)
        base = self.rich_style
        styles = self._styles()
        label_style = self.get_component_rich_style("cellgrid--label")
        cursor_style = self.get_component_rich_style("cellgrid--cursor")
        summary_style = self.get_component_rich_style("cellgrid--summary")
        segs: list[Segment] = []
        cg, ci = self.cursor
        glyphs = (
            self.wide_glyphs if (self.wide_glyphs is not None and a.cell_w >= 4) else self.glyphs
        )
        for col in range(a.columns):
            g = col * a.lines + line
            if g >= len(self.labels):
                break
            start = sum(seg.cell_length for seg in segs)
            if col:
                segs.append(Segment(" " * GAP, base))
                start += GAP
            label = self.labels[g].ljust(a.label_w)
            selected_group = g == cg
            if selected_group and ci < 0:
                lstyle = cursor_style
            elif selected_group:
                lstyle = label_style + Style(bold=True, underline=True)
            else:
                lstyle = label_style
            segs.append(Segment(label, base + lstyle))
            segs.extend(
                self._cells(
                    g, ci if selected_group else None, glyphs, styles, cursor_style, base, a.cell_w
                )
            )
            if a.summary_w and g < len(self.summaries):
                width = a.label_w + a.cell_w * a.max_cells
                used = sum(seg.cell_length for seg in segs) - start
                if used < width:
                    segs.append(Segment(" " * (width - used), base))
                text = self.summaries[g].copy()
                text.truncate(a.summary_w - 1, overflow="ellipsis")
                segs.append(Segment(" ", base))
                segs.extend(
                    Segment(s.text, base + summary_style + (s.style or Style()))
                    for s in text.render(self.app.console)
                )
            used = sum(seg.cell_length for seg in segs) - start
            if used < a.block_w:
                segs.append(Segment(" " * (a.block_w - used), base))
        return Strip(segs).extend_cell_length(self.virtual_size.width, base)

    def _cells(
        self,
        g: int,
        cursor: int | None,
        glyphs: list[str],
        styles: list[Style],
        cursor_style: Style,
        base: Style,
        cell_w: int,
    ) -> list[Segment]:
        """One group's cells as segments, runs of one style merged."""
        segs: list[Segment] = []
        run_style, run = None, []
        for k, item in enumerate(self.members[g]):
            dimmed = self.dim is not None and not self.dim[item]
            glyph = "·" if dimmed else glyphs[item][: max(cell_w - 1, 1)]
            style = styles[P_DIM] if dimmed else styles[self.palette[item]]
            pad = " " * (cell_w - len(glyph))
            if k == cursor:
                if run:
                    segs.append(Segment("".join(run), base + run_style))
                    run, run_style = [], None
                segs.append(Segment(glyph, base + style + cursor_style))
                if pad:
                    segs.append(Segment(pad, base))
                continue
            if style is not run_style and run:
                segs.append(Segment("".join(run), base + run_style))
                run = []
            run_style = style
            run.append(glyph + pad)
        if run:
            segs.append(Segment("".join(run), base + run_style))
        return segs

    # ---- moving -------------------------------------------------------------------------
    def _set_cursor(self, g: int, i: int) -> None:
        if not self.labels:
            return
        g = max(0, min(g, len(self.labels) - 1))
        lo = -1 if self.group_select else 0
        i = max(lo, min(i, len(self.members[g]) - 1))
        if (g, i) != self.cursor:
            self.cursor = (g, i)
            self._lines.clear()
            self.refresh()
            self._scroll_to_cursor()
            self.post_message(self.Moved(self, g, None if i < 0 else self.members[g][i]))

    def select(self, group: int, item_pos: int) -> None:
        """Put the cursor on a group (and a position in it; -1 for the whole group)."""
        self._set_cursor(group, item_pos)

    def action_move(self, dx: int, dy: int) -> None:
        g, i = self.cursor
        if dy:
            self._set_cursor(g + dy, i)
            return
        lo = -1 if self.group_select else 0
        a = self._arr
        if dx < 0 and i <= lo and g - a.lines >= 0:  # off the left edge: the column to the left
            self._set_cursor(g - a.lines, len(self.members[g - a.lines]) - 1)
        elif dx > 0 and i >= len(self.members[g]) - 1 and g + a.lines < len(self.labels):
            self._set_cursor(g + a.lines, lo)
        else:
            self._set_cursor(g, i + dx)

    def action_edge(self, direction: int) -> None:
        g, _ = self.cursor
        self._set_cursor(
            g, (-1 if self.group_select else 0) if direction < 0 else len(self.members[g]) - 1
        )

    def action_page(self, direction: int) -> None:
        g, i = self.cursor
        self._set_cursor(g + direction * max(1, self.size.height - 1), i)

    def on_click(self, event: Click) -> None:
        a = self._arr
        x = event.x + int(self.scroll_x)
        y = event.y + int(self.scroll_y)
        col, off = divmod(x, a.block_w + GAP)
        g = col * a.lines + y
        if y >= a.lines or g >= len(self.labels) or off >= a.block_w:
            return
        if off < a.label_w:
            i = -1 if self.group_select else 0
        else:
            i = (off - a.label_w) // a.cell_w
            if i >= len(self.members[g]):
                return
        self.focus()
        self._set_cursor(g, i)
