"""What the screens show, computed from a layout and a snapshot: pure, testable, no Textual.

`Topology` is the static shape of a factory as the views navigate it (rows of racks,
PDUs by row, leaves by row …), built once from the layout. The functions below turn a
`Snapshot` into per-cell glyphs and palette indices, per-row summaries and gauge states,
vectorised with numpy so a 1,040-rack floor costs well under a millisecond.

State is never shown by colour alone: every cell has a glyph that says the same thing as
its colour, so the screens read the same under ``NO_COLOR``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from twin.core.api import (
    RACK_DEGRADED,
    RACK_DOWN,
    RACK_DRAINED,
    RACK_OK,
    RACK_STATE_NAMES,
    RACK_SWAPPING,
    RACK_THROTTLED,
    Layout,
    Snapshot,
)

# ---- the palette every grid shares (indices into CellGrid's component classes) -----------
P_OK, P_INFO, P_WARN, P_BAD, P_BUSY, P_DIM = range(6)
P_HEAT = tuple(range(6, 12))  # cold → hot, six steps
PALETTE_CLASSES = ("ok", "info", "warn", "bad", "busy", "dim", *(f"h{i}" for i in range(6)))

#: Rack states as glyph and palette entry (same order as RACK_STATE_NAMES).
STATE_GLYPH = {
    RACK_OK: "■",
    RACK_DRAINED: "□",
    RACK_THROTTLED: "▼",
    RACK_DEGRADED: "◆",
    RACK_SWAPPING: "↻",
    RACK_DOWN: "✕",
}
STATE_PALETTE = {
    RACK_OK: P_OK,
    RACK_DRAINED: P_INFO,
    RACK_THROTTLED: P_WARN,
    RACK_DEGRADED: P_WARN,
    RACK_SWAPPING: P_BUSY,
    RACK_DOWN: P_BAD,
}
LEVEL_GLYPHS = "▁▂▃▄▅▆▇█"

#: Heat modes of the floor, in the order the toggle key cycles them.
HEAT_MODES = ("state", "utilisation", "temperature")

#: Component kinds whose failure, drain or swap takes out many racks: ask first.
CONFIRM_KINDS = frozenset({"row", "group", "pdu", "feed", "loop", "spine"})

#: Textual styles (theme variables) for each palette entry, for text outside the grids.
PALETTE_STYLE = ("$success", "$primary", "$warning", "bold $error", "$accent", "$text-disabled")
STATE_STYLE = {
    name: PALETTE_STYLE[STATE_PALETTE[code]] for code, name in enumerate(RACK_STATE_NAMES)
}
SEVERITY_STYLE = {"info": "", "warning": "$warning", "critical": "bold $error"}
SEVERITY_GLYPH = {"info": "·", "warning": "▲", "critical": "✕"}

#: Component-state words and how they look (glyph, palette); anything else reads as ok.
COMPONENT_STATE = {
    "ok": ("■", P_OK),
    "high": ("▲", P_WARN),
    "overloaded": ("▲", P_BAD),
    "failed": ("✕", P_BAD),
    "tripped": ("⊘", P_BAD),
    "unpowered": ("○", P_BAD),
    "degraded": ("◆", P_WARN),
}


@dataclass(frozen=True)
class Topology:
    """The static shape of a factory, indexed the way the views walk it."""

    name: str
    site_name: str
    rows: tuple[str, ...]
    row_racks: tuple[np.ndarray, ...]  # rack indices (layout order) per row, by position
    rack_ids: tuple[str, ...]
    rack_index: dict[str, int]
    rack_row: np.ndarray  # row index per rack
    rack_gpus: tuple[int, ...]
    rack_sku: tuple[str, ...]  # as built (the snapshot has the SKU after swaps)
    rack_pdus: tuple[tuple[str, ...], ...]
    rack_loop: tuple[str, ...]
    rack_leaf: tuple[str, ...]
    rack_deployments: tuple[tuple[str, ...], ...]
    rack_prefill: tuple[
        float, ...
    ]  # share of the rack's GPUs on a disaggregated deployment's prefill pool
    pdu_feed: dict[str, str]
    pdu_racks: dict[str, tuple[str, ...]]
    feed_pdus: dict[str, tuple[str, ...]]
    row_pdus: tuple[tuple[str, ...], ...]  # the PDUs feeding each row
    loop_racks: dict[str, tuple[str, ...]]
    spines: tuple[str, ...]
    row_leaves: tuple[tuple[str, ...], ...]  # the leaves serving each row
    leaf_racks: dict[str, tuple[str, ...]]
    leaf_uplinks: dict[
        str, tuple[float, ...]
    ]  # each leaf's uplinks to the spines, GB/s each (from the layout)
    kinds: dict[str, str]
    ids: tuple[str, ...]
    deployments: tuple[str, ...]
    workloads: tuple[str, ...]

    @classmethod
    def of(cls, layout: Layout) -> Topology:
        rack_index = {r.id: i for i, r in enumerate(layout.racks)}
        row_of = {row.id: i for i, row in enumerate(layout.rows)}
        rack_deps: dict[str, list[str]] = {}
        for d in layout.deployments:
            for r in d.racks:
                rack_deps.setdefault(r, []).append(d.id)
        row_pdus, row_leaves = [], []
        for row in layout.rows:
            members = [layout.racks[rack_index[r]] for r in row.racks]
            row_pdus.append(tuple(dict.fromkeys(p for rk in members for p in rk.pdus)))
            row_leaves.append(tuple(dict.fromkeys(rk.leaf for rk in members)))
        return cls(
            name=layout.name,
            site_name=layout.site.name,
            rows=tuple(r.id for r in layout.rows),
            row_racks=tuple(
                np.array([rack_index[r] for r in row.racks], dtype=int) for row in layout.rows
            ),
            rack_ids=tuple(r.id for r in layout.racks),
            rack_index=rack_index,
            rack_row=np.array([row_of[r.row] for r in layout.racks], dtype=int),
            rack_gpus=tuple(r.gpus for r in layout.racks),
            rack_sku=tuple(r.gpu for r in layout.racks),
            rack_pdus=tuple(r.pdus for r in layout.racks),
            rack_loop=tuple(r.cooling for r in layout.racks),
            rack_leaf=tuple(r.leaf for r in layout.racks),
            rack_deployments=tuple(tuple(rack_deps.get(r.id, ())) for r in layout.racks),
            rack_prefill=_prefill_shares(layout),
            pdu_feed={p.id: p.feed for p in layout.pdus},
            pdu_racks={p.id: p.racks for p in layout.pdus},
            feed_pdus={
                f.id: tuple(p.id for p in layout.pdus if p.feed == f.id) for f in layout.feeds
            },
            row_pdus=tuple(row_pdus),
            loop_racks={c.id: c.racks for c in layout.cooling},
            spines=tuple(s.id for s in layout.fabric.spines),
            row_leaves=tuple(row_leaves),
            leaf_racks={s.id: s.racks for s in layout.fabric.leaves},
            leaf_uplinks=_uplinks(layout),
            kinds=dict(layout.ids),
            ids=tuple(layout.ids),
            deployments=tuple(d.id for d in layout.deployments),
            workloads=tuple(w.id for w in layout.workloads),
        )

    def kind(self, component: str) -> str:
        return self.kinds.get(component, "component")

    def racks_behind(self, component: str) -> int:
        """How many racks a command on ``component`` touches (for confirmations)."""
        kind = self.kind(component)
        if kind == "rack":
            return 1
        if kind == "row":
            return len(self.row_racks[self.rows.index(component)])
        if kind == "pdu":
            return len(self.pdu_racks.get(component, ()))
        if kind == "feed":
            return len({r for p in self.feed_pdus.get(component, ()) for r in self.pdu_racks[p]})
        if kind == "loop":
            return len(self.loop_racks.get(component, ()))
        if kind == "leaf":
            return len(self.leaf_racks.get(component, ()))
        if kind == "spine":
            return len(self.rack_ids)
        if kind == "group":
            prefix = component + "-"
            return sum(
                len(rr)
                for row, rr in zip(self.rows, self.row_racks, strict=True)
                if row.startswith(prefix)
            )
        return 0


def _prefill_shares(layout: Layout) -> tuple[float, ...]:
    """Per rack, the share of its GPUs in a prefill pool. A disaggregated deployment puts
    its first replicas, in rack order, on prefill: about ``prefill_share`` of its GPUs."""
    share = [0.0] * len(layout.racks)
    index = {r.id: i for i, r in enumerate(layout.racks)}
    for d in layout.deployments:
        if not d.disaggregated or d.prefill_share <= 0:
            continue
        gpus = [layout.racks[index[r]].gpus for r in d.racks]
        pool, start = d.prefill_share * sum(gpus), 0.0
        for r, n in zip(d.racks, gpus, strict=True):
            if start >= pool:
                break
            share[index[r]] = min(1.0, (pool - start) / n) if n else 0.0
            start += n
    return tuple(share)


def prefill_racks(topo: Topology, deployment: str | None = None) -> list[str]:
    """The racks (wholly or partly) in a prefill pool, of one deployment or all."""
    return [
        rid
        for rid, pf, deps in zip(
            topo.rack_ids, topo.rack_prefill, topo.rack_deployments, strict=True
        )
        if pf > 0 and (deployment is None or deployment in deps)
    ]


def span_text(ids: list[str]) -> str:
    """'nvl-01-01 … nvl-02-04 (20 racks)' or 'row-a-01, row-a-02'."""
    if len(ids) <= 2:
        return ", ".join(ids)
    return f"{ids[0]} … {ids[-1]} ({len(ids)} racks)"


def util_text(u: float) -> str:
    """A rack's or row's utilisation: over 100 % (overload: queues grow) carries a ▲, never silently."""
    return f"{u:.0%}▲" if u > 1.005 else f"{u:.0%}"


#: What "util" means wherever it is shown.
UTIL_MEANING = (
    "util = output ÷ what the GPUs serve at the SLO pace; over 100% ▲ = overloaded, queues grow"
)


def _uplinks(layout: Layout) -> dict[str, tuple[float, ...]]:
    out: dict[str, list[float]] = {}
    for ln in layout.fabric.links:
        out.setdefault(ln.a, []).append(ln.gb_s)
    return {k: tuple(v) for k, v in out.items()}


# ---- the floor ---------------------------------------------------------------------------------
def rack_cells(
    snap: Snapshot,
    mode: str,
    throttle_c: float = 90.0,
    ambient_c: float = 24.0,
) -> tuple[list[str], np.ndarray]:
    """Glyph and palette index per rack for one heat mode.

    In ``state`` mode every rack shows its state; in ``utilisation`` and ``temperature``
    modes healthy racks show a level (▁ … █) and a heat colour, and racks in any other
    state keep their state glyph, so a fault is never hidden by the heat map.
    """
    st = snap.racks.state
    glyph_table = np.array([STATE_GLYPH[i] for i in range(len(RACK_STATE_NAMES))])
    pal_table = np.array([STATE_PALETTE[i] for i in range(len(RACK_STATE_NAMES))], dtype=np.uint8)
    glyphs = glyph_table[st]
    pal = pal_table[st]
    if mode != "state":
        if mode == "utilisation":
            level = np.clip(snap.racks.utilisation, 0.0, 1.0)
        else:
            level = np.clip(
                (snap.racks.temp_c - ambient_c) / max(throttle_c - ambient_c, 1.0), 0.0, 1.0
            )
        healthy = st == RACK_OK
        li = np.minimum((level * len(LEVEL_GLYPHS)).astype(int), len(LEVEL_GLYPHS) - 1)
        hi = np.minimum((level * len(P_HEAT)).astype(int), len(P_HEAT) - 1)
        glyphs = np.where(healthy, np.array(list(LEVEL_GLYPHS))[li], glyphs)
        pal = np.where(healthy, np.array(P_HEAT, dtype=np.uint8)[hi], pal)
    return glyphs.tolist(), pal.astype(np.uint8)


@dataclass(frozen=True)
class RowSummary:
    racks: int
    power_kw: float
    util: float
    hottest_c: float
    counts: tuple[int, ...]  # racks per state, RACK_STATE_NAMES order
    prefill: int = 0  # racks (wholly or partly) in a prefill pool


def row_summaries(snap: Snapshot, topo: Topology) -> list[RowSummary]:
    """Per-row totals in one pass of bincounts (no Python loop over racks)."""
    n_rows = len(topo.rows)
    rr = topo.rack_row
    racks = snap.racks
    n = np.bincount(rr, minlength=n_rows)
    kw = np.bincount(rr, weights=racks.power_kw, minlength=n_rows)
    util = np.bincount(rr, weights=racks.utilisation, minlength=n_rows) / np.maximum(n, 1)
    hottest = np.full(n_rows, -np.inf)
    np.maximum.at(hottest, rr, racks.temp_c)
    counts = np.zeros((n_rows, len(RACK_STATE_NAMES)), dtype=int)
    np.add.at(counts, (rr, racks.state.astype(int)), 1)
    pf = np.bincount(rr, weights=np.asarray(topo.rack_prefill) > 0, minlength=n_rows)
    return [
        RowSummary(
            int(n[i]),
            float(kw[i]),
            float(util[i]),
            float(hottest[i]),
            tuple(int(c) for c in counts[i]),
            int(pf[i]),
        )
        for i in range(n_rows)
    ]


def state_counts_text(counts: tuple[int, ...]) -> str:
    """'✕2 ▼1' for the racks not ok (empty when all are)."""
    parts = [
        f"{STATE_GLYPH[s]}{counts[s]}"
        for s in (RACK_DOWN, RACK_SWAPPING, RACK_THROTTLED, RACK_DEGRADED, RACK_DRAINED)
        if counts[s]
    ]
    return " ".join(parts)


def filter_mask(snap: Snapshot, topo: Topology, text: str) -> np.ndarray | None:
    """Racks matching a filter: a substring of the id, row or GPU, or a state name."""
    q = text.strip().lower()
    if not q:
        return None
    if q in RACK_STATE_NAMES:
        return snap.racks.state == RACK_STATE_NAMES.index(q)
    ids, gpus = snap.racks.ids, snap.racks.gpu
    return np.array([q in ids[i] or q in gpus[i] for i in range(len(ids))], dtype=bool)


# ---- the alarm log -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogEntry:
    seq: int
    t_s: float
    severity: str  # info | warning | critical
    source: str
    message: str
    event_id: int | None  # the engine's event id; None for the session's own notes


class AlarmBook:
    """Every event seen, newest last, with what the operator acknowledged (bounded).

    Engine events arrive with each snapshot (the last few hundred); the book keeps them by
    id so the log outlives the snapshot's window. Session notes (speed changes, refused
    commands) go in the same log so an action is always visible where the operator looks.
    """

    KEEP = 2000

    def __init__(self) -> None:
        self.entries: deque[LogEntry] = deque(maxlen=self.KEEP)
        self.acked: set[int] = set()
        self._last_id = 0
        self._seq = 0
        self.version = 0  # bumps on every change, so views redraw only when needed

    def merge(self, events) -> list[LogEntry]:
        new = []
        for e in events:
            if e.id > self._last_id:
                self._last_id = e.id
                self._seq += 1
                entry = LogEntry(self._seq, e.t_s, e.severity, e.source, e.message, e.id)
                self.entries.append(entry)
                new.append(entry)
        if new:
            self.version += 1
        return new

    def note(self, t_s: float, severity: str, source: str, message: str) -> LogEntry:
        self._seq += 1
        entry = LogEntry(self._seq, t_s, severity, source, message, None)
        self.entries.append(entry)
        self.version += 1
        return entry

    def is_alarm(self, e: LogEntry) -> bool:
        return e.severity != "info" and e.event_id is not None

    def ack(self, event_id: int | None = None) -> int:
        """Acknowledge one alarm by id, or every one; returns how many were newly acknowledged.

        Raises KeyError for an id that is not an alarm in the log.
        """
        if event_id is None:
            ids = {e.event_id for e in self.entries if self.is_alarm(e)} - self.acked
        else:
            if not any(e.event_id == event_id and self.is_alarm(e) for e in self.entries):
                raise KeyError(event_id)
            ids = {event_id} - self.acked
        self.acked |= ids
        self.version += 1
        return len(ids)

    def ack_many(self, ids) -> int:
        """Acknowledge these alarms (a cause's); returns how many were newly acknowledged."""
        new = set(ids) - self.acked
        self.acked |= new
        self.version += 1
        return len(new)

    def active(self) -> int:
        """Alarms (warnings and criticals) not yet acknowledged."""
        return sum(1 for e in self.entries if self.is_alarm(e) and e.event_id not in self.acked)

    def worst_active(self) -> str | None:
        sev = {
            e.severity for e in self.entries if self.is_alarm(e) and e.event_id not in self.acked
        }
        return "critical" if "critical" in sev else ("warning" if sev else None)

    def matching(self, text: str) -> list[LogEntry]:
        """Entries whose severity, source or message contains ``text``, newest first."""
        q = text.strip().lower()
        out = [
            e
            for e in self.entries
            if not q or q in e.severity or q in e.source.lower() or q in e.message.lower()
        ]
        out.reverse()
        return out


def load_cell(state: str, load_kw: float, capacity_kw: float) -> tuple[str, int]:
    """A power or cooling component as one cell: its load as a level, or its fault as a glyph."""
    if state in ("ok", "high", "overloaded"):
        frac = load_kw / capacity_kw if capacity_kw > 0 else 0.0
        if frac > 0.8:  # the glyph says what the colour says
            return "▲", (P_BAD if frac > 1.0 else P_WARN)
        level = LEVEL_GLYPHS[min(int(max(frac, 0.0) * len(LEVEL_GLYPHS)), len(LEVEL_GLYPHS) - 1)]
        return level, P_OK
    return COMPONENT_STATE.get(state, ("?", P_WARN))
