"""The front ends' one door into the core: open a target, drive it, save and restore it."""

from __future__ import annotations

import yaml
from engine_helpers import small_doc

from twin.core import api


def _files(tmp_path):
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(small_doc(), sort_keys=False))
    (tmp_path / "drill.yaml").write_text(
        "name: rack-down\nlayout: small.yaml\nseed: 5\nduration: 2m\n"
        "events:\n  - at: 30s\n    do: fail row-a-01\n"
        "expect:\n  - rack row-a-01 state == down at 1m\n"
    )
    return tmp_path / "small.yaml", tmp_path / "drill.yaml"


def test_a_layout_opens_as_a_session_that_applies_advances_and_snapshots(tmp_path):
    layout, _ = _files(tmp_path)
    s = api.open_target(layout, seed=11)
    assert s.player is None and s.scenario is None and s.factory.seed == 11
    assert s.apply(api.parse_command("drain row-a-01")).startswith("1 racks drained")
    assert s.advance_to(30.0) is False
    snap = s.snapshot()
    assert snap.t_s == 30.0 and snap.gauges["output_tok_s"] > 0


def test_a_checkpoint_restored_into_a_fresh_session_continues_identically(tmp_path):
    layout, _ = _files(tmp_path)
    a = api.open_target(layout)
    a.advance_to(20.0)
    data = a.checkpoint({"note": "half way"})
    b = api.open_target(layout)
    assert b.restore(data) == {"note": "half way"}
    a.advance_to(40.0)
    b.advance_to(40.0)
    assert dict(a.snapshot().gauges) == dict(b.snapshot().gauges)


def test_a_scenario_file_opens_with_its_player_seed_and_events(tmp_path):
    _, drill = _files(tmp_path)
    s = api.open_target(drill)
    assert s.scenario.name == "rack-down" and s.factory.seed == 5
    s.player.warm_up()
    s.player.start()
    s.advance_to(s.player.t0 + 60.0)
    racks = s.snapshot().racks
    state = racks.state[racks.ids.index("row-a-01")]
    assert api.RACK_STATE_NAMES[state] == "down"
    assert [(a.t_s, a.text, a.ok) for a in s.player.applied] == [(30.0, "fail row-a-01", True)]


def test_advancing_a_scenario_session_plays_its_script_without_an_explicit_start(tmp_path):
    # a script user opens a drill and advances it: the scripted fail must happen, not a
    # plain factory running on silently
    _, drill = _files(tmp_path)
    s = api.open_target(drill)
    for t in range(60, 601, 60):
        s.advance_to(float(t))
    assert s.player.started
    assert [a.text for a in s.player.applied] == ["fail row-a-01"]
    assert [v.status for v in s.player.verdicts] == ["passed"]


def test_a_scenario_session_checkpoints_and_copies_with_its_players_state(tmp_path):
    _, drill = _files(tmp_path)
    a = api.open_target(drill)
    a.player.warm_up()
    a.player.start()
    a.advance_to(a.player.t0 + 40.0)  # the scripted fail at 30s has fired
    data = a.checkpoint({"note": "after the fail"})
    b = a.copy(data)
    assert b is not a and b.factory is not a.factory and type(b.player) is type(a.player)
    assert [x.text for x in b.player.applied] == ["fail row-a-01"]  # the player's state came too
    c = api.open_target(drill)
    assert c.restore(data) == {"note": "after the fail"}
    for s in (a, b, c):
        s.advance_to(a.player.t0 + 90.0)
    assert dict(a.snapshot().gauges) == dict(b.snapshot().gauges) == dict(c.snapshot().gauges)
    assert [v.status for v in b.player.verdicts] == [v.status for v in a.player.verdicts]
    assert [v.status for v in a.player.verdicts] == ["passed"]


def test_a_layout_checkpoint_does_not_restore_into_a_scenario_session(tmp_path):
    import pytest

    layout, drill = _files(tmp_path)
    data = api.open_target(layout, seed=5).checkpoint()
    s = api.open_target(drill)
    with pytest.raises(api.CheckpointError, match="no scenario state"):
        s.restore(data)
