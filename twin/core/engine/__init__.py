"""The factory engine: a headless, deterministic simulation behind two doors.

``Factory(layout).apply(command)`` and ``.snapshot()``, plus ``.advance_to(t_s)``;
``.checkpoint()`` → bytes and ``.restore(bytes)`` for exact save and resume.
"""

from twin.core.engine.checkpoint import CheckpointError
from twin.core.engine.factory import EngineError, Factory
from twin.core.engine.snapshot import GAUGE_KEYS, Snapshot

__all__ = ["Factory", "EngineError", "CheckpointError", "Snapshot", "GAUGE_KEYS"]
