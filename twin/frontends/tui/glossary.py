"""Plain words for every number on screen: what it is, in which unit, of what.

`?` shows the gauges' and the current view's entries at the top of its help; a click on a
gauge says its entry on the message line.
"""

from __future__ import annotations

#: The gauge strip, by gauge key: (label, plain words with the unit).
GAUGES = {
    "output_tok_s": (
        "out tok/s",
        "output tokens generated per second, whole factory (input tokens not counted); "
        "the note: goodput (tokens of requests that met their SLO), or requests shed (turned away "
        "at admission) and failed (lost to a fault) per second",
    ),
    "tok_s_per_mw": (
        "tok/s/MW",
        "output tokens per second per megawatt of facility power (IT × PUE); "
        "the note: tokens per joule",
    ),
    "usd_per_mtok": (
        "$/Mtok",
        "dollars per million output tokens: capital (GPUs over their life) + opex + energy; "
        "the note: the energy part",
    ),
    "ttft_p95_s": (
        "TTFT p95",
        "time to first token, 95th percentile over the last 60 s, ms or s; the note: the "
        "worst request class as a share of its own TTFT SLO (100% = at its limit)",
    ),
    "tpot_p95_s": (
        "TPOT p95",
        "time per output token after the first, 95th percentile over the last 60 s, ms; "
        "the note: the worst class as a share of its TPOT SLO",
    ),
    "slo_attainment": (
        "SLO met",
        "share of requests over the last 60 s that met both their TTFT and TPOT SLOs, "
        "shed and failed requests counted as missed; goal ≥ 99%",
    ),
    "facility_power_kw": (
        "facility",
        "facility power in MW (IT power × PUE) against the site's utility envelope "
        "(or the :cap), and the share of it used",
    ),
}

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
    label, words = GAUGES[key]
    return f"{label}: {words}"
