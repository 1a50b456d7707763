"""The one-line pieces every section of a scenario file shares, its drill sections too:
conditions (``[kind id] metric op value``, the value in the metric's unit from the
registry) and lists of factory commands (``do:``)."""

from __future__ import annotations

import math
import re
from typing import Any

from twin.core import commands as C
from twin.core import kpis
from twin.core.catalog import Catalog
from twin.core.engine.snapshot import RACK_STATE_NAMES
from twin.core.errors import UnknownName, clip
from twin.core.layout import Layout
from twin.core.scenario.model import _COND, COMPONENT_FIELDS, Condition
from twin.core.units import parse_duration_s, parse_power_kw
from twin.core.yamlsrc import Reader, YList


def parse_condition(text: str, where: str) -> tuple[Condition | None, str, str | None]:
    """(condition, the rest of the line, error) for ``[kind id] metric op value [rest]``."""
    m = _COND.match(str(text))
    if not m:
        return (
            None,
            "",
            f"{where}: {text!r} is not a condition like 'ttft_p95_s <= 0.5' or 'rack r07 temp_c > 35'",
        )
    kind, target, metric, op, raw = m["kind"], m["id"], m["metric"], m["op"], m["value"]
    if kind is None:
        known = kpis.condition_keys()
        if metric not in known:
            import difflib

            close = difflib.get_close_matches(metric, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return (
                None,
                "",
                f"{where}: unknown metric {metric!r}{hint}; metrics: {', '.join(known)}",
            )
    elif metric not in COMPONENT_FIELDS[kind]:
        return (
            None,
            "",
            f"{where}: a {kind} has no {metric!r}; fields: {', '.join(COMPONENT_FIELDS[kind])}",
        )
    try:
        value = _value(metric, raw)
    except ValueError as e:
        return None, "", f"{where}: {e}"
    head = f"{kind} {target} " if kind else ""
    return (
        Condition(f"{head}{metric} {op} {raw}", metric, op, value, kind, target),
        m["rest"].strip(),
        None,
    )


def _value(metric: str, raw: str) -> float | str:
    """A condition's value in its metric's unit (the registry's): ``30MW`` for a power,
    ``500ms`` for a latency, ``99%`` for a share; a bare number as stored."""
    q = kpis.quantity(metric)
    if q == kpis.STATE:
        names = (*RACK_STATE_NAMES, "ok", "failed", "tripped", "unpowered", "high", "overloaded")
        if raw not in names:
            raise ValueError(f"state {raw!r} is not one of {', '.join(sorted(set(names)))}")
        return raw
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"{clip(raw)!r} is not a finite number")
        return value
    if q == kpis.POWER:
        return parse_power_kw(raw)
    if q in (kpis.DURATION, kpis.TIME):
        return parse_duration_s(raw)
    if raw.endswith("%"):
        return float(raw[:-1]) / 100.0
    raise ValueError(f"{raw!r} is not a number for {metric}")


def _commands(
    r: Reader, raw: Any, line: int, where: str, layout: Layout, catalog: Catalog | None = None
) -> tuple[C.Command, ...]:
    items = list(raw) if isinstance(raw, list) else [raw]
    lines = raw.lines if isinstance(raw, YList) else [line] * len(items)
    out = []
    for text, ln in zip(items, lines, strict=True):
        try:
            cmd = C.parse_command(str(text))
        except C.CommandError as e:
            r.error(ln, f"{where}: {e}")
            continue
        if isinstance(cmd, C.SessionCommand):
            r.error(
                ln, f"{where}: {cmd.verb!r} is a console command; scenarios take factory commands"
            )
            continue
        bad = _unknown_target(cmd, layout, catalog)
        if bad:
            r.error(ln, f"{where}: {bad}")
            continue
        out.append(cmd)
    return tuple(out)


def _unknown_target(cmd: C.Command, layout: Layout, catalog: Catalog | None = None) -> str | None:
    import difflib

    if isinstance(cmd, C.Swap) and catalog is not None and cmd.gpu not in catalog.gpus:
        return f"{cmd.text}: {UnknownName('GPU', cmd.gpu, catalog.gpus)}"

    target = getattr(cmd, "target", None)
    if isinstance(cmd, C.Scale):
        ids = [d.id for d in layout.deployments]
        if cmd.deployment not in ids:
            return (
                f"{cmd.text}: unknown deployment {cmd.deployment!r}; deployments: {', '.join(ids)}"
            )
    if (
        isinstance(cmd, C.Surge)
        and cmd.workload
        and cmd.workload not in [w.id for w in layout.workloads]
    ):
        return f"{cmd.text}: unknown workload class {cmd.workload!r}; classes: {', '.join(w.id for w in layout.workloads)}"
    if target is None or target in layout:
        return None
    base = re.sub(r"-n\d+(-g\d+)?$", "", target)
    if base != target and base in layout and layout.kind_of(base) == "rack":
        return None
    close = difflib.get_close_matches(target, list(layout.ids), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{cmd.text}: no component {target!r} in layout {layout.name}{hint}"
