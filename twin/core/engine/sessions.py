"""Agentic sessions: the prefix a follow-up turn re-sends is still cached only if the
replica's KV cache kept it through the session's tool pause.

A follow-up re-sends its session's context; KV-aware routing sends it back to the replica
that served the last turn (``KV_ROUTE_HIT`` of the time: the rest find it busy or drained),
where the prefix is still cached only if the cache did not evict it during the pause. The
replicas' free KV blocks are an LRU prefix cache: with C tokens free and W tokens written a
second (the deployment's turns' prompts and outputs) an entry lives about τ = C/W seconds
(the cache's characteristic time), so a pause of mean p (exponential) survives with
probability τ/(τ + p). A long pause or a full cache re-prefills more of every turn.

Not yet here: turns as a closed loop (a follow-up arriving a tool pause after its previous
turn completed); an agentic class still sends ``rate × steps`` turns a second.
"""

from __future__ import annotations

import numpy as np

#: Of a session's follow-up turns routed KV-aware, this share reaches the replica that
#: served its last turn (the rest find it busy or drained and are prefilled elsewhere).
KV_ROUTE_HIT = 0.9


class Sessions:
    """The survival of agentic sessions' cached prefixes through their tool pauses."""

    def _init_sessions(self) -> None:
        W = self.layout.workloads
        self.sess_pause = np.array([w.agentic.tool_pause_s if w.agentic else 0.0 for w in W])
        # KV tokens a turn writes (its prompt, as if nothing were cached, and its output)
        self.sess_kv_tok = np.array([sh.prompt_tokens + sh.osl for sh in self.shapes])

    def _session_tables(self) -> None:
        """KV tokens each replica holds (rebuilt with the replicas, after a swap)."""
        ctx = np.array([pr.context for pr in self.profiles])
        self.rep_kv_tokens = ctx[self.rep_prof]

    def _prefix_survival(self, B: np.ndarray, up: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Per class: the chance its session's cached prefix outlives the tool pause
        (``B``, ``up``: per row of identical replicas, ``rows.py``)."""
        if not (self.sess_pause > 0).any():
            return np.ones(self.n_cls)
        n_dep = len(self.dep_ids)
        free = np.maximum(0.0, self.rw_bmax - B) * self.rw_kv_tokens * up * self.row_w
        free_d = np.bincount(self.rw_dep, weights=free, minlength=n_dep)
        write_d = np.bincount(self.cls_dep, weights=lam * self.sess_kv_tok, minlength=n_dep)
        tau = free_d[self.cls_dep] / np.maximum(write_d[self.cls_dep], 1e-9)
        return np.where(self.sess_pause > 0, tau / np.maximum(tau + self.sess_pause, 1e-12), 1.0)
