"""Identical replicas as weighted rows: the tick's per-replica work runs once per row.

A deployment's replicas start identical and mostly stay so (``default``: 6 distinct
states of 1,875 replicas), so the queue, admission, decode and routing kernels run over
*rows*, each standing for ``row_w`` replicas in the same state; the kernels multiply by
the weight where they sum (requests, tokens, histogram counts).

- ``rep_row`` maps each replica to its row, ``row_rep`` each row to its first replica
  (whose static figures — profile, role, KV room — every member shares: replicas of
  different *kinds* never share a row).
- **Split**: each tick, before anything uses the state, every replica's inputs (up, up
  last tick, accepting, clock, straggler slowdown, KV link) are compared with its row's
  first replica; a fault, cap, drain, straggler or scale that touches part of a row
  splits it (the new row starts as a copy of the old one's state).
- **Merge**: rows of one kind with the same inputs and exactly the same state (an empty
  queue slot compares equal whatever its stale time and prompt, which no kernel reads)
  become one row. Equality is exact, so merging never changes a figure.
- Row order is the order of each row's first replica, so it depends only on which
  replicas are alike, not on the history of splits: the sums run in replica order.
- Routing gives identical replicas identical shares (``routing.py``), so a row is never
  split by a routing decision, and ``TWIN_ROWS=0`` (one row per replica, what the
  equivalence test compares against) gives the same reports within float summation
  order.

State of the rows (``STATE_ROWS`` and the per-row arrays of ``replicas.py``) goes into a
checkpoint as is, so a restored factory continues with the very same rows.
"""

from __future__ import annotations

import math
import os

import numpy as np

from twin.core.engine import plan as P
from twin.core.engine.jit import njit

#: Per-row state arrays (first axis: rows), copied from their old row on a regroup.
ROW_ARRAYS = (
    "q_cnt", "q_t", "q_tok", "q_cls", "run", "_tau_last", "_pf_rho", "row_out_s", "row_user_s",
    "row_util",
)  # fmt: skip
ROW_ARRAYS_OPT = ("_t_dec_last",)  # None before the first tick

_PRIME = 1099511628211
_MOD = 2305843009213693951  # 2**61 - 1


def weighted_default() -> bool:
    """Rows merge identical replicas unless ``TWIN_ROWS=0`` (one row per replica)."""
    return os.environ.get("TWIN_ROWS", "1") != "0"


@njit(cache=True, error_model="numpy", inline="always")
def _mix(h, v):
    return ((h ^ v) * _PRIME) % _MOD


@njit(cache=True, error_model="numpy", inline="always")
def _mixf(h, x):
    """Mix a float into a hash: equal values (0.0 and -0.0 too) give equal hashes."""
    if x == 0.0:
        v = 0
    elif not math.isfinite(x):
        v = 7
    elif abs(x) > 1e9:
        v = int(x)
    else:
        v = int(x * 1e9)
    return _mix(h, v)


@njit(cache=True, error_model="numpy")
def _row_hash(r, q_cnt, q_t, q_tok, q_cls, run, tau, rho, tdec):
    h = 1469598103934665603 % _MOD
    for j in range(q_cnt.shape[1]):
        c = q_cnt[r, j]
        h = _mixf(h, c)
        if c != 0.0:
            h = _mixf(_mixf(_mix(h, q_cls[r, j]), q_t[r, j]), q_tok[r, j])
    for s in range(run.shape[1]):
        h = _mixf(h, run[r, s])
    h = _mixf(_mixf(h, tau[r]), rho[r])
    if len(tdec):
        h = _mixf(h, tdec[r])
    return h


@njit(cache=True, error_model="numpy")
def _rows_equal(a, b, q_cnt, q_t, q_tok, q_cls, run, tau, rho, tdec):
    if a == b:
        return True
    for j in range(q_cnt.shape[1]):
        c = q_cnt[a, j]
        if c != q_cnt[b, j]:
            return False
        if c != 0.0 and (
            q_cls[a, j] != q_cls[b, j] or q_t[a, j] != q_t[b, j] or q_tok[a, j] != q_tok[b, j]
        ):
            return False
    for s in range(run.shape[1]):
        if run[a, s] != run[b, s]:
            return False
    if tau[a] != tau[b] or rho[a] != rho[b]:
        return False
    return not (len(tdec) and tdec[a] != tdec[b])


@njit(cache=True, error_model="numpy", inline="always")
def _keys_equal(i, j, kind, prev_up, up, acc, clock, slow, kvk):
    return (
        kind[i] == kind[j]
        and prev_up[i] == prev_up[j]
        and up[i] == up[j]
        and acc[i] == acc[j]
        and clock[i] == clock[j]
        and slow[i] == slow[j]
        and kvk[i] == kvk[j]
    )


@njit(cache=True, error_model="numpy", inline="always")
def _key_hash(h, i, kind, prev_up, up, acc, clock, slow, kvk):
    h = _mix(_mix(_mix(_mix(h, kind[i]), int(prev_up[i])), int(up[i])), int(acc[i]))
    return _mixf(_mixf(_mixf(h, clock[i]), slow[i]), kvk[i])


@njit(cache=True, error_model="numpy")
def needs_regroup(
    split, rep_row, row_rep, kind, prev_up, up, acc, clock, slow, kvk, q_cnt, q_t, q_tok, q_cls,
    run, tau, rho, tdec,
):  # fmt: skip
    """Whether some row must split (``split``: a member's inputs differ from its first
    replica's) or two rows may merge (same kind, inputs and state)."""
    if split:
        for i in range(len(rep_row)):
            j = row_rep[rep_row[i]]
            if i != j and not _keys_equal(i, j, kind, prev_up, up, acc, clock, slow, kvk):
                return True
    m = len(row_rep)
    if m < 2:
        return False
    h = np.empty(m, dtype=np.int64)
    for r in range(m):
        h[r] = _key_hash(
            _row_hash(r, q_cnt, q_t, q_tok, q_cls, run, tau, rho, tdec),
            row_rep[r], kind, prev_up, up, acc, clock, slow, kvk,
        )  # fmt: skip
    order = np.argsort(h, kind="mergesort")
    for x in range(1, m):
        a, b = order[x - 1], order[x]
        if (
            h[a] == h[b]
            and _keys_equal(row_rep[a], row_rep[b], kind, prev_up, up, acc, clock, slow, kvk)
            and _rows_equal(a, b, q_cnt, q_t, q_tok, q_cls, run, tau, rho, tdec)
        ):
            return True
    return False


@njit(cache=True, error_model="numpy")
def regroup(
    rep_row, kind, prev_up, up, acc, clock, slow, kvk, q_cnt, q_t, q_tok, q_cls, run, tau,
    rho, tdec, new_row, src, first,
):  # fmt: skip
    """Rows anew: replicas of one kind, with equal inputs and equal state (their old
    rows'), share a row; rows numbered in the order of their first replica. Fills
    ``new_row`` (per replica), ``src`` (each new row's old row) and ``first`` (its first
    replica); returns the number of rows."""
    n = len(rep_row)
    rh = np.empty(q_cnt.shape[0], dtype=np.int64)
    for r in range(q_cnt.shape[0]):
        rh[r] = _row_hash(r, q_cnt, q_t, q_tok, q_cls, run, tau, rho, tdec)
    h = np.empty(n, dtype=np.int64)
    for i in range(n):
        h[i] = _key_hash(rh[rep_row[i]], i, kind, prev_up, up, acc, clock, slow, kvk)
    order = np.argsort(h, kind="mergesort")  # stable: replicas of a run in index order
    label = np.empty(n, dtype=np.int64)  # the first replica of each one's group
    a = 0
    while a < n:
        b = a
        while b < n and h[order[b]] == h[order[a]]:
            b += 1
        for x in range(a, b):
            i = order[x]
            label[i] = i
            for y in range(a, x):
                j = order[y]
                if (
                    label[j] == j
                    and _keys_equal(i, j, kind, prev_up, up, acc, clock, slow, kvk)
                    and _rows_equal(rep_row[i], rep_row[j], q_cnt, q_t, q_tok, q_cls, run, tau, rho, tdec)
                ):  # fmt: skip
                    label[i] = j
                    break
        a = b
    m = 0
    for i in range(n):
        if label[i] == i:
            src[m], first[m] = rep_row[i], i
            new_row[i] = m
            m += 1
        else:
            new_row[i] = new_row[label[i]]
    return m


class Rows:
    """Replicas grouped into weighted rows (``rep_row``, ``row_rep``, ``row_w``)."""

    STATE_ROWS = ("rep_row", "row_rep", "row_w", "_rows_dirty")

    def _init_rows(self) -> None:
        """One row per replica (after a build); the first tick merges the alike ones."""
        n = len(self.rep_dep)
        static = np.column_stack(
            [
                self.rep_dep,
                self.rep_prof,
                self.rep_role,
                self.rep_bmax,
                self.rep_bslo,
                self.rep_qcap,
                self.rep_eff,
                self.rep_tps,
                self.rep_dyn_w,
                self.rep_cap_tok_s,
            ]  # fmt: skip
        ).astype(float)
        if n:
            _, kind = np.unique(static, axis=0, return_inverse=True)
            self.rep_kind = np.asarray(kind, dtype=np.int64).ravel()
        else:
            self.rep_kind = np.zeros(0, dtype=np.int64)
        self.rep_row = np.arange(n, dtype=np.int64)
        self.row_rep = np.arange(n, dtype=np.int64)
        self.row_w = np.ones(n)
        self._rows_dirty = self.rows_weighted
        self._row_keys = None  # the inputs rows were last split by (not state: a cache)
        self._row_inputs = None  # flow.py: this tick's inputs gathered per row (a cache)
        self._serve_scratch = None  # flow.py: the serving call's scratch arrays
        self._serve_pack = None  # flow.py: its fixed inputs, packed
        self._row_tables()

    def _row_tables(self) -> None:
        """Each row's static figures (its first replica's) and deployments as row lists."""
        rr = self.row_rep
        self.rw_dep, self.rw_prof, self.rw_role = (
            self.rep_dep[rr],
            self.rep_prof[rr],
            self.rep_role[rr],
        )
        self.rw_bmax, self.rw_bslo, self.rw_qcap = (
            self.rep_bmax[rr],
            self.rep_bslo[rr],
            self.rep_qcap[rr],
        )
        self.rw_eff, self.rw_tps, self.rw_dyn_w = (
            self.rep_eff[rr],
            self.rep_tps[rr],
            self.rep_dyn_w[rr],
        )
        self.rw_cap_tok_s, self.rw_kv_tokens = self.rep_cap_tok_s[rr], self.rep_kv_tokens[rr]
        self.rw_slot_cls, self.rw_slot_osl = self.rep_slot_cls[rr], self.rep_slot_osl[rr]
        self.rw_slot_cls0, self.rw_eps_row = self._slot_cls0[rr], self.len_eps_row[rr]
        self.rw_m2_slot = self.len_m2_slot[rr]  # fmt: skip
        self.rw_serves = self.rw_role != P.ROLE_PREFILL  # metrics.py: rows that decode
        n_dep = len(self.dep_ids)
        order = np.argsort(self.rw_dep, kind="stable")
        self.rw_dep_idx = order.astype(np.int64)
        self.rw_dep_ptr = np.searchsorted(self.rw_dep[order], np.arange(n_dep + 1)).astype(np.int64)
        # the power tree's spans summed per (row, its replicas' first rack, rack)
        n_r = len(self.rack_ids)
        key = (self.rep_row[self.span_rep] * n_r + self.rep_rack[self.span_rep]) * n_r
        keys, inv = np.unique(key + self.span_rack, return_inverse=True)
        inv = inv.ravel()
        self.pair_row = (keys // (n_r * n_r)).astype(np.int64)
        self.pair_first = (keys // n_r % n_r).astype(np.int64)
        self.pair_rack = (keys % n_r).astype(np.int64)
        self.pair_kw = np.bincount(inv, weights=self._span_kw, minlength=len(keys))
        self.pair_share = np.bincount(inv, weights=self.span_share, minlength=len(keys))

    def per_replica(self, a: np.ndarray) -> np.ndarray:
        """A per-row array (first axis) as one entry per replica."""
        return a[self.rep_row]

    @property
    def rep_out_s(self) -> np.ndarray:
        return self.row_out_s[self.rep_row]

    @property
    def rep_user_s(self) -> np.ndarray:
        return self.row_user_s[self.rep_row]

    def _expand_rows(self) -> None:
        """One row per replica, each with its row's state (before a rebuild, or to run
        unweighted from a weighted checkpoint)."""
        for name in (*ROW_ARRAYS, *ROW_ARRAYS_OPT):
            a = getattr(self, name)
            if a is not None:
                setattr(self, name, a[self.rep_row])
        n = len(self.rep_row)
        self.rep_row = np.arange(n, dtype=np.int64)
        self.row_rep = np.arange(n, dtype=np.int64)
        self.row_w = np.ones(n)
        self._row_tables()

    def _check_rows(self, values: dict) -> bool:
        """Whether a checkpoint's rows fit its replicas (before anything is changed)."""
        rep_row, row_rep, tdec = values["rep_row"], values["row_rep"], values["_t_dec_last"]
        if not all(isinstance(a, np.ndarray) and a.ndim == 1 for a in (rep_row, row_rep)):
            return False
        m = len(row_rep)
        arrays = [values[a] for a in ROW_ARRAYS] + [values["row_w"]]
        return (
            all(isinstance(a, np.ndarray) and a.ndim and a.shape[0] == m for a in arrays)
            and (tdec is None or (isinstance(tdec, np.ndarray) and tdec.shape == (m,)))
            and (not len(rep_row) or (rep_row.min() >= 0 and rep_row.max() < m))
            and (not m or (row_rep.min() >= 0 and row_rep.max() < len(rep_row)))
        )

    def _restore_rows(self) -> None:
        """After a checkpoint's rows are loaded: the row tables; one row per replica when
        this factory runs without rows."""
        self._row_keys = None
        self._row_tables()
        if not self.rows_weighted and len(self.row_rep) != len(self.rep_row):
            self._expand_rows()

    def _regroup(self, up, accepting, clock, slow, kvk) -> None:
        """Split and merge rows for this tick's inputs."""
        if not self.rows_weighted:
            return
        tdec = self._t_dec_last if self._t_dec_last is not None else np.zeros(0)
        # a row can need a split only where some replica's inputs changed since last tick
        keys, last = (up, accepting, clock, slow, kvk), self.__dict__.get("_row_keys")
        split = last is None or not (
            (up is last[0] and accepting is last[1] and clock is last[2] and slow is last[3]
             and kvk is last[4])  # the usual tick: the same cached arrays as last tick's
            or all(a is b or np.array_equal(a, b) for a, b in zip(keys, last, strict=True))
        )  # fmt: skip
        self._row_keys = keys
        args = (
            self.rep_kind, self.rep_up, up, accepting, clock, slow, kvk, self.q_cnt, self.q_t,
            self.q_tok, self.q_cls, self.run, self._tau_last, self._pf_rho, tdec,
        )  # fmt: skip
        if not self._rows_dirty and not needs_regroup(split, self.rep_row, self.row_rep, *args):
            return
        n = len(self.rep_row)
        new_row = np.empty(n, dtype=np.int64)
        src, first = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        m = regroup(self.rep_row, *args, new_row, src, first)
        src = src[:m]
        for name in (*ROW_ARRAYS, *ROW_ARRAYS_OPT):
            a = getattr(self, name)
            if a is not None:
                setattr(self, name, a[src])
        self.rep_row, self.row_rep = new_row, first[:m].copy()
        self.row_w = np.bincount(new_row, minlength=m).astype(float)
        self._rows_dirty = False
        self._row_tables()
