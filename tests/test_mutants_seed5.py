"""Survivors of the fresh seed-5 mutation sample (session 6), killed by behaviour a user
would notice. See benchmarks/MUTATION.md."""

from __future__ import annotations

import numpy as np
import pytest
from test_drills import SMALL

from twin.core.engine.routing import waterfill
from twin.core.errors import InputError
from twin.core.scenario import scenario_from_doc
from twin.core.yamlsrc import load_text


def _drill(text: str):
    return scenario_from_doc(load_text(text, "small.yaml"), "small.yaml")


def test_a_reference_step_at_the_drills_first_instant_is_accepted():
    # seed 5: drill_format's "0 <= t" read as "0 != t" refused a
    # reference (or task) due at 0s, the moment a drill starts
    sc = _drill(
        SMALL.replace("  - at: 1m\n    do: fail pod-02-n3", "  - at: 0s\n    do: fail pod-02-n3")
    )
    assert [s.at_s for s in sc.drill.reference] == [0.0]


def test_a_reference_step_after_the_drills_end_is_refused_with_its_line():
    with pytest.raises(InputError, match=r"small\.yaml:\d+: .*5m is not inside the scenario"):
        _drill(
            SMALL.replace(
                "  - at: 1m\n    do: fail pod-02-n3", "  - at: 5m\n    do: fail pod-02-n3"
            )
        )


@pytest.mark.parametrize(
    ("load", "width", "n"),
    [([0.0, 10.0], [1.0, 1.0], 15.0), ([4.0, 0.0, 9.0, 1.0], [2.0, 1.0, 1.0, 3.0], 20.0)],
)
def test_least_loaded_fills_the_shortest_queues_to_one_level(load, width, n):
    # join-shortest-queue in the fluid limit: the new requests raise every replica they go
    # to to one common level, and none goes to a replica already above it
    load, width = np.array(load), np.array(width)
    share = waterfill(load, width, n)
    assert share.sum() == pytest.approx(1.0)
    after = load + share * n / width
    got = share > 1e-12
    assert np.ptp(after[got]) == pytest.approx(0.0, abs=1e-9)
    assert (load[~got] >= after[got].max() - 1e-9).all()


def test_least_loaded_sends_an_idle_replica_most_of_a_burst():
    # 15 requests, one replica idle and one 10 deep: the idle one takes 12.5, the busy 2.5
    share = waterfill(np.array([0.0, 10.0]), np.array([1.0, 1.0]), 15.0)
    assert share == pytest.approx([12.5 / 15, 2.5 / 15])
