"""SVG snapshots of every view at 80×24 and 160×48 (pytest-textual-snapshot).

Fixed seed, frozen clock (`ManualWall`), two minutes of simulated warm-up so the
sparklines have a history: the pictures change only when what the operator sees changes.
Update them after a deliberate change with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest

from twin.frontends.tui.app import TwinApp
from twin.frontends.tui.clock import ManualWall

VIEWS = {"floor": "1", "fabric": "2", "power": "3", "serving": "4", "events": "5"}


def frozen_app(**kw) -> TwinApp:
    return TwinApp("default", seed=1, wall=ManualWall(), live=False, step_budget_s=None, warm_up_s=120.0, **kw)


async def _settle(pilot) -> None:
    app = pilot.app
    await app.frame()
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_snapshot(snap_compare, view, size):
    assert snap_compare(frozen_app(), press=[VIEWS[view]], terminal_size=size, run_before=_settle)


def test_a_pdu_failure_in_progress_snapshot(snap_compare):
    async def fail_a_pdu(pilot) -> None:
        app = pilot.app
        await _settle(pilot)
        app.run_line("fail row-c-pdu-a1")
        app.run_line("fail spine-3")
        await _settle(pilot)
        app.wall.advance(20.0)
        await _settle(pilot)

    assert snap_compare(frozen_app(), press=["3", "down", "down", "down"], terminal_size=(100, 30),
                        run_before=fail_a_pdu)
