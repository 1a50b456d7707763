"""``njit`` that imports numba only when a kernel first runs.

Importing numba costs ~0.25 s of CPU (llvmlite's shared library), and most commands never
step a factory: ``twin --help``, ``perf``, ``check``, ``summary`` import the engine's
modules (through the facade) but run no kernel. ``@njit(...)`` here records the plain
function; the first call of any recorded kernel imports numba, compiles (or loads from
the ``cache=True`` cache) every recorded function with the options it was declared with,
and puts the compiled dispatchers in place of the placeholders in every loaded ``twin``
module, so compiled kernels that call each other see compiled callees and later calls go
straight to numba. ``NUMBA_DISABLE_JIT=1`` behaves as with numba's own ``njit``.

numba's cache is keyed by the source of each kernel's own file only: a kernel that calls
one from another file (``flow_kernel.serve_rows`` calls ``kernel.serve_queues``), or reads
another file's constant, would load stale machine code after that file changed — wrong
figures, or a crash when a callee's arguments changed. So every kernel's cache entry is
also keyed by a digest of all the kernel modules' sources (``_sources_digest``): any
change to any of them recompiles them all, once.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import Any

_PENDING: list[Deferred] = []
_LOADED = False


class Deferred:
    """A kernel not compiled yet: calling it loads every kernel, then runs this one."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]):
        self.py_func, self.options, self.compiled = fn, options, None
        self.__name__, self.__doc__ = fn.__name__, fn.__doc__
        self.__module__, self.__qualname__ = fn.__module__, fn.__qualname__

    def __call__(self, *args: Any) -> Any:
        load()
        return self.compiled(*args)


def njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Like ``numba.njit(**options)``, compiled when any kernel is first called."""

    def record(fn: Callable[..., Any]) -> Any:
        if _LOADED:  # a module loaded after the kernels: compile it straight away
            return _numba_njit()(**options)(fn)
        d = Deferred(fn, options)
        _PENDING.append(d)
        return d

    return record


def _numba_njit() -> Callable[..., Any]:
    from numba import njit as numba_njit

    return numba_njit


def load() -> None:
    """Import numba and swap every placeholder for its compiled dispatcher (once)."""
    global _LOADED
    if _LOADED:
        return
    numba_njit = _numba_njit()
    digest = _sources_digest(_PENDING)
    for d in _PENDING:
        d.compiled = numba_njit(**d.options)(d.py_func)
        _key_cache(d.compiled, digest)
    _LOADED = True
    swap = {id(d): d.compiled for d in _PENDING}
    _PENDING.clear()
    for name, mod in list(sys.modules.items()):
        if mod is None or not name.startswith("twin"):
            continue
        g = vars(mod)
        for k, v in list(g.items()):
            if isinstance(v, Deferred) and id(v) in swap:
                g[k] = swap[id(v)]


def _sources_digest(kernels: list[Deferred]) -> str:
    """A digest of the source files of every module that declares one of ``kernels``."""
    h = hashlib.sha256()
    for path in sorted({getattr(sys.modules.get(d.__module__), "__file__", "") for d in kernels}):
        try:
            with open(path, "rb") as f:
                h.update(path.encode() + b"\0" + f.read())
        except OSError:
            h.update(path.encode())
    return h.hexdigest()


def _key_cache(dispatcher: Any, digest: str) -> None:
    """Key ``dispatcher``'s cache entries by ``digest`` as well as its own file's source
    (numba's cache index keeps one stamp: an entry written under another is not loaded)."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is not None and hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = (cache_file._source_stamp, digest)
