"""The gauge strip's readings: each gauge's number, unit, bounds and note, from a snapshot.

Which gauges there are, their titles and their plain words come from the metric registry
(`twin.core.kpis`); here is only how the built-in ones judge their bounds (colour *and*
glyph) and what their note says. A gauge without a reader shows its number and unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.core.api import Snapshot, kpis
from twin.frontends.tui.fmt import si

# ------------------------------------------------------------------------------------
OK, WARN, BAD = "ok", "warn", "bad"
STATUS_GLYPH = {OK: "", WARN: "▲", BAD: "✗"}


@dataclass(frozen=True)
class GaugeSpec:
    key: str
    title: str
    short: str  # the title in a narrow gauge


def gauge_specs() -> tuple[GaugeSpec, ...]:
    """The gauge strip, in order: the registry's metrics that have a gauge."""
    return tuple(GaugeSpec(m.name, m.gauge.title, m.gauge.short) for m in kpis.gauges())


@dataclass(frozen=True)
class GaugeReading:
    key: str
    value: str  # the number
    unit: str
    status: str  # ok | warn | bad
    note: str  # what the bound is, or why it is out of it
    compact: str  # number and unit for a narrow gauge
    short_notes: tuple[
        str, ...
    ] = ()  # the note said in fewer cells, longest first (never a cut sentence)

    def note_for(self, width: int) -> str:
        """The longest wording of the note that fits ``width`` cells (the shortest, cut, if none does)."""
        for text in (self.note, *self.short_notes):
            if len(text) <= width:
                return text
        last = (self.note, *self.short_notes)[-1]
        return last if len(last) <= width else last[: max(width - 1, 0)] + "…"


def _worst_slo(snap: Snapshot, which: str) -> tuple[float, str, float]:
    """(worst ratio of p95 to SLO over classes, that class, its SLO) for 'ttft' or 'tpot'."""
    worst, name, slo = 0.0, "", math.nan
    for c in snap.classes:
        p95 = getattr(c, f"{which}_p95_s")
        bound = getattr(c, f"slo_{which}_s")
        if bound > 0 and math.isfinite(p95) and p95 / bound > worst:
            worst, name, slo = p95 / bound, c.id, bound
    return worst, name, slo


def read_gauges(snap: Snapshot) -> list[GaugeReading]:
    """Every gauge's number, unit and whether it is in bounds (colour *and* glyph on screen).

    A gauge with a reader below gets its bounds and notes from it; any other registered
    gauge shows its number in the registry's unit, without bounds."""
    specs = gauge_specs()
    if len(snap.history.get("t_s", ())) == 0:  # before the first tick there is nothing to read
        return [GaugeReading(spec.key, "—", "", OK, "starting", "—") for spec in specs]
    return [_READERS.get(spec.key, _plain)(snap, spec.key) for spec in specs]


def _plain(snap: Snapshot, key: str) -> GaugeReading:
    m = kpis.get(key)
    v = m.figure(snap.gauges.get(key, math.nan))
    return GaugeReading(key, v, m.unit, OK, m.label, f"{v}{m.unit}")


def _read_output(snap: Snapshot, key: str) -> GaugeReading:
    g = snap.gauges
    shed, failed = g.get("shed_rps", 0.0), g.get("failed_rps", 0.0)
    v = _num(g[key])
    if shed + failed <= 0.01:
        good = _num(g.get("goodput_tok_s", 0.0))
        return GaugeReading(key, v, "tok/s", OK, f"goodput {good} tok/s", v, (f"goodput {good}",))
    # shed (turned away at admission) and failed (lost to a fault) are different stories
    lost = [(w, x) for w, x in (("shed", shed), ("failed", failed)) if x > 0.005]
    return GaugeReading(
        key,
        v,
        "tok/s",
        WARN,
        " · ".join(f"{w} {_num(x)} req/s" for w, x in lost),
        v,
        (
            " · ".join(f"{w} {_num(x)}/s" for w, x in lost),
            " ".join(f"{w[0]}{_num(x)}/s" for w, x in lost),
        ),
    )


def _read_per_mw(snap: Snapshot, key: str) -> GaugeReading:
    v, tpj = _num(snap.gauges[key]), snap.gauges.get("tok_per_joule", 0.0)
    return GaugeReading(
        key, v, "tok/s/MW", OK, f"{tpj:.2f} tokens per joule", v, (f"{tpj:.2f} tok/J",)
    )


def _read_cost(snap: Snapshot, key: str) -> GaugeReading:
    usd = snap.gauges[key]
    if not math.isfinite(usd):
        return GaugeReading(key, "—", "$/Mtok", BAD, "no output", "—")
    energy = snap.gauges.get("usd_per_mtok_energy", 0.0)
    return GaugeReading(
        key,
        f"{usd:.3f}",
        "$/Mtok",
        OK,
        f"of which energy ${energy:.3f}",
        f"${usd:.3f}",
        (f"energy ${energy:.3f}",),
    )


def _read_latency(snap: Snapshot, key: str) -> GaugeReading:
    ratio, cls, _slo = _worst_slo(snap, key.split("_")[0])
    st = BAD if ratio > 1.0 else (WARN if ratio > 0.8 else OK)
    value, unit = _latency(snap.gauges[key])
    if not cls:
        notes: tuple[str, ...] = ("no traffic",)
    elif st != OK:
        x = f"{ratio:.1f}×" if ratio < 10 else f"{ratio:,.0f}×"
        notes = (f"{cls} at {x} its SLO", f"{cls} {x} SLO", f"{x} SLO")
    else:
        notes = (
            f"worst class at {ratio:.0%} of its SLO",
            f"worst {ratio:.0%} of SLO",
            f"{ratio:.0%} of SLO",
        )
    return GaugeReading(key, value, unit, st, notes[0], f"{value}{unit}", notes[1:])


def _read_attainment(snap: Snapshot, key: str) -> GaugeReading:
    att = snap.gauges[key]
    st = BAD if att < 0.95 else (WARN if att < 0.99 else OK)
    return GaugeReading(
        key,
        f"{att * 100:.1f}",
        "%",
        st,
        "of requests · goal ≥ 99%",
        f"{att * 100:.1f}%",
        ("goal ≥ 99%",),
    )


def _read_facility(snap: Snapshot, key: str) -> GaugeReading:
    fac, env = snap.gauges[key], snap.gauges["envelope_kw"]
    share = fac / env if env > 0 else 0.0
    st = BAD if share > 1.0 else (WARN if share > 0.9 else OK)
    cap = " cap" if snap.site_cap_kw is not None else ""
    return GaugeReading(
        key,
        f"{fac / 1000:.1f}",
        "MW",
        st,
        f"of {env / 1000:.1f} MW{cap} ({share:.0%})",
        f"{fac / 1000:.1f}/{env / 1000:.0f}MW",
        (
            f"{share:.0%} of {env / 1000:.0f} MW{cap}",
            f"{share:.0%} of {cap.strip() or 'limit'}",
        ),
    )


#: How the built-in gauges read: bounds (colour and glyph) and the note under the number.
_READERS = {
    "output_tok_s": _read_output,
    "tok_s_per_mw": _read_per_mw,
    "usd_per_mtok": _read_cost,
    "ttft_p95_s": _read_latency,
    "tpot_p95_s": _read_latency,
    "slo_attainment": _read_attainment,
    "facility_power_kw": _read_facility,
}


def gauge_delta(key: str, now: float, base: float) -> str:
    """Change since the baseline, as an operator reads it: '+3.1%', '−12%', SLO attainment in points."""
    if now is None or base is None or not (math.isfinite(now) and math.isfinite(base)):
        return ""
    if key == "slo_attainment":
        d = (now - base) * 100
        return "±0pt" if abs(d) < 0.05 else f"{d:+.1f}pt"
    if base == 0:
        return "" if now == 0 else "new"
    r = (now - base) / abs(base)
    if abs(r) < 0.0005:
        return "±0%"
    return f"{r:+.1%}" if abs(r) < 0.1 else f"{r:+.0%}"


def _num(x: float) -> str:
    return si(x)


def _latency(s: float) -> tuple[str, str]:
    """At most four digits, so a queue of half an hour (1566 s) fits a gauge like 12 ms does."""
    if not math.isfinite(s):
        return "—", "s"
    if s < 1.0:
        return f"{s * 1000:.3g}", "ms"
    if s < 10:
        return f"{s:.2f}", "s"
    if s < 100:
        return f"{s:.1f}", "s"
    return f"{s:.0f}", "s"
