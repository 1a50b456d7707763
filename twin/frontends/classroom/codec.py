"""Frames as JSON, generically: any tree of twin's frozen dataclasses, tuples, mappings and
numpy arrays, so whatever a `Frame` carries (today's snapshot, a drill panel tomorrow)
reaches a remote console without a field-by-field copy.

`encode` turns a value into a *tree* of JSON values (arrays stay numpy until `dumps`);
`decode` turns a tree back into the same classes. `diff` of two trees is the compact
update a console applies with `patch`: unchanged fields are left out, and a rolling
history (an array that lost its oldest samples and gained new ones) travels as its new
tail only.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

#: The longest tail a rolling array may gain between two updates before it is sent whole.
MAX_ROLL = 64


class CodecError(ValueError):
    """A tree that does not decode (a damaged or foreign message)."""


# ---- values ⇄ trees ---------------------------------------------------------------------------
#: Per data class: its tag and field names (``dataclasses.fields`` is slow, and a frame
#: holds thousands of these).
_SHAPES: dict[type, tuple[str, tuple[str, ...]]] = {}


def _shape(cls: type) -> tuple[str, tuple[str, ...]] | None:
    shape = _SHAPES.get(cls)
    if shape is None:
        if not dataclasses.is_dataclass(cls):
            return None
        shape = (
            f"{cls.__module__}:{cls.__qualname__}",
            tuple(f.name for f in dataclasses.fields(cls)),
        )
        _SHAPES[cls] = shape
    return shape


def encode(x: Any) -> Any:
    if x is None or isinstance(x, bool | int | float | str):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x
    shape = _shape(type(x))
    if shape is not None:
        out: dict[str, Any] = {"@c": shape[0]}
        for name in shape[1]:
            out[name] = encode(getattr(x, name))
        return out
    if isinstance(x, tuple):
        return {"@t": [encode(v) for v in x]}
    if isinstance(x, list):
        return [encode(v) for v in x]
    if isinstance(x, Mapping):
        plain = all(isinstance(k, str) and not k.startswith("@") for k in x)
        if plain:
            body = {k: encode(v) for k, v in x.items()}
            return {"@p": body} if isinstance(x, types.MappingProxyType) else body
        return {"@m": [[encode(k), encode(v)] for k, v in x.items()]}
    if isinstance(x, set | frozenset):
        return {"@t": [encode(v) for v in sorted(x, key=repr)]}
    raise TypeError(f"cannot send a {type(x).__name__}")


#: Per class tag: the class and each field's (name, default, default factory).
_CLASSES: dict[str, tuple[type, tuple[tuple[str, Any, Any], ...]]] = {}


def _class(name: str) -> tuple[type, tuple[tuple[str, Any, Any], ...]]:
    known = _CLASSES.get(name)
    if known is not None:
        return known
    mod, _, qual = name.partition(":")
    if not (mod == "twin" or mod.startswith("twin.")) or not qual:
        raise CodecError(f"not a twin class: {name!r}")
    try:
        obj: Any = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise CodecError(f"unknown class {name!r}") from None
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise CodecError(f"not a data class: {name!r}")
    fields = tuple((f.name, f.default, f.default_factory) for f in dataclasses.fields(obj))
    _CLASSES[name] = obj, fields
    return _CLASSES[name]


def decode(t: Any, sub: Any = None) -> Any:
    """The value a tree stands for (``sub`` decodes the children: `Decoder` remembers)."""
    sub = sub or decode
    if isinstance(t, list):
        return [sub(v) for v in t]
    if not isinstance(t, dict):
        return t
    if "@c" in t:
        cls, fields = _class(t["@c"])
        obj = cls.__new__(cls)
        for name, default, factory in fields:
            if name in t:
                value = sub(t[name])
            elif default is not dataclasses.MISSING:
                value = default
            elif factory is not dataclasses.MISSING:
                value = factory()
            else:
                raise CodecError(f"{t['@c']}: no {name}")
            object.__setattr__(obj, name, value)
        return obj
    if "@t" in t:
        return tuple(sub(v) for v in t["@t"])
    if "@p" in t:
        return types.MappingProxyType({k: sub(v) for k, v in t["@p"].items()})
    if "@m" in t:
        return {_hashable(sub(k)): sub(v) for k, v in t["@m"]}
    return {k: sub(v) for k, v in t.items()}


class Decoder:
    """`decode` for a console that patches one tree frame after frame: a part of the tree
    `patch` left alone (the very same object as last time) is not decoded again — most
    of a frame (the layout's lists, unchanged PDUs and switches) costs nothing. The
    values are shared between frames, so they are read, never changed."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, Any]] = {}
        self._next: dict[int, tuple[Any, Any]] = {}

    def __call__(self, tree: Any) -> Any:
        self._next = {}
        out = self._sub(tree)
        self._memo = self._next
        return out

    def _sub(self, t: Any) -> Any:
        if not isinstance(t, dict | list):
            return t
        hit = self._memo.get(id(t))
        if hit is None or hit[0] is not t:
            hit = (t, decode(t, self._sub))
        self._next[id(t)] = hit
        return hit[1]


def _hashable(k: Any) -> Any:
    return tuple(_hashable(v) for v in k) if isinstance(k, list | tuple) else k


# ---- trees ⇄ bytes ----------------------------------------------------------------------------
def _default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        a = np.ascontiguousarray(x)
        return {"@nd": [a.dtype.str, list(a.shape), base64.b64encode(a.tobytes()).decode()]}
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"cannot send a {type(x).__name__}")


def _hook(d: dict) -> Any:
    nd = d.get("@nd")
    if nd is None:
        return d
    try:
        dtype, shape, data = nd
        if np.dtype(dtype).hasobject:
            raise CodecError("an array of objects")
        a = np.frombuffer(base64.b64decode(data), dtype=np.dtype(dtype)).reshape(shape)
    except (TypeError, ValueError) as e:
        raise CodecError(f"a damaged array ({e})") from None
    a.flags.writeable = False
    return a


def dumps(tree: Any) -> bytes:
    return json.dumps(tree, default=_default, separators=(",", ":"), allow_nan=True).encode()


def loads(data: bytes) -> Any:
    """A JSON document with arrays decoded (still a tree, ready for `patch` and `decode`)."""
    return json.loads(data, object_hook=_hook)


# ---- compact updates --------------------------------------------------------------------------
class _Same:
    def __repr__(self) -> str:
        return "SAME"


SAME = _Same()


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    try:
        return bool(a == b)
    except ValueError:  # a structure holding arrays: compare it the slow way
        return False


def _roll(new: np.ndarray, old: np.ndarray) -> Any:
    """``{"@r": [k, n, tail]}`` when ``new`` is ``old`` with its oldest samples gone and
    ``k`` new ones appended (a history window); None otherwise."""
    if new.ndim != 1 or old.ndim != 1 or new.dtype != old.dtype:
        return None
    n, m = len(new), len(old)
    nan = new.dtype.kind in "fc"
    for k in range(1, min(n, MAX_ROLL) + 1):
        keep = n - k
        if keep > m:
            continue
        if np.array_equal(new[:keep], old[m - keep :], equal_nan=nan):
            return {"@r": [k, n, new[keep:]]}
    return None


def diff(new: Any, old: Any) -> Any:
    """What turns tree ``old`` into tree ``new`` (`SAME` if nothing)."""
    if isinstance(new, np.ndarray):
        if _equal(new, old):
            return SAME
        if isinstance(old, np.ndarray):
            rolled = _roll(new, old)
            if rolled is not None:
                return rolled
        return new
    if (
        isinstance(new, dict)
        and isinstance(old, dict)
        and new.get("@c") == old.get("@c")
        and not any(k in new for k in ("@t", "@m", "@p", "@nd"))
    ):
        out: dict[str, Any] = {}
        for k, v in new.items():
            d = diff(v, old[k]) if k in old else v
            if d is not SAME:
                out[k] = d
        gone = [k for k in old if k not in new]
        if gone:
            out["@del"] = gone
        if not out:
            return SAME
        out["@u"] = 1
        return out
    if isinstance(new, dict) and isinstance(old, dict) and "@p" in new and "@p" in old:
        d = diff(new["@p"], old["@p"])
        return SAME if d is SAME else {"@p": d, "@u": 1}
    return SAME if _equal(new, old) else new


def patch(old: Any, d: Any) -> Any:
    """Apply `diff`'s result ``d`` to tree ``old``."""
    if isinstance(d, dict) and "@u" in d:
        if not isinstance(old, dict):
            raise CodecError("an update to something this console does not have")
        if "@p" in d:
            return {"@p": patch(old.get("@p", {}), d["@p"])}
        out = dict(old)
        for k, v in d.items():
            if k == "@u":
                continue
            if k == "@del":
                for gone in v:
                    out.pop(gone, None)
                continue
            out[k] = patch(old.get(k), v)
        return out
    if isinstance(d, dict) and "@r" in d:
        k, n, tail = d["@r"]
        if not isinstance(old, np.ndarray) or n - k > len(old):
            raise CodecError("a rolling update to an array this console does not have")
        keep = n - k
        a = np.concatenate([old[len(old) - keep :], tail])
        a.flags.writeable = False
        return a
    return d
