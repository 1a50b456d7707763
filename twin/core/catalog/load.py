"""Loading the catalog: the built-in ``data/`` files, then the user's directories, cached per
set of files and their modification stamps."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from twin.core.catalog.format import _read_constants, _read_gpu, _read_model, _resolve_bases
from twin.core.catalog.model import GPU, LLM, Catalog
from twin.core.errors import InputError
from twin.core.yamlsrc import (
    Reader,
    YMap,
    load_file,
)

DATA_DIR = Path(__file__).parent / "data"
CATALOG_ENV = "TWIN_CATALOG"


def _catalog_files(dirs: Iterable[str | Path]) -> list[Path]:
    files = sorted(DATA_DIR.glob("*.yaml"))
    for d in dirs:
        d = Path(d)
        if d.is_file():
            files.append(d)
        elif d.is_dir():
            files.extend(sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")))
        else:
            raise InputError([_problem(str(d), "catalog directory does not exist")])
    return files


def _problem(file: str, message: str):
    from twin.core.errors import Problem

    return Problem(file, 0, message)


def user_catalog_dirs(extra: Iterable[str | Path] = ()) -> tuple[str, ...]:
    env = os.environ.get(CATALOG_ENV, "")
    return tuple(p for p in env.split(os.pathsep) if p) + tuple(str(e) for e in extra)


def load_catalog(extra_dirs: Iterable[str | Path] = ()) -> Catalog:
    """The built-in catalog plus user entries (``extra_dirs`` and ``$TWIN_CATALOG``)."""
    dirs = user_catalog_dirs(extra_dirs)
    files = _catalog_files(dirs)
    return _load(dirs, tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


@lru_cache(maxsize=8)
def _load(dirs: tuple[str, ...], stamp: tuple) -> Catalog:
    """Parse the catalog; cached per set of files and their modification stamps."""
    raw: dict[str, dict[str, tuple[Reader, YMap]]] = {"gpus": {}, "models": {}}
    problems = []
    readers = []
    constants: dict[str, Any] = {}
    for f in _catalog_files(dirs):
        r = Reader(str(f))
        readers.append(r)
        try:
            doc = load_file(f)
        except InputError as e:
            problems.extend(e.problems)
            continue
        top = r.mapping(doc, "catalog file")
        if top is None:
            continue
        r.only(top, ["gpus", "models", "constants"], "catalog file")
        if "constants" in top:
            _read_constants(r, top["constants"], constants)
        for section in ("gpus", "models"):
            if section not in top:
                continue
            sec = r.mapping(top[section], section, top.line_of(section))
            for key, entry in (sec or {}).items():
                em = r.mapping(entry, f"{section}.{key}", sec.line_of(key))
                if em is not None:
                    raw[section][str(key).lower()] = (r, em)
    gpus: dict[str, GPU] = {}
    models: dict[str, LLM] = {}
    for section, out, read in (("gpus", gpus, _read_gpu), ("models", models, _read_model)):
        entries = {k: m for k, (_, m) in raw[section].items()}
        for k, (r, m) in raw[section].items():
            resolved = _resolve_bases(r, {k: m}, entries, section[:-1])[k]
            obj = read(r, k, resolved)
            if obj is not None:
                out[k] = obj
    for r in readers:
        problems.extend(r.problems)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.file, p.line)))
    return Catalog(
        gpus=MappingProxyType(gpus),
        models=MappingProxyType(models),
        constants=MappingProxyType(constants),
    )
