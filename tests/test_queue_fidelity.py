"""Queued requests keep their clients' clock, wherever they are moved.

A replica that goes down or stops accepting (drained, shed by a cap, its KV link cut)
hands its queued requests back to routing, which sends them to the replicas still
accepting. They used to re-enter as *new arrivals*: counted again in ``requests``, and
with their arrival time, hence the client's timeout and their TTFT, starting afresh. A
rolling drain that moved a backlog every 20 s kept it forever under a 30 s timeout: no
request was ever abandoned, TTFT p95 stayed under the 20 s between moves, and the
report counted two thirds more requests than arrived. A retried request now keeps its
first arrival: it is counted once, abandoned on its client's original timeout, and its
TTFT counts from when it arrived.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import ROW_A, cmd, small_layout

from twin.core.engine import Factory
from twin.core.engine.flow import client_timeout_s
from twin.core.engine.metrics import percentiles


def _drain_all_but(f: Factory, keep: str) -> None:
    for r in ROW_A:
        drained = bool(f.rack_drained[f.rack_ids.index(r)])
        if r == keep and drained:
            cmd(f, f"undrain {r}")
        elif r != keep and not drained:
            cmd(f, f"drain {r}")


def _queued(f: Factory) -> float:
    return float((f.q_cnt * f.row_w[:, None]).sum())


@pytest.fixture(scope="module")
def rolling_drain(tmp_path_factory):
    """The small factory's chat deployment (4 racks) served by one rack at a time, the
    one in service moving every 20 s for 5 minutes: each move hands the backlog on."""
    f = Factory(small_layout(tmp_path_factory.mktemp("roll")))
    f.advance_to(60.0)
    f.reset_run_totals()
    queued0 = _queued(f)
    for i in range(15):
        _drain_all_but(f, ROW_A[i % 4])
        f.advance_to(f.now + 20.0)
    return f, queued0


def test_a_backlog_moved_from_rack_to_rack_is_abandoned_on_the_clients_clock(rolling_drain):
    f, _ = rolling_drain
    c = f.cls_ids.index("chat")
    rc = f.run_counts
    timeout = float(client_timeout_s(f.cls_slo_ttft)[c])
    assert timeout == pytest.approx(30.0)
    # three quarters of the capacity gone for 5 minutes: clients give up (before, with the
    # backlog's clock restarted at every move, not one request was ever abandoned)
    assert rc[6].sum() > 0.1 * rc[5].sum()
    # the requests served waited for their turn since they arrived, not since their last
    # move (before: p95 17.6 s, under the 20 s between moves)
    p95 = percentiles(f.run_ttft[c], (0.95,))[0]
    assert 0.7 * timeout < p95 < timeout + 5.0, p95
    assert f.snapshot().gauges["slo_attainment"] < 0.5


def test_a_retried_request_is_counted_once(rolling_drain):
    f, queued0 = rolling_drain
    rc = f.run_counts
    # chat arrives at 60/s, the agentic class at 5 sessions/s × 6 steps, the long class
    # at 8/s (the diurnal curve moves them a little): retries are not new arrivals
    expected = (60.0 + 30.0 + 8.0) * 300.0
    assert rc[5].sum() == pytest.approx(expected, rel=0.1)
    # and every request that arrived is accounted for exactly once
    out = rc[0].sum() + rc[2].sum() + rc[3].sum() + rc[6].sum() + _queued(f)
    assert out == pytest.approx(rc[5].sum() + queued0, rel=1e-9)


def test_a_non_accepting_replica_gives_up_requests_queued_behind_an_empty_slot(tmp_path):
    """The check for requests stranded on a replica that stopped accepting looked at its
    first queue slot only: with that one empty and a later one not, they stayed."""
    f = Factory(small_layout(tmp_path))
    f.advance_to(10.0)
    cmd(f, f"drain {ROW_A[0]}")
    f.advance_to(11.0)
    r = int(np.flatnonzero(f.rep_rack == f.rack_ids.index(ROW_A[0]))[0])
    row = int(f.rep_row[r])
    c = f.cls_ids.index("chat")
    f.q_cnt[row] = [0.0, 5.0, 0.0, 0.0]
    f.q_cls[row, 1], f.q_t[row, 1], f.q_tok[row, 1] = c, f.now - 1.0, 1000.0
    f.reset_run_totals()
    queued0 = _queued(f)
    f.advance_to(15.0)
    assert f.q_cnt[row].sum() == 0.0  # handed back to routing, served elsewhere
    rc = f.run_counts
    out = rc[0].sum() + rc[2].sum() + rc[3].sum() + rc[6].sum() + _queued(f)
    assert out == pytest.approx(rc[5].sum() + queued0, rel=1e-9)
