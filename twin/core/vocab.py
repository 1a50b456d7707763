"""The closed lists the program shares, each written once.

Layouts, scenarios, the command grammar, the catalog and the front ends read these; a test
checks that the engine's tables (routing functions, fault handling) and the catalog's
constants agree with them, so adding a name here and nowhere else fails the suite.
"""

from __future__ import annotations

from types import MappingProxyType

ROUTING_POLICIES: tuple[str, ...] = (
    "round-robin",
    "least-loaded",
    "kv-aware",
    "power-aware",
    "slo-aware",
)
"""Routing policies, in the order help lists them."""

POLICY_ALIASES = MappingProxyType(
    {
        "rr": "round-robin",
        "jsq": "least-loaded",
        "p2c": "least-loaded",
        "kv": "kv-aware",
        "power": "power-aware",
        "slo": "slo-aware",
    }
)
"""Short names people already use for the policies (join-shortest-queue, power-of-two …)."""

PRECISIONS: tuple[str, ...] = ("bf16", "fp8", "fp4")
"""Weight/compute precisions, widest first."""

PRECISION_BYTES = MappingProxyType({"bf16": 2.0, "fp8": 1.0, "fp4": 0.5625})
"""Bytes per weight as the serving model counts them: NVFP4 is 4-bit values plus one FP8
scale per 16 (4.5 bits). The catalog constant ``bytes_per_param`` (with its source) is the
same table; a test keeps them equal."""

FAULT_KINDS: tuple[str, ...] = (
    "rack",
    "row",
    "group",
    "node",
    "gpu",
    "pdu",
    "feed",
    "loop",
    "leaf",
    "spine",
    "link",
)
"""What ``fail`` can take down (a cooling loop is a ``loop``; ``switch`` means a leaf or spine)."""

COMPONENT_KINDS: tuple[str, ...] = (
    "feed",
    "pdu",
    "loop",
    "group",
    "row",
    "rack",
    "leaf",
    "spine",
    "link",
    "deployment",
    "workload",
)
"""The kinds of id in a layout's one namespace (``Layout.kind_of``); a ``group`` is the rows
one ``count:`` entry stamps out."""

CONDITION_KINDS: tuple[str, ...] = ("rack", "pdu", "feed", "loop", "deployment", "class")
"""Components a scenario condition can read (``rack r07 temp_c > 35``)."""

LENGTH_KINDS: tuple[str, ...] = ("fixed", "lognormal", "uniform")
"""Distributions of request lengths in a workload class."""
