"""The layout file format: every section's keys and the parsers for its values."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twin.core import limits
from twin.core.errors import clip
from twin.core.layout.model import (
    DEFAULT_AMBIENT_C,
    DEFAULT_AMORTISATION_YEARS,
    DEFAULT_PREFILL_SHARE,
    DEFAULT_RACKS_PER_LEAF,
    DEFAULT_ROUTING,
    DEFAULT_SEED,
    DEFAULT_USD_PER_KWH,
    ROUTING_POLICIES,
)
from twin.core.limits import Range
from twin.core.units import parse_bandwidth_gb_s, parse_count, parse_duration_s, parse_power_kw
from twin.core.vocab import POLICY_ALIASES
from twin.core.yamlsrc import boolean, non_negative, number, positive, positive_int, text

# --------------------------------------------------------------------------- value parsers
# Each turns one YAML value into a number in the unit its name says or raises ValueError
# with a message fit to follow ``FILE:LINE: where.key:``.


def _ident(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected an id (letters, digits, '-', '_', '.'), got {value!r}")
    s = str(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", s):
        raise ValueError(f"an id may hold only letters, digits, '-', '_' and '.', got {clip(s)!r}")
    if not s[0].isalpha():  # commands tell ids from quantities by the first character (cap 40kW)
        raise ValueError(
            f"an id starts with a letter (commands read '{clip(s, 20)}…' as a number), got {clip(s)!r}"
        )
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
    r"^\s*(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(?P<mult>[kKM]?)\s*(?:/\s*(?P<per>s|sec|m|min|h)|(?P<rps>rps))\s*$"
)
_PER_S = {"s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600, None: 1.0}


def _rate_rps(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"a rate needs a unit, like '40/s' or '2k/min' (or write rate_rps: {value}), got {value!r}"
        )
    m = _RATE.match(str(value)[:200])
    if not m:
        raise ValueError(
            f"expected a rate like '40/s', '1.5k/s' or '600/min', got {clip(str(value))!r}"
        )
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


# --------------------------------------------------------------------------- the format
# Every section's keys, once: how each value is read, its unit, its plausible range (from
# ``twin.core.limits``) and what it defaults to. The builder reads values through these,
# and the README's input table is this table.


@dataclass(frozen=True)
class Key:
    """One key of a section: ``parse`` reads the written value, ``range`` bounds the result."""

    parse: Callable[[Any], Any]
    range: Range | None = None
    default: str = ""  # as documentation: what a missing key means
    doc: str = ""

    def __call__(self, value: Any) -> Any:
        v = self.parse(value)
        if self.range is not None and v is not None:
            self.range.check(v, value)
        return v


def _any(value: Any) -> Any:  # a key read by the builder itself (a list, a mapping)
    return value


def _routing(value: Any) -> str:
    name = str(value)
    policy = POLICY_ALIASES.get(name.lower(), name)
    if policy not in ROUTING_POLICIES:
        close = difflib.get_close_matches(clip(name), ROUTING_POLICIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown routing policy {clip(name)!r}{hint}; known: {', '.join(ROUTING_POLICIES)}"
        )
    return policy


_KW = "kW"
_POWER = Range(0.001, 1e7, _KW, "1 W to 10 GW", open_lo=True)
_BW = Range(0, 1e5, "GB/s", "up to 100 TB/s", open_lo=True)
_RATE_R = Range(
    0, limits.MAX_RATE_RPS, "req/s", "at most 10 million requests a second", open_lo=True
)
_SLO = Range(0, 3600, "s", "up to an hour", open_lo=True)

FORMAT: dict[str, dict[str, Key]] = {
    "layout": {
        "name": Key(text, default="the file name"),
        "description": Key(text, default="''"),
        "seed": Key(_whole, limits.SEED, default=str(DEFAULT_SEED)),
        "tick": Key(_positive_duration_s, limits.TICK, default="from the layout's size"),
        "site": Key(_any),
        "economics": Key(_any),
        "power": Key(_any),
        "cooling": Key(_any),
        "fabric": Key(_any),
        "rows": Key(_any),
        "deployments": Key(_any),
        "workloads": Key(_any),
        "routing": Key(_routing, default=DEFAULT_ROUTING),
    },
    "site": {
        "name": Key(text, default="the layout's name"),
        "envelope": Key(_power_kw, _POWER),
        "pue": Key(_pue, Range(1, 3, "", "facility power over IT power; 1.0 to 3.0")),
        "ambient_c": Key(
            number, Range(-40, 60, "°C", "outdoor air on Earth"), default=f"{DEFAULT_AMBIENT_C:g}"
        ),
    },
    "economics": {
        "usd_per_kwh": Key(non_negative, Range(0, 10, "$/kWh"), default=f"{DEFAULT_USD_PER_KWH:g}"),
        "amortisation_years": Key(
            positive, Range(0.1, 50, "years"), default=f"{DEFAULT_AMORTISATION_YEARS:g}"
        ),
        "opex_usd_per_gpu_hr": Key(
            non_negative,
            Range(0, 1000, "$/GPU-h"),
            default="opex_fraction_per_year of the servers' capex",
        ),
        "capex_usd_per_gpu": Key(non_negative, Range(0, 1e7, "$")),
        "cost_of_capital": Key(non_negative, limits.COST_OF_CAPITAL, default="catalog (0.08)"),
        "system_capex_multiplier": Key(
            positive, limits.SYSTEM_CAPEX_MULTIPLIER, default="catalog (1.15)"
        ),
        "network_capex_fraction": Key(
            non_negative, limits.NETWORK_CAPEX_FRACTION, default="catalog (0.10)"
        ),
        "facility_usd_per_mw": Key(
            non_negative, limits.FACILITY_USD_PER_MW, default="catalog ($10M)"
        ),
        "facility_years": Key(positive, limits.FACILITY_YEARS, default="catalog (20)"),
        "opex_fraction_per_year": Key(
            non_negative, limits.OPEX_FRACTION_PER_YEAR, default="catalog (0.03)"
        ),
    },
    "power": {"feeds": Key(_any), "pdus": Key(_any)},
    "feed": {"id": Key(_ident), "capacity": Key(_power_kw, _POWER)},
    "pdu": {
        "id": Key(_ident),
        "feed": Key(_ident),
        "capacity": Key(_power_kw, _POWER),
        "racks": Key(_any),
    },
    "loop": {"id": Key(_ident), "capacity": Key(_power_kw, _POWER), "racks": Key(_any)},
    "row": {
        "id": Key(_ident),
        "count": Key(
            positive_int, Range(1, limits.MAX_ROWS, "rows", "the engine's arrays grow with rows")
        ),
        "start": Key(_whole, Range(0, 1e6)),
        "gpu": Key(_any),
        "racks": Key(
            positive_int, Range(1, limits.MAX_RACKS, "racks", "the engine's arrays grow with racks")
        ),
        "gpus_per_rack": Key(positive_int, Range(1, limits.MAX_GPUS_PER_RACK, "GPUs")),
        "rack_prefix": Key(_any),
        "pdus": Key(positive_int, Range(1, limits.MAX_PDUS, "PDUs")),
        "feed": Key(_ident),
        "b_feed": Key(_ident),
        "pdu_capacity": Key(_power_kw, _POWER),
        "cooling": Key(_any),
        "racks_per_leaf": Key(positive_int, Range(1, 1000, "racks")),
    },
    "rack": {
        "id": Key(_ident),
        "gpu": Key(_any),
        "gpus": Key(positive_int, Range(1, limits.MAX_GPUS_PER_RACK, "GPUs")),
        "cooling": Key(_any),
    },
    "fabric": {
        "spines": Key(
            positive_int, Range(1, limits.MAX_SPINES, "switches", "every leaf links to every spine")
        ),
        "uplink": Key(_bandwidth_gb_s, _BW),
        "oversubscription": Key(
            positive, Range(0.1, 100, "", "downlink over uplink bandwidth"), default="1"
        ),
        "frontend": Key(_bandwidth_gb_s, _BW),
        "rail_optimised": Key(boolean, default="true"),
        "racks_per_leaf": Key(
            positive_int, Range(1, 1000, "racks"), default=str(DEFAULT_RACKS_PER_LEAF)
        ),
    },
    "deployment": {
        "id": Key(_ident),
        "model": Key(text),
        "precision": Key(text),
        "gpus_per_replica": Key(_count_or_auto, Range(1, 4096, "GPUs"), default="auto"),
        "replicas": Key(
            _count_or_auto,
            Range(1, limits.MAX_REPLICAS, "replicas", "the engine's arrays grow with replicas"),
            default="auto",
        ),
        "placement": Key(_any),
        "disaggregated": Key(boolean, default="false"),
        "prefill_share": Key(_fraction_open, default=f"{DEFAULT_PREFILL_SHARE:g}"),
    },
    "workload": {
        "id": Key(_ident),
        "deployment": Key(_ident),
        "rate": Key(_rate_rps, _RATE_R),
        "rate_rps": Key(positive, _RATE_R),
        "diurnal": Key(_any),
        "burstiness": Key(positive, Range(0.01, 100, "", "1 is Poisson"), default="1"),
        "isl": Key(_any),
        "osl": Key(_any),
        "slo": Key(_any),
        "agentic": Key(_any),
        "timeout": Key(
            _positive_duration_s,
            Range(1, 86400, "s", "a client's patience, at least the TTFT SLO"),
            default="20 × the TTFT SLO, at least 30 s",
        ),
    },
    "length": {
        "mean": Key(_positive_tokens, limits.TOKENS),
        "dist": Key(_any, default="fixed"),
        "sigma": Key(positive, Range(0.01, 5, "", "of the log of the length")),
        "min": Key(_tokens, limits.TOKENS, default="0"),
        "max": Key(_tokens, limits.TOKENS),
    },
    "slo": {"ttft": Key(_positive_duration_s, _SLO), "tpot": Key(_positive_duration_s, _SLO)},
    "agentic": {
        "steps": Key(positive, Range(1, 1000, "steps")),
        "tool_pause": Key(_duration_s, Range(0, 86400, "s"), default="0s"),
        "context_growth": Key(_tokens, limits.TOKENS, default="0"),
    },
}
DIURNAL_FACTOR = Range(0, 100, "", "a multiple of the class's rate")

_TOP_KEYS = list(FORMAT["layout"])
_SITE_KEYS = list(FORMAT["site"])
_ECONOMICS_KEYS = list(FORMAT["economics"])
#: economics keys that are parts of ``twin.core.economics.cost_parts`` beyond the Site's own
COST_PART_KEYS = (
    "cost_of_capital",
    "system_capex_multiplier",
    "network_capex_fraction",
    "facility_usd_per_mw",
    "facility_years",
    "opex_fraction_per_year",
)
_POWER_KEYS = list(FORMAT["power"])
_FEED_KEYS = list(FORMAT["feed"])
_PDU_KEYS = list(FORMAT["pdu"])
_LOOP_KEYS = list(FORMAT["loop"])
_ROW_KEYS = list(FORMAT["row"])
_RACK_KEYS = list(FORMAT["rack"])
_FABRIC_KEYS = list(FORMAT["fabric"])
_DEPLOYMENT_KEYS = list(FORMAT["deployment"])
_WORKLOAD_KEYS = list(FORMAT["workload"])
_LENGTH_KEYS = list(FORMAT["length"])
_SLO_KEYS = list(FORMAT["slo"])
_AGENTIC_KEYS = list(FORMAT["agentic"])
