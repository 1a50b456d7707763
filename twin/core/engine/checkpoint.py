"""Exact checkpoints: the whole simulation state as a versioned, self-describing file.

Format (version 4)::

    b"twin-checkpoint 4\\n"  +  a numpy .npz archive (np.savez, loaded with allow_pickle=False)

The archive holds ``meta`` (UTF-8 JSON as a uint8 array: format version, twin version,
layout name and fingerprint, seed, tick, every scalar field, the pending records, the
random generators' states, the event log, and an optional ``context`` the caller adds —
the run's recorder and scenario player) and one array per array field, named
``<field>`` (a window adds ``<field>.ring``/``<field>.sum``). Which fields are state is
declared by each engine module in its ``STATE_*`` tuple; everything else is rebuilt from
the layout. Nothing is unpickled: a file someone hands you can only fail to load, with
one line that says why (``CheckpointError``, exit 2 in the CLI).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import deque
from dataclasses import fields

import numpy as np

import twin
from twin.core import kpis
from twin.core.engine import snapshot as S
from twin.core.engine.health import Fault
from twin.core.engine.metrics import History, Window
from twin.core.engine.rows import ROW_ARRAYS, ROW_ARRAYS_OPT
from twin.core.engine.schedule import Schedule
from twin.core.errors import TwinError

MAGIC = b"twin-checkpoint "
#: 2: replica state kept per row of identical replicas (rows.py); 3: 16 queue slots, and
#: a cohort's time is its requests' mean arrival (it was the start of their tick); 4: a cap
#: on several racks is one budget they share (``rack_budget*``, ``budget_names``)
VERSION = 4


class CheckpointError(TwinError):
    """A checkpoint that cannot be read or does not belong to this factory."""


def layout_fingerprint(layout) -> str:
    """Hash of everything about a layout that shapes the simulation (not its file name)."""
    parts = tuple(
        getattr(layout, f.name)
        for f in fields(layout)
        if f.repr and f.name not in ("file", "description")
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def state_fields(cls) -> tuple[str, ...]:
    """Every field the engine's modules declare as state (``STATE_*`` tuples), in MRO order."""
    out: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if name.startswith("STATE_"):
                out.extend(v for v in value if v not in out)
    return tuple(out)


def _pairs(d: dict) -> list:
    return [[*k, v] if isinstance(k, tuple) else [k, v] for k, v in d.items()]


def _encode(name: str, value, arrays: dict) -> object:
    """One field as JSON, its arrays put in ``arrays``; the tag says how to read it back."""
    if isinstance(value, np.ndarray):
        arrays[name] = value
        return {"t": "array"}
    if isinstance(value, Window):
        arrays[name + ".ring"], arrays[name + ".sum"] = value.ring, value.sum
        return {"t": "window", "head": value.head}
    if isinstance(value, History):
        arrays[name] = value.data
        return {"t": "history", "count": value.count, "keys": list(value.keys)}
    if isinstance(value, Schedule):
        return {"t": "schedule", "v": value.to_data()}
    if isinstance(value, np.random.Generator):
        return {"t": "rng", "v": value.bit_generator.state}
    if isinstance(value, deque):  # the event log
        return {"t": "events", "v": [[e.id, e.t_s, e.severity, e.source, e.message] for e in value]}
    if name == "faults":
        return {
            "t": "faults",
            "v": [
                [f.component, f.kind, f.until] for kinds in value.values() for f in kinds.values()
            ],
        }
    if isinstance(value, dict) and any(isinstance(k, tuple | int) for k in value):
        return {"t": "pairs", "v": _pairs(value)}
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return {"t": "json", "v": value}
    raise TypeError(f"checkpoint: field {name} of type {type(value).__name__} has no encoding")


class Checkpointing:
    """``checkpoint()`` and ``restore()`` for the Factory."""

    def checkpoint(self, context: dict | None = None) -> bytes:
        """The whole state as bytes; ``context`` (JSON values) travels with it."""
        arrays: dict[str, np.ndarray] = {}
        state = {
            name: _encode(name, getattr(self, name), arrays) for name in state_fields(type(self))
        }
        meta = {
            "format": "twin-checkpoint",
            "version": VERSION,
            "twin_version": twin.__version__,
            "layout": self.layout.name,
            "fingerprint": layout_fingerprint(self.layout),
            "seed": self.seed,
            "tick_s": self.dt,
            "start_hour": self.start_hour,
            "state": state,
            "context": context or {},
        }
        buf = io.BytesIO()
        buf.write(MAGIC + str(VERSION).encode() + b"\n")
        np.savez(
            buf,
            meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
            **arrays,
        )
        return buf.getvalue()

    def restore(self, data: bytes) -> dict:
        """Load a checkpoint written by a factory of the same layout; returns its context.

        Raises ``CheckpointError`` (one line) for anything that is not such a checkpoint;
        the factory is unchanged then."""
        meta, arrays = read(data)
        if meta["fingerprint"] != layout_fingerprint(self.layout):
            raise CheckpointError(
                f"checkpoint: written for layout {meta['layout']!r} as it was then; "
                f"this is {self.layout.name!r} (or it has changed since)"
            )
        if float(meta["tick_s"]) != self.dt:
            raise CheckpointError(
                f"checkpoint: written with a {meta['tick_s']}s tick; this factory ticks {self.dt}s"
            )
        state = meta["state"]
        missing = [n for n in state_fields(type(self)) if n not in state]
        if missing:
            raise CheckpointError(f"checkpoint: incomplete, no {missing[0]!r}")
        try:
            values = {name: _decode(name, state[name], arrays) for name in state_fields(type(self))}
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise CheckpointError(f"checkpoint: damaged ({type(e).__name__}: {e})") from None
        self._check_shapes(values)
        if not self._check_rows(values):
            raise CheckpointError("checkpoint: its rows of replicas do not match its replicas")
        # the topology a swap changed comes first: the replicas are rebuilt from it
        self.rack_sku, self.rack_gpus, self.scale_to = (
            values["rack_sku"],
            values["rack_gpus"],
            values["scale_to"],
        )
        self._rack_figures()
        self._build_replicas()
        per_row = {*ROW_ARRAYS, *ROW_ARRAYS_OPT, "row_rep", "row_w"}  # as many as rows
        for name, value in values.items():
            current = getattr(self, name)
            if (
                name not in per_row
                and isinstance(current, np.ndarray)
                and isinstance(value, np.ndarray)
                and current.shape != value.shape
            ):
                raise CheckpointError(
                    f"checkpoint: {name} has shape {value.shape}, this factory {current.shape}"
                )
            setattr(self, name, value)
        self._restore_rows()
        self.seed = int(meta["seed"])
        self.start_hour = float(meta["start_hour"])
        self._snap_cache = self._bw_state = self._capex_cache = None
        self._masks_cache = self._clocks_cache = None
        self._rack_down()
        self._start_clock()  # SimPy's clock from the restored tick
        return meta["context"]

    def _check_shapes(self, values: dict) -> None:
        """Arrays fixed by the topology must match before anything is changed."""
        for name in (*self.STATE_HEALTH, "inlet_c", "gpu_temp_c", "link_load", "class_surge"):
            cur, new = getattr(self, name), values[name]
            if isinstance(cur, np.ndarray) and (
                not isinstance(new, np.ndarray)
                or cur.shape != new.shape
                or cur.dtype.kind != new.dtype.kind
            ):
                raise CheckpointError(f"checkpoint: {name} does not match this factory")


def _decode(name: str, spec: dict, arrays: dict):
    t = spec["t"]
    if t == "array":
        return arrays[name].copy()
    if t == "window":
        w = Window.__new__(Window)
        w.ring, w.sum, w.head = (
            arrays[name + ".ring"].copy(),
            arrays[name + ".sum"].copy(),
            int(spec["head"]),
        )
        return w
    if t == "history":
        h = History.__new__(History)
        h.data = arrays[name].copy()
        h.n, h.count = h.data.shape[1], int(spec["count"])
        h.keys = tuple(spec.get("keys") or ("t_s", *kpis.gauge_keys()))
        return h
    if t == "schedule":
        return Schedule.from_data(spec["v"])
    if t == "rng":
        g = np.random.default_rng()
        g.bit_generator.state = spec["v"]
        return g
    if t == "events":
        return deque(
            (
                S.Event(int(i), float(ts), str(sv), str(src), str(msg))
                for i, ts, sv, src, msg in spec["v"]
            ),
            maxlen=S.EVENTS_KEPT,
        )
    if t == "faults":
        out: dict = {}
        for comp, kind, until in spec["v"]:
            out.setdefault(comp, {})[kind] = Fault(comp, kind, float(until))
        return out
    if t == "pairs":
        return {(tuple(p[:-1]) if len(p) > 2 else p[0]): p[-1] for p in spec["v"]}
    if t == "json":
        return spec["v"]
    raise ValueError(f"unknown field encoding {t!r} for {name}")


def read(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The meta document and arrays of a checkpoint, or ``CheckpointError`` in one line."""
    if not data.startswith(MAGIC):
        raise CheckpointError("checkpoint: not a twin checkpoint (no 'twin-checkpoint' header)")
    nl = data.find(b"\n", 0, 64)
    try:
        version = int(data[len(MAGIC) : nl])
    except ValueError:
        raise CheckpointError("checkpoint: damaged header") from None
    if version != VERSION:
        raise CheckpointError(
            f"checkpoint: format version {version}; this twin reads version {VERSION}"
        )
    try:
        with np.load(io.BytesIO(data[nl + 1 :]), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint: damaged or truncated ({type(e).__name__})") from None
    need = ("layout", "fingerprint", "seed", "tick_s", "start_hour", "state", "context")
    if (
        not isinstance(meta, dict)
        or meta.get("format") != "twin-checkpoint"
        or any(k not in meta for k in need)
    ):
        raise CheckpointError("checkpoint: damaged (its description is incomplete)")
    return meta, arrays


def peek(data: bytes) -> dict:
    """The meta document (layout, seed, tick, context) without building a factory."""
    return read(data)[0]
