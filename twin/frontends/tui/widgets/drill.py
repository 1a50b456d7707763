"""Drill-down from the floor: a row's racks, a rack's nodes, a node's GPUs (Enter in, Esc out).

One `DataTable` shows the level on top of the floor's stack. Each frame updates the cells
in place and never reorders the rows: the order changes only when the operator asks (`o`
cycles the sort: layout order, power, utilisation, temperature), so the line under the
cursor stays put while the numbers move.

The engine models racks, not single GPUs: a node's and a GPU's figures are the rack's
shared evenly (power) or the rack's own (utilisation, hottest GPU, clock), and the view
says so. What is exact per node and GPU is its place: which nodes and GPUs a rack holds,
and which of them sit in a prefill pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from twin.core.api import RACK_STATE_NAMES, Snapshot
from twin.frontends.tui import fmt
from twin.frontends.tui.model import STATE_GLYPH, Topology, util_text

#: The sorts `o` cycles through, in order (key, words for the header).
SORTS = (
    ("layout", "layout order"),
    ("power", "power ▼"),
    ("util", "utilisation ▼"),
    ("temp", "temperature ▼"),
)


@dataclass(frozen=True)
class Level:
    kind: str  # "row" (its racks) | "rack" (its nodes) | "node" (its GPUs)
    id: str  # the row or rack id; for a node, "RACK/N"

    @property
    def rack(self) -> str:
        return self.id.split("/")[0]

    @property
    def node(self) -> int:
        return int(self.id.split("/")[1]) if "/" in self.id else 0


@dataclass(frozen=True)
class Line:
    key: str
    cells: tuple[str | Text, ...]
    values: dict[str, float]  # what the sorts sort by
    drill: Level | None  # where Enter goes from here


COLUMNS = {
    "row": ("rack", "GPU", "state", "power", "util", "hottest GPU", "clock", "serves"),
    "rack": ("node", "GPUs", "state", "power (share)", "util (rack)", "hottest (rack)", "role"),
    "node": (
        "GPU",
        "model",
        "state",
        "power (share)",
        "util (rack)",
        "hottest (rack)",
        "clock",
        "role",
    ),
}


def rack_gpus(topo: Topology, snap: Snapshot, i: int, catalog) -> tuple[str, int, int]:
    """(SKU now, GPUs in the rack, GPUs per node) — a swapped rack holds its new SKU's count."""
    sku = snap.racks.gpu[i]
    gpu = catalog.gpus.get(sku)
    n = topo.rack_gpus[i] if sku == topo.rack_sku[i] or gpu is None else gpu.gpus_per_rack
    per_node = gpu.gpus_per_node if gpu is not None else n
    return sku, n, max(1, min(per_node, n))


def _state(code: int) -> Text:
    return Text(f"{STATE_GLYPH[code]} {RACK_STATE_NAMES[code]}")


def level_lines(level: Level, snap: Snapshot, topo: Topology, catalog) -> list[Line]:
    """The lines of one level in layout order."""
    racks = snap.racks
    if level.kind == "row":
        out = []
        for i in topo.row_racks[topo.rows.index(level.id)]:
            i = int(i)
            rid = topo.rack_ids[i]
            sku, n, _ = rack_gpus(topo, snap, i, catalog)
            code = int(racks.state[i])
            deps = ", ".join(topo.rack_deployments[i]) or "—"
            if topo.rack_prefill[i] > 0:
                deps += " (prefill)"
            kw, u, t = float(racks.power_kw[i]), float(racks.utilisation[i]), float(racks.temp_c[i])
            out.append(
                Line(
                    rid,
                    (
                        rid,
                        f"{n} {sku}",
                        _state(code),
                        fmt.kw(kw),
                        util_text(u),
                        f"{t:.0f} °C",
                        f"{float(racks.clock[i]):.0%}",
                        deps,
                    ),
                    {"power": kw, "util": u, "temp": t},
                    Level("rack", rid),
                )
            )
        return out
    i = topo.rack_index[level.rack]
    sku, n, per_node = rack_gpus(topo, snap, i, catalog)
    nodes = math.ceil(n / per_node)
    code = int(racks.state[i])
    kw, u, t = float(racks.power_kw[i]), float(racks.utilisation[i]), float(racks.temp_c[i])
    pf_gpus = topo.rack_prefill[i] * n

    def role(first: int, count: int) -> str:
        if not topo.rack_deployments[i]:
            return "spare"
        if first + count <= pf_gpus + 1e-9:
            return "prefill"
        return (
            "prefill + decode"
            if first < pf_gpus
            else ("decode" if pf_gpus > 0 or topo.rack_prefill[i] else "serving")
        )

    if level.kind == "rack":
        out = []
        for k in range(nodes):
            g = min(per_node, n - k * per_node)
            out.append(
                Line(
                    f"{level.rack}/{k + 1}",
                    (
                        f"node {k + 1}",
                        str(g),
                        _state(code),
                        fmt.kw(kw * g / n),
                        util_text(u),
                        f"≤{t:.0f} °C",
                        role(k * per_node, g),
                    ),
                    {"power": kw * g / n, "util": u, "temp": t},
                    Level("node", f"{level.rack}/{k + 1}"),
                )
            )
        return out
    first = (level.node - 1) * per_node
    out = []
    for k in range(first, min(first + per_node, n)):
        out.append(
            Line(
                f"{level.rack}/{level.node}/{k}",
                (
                    f"gpu {k}",
                    sku,
                    _state(code),
                    fmt.kw(kw / n),
                    util_text(u),
                    f"≤{t:.0f} °C",
                    f"{float(racks.clock[i]):.0%}",
                    role(k, 1),
                ),
                {"power": kw / n, "util": u, "temp": t},
                None,
            )
        )
    return out


def level_title(level: Level, snap: Snapshot, topo: Topology, catalog) -> str:
    if level.kind == "row":
        return f"its {len(topo.row_racks[topo.rows.index(level.id)])} racks"
    i = topo.rack_index[level.rack]
    sku, n, per_node = rack_gpus(topo, snap, i, catalog)
    reps = ""
    if snap.racks.replicas is not None and snap.racks.replicas_up is not None:
        reps = f" · replicas {int(snap.racks.replicas_up[i])}/{int(snap.racks.replicas[i])} up"
    if level.kind == "rack":
        return f"{n} {sku} in {math.ceil(n / per_node)} nodes of {per_node}{reps}"
    return f"its {min(per_node, n - (level.node - 1) * per_node)} GPUs"


class DrillTable(DataTable):
    """The table of the level on top; `j`/`k` move, Enter drills in, Esc backs out, `o` sorts."""

    BINDINGS = [
        Binding("j", "cursor_down", show=False),
        Binding("k", "cursor_up", show=False),
        Binding("escape", "back", show=False),
        Binding("o", "sort", show=False),
    ]

    class Back(Message):
        pass

    class Sort(Message):
        pass

    def action_back(self) -> None:
        self.post_message(self.Back())

    def action_sort(self) -> None:
        self.post_message(self.Sort())
