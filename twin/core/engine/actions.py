"""Operator actions: one handler per Command type, in an explicit table (``HANDLERS``).

A handler is ``(factory, command) -> message``; it validates against the factory's
current state and raises ``EngineError`` (one line naming the verb) before changing
anything. What happens later (a surge ending, a swap finishing) is scheduled as a
``Pending`` record with a handler in ``factory.PENDING``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from twin.core import commands as C
from twin.core.engine import plan as P
from twin.core.engine.routing import POLICIES
from twin.core.engine.schedule import due_tick
from twin.core.engine.topology import RACK_SETS, EngineError
from twin.core.errors import TwinError, UnknownName
from twin.core.layout import rack_peak_kw
from twin.core.units import format_duration

_PLACES = (*RACK_SETS, "pdu", "feed", "loop", "leaf")


def fail(f, cmd: C.Fail) -> str:
    kind = f._kind(cmd.target)
    repair = cmd.repair_after_s
    if repair is None:
        repair = float(f.k["repair_s"].get(kind, 3600.0))
    return f._fail(cmd.target, kind, repair, by="operator")


def repair(f, cmd: C.Repair) -> str:
    if cmd.target not in f.faults:
        f._kind(cmd.target)  # an unknown name says so, with a suggestion
        raise EngineError(
            f"repair: {cmd.target} is not failed or degraded"
            + (f"; failed now: {', '.join(sorted(f.faults)[:10])}" if f.faults else "")
        )
    for kind in list(f.faults[cmd.target]):
        f._repair_kind(cmd.target, kind, by="operator")
    return f"{cmd.target} repaired"


def degrade(f, cmd: C.Degrade) -> str:
    kind = f._kind(cmd.target)
    if kind == "link":
        f.link_frac[f.link_index[cmd.target]] = cmd.remaining
        fk = "degrade-link"
    elif kind in RACK_SETS:
        f.rack_nvlink[f._racks_of(cmd.target)] = cmd.remaining
        fk = "degrade-rack"
    elif kind in ("loop", "cooling"):  # a CDU pump or heat exchanger working in part
        f.loop_frac[f.loop_index[cmd.target]] = cmd.remaining
        f._add_fault(cmd.target, "degrade-loop")
        kw = f.loop_cap[f.loop_index[cmd.target]] * cmd.remaining
        f._event("warning", cmd.target, f"degraded to {cmd.remaining:.0%} of its cooling")
        return f"{cmd.target} removes at most {kw:,.0f} kW ({cmd.remaining:.0%}) until repaired"
    else:
        raise EngineError(
            f"degrade: {cmd.target} is a {kind}; degrade a link, a rack's NVLink domain "
            "or a cooling loop"
        )
    f._add_fault(cmd.target, fk)
    f._event("warning", cmd.target, f"degraded to {cmd.remaining:.0%} of its bandwidth")
    return f"{cmd.target} at {cmd.remaining:.0%} bandwidth until repaired"


def straggle(f, cmd: C.Straggle) -> str:
    f._targets("straggle", cmd.target, (*RACK_SETS, "node", "gpu"))
    node = f._parse_node(cmd.target)
    if node is not None:  # a node (or a GPU's node) slows only the replicas on it
        f._check_node(node, cmd.target, "straggle")
        f.node_slow[(node[0], node[1])] = cmd.slowdown
    else:
        f.rack_slow[f._racks_of(cmd.target)] = cmd.slowdown
    f._add_fault(cmd.target, "straggler")
    f._event("warning", cmd.target, f"straggler: steps {cmd.slowdown:g}× slower")
    return f"{cmd.target} runs {cmd.slowdown:g}× slower until repaired"


def drain(f, cmd: C.Drain) -> str:
    racks = f._targets("drain", cmd.target, _PLACES)
    f.rack_drained[racks] = True
    return f"{len(racks)} racks drained: no new requests; running ones finish"


def undrain(f, cmd: C.Undrain) -> str:
    racks = f._targets("undrain", cmd.target, _PLACES)
    if not f.rack_drained[racks].any():
        raise EngineError(f"undrain: {cmd.target} is not drained")
    f.rack_drained[racks] = False
    return f"{len(racks)} racks back in service"


def route(f, cmd: C.Route) -> str:
    if cmd.policy not in POLICIES:
        raise EngineError(f"route: unknown policy {cmd.policy!r}; policies: {', '.join(POLICIES)}")
    old, f.policy = f.policy, cmd.policy
    return f"routing {old} → {cmd.policy}"


def cap(f, cmd: C.Cap) -> str:
    if cmd.target is None:
        if cmd.limit_kw is None and cmd.fraction is None:
            f.site_cap_kw = None
            return "site power cap lifted"
        limit = (
            cmd.limit_kw if cmd.limit_kw is not None else cmd.fraction * f.layout.site.envelope_kw
        )
        f.site_cap_kw = limit
        return f"site capped at {limit / 1000:,.1f} MW facility power"
    kind = f._kind(cmd.target)
    if kind == "pdu":
        i = f.pdu_index[cmd.target]
        lim = (
            cmd.limit_kw
            if cmd.limit_kw is not None
            else (cmd.fraction * f.pdu_cap[i] if cmd.fraction else None)
        )
        f.pdu_cap_kw[i] = np.inf if lim is None else lim
        return f"{cmd.target} cap lifted" if lim is None else f"{cmd.target} capped"
    racks = f._racks_of(cmd.target)
    if not len(racks):
        raise EngineError(f"cap: {cmd.target} holds no racks")
    if cmd.limit_kw is None and cmd.fraction is None:
        return _lift_rack_caps(f, cmd.target, racks)
    peak = np.array([f.catalog.gpu(f.rack_sku[r]).rack_kw for r in racks])
    if len(racks) == 1:
        f.rack_cap_kw[racks] = cmd.limit_kw if cmd.limit_kw is not None else cmd.fraction * peak
        return f"{cmd.target} capped"
    return _budget(f, cmd.target, racks, cmd.limit_kw or cmd.fraction * float(peak.sum()))


def _budget(f, target: str, racks: np.ndarray, limit_kw: float) -> str:
    """A cap on several racks is one budget they share (as a row's power budget in a DCIM
    is): ``power.py`` lowers their clocks only when their sum is over it, and sheds load
    only when it is below what they draw at their boards' floors. A budget it overlaps
    is replaced."""
    hit = np.unique(f.rack_budget[racks])
    gone = _dissolve_budgets(f, hit[hit >= 0])
    label = int(racks.min())
    f.rack_budget[racks] = label
    f.rack_budget_kw[racks] = limit_kw
    f.budget_names[label] = target
    replaced = [g for g in gone if g != target]
    return f"{target} capped at {limit_kw:,.1f} kW shared by its {len(racks)} racks" + (
        f" (replaces the cap on {', '.join(replaced)})" if replaced else ""
    )


def _lift_rack_caps(f, target: str, racks: np.ndarray) -> str:
    """Lift the caps on ``racks``: each one's own, and every budget wholly among them."""
    f.rack_cap_kw[racks] = np.inf
    inside = np.zeros(len(f.rack_ids), bool)
    inside[racks] = True
    labels = np.unique(f.rack_budget[racks])
    _dissolve_budgets(f, [b for b in labels if b >= 0 and inside[f.rack_budget == b].all()])
    return f"{target} cap lifted"


def _dissolve_budgets(f, labels) -> list[str]:
    """Remove the shared budgets ``labels`` (their racks keep only their own caps); returns
    their names."""
    members = np.isin(f.rack_budget, labels)
    f.rack_budget_kw[members] = np.inf
    f.rack_budget[members] = -1
    return [f.budget_names.pop(int(b)) for b in labels]


def swap(f, cmd: C.Swap) -> str:
    gpu = f.catalog.gpu(cmd.gpu)
    racks = f._targets("swap", cmd.target, RACK_SETS)
    if not len(racks):
        raise EngineError(f"swap: {cmd.target} holds no racks")
    same = [r for r in racks if f.rack_sku[r] == gpu.id]
    if len(same) == len(racks):
        raise EngineError(
            f"swap: {cmd.target} already has {gpu.id} GPUs; a swap would only take it down for "
            f"{format_duration(float(f.k['swap_downtime_s']))}"
        )
    racks = np.array([r for r in racks if f.rack_sku[r] != gpu.id], dtype=int)
    deps = {d.id for d in f.layout.deployments if set(d.racks) & {f.rack_ids[r] for r in racks}}
    for d in f.layout.deployments:
        if d.id in deps and d.precision not in gpu.peak_tflops:
            raise EngineError(
                f"swap: {gpu.id} cannot run {d.id}'s {d.precision}; precisions: {', '.join(gpu.precisions)}"
            )
    busy = [f.rack_ids[r] for r in racks if f.rack_swapping[r]]
    if busy:
        raise EngineError(f"swap: {busy[0]} is already being swapped; wait for it to finish")
    downtime = float(f.k["swap_downtime_s"])
    f.rack_swapping[racks] = True
    f.schedule.at(due_tick(f.now + downtime, f.dt), "swap-done", gpu.id, *[int(r) for r in racks])
    warn = swap_warning(f, racks, gpu)
    f._event(
        "warning",
        cmd.target,
        f"swap to {gpu.id} started: {len(racks)} racks down for {format_duration(downtime)}",
    )
    skipped = f" ({len(same)} already {gpu.id})" if same else ""
    return f"{len(racks)} racks → {gpu.id}{skipped}, back in {format_duration(downtime)}" + (
        f"; {warn}" if warn else ""
    )


def preview_swap(f, target: str, gpu_id: str) -> str:
    """What ``swap TARGET GPU`` would warn of, before it is applied ('' when all is well or
    the swap would be refused anyway — the command then says why)."""
    try:
        gpu = f.catalog.gpu(gpu_id)
        racks = f._targets("swap", target, RACK_SETS)
    except TwinError:
        return ""
    racks = np.array([r for r in racks if f.rack_sku[r] != gpu.id], dtype=int)
    return swap_warning(f, racks, gpu) if len(racks) else ""


def swap_warning(f, racks: np.ndarray, gpu) -> str:
    """What the new racks' peak power does to their PDUs: over a PDU's rating it trips
    when they power on (and on every repair); A/B racks whose one PDU cannot carry them
    alone lose their redundancy. Empty when all is well."""
    peak = f.rack_peak_kw.copy()
    peak[racks] = rack_peak_kw(gpu, gpu.gpus_per_rack)
    n_pdus = (f.rack_pdus >= 0).sum(axis=1)
    shared = np.zeros(len(f.pdu_ids))
    alone = np.zeros(len(f.pdu_ids))
    for j in range(2):
        m = f.rack_pdus[:, j] >= 0
        np.add.at(shared, f.rack_pdus[m, j], peak[m] / np.maximum(n_pdus[m], 1))
        np.add.at(alone, f.rack_pdus[m, j], peak[m])
    mine = np.unique(f.rack_pdus[racks][f.rack_pdus[racks] >= 0])
    over = [i for i in mine if shared[i] > f.pdu_cap[i]]
    if over:
        i = max(over, key=lambda x: shared[x] / f.pdu_cap[x])
        return (
            f"warning: {f.pdu_ids[i]} would carry {shared[i]:,.0f} kW at peak, over its {f.pdu_cap[i]:,.0f} kW "
            f"rating ({len(over)} PDUs over): its breaker will trip when the new racks power on; cap the racks "
            "or swap fewer"
        )
    ab = [
        i
        for i in mine
        if alone[i] > f.pdu_cap[i] and (f.rack_pdus == i).any(axis=1)[n_pdus == 2].any()
    ]
    if ab:
        i = ab[0]
        return (
            f"warning: A/B redundancy lost: {f.pdu_ids[i]} alone would carry {alone[i]:,.0f} kW at peak, over its "
            f"{f.pdu_cap[i]:,.0f} kW rating, if its partner PDU fails"
        )
    return ""


def scale(f, cmd: C.Scale) -> str:
    if cmd.deployment not in f.dep_ids:
        raise UnknownName("deployment", cmd.deployment, f.dep_ids)
    di = f.dep_ids.index(cmd.deployment)
    idx = f.dep_reps[di]
    if cmd.replicas > len(idx):
        raise EngineError(f"scale: {cmd.deployment} has room for {len(idx)} replicas on its racks")
    pre = idx[f.rep_role[idx] == P.ROLE_PREFILL]
    if len(pre) and 0 < cmd.replicas < 2:
        raise EngineError(
            f"scale: {cmd.deployment} is disaggregated; it needs at least 2 replicas (prefill and decode)"
        )
    f.scale_to[di] = cmd.replicas
    f._apply_scale(di)
    serving = int((f.rep_enabled[idx] & ~f._replicas_down()[idx]).sum())
    down = cmd.replicas - serving
    return f"{cmd.deployment}: {cmd.replicas} of {len(idx)} replicas enabled, {serving} serving" + (
        f" ({down} down)" if down else ""
    )


def surge(f, cmd: C.Surge) -> str:
    if cmd.workload is not None:
        if cmd.workload not in f.cls_ids:
            raise UnknownName("workload class", cmd.workload, f.cls_ids)
        f.class_surge[f.cls_ids.index(cmd.workload)] = cmd.factor
    else:
        f.surge = cmd.factor
    if cmd.duration_s:
        f.schedule.at(due_tick(f.now + cmd.duration_s, f.dt), "surge-end", cmd.workload or "")
    f._event(
        "warning" if cmd.factor > 1 else "info",
        cmd.workload or "demand",
        f"demand ×{cmd.factor:g}"
        + (f" for {format_duration(cmd.duration_s)}" if cmd.duration_s else ""),
    )
    return f"demand ×{cmd.factor:g}" + (
        f" for {format_duration(cmd.duration_s)}" if cmd.duration_s else ""
    )


def faults(f, cmd: C.Faults) -> str:
    f._set_faults(cmd.enabled)
    return "random faults " + ("on (published failure rates)" if cmd.enabled else "off")


#: The engine's operator actions, by command type.
HANDLERS: dict[type, Callable] = {
    C.Fail: fail,
    C.Repair: repair,
    C.Degrade: degrade,
    C.Straggle: straggle,
    C.Drain: drain,
    C.Undrain: undrain,
    C.Route: route,
    C.Cap: cap,
    C.Swap: swap,
    C.Scale: scale,
    C.Surge: surge,
    C.Faults: faults,
}
