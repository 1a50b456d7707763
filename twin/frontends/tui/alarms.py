"""Alarms grouped by root cause, from the layout's topology (pure: no Textual).

One cooling-loop failure raises a critical on the loop, then a throttle, a shutdown and a
release on every rack it cools, and a "replicas lost" from serving: a hundred lines that
are one story. `group_alarms` folds every rack's alarm under the most recent fault of a
component upstream of that rack (its loop, its PDUs, their feed, its leaf), and a serving
alarm under the fault raised in the same moment, so the operator sees one line per cause
with the racks it hit named — and the alarms themselves one key away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.frontends.tui.model import LogEntry, Topology

#: Component kinds that can be the root of a cascade.
ROOT_KINDS = frozenset({"loop", "pdu", "feed", "leaf", "spine", "switch", "link", "row", "group"})
#: A serving alarm this close after a fault (s) is that fault's consequence.
SAME_MOMENT_S = 2.0
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def upstream(topo: Topology, rack: str) -> set[str]:
    """The components a rack depends on: its PDUs, their feeds, its cooling loop, its leaf, its row."""
    i = topo.rack_index.get(rack)
    if i is None:
        return set()
    pdus = topo.rack_pdus[i]
    return {
        *pdus,
        *(topo.pdu_feed[p] for p in pdus),
        topo.rack_loop[i],
        topo.rack_leaf[i],
        topo.rows[int(topo.rack_row[i])],
    }


def racks_behind(topo: Topology, component: str) -> list[str]:
    """The racks a failure of ``component`` takes out, in layout order: a PDU's and a feed's
    single-fed racks (A/B-fed ones ride through), a loop's, a leaf's, a row's."""
    kind = topo.kind(component)
    if kind == "rack":
        return [component]
    if kind == "pdu":
        return [
            r
            for r in topo.pdu_racks.get(component, ())
            if len(topo.rack_pdus[topo.rack_index[r]]) == 1
        ]
    if kind == "feed":
        pdus = set(topo.feed_pdus.get(component, ()))
        return [
            r for r, ps in zip(topo.rack_ids, topo.rack_pdus, strict=True) if ps and set(ps) <= pdus
        ]
    if kind == "loop":
        return list(topo.loop_racks.get(component, ()))
    if kind == "leaf":
        return list(topo.leaf_racks.get(component, ()))
    if kind == "row":
        return [topo.rack_ids[i] for i in topo.row_racks[topo.rows.index(component)]]
    return []


def racks_text(topo: Topology, racks: list[str], limit: int = 4) -> str:
    """'row-a-01 … row-a-04 (4 racks)' by row: 'row-c-01 … row-c-16, row-d-01 … row-d-16 (32 racks)'."""
    if not racks:
        return "no racks"
    by_row: dict[str, list[str]] = {}
    for r in racks:
        i = topo.rack_index.get(r)
        row = topo.rows[int(topo.rack_row[i])] if i is not None else ""
        by_row.setdefault(row, []).append(r)
    spans = [
        rs[0] if len(rs) == 1 else (f"{rs[0]}, {rs[1]}" if len(rs) == 2 else f"{rs[0]} … {rs[-1]}")
        for rs in by_row.values()
    ]
    more = f", +{len(spans) - limit} rows" if len(spans) > limit else ""
    n = len(racks)
    return f"{', '.join(spans[:limit])}{more} ({n} rack{'s' if n != 1 else ''})"


@dataclass
class AlarmGroup:
    """One cause and everything it set off (oldest first)."""

    key: str  # the root component (or the source, for an alarm with no known cause)
    root: LogEntry  # the first alarm of the group: the fault itself when known
    members: list[LogEntry] = field(
        default_factory=list
    )  # every entry of the group, the root included
    affected: list[str] = field(default_factory=list)  # racks it hit, layout order

    @property
    def alarms(self) -> list[LogEntry]:
        return [e for e in self.members if e.severity != "info" and e.event_id is not None]

    @property
    def severity(self) -> str:
        return max((e.severity for e in self.alarms), key=SEVERITY_RANK.__getitem__, default="info")

    @property
    def last_t_s(self) -> float:
        return self.members[-1].t_s

    def unacked(self, acked: set[int]) -> int:
        return sum(1 for e in self.alarms if e.event_id not in acked)

    def kinds(self) -> list[tuple[str, int]]:
        """What the members say, counted: [('thermal shutdown', 64), ('throttle released', 64) …]."""
        counts: dict[str, int] = {}
        for e in self.members:
            if e is self.root:
                continue
            what = _gist(e.message)
            counts[what] = counts.get(what, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])


def _gist(message: str) -> str:
    """The kind of a message without its numbers: 'GPUs at 92 °C: thermal throttle …' → 'thermal throttle'."""
    m = message.lower()
    for needle, word in (
        ("powered on again", "racks back on"),
        ("thermal shutdown", "thermal shutdowns"),
        ("thermal throttle", "thermal throttles"),
        ("back to normal", "throttles released"),
        ("replicas lost", "replica losses"),
        ("lost power", "power losses"),
        ("restored", "restorations"),
        ("repaired", "repairs"),
    ):
        if needle in m:
            return word
    head = message.split(":")[0].split(";")[0].split(",")[0]
    return "".join(ch for ch in head if not ch.isdigit()).strip() or message[:20]


def group_alarms(entries, topo: Topology, critical_only: bool = False) -> list[AlarmGroup]:
    """Engine events grouped by cause, newest group first; only groups holding an alarm.

    ``entries`` is the log oldest first. A fault on a component of ``ROOT_KINDS`` opens a
    group; a later entry about a rack behind it (upstream of that rack) joins the newest
    such group; a serving entry joins the group opened in the same moment; anything else
    is a group of its own source.
    """
    groups: list[AlarmGroup] = []
    open_roots: dict[str, AlarmGroup] = {}  # root component → its newest group
    last: tuple[float, AlarmGroup] | None = None  # the group the latest entry joined, and when
    own: dict[str, AlarmGroup] = {}  # source → its newest group (for alarms with no known cause)
    for e in entries:
        if e.event_id is None:  # the session's own notes are not alarms
            continue
        kind = topo.kind(e.source)
        group = None
        if kind in ROOT_KINDS:
            group = open_roots.get(e.source)
            if group is None or (e.severity != "info" and _is_new_fault(group)):
                group = AlarmGroup(e.source, e, affected=racks_behind(topo, e.source))
                open_roots[e.source] = group
                groups.append(group)
        elif kind == "rack":
            up = upstream(topo, e.source)
            cands = [g for k, g in open_roots.items() if k in up and g.root.t_s <= e.t_s]
            if cands:
                group = max(cands, key=lambda g: g.root.t_s)
        elif e.severity == "info":
            continue  # commands and notes (operator, scenario, serving) are in the log, not alarms
        elif last is not None and 0 <= e.t_s - last[0] <= SAME_MOMENT_S:
            group = last[1]  # serving's "replicas lost" belongs to whatever just took the racks out
        if group is None:
            group = own.get(e.source)
        if group is None:
            if e.severity == "info":
                continue  # a note with no cause to hang on is not an alarm
            group = AlarmGroup(e.source, e, affected=[e.source] if kind == "rack" else [])
            groups.append(group)
        own[group.key] = group
        group.members.append(e)
        last = (e.t_s, group)
        if kind == "rack" and e.source not in group.affected:
            group.affected.append(e.source)
    out = [g for g in groups if g.alarms and (not critical_only or g.severity == "critical")]
    out.sort(key=lambda g: (g.root.t_s, g.root.seq), reverse=True)
    return out


def _is_new_fault(group: AlarmGroup) -> bool:
    """A second failure of a component after it was repaired starts a new story."""
    return any(
        "repair" in m.message.lower() or "restored" in m.message.lower() for m in group.members[1:]
    )
