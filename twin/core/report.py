"""The run report: what a headless run (or a scenario replay) writes for machines.

``Recorder`` advances a ``Factory`` in steps, sampling its gauges into a bounded series
and collecting every event; ``report`` assembles the JSON document; ``to_json`` renders
it deterministically (sorted keys, rounded floats), so the same layout, seed and
commands give a byte-identical file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import twin
from twin.core import kpis
from twin.core.engine import Factory

#: The headline run aggregates every report has (issue 3), in display order — the
#: built-in ones; the registry (``twin.core.kpis``) is where they are defined.
SUMMARY_KEYS = tuple(m.name for m in kpis.headline())
MAX_SERIES_POINTS = 1000
_SIG_DIGITS = 6


class Recorder:
    """Samples a factory while advancing it; ``on_step(t_s)`` is called after each step."""

    def __init__(self, factory: Factory, duration_s: float, max_points: int = MAX_SERIES_POINTS):
        self.factory = factory
        dt = factory.dt
        self.every_s = max(dt, math.ceil(duration_s / max_points / dt) * dt)
        #: the gauges sampled over time (the registry's ``series`` metrics), and ``t_s``
        self.series_keys = tuple(k for k in kpis.series_keys() if k in factory.gauges)
        self.series: dict[str, list[float]] = {k: [] for k in ("t_s", *self.series_keys)}
        self.events: list[dict[str, Any]] = []
        self._last_event = 0
        self.start_s = factory.now

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs to continue this recording exactly (JSON values)."""
        return {
            "every_s": self.every_s,
            "series": self.series,
            "events": self.events,
            "last_event": self._last_event,
            "start_s": self.start_s,
        }

    def load_state(self, d: dict[str, Any]) -> None:
        self.every_s, self.start_s, self._last_event = d["every_s"], d["start_s"], d["last_event"]
        self.series = {k: list(v) for k, v in d["series"].items()}
        self.series_keys = tuple(k for k in self.series if k != "t_s")
        self.events = [dict(e) for e in d["events"]]

    def sample(self) -> None:
        f = self.factory
        self.series["t_s"].append(f.now)
        for k in self.series_keys:
            self.series[k].append(f.gauges[k])
        self.collect_events()

    def collect_events(self) -> None:
        for e in self.factory.events_after(self._last_event):
            self.events.append(
                {
                    "id": e.id,
                    "t_s": e.t_s,
                    "severity": e.severity,
                    "source": e.source,
                    "message": e.message,
                }
            )
            self._last_event = e.id

    def run_until(
        self,
        t_end: float,
        on_step: Callable[[float], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        """Advance to ``t_end`` in sampling steps; ``stop()`` returning True ends early."""
        f = self.factory
        while f.now < t_end - 1e-9:
            nxt = min(t_end, (math.floor(f.now / self.every_s + 1e-9) + 1) * self.every_s)
            f.advance_to(nxt)
            self.sample()
            if on_step:
                on_step(f.now)
            if stop and stop():
                return


def components(f: Factory) -> dict[str, list[dict[str, Any]]]:
    """Every component id and what it feeds or holds (as the factory is now)."""
    L = f.layout
    return {
        "racks": [
            {
                "id": r.id,
                "row": r.row,
                "gpu": f.rack_sku[i],
                "gpus": int(f.rack_gpus[i]),
                "pdus": list(r.pdus),
                "cooling": r.cooling,
                "leaf": r.leaf,
            }
            for i, r in enumerate(L.racks)
        ],
        "feeds": [
            {
                "id": x.id,
                "capacity_kw": x.capacity_kw,
                "pdus": [p.id for p in L.pdus if p.feed == x.id],
            }
            for x in L.feeds
        ],
        "pdus": [
            {"id": p.id, "feed": p.feed, "capacity_kw": p.capacity_kw, "racks": list(p.racks)}
            for p in L.pdus
        ],
        "cooling_loops": [
            {"id": c.id, "capacity_kw": c.capacity_kw, "racks": list(c.racks)} for c in L.cooling
        ],
        "switches": [
            {"id": s.id, "tier": s.tier, "racks": list(s.racks)} for s in L.fabric.switches
        ],
        "links": [{"id": ln.id, "a": ln.a, "b": ln.b, "gb_s": ln.gb_s} for ln in L.fabric.links],
        "deployments": [
            {
                "id": d.id,
                "model": d.model,
                "precision": d.precision,
                "gpus_per_replica": int(f.rep_gpus[f.dep_reps[i][0]]) if len(f.dep_reps[i]) else 0,
                "replicas": len(f.dep_reps[i]),
                "racks": list(d.racks),
                "classes": [w.id for w in L.workloads if w.deployment == d.id],
            }
            for i, d in enumerate(L.deployments)
        ],
    }


def report(rec: Recorder, **meta: Any) -> dict[str, Any]:
    f = rec.factory
    rec.collect_events()
    summary = f.run_summary()
    return {
        "twin_version": twin.__version__,
        "layout": f.layout.name,
        "seed": f.seed,
        "tick_s": f.dt,
        "start_s": rec.start_s,
        "end_s": f.now,
        **meta,
        "summary": summary,
        "series": rec.series,
        "components": components(f),
        "events": rec.events,
    }


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        if not math.isfinite(x):
            return None
        return float(f"{x:.{_SIG_DIGITS}g}")
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item"):  # numpy scalars
        return _clean(x.item())
    return x


def to_json(doc: dict[str, Any]) -> str:
    """Deterministic JSON: sorted keys, floats to 6 significant digits, NaN/inf as null."""
    return json.dumps(_clean(doc), sort_keys=True, indent=1, ensure_ascii=False) + "\n"
