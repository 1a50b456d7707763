"""Component health: what is failed, tripped, drained, degraded or slow, as flag arrays.

``rack_down()`` folds them into which racks cannot serve this tick. Fault kinds set and
clear these flags through the one table in ``faults.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Fault:
    component: str
    kind: str
    until: float  # simulated time of the automatic repair (inf: until repaired)


class Health:
    STATE_HEALTH = (
        "rack_failed",
        "rack_swapping",
        "rack_drained",
        "rack_tripped",
        "rack_slow",
        "rack_nvlink",
        "rack_cap_kw",
        "rack_budget_kw",
        "rack_budget",
        "budget_names",
        "pdu_failed",
        "pdu_tripped",
        "pdu_cap_kw",
        "feed_failed",
        "loop_failed",
        "loop_frac",
        "switch_failed",
        "link_frac",
        "node_faults",
        "node_slow",
        "faults",
    )

    def _init_health(self) -> None:
        n_r = len(self.rack_ids)
        self.rack_failed = np.zeros(n_r, bool)
        self.rack_swapping = np.zeros(n_r, bool)
        self.rack_drained = np.zeros(n_r, bool)
        self.rack_tripped = np.zeros(n_r, bool)  # thermal shutdown
        self.rack_slow = np.ones(n_r)  # straggler factor on step time
        self.rack_nvlink = np.ones(n_r)  # remaining scale-up bandwidth fraction
        self.rack_cap_kw = np.full(n_r, np.inf)  # a cap on one rack
        # A cap on several racks (a row, a group, a feed, a deployment) is one budget they
        # share (power.py): each rack's budget's limit, kW, and its label (the budget's
        # first rack; -1: none), and each budget's name by label. A rack is in at most one.
        self.rack_budget_kw = np.full(n_r, np.inf)
        self.rack_budget = np.full(n_r, -1, dtype=np.int64)
        self.budget_names: dict[int, str] = {}
        self.pdu_failed = np.zeros(len(self.pdu_ids), bool)
        self.pdu_tripped = np.zeros(len(self.pdu_ids), bool)
        self.pdu_cap_kw = np.full(len(self.pdu_ids), np.inf)
        self.feed_failed = np.zeros(len(self.feed_ids), bool)
        self.loop_failed = np.zeros(len(self.loop_ids), bool)
        self.loop_frac = np.ones(len(self.loop_ids))  # remaining heat-removal fraction
        self.switch_failed = np.zeros(len(self.switch_ids), bool)
        self.link_frac = np.ones(len(self.link_ids))
        self.node_faults: dict[tuple[int, int], int] = {}  # (rack, node) -> faulty count
        self.node_slow: dict[tuple[int, int], float] = {}  # (rack, node) -> straggler factor
        self.faults: dict[str, dict[str, Fault]] = {}  # component -> kind -> fault
        self.rack_powered = np.ones(n_r, bool)
        self.rack_pdu_alive = self.rack_pdus >= 0
        self._masks_cache = self._clocks_cache = None  # flow.py: derived from the above

    def _add_fault(self, target: str, kind: str, until: float = math.inf) -> None:
        self.faults.setdefault(target, {})[kind] = Fault(target, kind, until)

    def _rack_down(self) -> np.ndarray:
        pdu_alive = ~self.pdu_failed & ~self.pdu_tripped & ~self.feed_failed[self.pdu_feed]
        has = self.rack_pdus >= 0
        alive = np.where(has, pdu_alive[np.maximum(self.rack_pdus, 0)], False)
        self.rack_powered = ~self.rack_failed & alive.any(axis=1)
        self.rack_pdu_alive = alive
        leaf_ok = ~self.switch_failed[self.rack_leaf]
        return ~self.rack_powered | self.rack_swapping | self.rack_tripped | ~leaf_ok
