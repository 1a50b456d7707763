"""The fabric: healthy uplink bandwidth per leaf, link load from KV transfers, and the
time a disaggregated deployment's KV cache takes to cross it."""

from __future__ import annotations

import numpy as np

from twin.core.engine import plan as P


class Fabric:
    STATE_FABRIC = ("link_load",)

    def _init_fabric(self) -> None:
        self.link_load = np.zeros(len(self.link_ids))
        self._bw_state = None  # the fabric state the cache below was computed for
        self._kv_cache = None  # ``_kv_links``: per replica its leaf's bandwidth, and roles
        # per leaf healthy uplink GB/s, per link its healthy share, total healthy GB/s
        self._leaf_bw_cache = (np.zeros(len(self.switch_ids)), np.zeros(len(self.link_ids)), 0.0)
        self._kv_lat = float(self.k["scale_out_latency_us"]) * 1e-6  # a KV transfer's latency

    def _leaf_bw(self) -> np.ndarray:
        """Healthy uplink bandwidth (GB/s) of each switch as a leaf, cached per fabric state."""
        state = (self.link_frac.tobytes(), self.switch_failed.tobytes())
        if self._bw_state != state:
            healthy = (
                self.link_frac * ~self.switch_failed[self.link_b] * ~self.switch_failed[self.link_a]
            )
            bw = np.bincount(
                self.link_a, weights=self.link_gbs * healthy, minlength=len(self.switch_ids)
            )
            capacity = float((self.link_gbs * healthy).sum())
            self._leaf_bw_cache = (np.where(self.switch_failed, 0.0, bw), healthy, capacity)
            self._bw_state = state
        return self._leaf_bw_cache[0]

    def _fabric_load(self, gb_s: float) -> None:
        """KV transfers spread over every healthy leaf-spine link (ECMP). The tick does it
        in ``flow_kernel.serve_rows`` where KV crosses the fabric, here where none does."""
        if not len(self.link_ids) or (gb_s == 0.0 and not self.link_load.any()):
            return
        self._leaf_bw()  # refreshes the healthy links and their capacity for this fabric state
        _, healthy, capacity = self._leaf_bw_cache
        self.link_load = np.where(healthy > 0, gb_s / max(capacity, 1e-9), 0.0)

    def _kv_links(self) -> tuple[np.ndarray, np.ndarray]:
        """Per replica: the healthy uplink bandwidth (bytes/s) of its leaf and whether its KV
        crosses the fabric (a prefill replica of a disaggregated deployment), cached per
        fabric state. ``flow_kernel.serve_rows`` adds to an admitted cohort's TTFT the fixed
        latency (``_kv_lat``) and its KV bytes over that bandwidth less what other transfers
        use: 0 for a leaf cut off.

        Prefill and decode replicas sit behind different leaves: the KV crosses the spines,
        limited by the healthy uplink bandwidth of the prefill replica's own leaf."""
        leaf_bw = self._leaf_bw()  # cached per fabric state, so the same object until it changes
        c = self._kv_cache
        if c is None or c[0] is not leaf_bw or c[1] is not self.rep_rack:
            base = leaf_bw[self.rack_leaf[self.rep_rack]] * 1e9
            c = self._kv_cache = (leaf_bw, self.rep_rack, base, self.rep_role == P.ROLE_PREFILL)
        return c[2], c[3]
