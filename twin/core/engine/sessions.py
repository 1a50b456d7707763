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

from twin.core.engine.jit import njit

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
        self._has_sessions = bool((self.sess_pause > 0).any())

    def _session_tables(self) -> None:
        """KV tokens each replica holds (rebuilt with the replicas, after a swap)."""
        ctx = np.array([pr.context for pr in self.profiles])
        self.rep_kv_tokens = ctx[self.rep_prof]

    def _prefix_survival(self, up: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Per class: the chance its session's cached prefix outlives the tool pause
        (``up``: per row of identical replicas, ``rows.py``)."""
        out = np.ones(self.n_cls)
        if self._has_sessions:
            prefix_survival(
                self.run, self.rw_bmax, self.rw_kv_tokens, up, self.rw_dep, self.row_w,
                len(self.dep_ids), self.cls_dep, lam, self.sess_kv_tok, self.sess_pause, out,
            )  # fmt: skip
        return out


@njit(cache=True, error_model="numpy")
def prefix_survival(
    run, bmax, kv_tokens, up, rep_dep, w, n_dep, cls_dep, lam, kv_tok, pause, out
):  # fmt: skip
    """``Sessions._prefix_survival`` in one pass: per deployment the free KV tokens of its
    up replicas (C; each row counts its ``w`` replicas) and the tokens its classes write a
    second (W); per class with a tool pause p, τ/(τ + p) for τ = C/W."""
    free_d = np.zeros(n_dep)
    for r in range(len(bmax)):
        b = 0.0
        for s in range(run.shape[1]):
            b += run[r, s]
        free_d[rep_dep[r]] += max(0.0, bmax[r] - b) * kv_tokens[r] * (w[r] if up[r] else 0.0)
    write_d = np.zeros(n_dep)
    for c in range(len(lam)):
        write_d[cls_dep[c]] += lam[c] * kv_tok[c]
    for c in range(len(lam)):
        if pause[c] > 0:
            tau = free_d[cls_dep[c]] / max(write_d[cls_dep[c]], 1e-9)
            out[c] = tau / max(tau + pause[c], 1e-12)
