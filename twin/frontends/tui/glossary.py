"""Plain words for every number on screen: what it is, in which unit, of what.

`?` shows the gauges' and the current view's entries at the top of its help; a click on a
gauge says its entry on the message line.
"""

from __future__ import annotations

from twin.core.api import kpis


def gauges() -> dict[str, tuple[str, str]]:
    """The gauge strip, by gauge key: (label, plain words with the unit) — the registry's."""
    return {m.name: (m.gauge.short, m.gauge.help) for m in kpis.gauges()}


GAUGE_NOTES = (
    ("‹5m", "on a gauge's title: its sparkline spans the last 5 minutes, newest on the right"),
    (
        "Δ +3.1%",
        "with a baseline (b): the change since the marked moment; SLO attainment in points (pt)",
    ),
    ("▲ ✗", "out of bounds: ▲ warning, ✗ bad (the same in colour and without it)"),
)

#: Each view's figures and columns.
VIEWS = {
    "Floor": (
        ("cells", "one rack each, its state glyph (or its utilisation/temperature level with h)"),
        ("kW / MW", "the row's (or rack's) IT power now, GPUs and their servers"),
        (
            "util %",
            "output as a share of what the GPUs serve at the SLO pace (their knee); over 100% ▲ means "
            "overloaded: queues grow and latency climbs. Prefill racks count prefill work",
        ),
        (
            "°C",
            "the hottest GPU of the row or rack; GPUs throttle at the catalog's throttle temperature",
        ),
        ("pfN", "N racks of the row hold a disaggregated deployment's prefill pool"),
        ("clock %", "GPU clocks against full speed: below 100% when capped or throttled"),
        (
            "drill-down",
            "Enter: a row's racks, a rack's nodes, a node's GPUs. The twin models racks: a node's "
            "or GPU's power is the rack's shared evenly, the rest is the rack's own",
        ),
    ),
    "Fabric": (
        ("cells", "one switch each: spines, then the leaves serving each row"),
        (
            "uplinks",
            "leaf-to-spine links; capacity in bits per second as the layout gives it (6.4 Tb/s = 8 × 800G)",
        ),
        ("load %", "traffic offered to a link (KV-cache transfers) over its capacity"),
    ),
    "Power": (
        (
            "cells",
            "feeds, each row's PDUs, cooling loops; with room, their load as a share of capacity",
        ),
        ("kW / MW", "load now against rated capacity; headroom = capacity − load"),
        ("facility", "IT power × PUE, against the utility envelope or the :cap"),
    ),
    "Serving": (
        ("replicas", "replicas serving / placed (a replica is one model copy on its GPUs)"),
        ("prefill", "replicas of a disaggregated deployment that only prefill prompts"),
        ("queue", "requests waiting for a replica"),
        ("batch", "mean requests decoding together per replica"),
        ("tok/s", "output tokens per second of the deployment"),
        (
            "TTFT95 / TPOT95",
            "95th-percentile time to first token / per output token over the last 60 s",
        ),
        ("p95/SLO", "a class's p95 against its SLO: ■ within, ▲ above 80% of it, ✗ over it"),
        ("SLO met", "share of the class's requests meeting both SLOs over the last 60 s"),
        ("shed/s · failed/s", "requests turned away at admission / lost to a fault, per second"),
        ("util", "output over capacity at the SLO pace, whole factory"),
    ),
    "Events": (
        (
            "cause",
            "one line per root cause: a fault and every alarm it set off on the racks behind it "
            "(derived from the layout: which racks a loop cools, a PDU or feed powers, a leaf serves)",
        ),
        ("[N alarms · M racks]", "alarms in the cause, and the racks it hit"),
        ("! ✓", "not acknowledged / acknowledged"),
    ),
    "Timeline": (
        ("T+mm:ss", "scenario time, from the end of its warm-up"),
        ("verdicts", "held, holding (so far), FAILED, pending (not yet due), n/e (not evaluated)"),
    ),
}


def gauge_words(key: str) -> str:
    label, words = gauges()[key]
    return f"{label}: {words}"
