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
def encode(x: Any) -> Any:
    if x is None or isinstance(x, bool | int | float | str):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        cls = type(x)
        out: dict[str, Any] = {"@c": f"{cls.__module__}:{cls.__qualname__}"}
        for f in dataclasses.fields(x):
            out[f.name] = encode(getattr(x, f.name))
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


_CLASSES: dict[str, type] = {}


def _class(name: str) -> type:
    cls = _CLASSES.get(name)
    if cls is not None:
        return cls
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
    _CLASSES[name] = obj
    return obj


def decode(t: Any) -> Any:
    if isinstance(t, list):
        return [decode(v) for v in t]
    if not isinstance(t, dict):
        return t
    if "@c" in t:
        cls = _class(t["@c"])
        obj = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            if f.name in t:
                value = decode(t[f.name])
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                raise CodecError(f"{t['@c']}: no {f.name}")
            object.__setattr__(obj, f.name, value)
        return obj
    if "@t" in t:
        return tuple(decode(v) for v in t["@t"])
    if "@p" in t:
        return types.MappingProxyType({k: decode(v) for k, v in t["@p"].items()})
    if "@m" in t:
        return {_hashable(decode(k)): decode(v) for k, v in t["@m"]}
    return {k: decode(v) for k, v in t.items()}


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
