"""The static shape of a factory: index arrays built once from a Layout.

Racks, PDUs, feeds, cooling loops, switches and links become integer indices and
capacity arrays; workload classes become ``ClassShape`` rows with their deployment
slots. Nothing here changes while the simulation runs, except the rack SKUs a swap
replaces (``rack_sku``/``rack_gpus`` are therefore checkpointed state, see ``STATE``).
Also here: how a command's target name resolves to racks (``racks_of``, nodes and GPUs
as ``RACK-nK`` and ``RACK-nK-gJ``).
"""

from __future__ import annotations

import bisect

import numpy as np

from twin.core.engine import plan as P
from twin.core.engine.flow import client_timeout_s
from twin.core.errors import TwinError, UnknownName
from twin.core.layout import Layout


class EngineError(TwinError):
    """A command that is well-formed but cannot apply to this factory now."""


#: What each placement command may name.
RACK_SETS = ("rack", "row", "group")


class Topology:
    """Static index arrays (built by ``_init_topology``) and target-name resolution."""

    #: dynamic fields owned here (a swap changes a rack's GPU SKU and count)
    STATE_TOPOLOGY = ("rack_sku", "rack_gpus")

    def _init_topology(self, L: Layout) -> None:
        self.rack_ids = [r.id for r in L.racks]
        self.rack_index = {r: i for i, r in enumerate(self.rack_ids)}
        self.rack_sku = [r.gpu for r in L.racks]
        self.rack_gpus = np.array([r.gpus for r in L.racks], dtype=float)
        self.rack_row = [r.row for r in L.racks]
        n_r = len(L.racks)
        self.pdu_ids = [p.id for p in L.pdus]
        self.pdu_index = {p: i for i, p in enumerate(self.pdu_ids)}
        self.feed_ids = [f.id for f in L.feeds]
        self.feed_index = {f: i for i, f in enumerate(self.feed_ids)}
        self.pdu_feed = np.array([self.feed_index[p.feed] for p in L.pdus], dtype=int)
        self.pdu_cap = np.array([p.capacity_kw for p in L.pdus])
        self.feed_cap = np.array([f.capacity_kw for f in L.feeds])
        self.rack_pdus = np.full((n_r, 2), -1, dtype=int)
        for i, r in enumerate(L.racks):
            for j, p in enumerate(r.pdus[:2]):
                self.rack_pdus[i, j] = self.pdu_index[p]
        self.loop_ids = [c.id for c in L.cooling]
        self.loop_index = {c: i for i, c in enumerate(self.loop_ids)}
        self.loop_cap = np.array([c.capacity_kw for c in L.cooling])
        self.rack_loop = np.array([self.loop_index[r.cooling] for r in L.racks], dtype=int)
        sw = L.fabric.switches
        self.switch_ids = [s.id for s in sw]
        self.switch_index = {s: i for i, s in enumerate(self.switch_ids)}
        self.switch_tier = [s.tier for s in sw]
        self.rack_leaf = np.array([self.switch_index[r.leaf] for r in L.racks], dtype=int)
        self.link_ids = [ln.id for ln in L.fabric.links]
        self.link_index = {ln: i for i, ln in enumerate(self.link_ids)}
        self.link_a = np.array([self.switch_index[ln.a] for ln in L.fabric.links], dtype=int)
        self.link_b = np.array([self.switch_index[ln.b] for ln in L.fabric.links], dtype=int)
        self.link_gbs = np.array([ln.gb_s for ln in L.fabric.links])
        # ---- workload classes and the deployment slots they occupy ------------------------------
        dep_index = {d.id: i for i, d in enumerate(L.deployments)}
        self.dep_ids = [d.id for d in L.deployments]
        self.shapes = [
            P.class_shape(i, w, dep_index[w.deployment]) for i, w in enumerate(L.workloads)
        ]
        self.cls_ids = [s.id for s in self.shapes]
        self.n_cls = len(self.shapes)
        self.cls_dep = np.array([s.deployment for s in self.shapes], dtype=int)
        self.cls_osl = np.array([s.osl for s in self.shapes])
        self.cls_slo_ttft = np.array([s.slo_ttft_s for s in self.shapes])
        self.cls_slo_tpot = np.array([s.slo_tpot_s for s in self.shapes])
        self.cls_burst = np.array([w.burstiness for w in L.workloads], dtype=float)
        # a client gives up after this wait: the class's `timeout`, else the engine's rule
        self.cls_timeout = np.array(
            [
                w.timeout_s if w.timeout_s is not None else float(client_timeout_s(w.slo_ttft_s))
                for w in L.workloads
            ]
        )
        # Each replica serves one deployment, so its running requests are kept per *slot*:
        # the deployment's own classes (1-2, not every class of the factory).
        n_dep = len(L.deployments)
        per_dep = [[c for c in range(self.n_cls) if self.cls_dep[c] == d] for d in range(n_dep)]
        self.n_slot = max(1, max((len(x) for x in per_dep), default=1))
        self.cls_slot = np.zeros(self.n_cls, dtype=int)
        self.dep_slot_cls = np.full((n_dep, self.n_slot), -1, dtype=int)
        for d, cs in enumerate(per_dep):
            for k, c in enumerate(cs):
                self.cls_slot[c] = k
                self.dep_slot_cls[d, k] = c
        # requests per second at factor 1: an agentic class's rate counts sessions, each
        # of which sends one request per step
        self.cls_rate = np.array(
            [w.rate_rps * (w.agentic.steps_mean if w.agentic else 1.0) for w in L.workloads]
        )
        self._diurnal_tables = []
        for w in L.workloads:
            if w.diurnal:
                hs = np.array([h for h, _ in w.diurnal])
                fs = np.array([f for _, f in w.diurnal])
                xp, fp = np.concatenate([hs - 24, hs, hs + 24]), np.concatenate([fs, fs, fs])
                self._diurnal_tables.append((xp, fp, xp.tolist(), fp.tolist()))
            else:
                self._diurnal_tables.append(None)

    def _diurnal(self, t: float) -> list[float]:
        """Each class's demand factor at simulated time ``t`` (1 without a curve)."""
        hour = (self.start_hour + t / 3600.0) % 24.0
        return [
            1.0 if tab is None else interp(hour, tab[2], tab[3]) for tab in self._diurnal_tables
        ]

    # ---- names → components ----------------------------------------------------------------------
    def _kind(self, target: str) -> str:
        if target in self.rack_index:
            return "rack"
        node = self._parse_node(target)
        if node is not None:
            return "gpu" if node[2] is not None else "node"
        try:
            return self.layout.kind_of(target)
        except (KeyError, TwinError):
            raise UnknownName("component", target, list(self.layout.ids)) from None

    def _parse_node(self, target: str):
        """``RACK-nK`` is node K of a rack, ``RACK-nK-gJ`` GPU J of that node (1-based)."""
        for cut in (2, 1):
            head = target.rsplit("-", cut)
            rack = head[0]
            if rack in self.rack_index:
                tail = head[1:]
                try:
                    if len(tail) == 1 and tail[0].startswith("n"):
                        return self.rack_index[rack], int(tail[0][1:]) - 1, None
                    if len(tail) == 2 and tail[0].startswith("n") and tail[1].startswith("g"):
                        return self.rack_index[rack], int(tail[0][1:]) - 1, int(tail[1][1:]) - 1
                except ValueError:
                    return None
        return None

    def _check_node(self, node, target: str, verb: str):
        rk, n, gpu = node
        gpn = self.catalog.gpu(self.rack_sku[rk]).gpus_per_node
        if n < 0 or n * gpn >= self.rack_gpus[rk] or (gpu is not None and not 0 <= gpu < gpn):
            raise EngineError(
                f"{verb}: {target} does not exist ({self.rack_ids[rk]} has "
                f"{int(self.rack_gpus[rk]) // gpn} nodes of {gpn} GPUs)"
            )
        return node

    def _racks_of(self, target: str) -> np.ndarray:
        if target in self.rack_index:
            return np.array([self.rack_index[target]])
        node = self._parse_node(target)
        if node is not None:
            return np.array([node[0]])
        return np.array([self.rack_index[r] for r in self.layout.racks_of(target)], dtype=int)

    def _targets(self, verb: str, target: str, allowed: tuple[str, ...]) -> np.ndarray:
        kind = self._kind(target)
        if kind not in allowed:
            raise EngineError(
                f"{verb}: {target} is a {kind}; {verb} takes a {', '.join(allowed[:-1])} or {allowed[-1]}"
            )
        return self._racks_of(target)


def interp(x: float, xp: list[float], fp: list[float]) -> float:
    """``np.interp`` at one point, in plain floats (the same arithmetic, so the same
    figure, without numpy's call overhead: the tick's diurnal factors)."""
    if x < xp[0]:
        return fp[0]
    if x >= xp[-1]:
        return fp[-1]
    j = bisect.bisect_right(xp, x) - 1
    if xp[j] == x:
        return fp[j]
    return (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]) * (x - xp[j]) + fp[j]
