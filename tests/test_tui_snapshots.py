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
    return TwinApp(
        "default", seed=1, wall=ManualWall(), live=False, step_budget_s=None, warm_up_s=120.0, **kw
    )


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

    assert snap_compare(
        frozen_app(),
        press=["3", "down", "down", "down"],
        terminal_size=(100, 30),
        run_before=fail_a_pdu,
    )


#: A drill on the default factory for the timeline's snapshot: a PDU lost at T+2m, a
#: recurring surge, a condition still armed, expectations held, holding, failed and pending.
TIMELINE_DRILL = """\
name: snapshot-drill
description: A PDU lost at the diurnal peak while demand surges every five minutes
layout: default
seed: 7
warmup: 2m
duration: 20m
events:
  - at: 2m
    do: fail row-a-pdu-1 for 10m
  - every: 5m
    from: 1m
    do: surge 1.2 2m
  - when: slo_attainment < 0.5
    do: route least-loaded
expect:
  - deployment llama-70b replicas_up == 128 at 1m
  - rack row-a-01 state == down during 3m..11m
  - rack row-a-02 state == ok always
  - slo_attainment >= 0.9 during 13m..20m
  - output_tok_s >= 1 at end
"""


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_timeline_snapshot(snap_compare, size, tmp_path):
    from twin.core.scenario import load_scenario

    path = tmp_path / "drill.yaml"
    path.write_text(TIMELINE_DRILL)

    async def play_six_minutes(pilot) -> None:
        app = pilot.app
        await _settle(pilot)
        app.run_line("speed 60")
        app.wall.advance(4.0)  # T+4m
        await _settle(pilot)
        app.run_line("drain row-b-01")  # the operator, on top of the script
        app.wall.advance(2.0)  # T+6m
        await _settle(pilot)

    app = TwinApp(scenario=load_scenario(path), wall=ManualWall(), live=False, step_budget_s=None)
    assert snap_compare(app, press=["6"], terminal_size=size, run_before=play_six_minutes)
