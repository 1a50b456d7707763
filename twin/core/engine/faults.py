"""Fault kinds: ONE table says how each is set and cleared, how loud it is, and its random rate.

Adding a fault kind is one row in ``FAULT_KINDS`` (plus, if it needs one, a flag array in
``health.py``). Operator failures, random failures at published rates and automatic
repairs all go through ``_fail`` and ``_repair_kind``, which only look the kind up here.
Pending repairs and the next random fault of each kind are ``Pending`` records in the
factory's schedule (see ``schedule.py``), never generator processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from twin.core.engine.schedule import due_tick
from twin.core.engine.topology import EngineError
from twin.core.units import format_duration

YEAR_S = 365.25 * 86400


def _node(f, target: str):
    return f._check_node(f._parse_node(target), target, "fail")


def _set_racks(f, target: str) -> None:
    racks = f._racks_of(target)
    already = [f.rack_ids[r] for r in racks if f.rack_ids[r] in f.faults]
    if already:
        raise EngineError(f"fail: {already[0]} in {target} has already failed; repair it first")
    f.rack_failed[racks] = True


def _clear_racks(f, target: str) -> None:
    f.rack_failed[f._racks_of(target)] = False


def _clear_nvlink(f, target: str) -> None:
    f.rack_nvlink[f._racks_of(target)] = 1.0


def _set_node(f, target: str) -> None:
    rk, node, _gpu = _node(f, target)
    f.node_faults[(rk, node)] = f.node_faults.get((rk, node), 0) + 1


def _clear_node(f, target: str) -> None:
    rk, node, _ = f._parse_node(target)
    f.node_faults[(rk, node)] -= 1
    if f.node_faults[(rk, node)] <= 0:
        del f.node_faults[(rk, node)]


def _clear_pdu(f, target: str) -> None:
    i = f.pdu_index[target]
    f.pdu_failed[i] = f.pdu_tripped[i] = False


def _clear_straggler(f, target: str) -> None:
    node = f._parse_node(target)
    if node is not None:
        f.node_slow.pop((node[0], node[1]), None)
    else:
        f.rack_slow[f._racks_of(target)] = 1.0


def _flag(array: str, index: str, value) -> Callable:
    """A setter/clearer writing ``value`` into ``f.<array>[f.<index>[target]]``."""

    def apply(f, target: str) -> None:
        getattr(f, array)[getattr(f, index)[target]] = value

    return apply


@dataclass(frozen=True)
class FaultKind:
    severity: str  # of the "failed" event
    set: (
        Callable | None
    )  # (factory, target) -> None; None: not failed by `fail` (set by its own command)
    clear: Callable  # (factory, target) -> None
    impact: str = ""  # "power": report racks that lose power; "racks": count racks affected
    per_year: str | None = None  # constants key of the published failure rate (random faults)


_rack = FaultKind(
    "critical",
    _flag("rack_failed", "rack_index", True),
    _flag("rack_failed", "rack_index", False),
    "racks",
)
_racks = FaultKind("critical", _set_racks, _clear_racks, "racks")
_nodef = FaultKind("warning", _set_node, _clear_node)
_loop = FaultKind(
    "critical",
    _flag("loop_failed", "loop_index", True),
    _flag("loop_failed", "loop_index", False),
    "racks",
    "failures_per_loop_year",
)
_switch = FaultKind(
    "warning",
    _flag("switch_failed", "switch_index", True),
    _flag("switch_failed", "switch_index", False),
)
_link_clear = _flag("link_frac", "link_index", 1.0)

#: Every fault kind the engine knows (also the kinds a repair can clear).
FAULT_KINDS: dict[str, FaultKind] = {
    "rack": _rack,
    "row": _racks,
    "group": _racks,
    "node": FaultKind("warning", _set_node, _clear_node, per_year="failures_per_node_year"),
    "gpu": FaultKind("warning", _set_node, _clear_node, per_year="failures_per_gpu_year"),
    "pdu": FaultKind(
        "critical",
        _flag("pdu_failed", "pdu_index", True),
        _clear_pdu,
        "power",
        "failures_per_pdu_year",
    ),
    "feed": FaultKind(
        "critical",
        _flag("feed_failed", "feed_index", True),
        _flag("feed_failed", "feed_index", False),
        "power",
    ),
    "loop": _loop,
    "cooling": _loop,
    "leaf": _switch,
    "spine": FaultKind("critical", _switch.set, _switch.clear),
    "switch": _switch,
    "link": FaultKind(
        "warning",
        _flag("link_frac", "link_index", 0.0),
        _link_clear,
        per_year="network_failures_per_gpu_year",
    ),
    # set by their own commands (degrade, straggle) or by the power model (a breaker trip)
    "degrade-link": FaultKind("warning", None, _link_clear),
    "degrade-rack": FaultKind("warning", None, _clear_nvlink),
    "degrade-loop": FaultKind("warning", None, _flag("loop_frac", "loop_index", 1.0)),
    "straggler": FaultKind("warning", None, _clear_straggler),
    "tripped": FaultKind("critical", None, _flag("pdu_tripped", "pdu_index", False)),
}

#: Random faults arrive for these kinds, in this order (the random stream depends on it).
RANDOM_KINDS = ("gpu", "node", "link", "pdu", "loop")


class Faults:
    """Failing and repairing components; random faults at published rates."""

    STATE_FAULTS = ("faults_enabled",)

    def _fail(self, target: str, kind: str, repair_s: float, by: str) -> str:
        if kind in self.faults.get(target, {}):
            raise EngineError(f"fail: {target} has already failed")
        fk = FAULT_KINDS.get(kind)
        if fk is None or fk.set is None:
            raise EngineError(
                f"fail: {target} is a {kind}; it cannot fail (try a rack, row, node, GPU, PDU, feed, loop, switch or link)"
            )
        fk.set(self, target)
        self._input_v += 1  # flow.py: health changes what its caches derive
        until = self.now + repair_s
        self._add_fault(target, kind, until)
        if math.isfinite(repair_s):
            self.schedule.at(due_tick(until, self.dt), "repair", target, kind, until)
        self._event(
            fk.severity,
            target,
            f"{kind} failed ({by}){self._impact(target, fk)}; repair in {format_duration(repair_s)}",
        )
        return f"{kind} {target} failed; repair in {format_duration(repair_s)}"

    def _impact(self, target: str, fk: FaultKind) -> str:
        """What a power or rack fault takes down: racks that lose power, and who rides through."""
        if not fk.impact:
            return ""
        racks = self._racks_of(target)
        if fk.impact == "power":
            self._rack_down()
            dark = int((~self.rack_powered[racks]).sum())
            ride = len(racks) - dark
            return f", {dark} racks lost power" + (
                f", {ride} ride through on their other PDU" if ride else ""
            )
        return f", {len(racks)} racks affected"

    def _on_repair(self, target: str, kind: str, until: float) -> None:
        """The repair crew arrives; a fault repaired (and failed again) since is not theirs."""
        f = self.faults.get(target, {}).get(kind)
        if f is not None and f.until == until:
            self._repair_kind(target, kind, by="repair crew")

    def _repair_kind(self, target: str, kind: str, by: str) -> None:
        kinds = self.faults.get(target, {})
        kinds.pop(kind, None)
        if not kinds:
            self.faults.pop(target, None)
        fk = FAULT_KINDS.get(kind)
        if fk is not None:
            fk.clear(self, target)
        self._input_v += 1  # flow.py: health changes what its caches derive
        self._event("info", target, f"{kind} repaired ({by})")

    # ---- random faults -----------------------------------------------------------------------------
    def _random_gap_s(self, kind: str) -> float:
        """Mean time between random faults of a kind over the whole factory (inf: none)."""
        k = self.k
        gpus = float(self.rack_gpus.sum())
        units = {
            "gpu": gpus,
            "link": gpus if self.link_ids else 0.0,
            "pdu": len(self.pdu_ids),
            "loop": len(self.loop_ids),
            "node": sum(
                int(self.rack_gpus[r]) // self.catalog.gpu(self.rack_sku[r]).gpus_per_node
                for r in range(len(self.rack_ids))
            ),
        }
        per_year = float(k[FAULT_KINDS[kind].per_year]) * units[kind]
        return YEAR_S / per_year if per_year > 0 else math.inf

    def _set_faults(self, on: bool) -> None:
        if on == self.faults_enabled:
            return
        self.faults_enabled = on
        self.schedule.drop("random-fault")
        if on:
            for kind in RANDOM_KINDS:
                self._next_random_fault(kind, self.now)

    def _next_random_fault(self, kind: str, t: float) -> None:
        gap = self._random_gap_s(kind)
        if math.isfinite(gap):
            self.schedule.at(
                due_tick(t + float(self.rng_faults.exponential(gap)), self.dt), "random-fault", kind
            )

    def _on_random_fault(self, kind: str) -> None:
        rng = self.rng_faults
        target = self._random_target(kind, rng)
        if target is not None and kind not in self.faults.get(target, {}):
            repair = float(rng.exponential(float(self.k["repair_s"].get(kind, 3600.0))))
            self._fail(target, kind, max(60.0, repair), by="random")
        self._next_random_fault(kind, self.now)

    def _random_target(self, kind: str, rng) -> str | None:
        if kind in ("gpu", "node"):
            r = int(rng.choice(len(self.rack_ids), p=self.rack_gpus / self.rack_gpus.sum()))
            gpn = self.catalog.gpu(self.rack_sku[r]).gpus_per_node
            node = int(rng.integers(int(self.rack_gpus[r]) // gpn))
            base = f"{self.rack_ids[r]}-n{node + 1}"
            return base if kind == "node" else f"{base}-g{int(rng.integers(gpn)) + 1}"
        ids = {"link": self.link_ids, "pdu": self.pdu_ids, "loop": self.loop_ids}[kind]
        return ids[int(rng.integers(len(ids)))] if ids else None
