"""The input policy: what a number, duration, size or count may be, wherever it is written.

Every value a person types — in a layout, a scenario, a catalog, a CLI option or a command —
is finite and inside a plausible range (or a hard cap that protects the machine); anything
else is a one-line error naming the file and line, or the option, and exit 2. The ranges
live here once; the file formats (``layout/schema.py``, ``scenario/parse.py``), the CLI
options and the command grammar read them, and the README's input table says the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from twin.core.errors import clip

# ---- time
MIN_TICK_S = 0.01  # below 10 ms a tick models nothing the engine resolves, and costs memory
MAX_TICK_S = 600.0  # above 10 min queues and SLOs (1-2 s) are meaningless
MAX_DURATION_S = 90 * 86400.0  # a quarter: the longest run anyone waits for
MAX_WARMUP_S = 7 * 86400.0
MAX_TICKS = 20_000_000  # duration / tick: about 2 h of wall time at the engine's speed
# ---- size of a layout (the engine holds arrays per rack, link and replica)
MAX_RACKS = 20_000  # ~20× the built-in hyperscale layout (1,040 racks, ~75k GPUs)
MAX_ROWS = 2_000
MAX_GPUS_PER_RACK = 1_024  # NVL576 racks hold 576
MAX_SPINES = 512
MAX_LINKS = 1_000_000  # leaves × spines
MAX_REPLICAS = 200_000  # per deployment: one GPU each fills MAX_RACKS × 8 GPUs about once
MAX_PDUS = 40_000
# ---- workload
MAX_TOKENS = 10_000_000  # a request's input or output: 10M tokens is the longest context offered
MAX_RATE_RPS = 1e7  # requests per second for one class
MAX_FACTOR = 1_000.0  # surge and other multipliers: 1,000× the planned load
MAX_SEED = 2**63 - 1
MAX_SPEED = 1e6  # clock speed-up in the TUI


@dataclass(frozen=True)
class Range:
    """A closed (or half-open with ``open_lo``) range in a unit, with why it is there."""

    lo: float
    hi: float
    unit: str = ""
    why: str = ""
    open_lo: bool = False
    says: str = ""  # the range in words, when plainer than the numbers

    def check(self, value: float, written: Any = None) -> float:
        """``value`` if finite and in range; else ``ValueError`` quoting ``written`` (≤60 chars)."""
        shown = clip(str(written if written is not None else value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {shown!r}")
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {shown!r}")
        low_ok = value > self.lo if self.open_lo else value >= self.lo
        if not low_ok or value > self.hi:
            raise ValueError(
                f"{shown!r} is out of range: must be {self.text()}"
                + (f" ({self.why})" if self.why else "")
            )
        return value

    def text(self) -> str:
        if self.says:
            return self.says
        u = f" {self.unit}" if self.unit else ""
        if self.open_lo:
            return f"above {_g(self.lo)} and at most {_g(self.hi)}{u}"
        return f"from {_g(self.lo)} to {_g(self.hi)}{u}"


def _g(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


TICK = Range(MIN_TICK_S, MAX_TICK_S, "s", "the engine's step", says="from 10ms to 10m")
DURATION = Range(0, MAX_DURATION_S, "s", open_lo=True, says="longer than 0s and at most 90 days")
WARMUP = Range(0, MAX_WARMUP_S, "s", says="from 0s to 7 days")
SEED = Range(0, MAX_SEED, "", "a whole number, 0 or more")
FACTOR = Range(0, MAX_FACTOR, "", "a multiplier of the planned load", open_lo=True)
SPEED = Range(0, MAX_SPEED, "", "times real time", open_lo=True)
# economics parts a layout may override (twin.core.economics; defaults in the catalog)
COST_OF_CAPITAL = Range(0, 1, "", "a yearly rate: 0.08 is 8 %")
SYSTEM_CAPEX_MULTIPLIER = Range(1, 5, "", "the server's price over its GPUs' price")
NETWORK_CAPEX_FRACTION = Range(0, 2, "", "the fabric's capex as a share of the servers'")
FACILITY_USD_PER_MW = Range(0, 1e9, "$/MW", "building, power and cooling per MW of IT")
FACILITY_YEARS = Range(1, 100, "years")
OPEX_FRACTION_PER_YEAR = Range(0, 1, "", "of the servers' capex per year")
TOKENS = Range(0, MAX_TOKENS, "tokens", "the longest context offered is about 10M tokens")


def check_ticks(duration_s: float, tick_s: float) -> str | None:
    """A message if a run of ``duration_s`` at ``tick_s`` needs more than `MAX_TICKS` steps."""
    steps = duration_s / tick_s
    if steps > MAX_TICKS:
        return (
            f"{steps:,.0f} ticks of {tick_s:g}s: more than the {MAX_TICKS:,} a run may take "
            f"(use a longer tick or a shorter duration)"
        )
    return None


def option(text: Any, parse: Any, rng: Range, label: str) -> float:
    """A CLI option's value, read by ``parse`` and checked against ``rng``; else one-line `TwinError`."""
    from twin.core.errors import TwinError

    try:
        return rng.check(parse(text) if parse is not None else text, text)
    except (ValueError, TypeError, OverflowError) as e:
        raise TwinError(f"{label}: {e}") from None
