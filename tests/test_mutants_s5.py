"""Behaviour that survivors of the seed-3 mutation sample (issue 15, session 5) changed
unnoticed: each test says what a user sees, and was checked against that mutant by hand
(``benchmarks/MUTATION.md``). Small factories, seconds each."""

from __future__ import annotations

import pytest

from twin.core.engine import Factory
from twin.core.engine.checkpoint import CheckpointError


def test_a_checkpoint_of_an_older_format_is_refused_like_a_newer_one(small, catalog):
    a = Factory(small, catalog)
    a.advance_to(2)
    old = a.checkpoint().replace(b"twin-checkpoint 1", b"twin-checkpoint 0", 1)
    b = Factory(small, catalog)
    with pytest.raises(CheckpointError, match="format version 0; this twin reads version 1"):
        b.restore(old)
