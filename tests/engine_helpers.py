"""Small factories for the engine tests, and helpers to drive and read them.

The layouts here are tiny versions of the built-in ones — a dozen racks, but every
feature the engine models: a single-fed row and A/B-fed rows, two cooling loops, a
leaf/spine fabric with two spines, an aggregated deployment serving a chat and an agentic
class, and a disaggregated deployment whose KV cache crosses the fabric. They simulate a
minute in a fraction of a second, so each test can run its own factory from scratch.

``small_layout(tmp_path, **changes)`` writes the YAML and loads it through the real
layout reader; ``changes`` replace top-level sections (or use ``edit`` for a deep change).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from twin.core.commands import parse_command
from twin.core.engine import Factory, Snapshot
from twin.core.engine import snapshot as S
from twin.core.layout import Layout, load_layout

#: Racks of the small factory, by row.
ROW_A = [f"row-a-0{i}" for i in range(1, 5)]  # 4 × H100, single-fed from feed-a, loop-1
ROW_B = [f"row-b-0{i}" for i in range(1, 3)]  # 2 × H200, A/B fed, loop-2 (disaggregated)

SMALL: dict[str, Any] = {
    "name": "small",
    "seed": 3,
    "tick": "0.5s",
    "site": {"envelope": "320kW", "pue": 1.25, "ambient_c": 24},
    "economics": {"usd_per_kwh": 0.08},
    "power": {
        "feeds": [{"id": "feed-a", "capacity": "1MW"}, {"id": "feed-b", "capacity": "1MW"}],
    },
    "cooling": [
        {"id": "loop-1", "capacity": "400kW"},
        {"id": "loop-2", "capacity": "400kW"},
    ],
    # thin uplinks so that moving a KV cache across the fabric takes a visible time
    "fabric": {"spines": 2, "uplink": "20Gbps", "frontend": "100Gbps"},
    "rows": [
        # single-fed: row-a-pdu-1 feeds row-a-01/02, row-a-pdu-2 feeds row-a-03/04
        {
            "id": "row-a",
            "gpu": "h100",
            "racks": 4,
            "pdus": 2,
            "feed": "feed-a",
            "cooling": "loop-1",
        },
        # A/B fed: row-b-pdu-a1 (feed-a) and row-b-pdu-b1 (feed-b) each feed both racks
        {
            "id": "row-b",
            "gpu": "h200",
            "racks": 2,
            "pdus": 1,
            "feed": "feed-a",
            "b_feed": "feed-b",
            "cooling": "loop-2",
        },
    ],
    "deployments": [
        {
            "id": "chat-70b",
            "model": "llama-3.3-70b",
            "precision": "fp8",
            "gpus_per_replica": 8,
            "replicas": "auto",
            "placement": "row-a",
        },
        {
            "id": "split-70b",
            "model": "llama-3.3-70b",
            "precision": "fp8",
            "gpus_per_replica": 8,
            "replicas": "auto",
            "placement": "row-b",
            "disaggregated": True,
            "prefill_share": 0.25,
        },
    ],
    "workloads": [
        {
            "id": "chat",
            "deployment": "chat-70b",
            "rate": "60/s",
            "isl": "1k",
            "osl": 300,
            "slo": {"ttft": "1s", "tpot": "50ms"},
        },
        {
            "id": "agent",
            "deployment": "chat-70b",
            "rate": "5/s",
            "isl": "2k",
            "osl": 200,
            "slo": {"ttft": "2s", "tpot": "50ms"},
            "agentic": {"steps": 6, "tool_pause": "5s", "context_growth": "2k"},
        },
        {
            "id": "long",
            "deployment": "split-70b",
            "rate": "8/s",
            "isl": "4k",
            "osl": 400,
            "slo": {"ttft": "3s", "tpot": "50ms"},
        },
    ],
    "routing": "least-loaded",
}


def write_layout(tmp_path: Path, doc: dict[str, Any], name: str = "small.yaml") -> Layout:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_layout(path)


def small_doc(
    edit: Callable[[dict[str, Any]], None] | None = None, **changes: Any
) -> dict[str, Any]:
    doc = copy.deepcopy(SMALL)
    doc.update(copy.deepcopy(changes))
    if edit is not None:
        edit(doc)
    return doc


def small_layout(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None] | None = None, **changes: Any
) -> Layout:
    return write_layout(tmp_path, small_doc(edit, **changes))


def cmd(f: Factory, text: str) -> str:
    """Apply one command line, as a front end does."""
    return f.apply(parse_command(text))


def run(f: Factory, seconds: float) -> Snapshot:
    """Advance ``seconds`` of simulated time and return the snapshot."""
    f.advance_to(f.now + seconds)
    return f.snapshot()


def series(f: Factory, key: str, seconds: float, every: float | None = None) -> np.ndarray:
    """Sample gauge ``key`` every ``every`` seconds (default: every tick) for ``seconds``."""
    step = every or f.dt
    out = []
    for _ in range(int(round(seconds / step))):
        f.advance_to(f.now + step)
        out.append(f.snapshot().gauges[key])
    return np.array(out)


def mean_gauge(f: Factory, key: str, seconds: float) -> float:
    """The mean of a gauge over the next ``seconds`` (every tick's value, from the history)."""
    f.advance_to(f.now + seconds)
    return recent_mean(f.snapshot(), key, seconds, f.dt)


def recent_mean(s: Snapshot, key: str, seconds: float, dt: float) -> float:
    """The mean of a gauge over the last ``seconds`` of a snapshot's history."""
    n = int(round(seconds / dt))
    values = np.asarray(s.history[key][-n:], dtype=float)
    assert len(values) == n, f"history holds {len(values)} ticks, wanted {n}"
    return float(np.mean(values))


def pair(
    layout: Layout, *commands: str, warm: float = 60.0, after: float = 60.0, seed: int | None = None
) -> tuple[Factory, Factory]:
    """Two factories with the same layout and seed, run side by side: ``base`` untouched,
    ``hit`` given ``commands`` after ``warm`` seconds; both then run ``after`` more.

    Arrivals are drawn from the seed tick by tick whatever happens, so the two see the
    same requests: any difference is the commands' doing.
    """
    base, hit = Factory(layout, seed=seed), Factory(layout, seed=seed)
    base.advance_to(warm)
    hit.advance_to(warm)
    for c in commands:
        cmd(hit, c)
    base.advance_to(warm + after)
    hit.advance_to(warm + after)
    return base, hit


def advance_both(base: Factory, hit: Factory, seconds: float) -> tuple[Snapshot, Snapshot]:
    """Run a ``pair`` on together; returns ``(hit, base)`` snapshots (``s, b`` in the tests)."""
    t = max(base.now, hit.now) + seconds
    base.advance_to(t)
    hit.advance_to(t)
    return hit.snapshot(), base.snapshot()


def dep(s: Snapshot, dep_id: str) -> S.Deployment:
    return next(d for d in s.deployments if d.id == dep_id)


def cls(s: Snapshot, cls_id: str) -> S.WorkloadClass:
    return next(c for c in s.classes if c.id == cls_id)


def pdu(s: Snapshot, pdu_id: str) -> S.Power:
    return next(p for p in s.power if p.id == pdu_id)


def loop(s: Snapshot, loop_id: str) -> S.Loop:
    return next(lp for lp in s.loops if lp.id == loop_id)


def rack_i(s: Snapshot, rack_id: str) -> int:
    return s.racks.ids.index(rack_id)


def rack_state(s: Snapshot, rack_id: str) -> str:
    return S.RACK_STATE_NAMES[int(s.racks.state[rack_i(s, rack_id)])]


def rack_power(s: Snapshot, racks: Iterable[str]) -> float:
    return float(sum(s.racks.power_kw[rack_i(s, r)] for r in racks))


def events_since(s: Snapshot, t_s: float) -> list[S.Event]:
    return [e for e in s.events if e.t_s >= t_s]


def comparable(gauges: dict[str, float]) -> dict[str, Any]:
    """Gauges with NaN made comparable (NaN != NaN), for exact equality checks."""
    return {
        k: ("nan" if isinstance(v, float) and math.isnan(v) else float(v))
        for k, v in gauges.items()
    }
