"""The layout file format: every section's keys and the parsers for its values."""

from __future__ import annotations

import re
from typing import Any

from twin.core.units import parse_bandwidth_gb_s, parse_count, parse_duration_s, parse_power_kw
from twin.core.yamlsrc import (
    number,
)

# --------------------------------------------------------------------------- value parsers
# Each turns one YAML value into a number in the unit its name says or raises ValueError
# with a message fit to follow ``FILE:LINE: where.key:``.


def _ident(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected an id (letters, digits, '-', '_', '.'), got {value!r}")
    s = str(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", s):
        raise ValueError(f"an id may hold only letters, digits, '-', '_' and '.', got {value!r}")
    return s


def _power_kw(value: Any) -> float:
    kw = parse_power_kw(value)
    if kw <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return kw


def _duration_s(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"a duration needs a unit, like '2s' or '50ms', got {value!r}")
    return parse_duration_s(value)


def _positive_duration_s(value: Any) -> float:
    s = _duration_s(value)
    if s <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return s


def _bandwidth_gb_s(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"a bandwidth needs a unit, like '400Gbps' or '50GB/s', got {value!r}")
    gb_s = parse_bandwidth_gb_s(value)
    if gb_s <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return gb_s


_RATE = re.compile(
    r"^\s*(?P<num>[0-9]*\.?[0-9]+)\s*(?P<mult>[kKM]?)\s*(?:/\s*(?P<per>s|sec|m|min|h)|(?P<rps>rps))\s*$"
)
_PER_S = {"s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600, None: 1.0}


def _rate_rps(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"a rate needs a unit, like '40/s' or '2k/min' (or write rate_rps: {value}), got {value!r}"
        )
    m = _RATE.match(str(value))
    if not m:
        raise ValueError(f"expected a rate like '40/s', '1.5k/s' or '600/min', got {value!r}")
    mult = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}[m["mult"]]
    rps = float(m["num"]) * mult * _PER_S[m["per"]]
    if rps <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return rps


def _tokens(value: Any) -> int:
    n = parse_count(value)
    if n < 0:
        raise ValueError(f"cannot be negative, got {value!r}")
    return n


def _positive_tokens(value: Any) -> int:
    n = parse_count(value)
    if n <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return n


def _count_or_auto(value: Any) -> int | None:
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a whole number greater than 0 or 'auto', got {value!r}")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _pue(value: Any) -> float:
    v = number(value)
    if v < 1:
        raise ValueError(f"PUE cannot be below 1 (facility power includes IT power), got {value!r}")
    return v


def _fraction_open(value: Any) -> float:
    v = number(value)
    if not 0 < v < 1:
        raise ValueError(f"must be a fraction between 0 and 1, got {value!r}")
    return v


def _hour(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        h = float(value)
    elif isinstance(value, str) and value.strip().lower().endswith("h"):
        h = parse_duration_s(value) / 3600
    else:
        raise ValueError(f"expected an hour of the day like 9 or '9.5h', got {value!r}")
    if not 0 <= h <= 24:
        raise ValueError(f"an hour of the day is between 0 and 24, got {value!r}")
    return h


def _numbered(prefix: str, start: int, count: int) -> list[str]:
    width = max(2, len(str(start + count - 1)))
    return [f"{prefix}-{n:0{width}d}" for n in range(start, start + count)]



# --------------------------------------------------------------------------- the reader

_TOP_KEYS = [
    "name",
    "description",
    "seed",
    "tick",
    "site",
    "economics",
    "power",
    "cooling",
    "fabric",
    "rows",
    "deployments",
    "workloads",
    "routing",
]
_SITE_KEYS = ["name", "envelope", "pue", "ambient_c"]
_ECONOMICS_KEYS = ["usd_per_kwh", "amortisation_years", "opex_usd_per_gpu_hr", "capex_usd_per_gpu"]
_POWER_KEYS = ["feeds", "pdus"]
_FEED_KEYS = ["id", "capacity"]
_PDU_KEYS = ["id", "feed", "capacity", "racks"]
_LOOP_KEYS = ["id", "capacity", "racks"]
_ROW_KEYS = [
    "id",
    "count",
    "start",
    "gpu",
    "racks",
    "gpus_per_rack",
    "rack_prefix",
    "pdus",
    "feed",
    "b_feed",
    "pdu_capacity",
    "cooling",
    "racks_per_leaf",
]
_RACK_KEYS = ["id", "gpu", "gpus", "cooling"]
_FABRIC_KEYS = [
    "spines",
    "uplink",
    "oversubscription",
    "frontend",
    "rail_optimised",
    "racks_per_leaf",
]
_DEPLOYMENT_KEYS = [
    "id",
    "model",
    "precision",
    "gpus_per_replica",
    "replicas",
    "placement",
    "disaggregated",
    "prefill_share",
]
_WORKLOAD_KEYS = [
    "id",
    "deployment",
    "rate",
    "rate_rps",
    "diurnal",
    "burstiness",
    "isl",
    "osl",
    "slo",
    "agentic",
]
_LENGTH_KEYS = ["mean", "dist", "sigma", "min", "max"]
_SLO_KEYS = ["ttft", "tpot"]
_AGENTIC_KEYS = ["steps", "tool_pause", "context_growth"]
