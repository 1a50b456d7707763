"""Factory layouts: a whole AI factory written in YAML, read into frozen dataclasses.

A layout says what is built — the site, the power tree (feeds → PDUs → racks, A/B where
the file says so), cooling loops, rows of racks with their GPU SKU, the leaf/spine fabric —
and what runs on it: model deployments, workload classes and the routing policy. The
engine reads a ``Layout`` value and never sees YAML; every mistake in a file is reported as
``FILE:LINE: message``, all of them at once where possible.

Compact forms keep a 1,000-rack factory short (see ``layouts/*.yaml`` for the format):

- a row entry ``{id: row-a, gpu: h100, racks: 16}`` stamps out racks ``row-a-01..16``;
  with ``pdus: 4, feed: feed-a`` (and ``b_feed: feed-b`` for A/B feeding) it also stamps
  out the PDUs that feed them, and ``cooling: loop-1`` puts the row on a cooling loop;
- a row entry with ``count: 40`` stamps out 40 such rows ``ID-01..ID-40``; its own id then
  names the group, usable wherever racks are named (PDU and loop ``racks:``, placements);
- one leaf switch per ``racks_per_leaf`` racks of a row, every leaf linked to every spine.

All component ids (feeds, PDUs, loops, row groups, rows, racks, switches, links,
deployments, workload classes) share one namespace, so one command grammar can name any
of them: ``fail pdu-3``, ``swap row-b gb300``, ``fail link-leaf-3-spine-1``.

The package: ``model`` (the dataclasses), ``schema`` (the file format: keys and value
parsers), ``build`` (+ ``rows``, ``serve``: compact forms, references, assembly).
"""

from twin.core.layout.build import (
    _Builder,
    builtin_layouts,
    layout_from_doc,
    load_layout,
    resolve_layout_path,
)
from twin.core.layout.model import (
    DEFAULT_AMBIENT_C,
    DEFAULT_AMORTISATION_YEARS,
    DEFAULT_OPEX_USD_PER_GPU_HR,
    DEFAULT_PREFILL_SHARE,
    DEFAULT_RACKS_PER_LEAF,
    DEFAULT_ROUTING,
    DEFAULT_SEED,
    DEFAULT_USD_PER_KWH,
    LENGTH_KINDS,
    MAX_LINKS,
    MAX_RACKS,
    PDU,
    PDU_HEADROOM,
    PDU_ROUNDING_KW,
    PRECISION_BYTES,
    ROUTING_POLICIES,
    SCENARIO_KEYS,
    Agentic,
    CoolingLoop,
    Deployment,
    Fabric,
    Feed,
    Layout,
    LengthDist,
    Link,
    Rack,
    Row,
    RowGroup,
    Site,
    Switch,
    WorkloadClass,
    rack_peak_kw,
    summary_line,
)

__all__ = [
    "DEFAULT_AMBIENT_C",
    "DEFAULT_AMORTISATION_YEARS",
    "DEFAULT_OPEX_USD_PER_GPU_HR",
    "DEFAULT_PREFILL_SHARE",
    "DEFAULT_RACKS_PER_LEAF",
    "DEFAULT_ROUTING",
    "DEFAULT_SEED",
    "DEFAULT_USD_PER_KWH",
    "LENGTH_KINDS",
    "MAX_LINKS",
    "MAX_RACKS",
    "PDU",
    "PDU_HEADROOM",
    "PDU_ROUNDING_KW",
    "PRECISION_BYTES",
    "ROUTING_POLICIES",
    "SCENARIO_KEYS",
    "Agentic",
    "CoolingLoop",
    "Deployment",
    "Fabric",
    "Feed",
    "Layout",
    "LengthDist",
    "Link",
    "Rack",
    "Row",
    "RowGroup",
    "Site",
    "Switch",
    "WorkloadClass",
    "_Builder",
    "builtin_layouts",
    "layout_from_doc",
    "load_layout",
    "rack_peak_kw",
    "resolve_layout_path",
    "summary_line",
]
