"""Hardware and model catalogs: YAML files read into frozen dataclasses.

The built-in catalog ships in ``data/``. Users add or override entries with YAML files
in directories named by ``--catalog DIR`` or ``TWIN_CATALOG`` (``os.pathsep``-separated),
each file holding ``gpus:`` and/or ``models:`` mappings in the built-in format. An entry
may start from another with ``base: h100`` and change only what differs.

Modules: ``model`` (the values), ``format`` (the file format), ``load`` (files and cache).
"""

from twin.core.catalog.load import CATALOG_ENV, DATA_DIR, load_catalog, user_catalog_dirs
from twin.core.catalog.model import (
    DEFAULT_EFFICIENCY,
    GPU,
    LLM,
    PRECISIONS,
    Catalog,
    Efficiency,
)

__all__ = [
    "CATALOG_ENV",
    "Catalog",
    "DATA_DIR",
    "DEFAULT_EFFICIENCY",
    "Efficiency",
    "GPU",
    "LLM",
    "PRECISIONS",
    "load_catalog",
    "user_catalog_dirs",
]
