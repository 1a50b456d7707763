"""Reading a scenario file and the condition language, every mistake as ``FILE:LINE: message``."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

from twin.core import commands as C
from twin.core import limits
from twin.core.catalog import Catalog, load_catalog
from twin.core.errors import InputError, Problem, TwinError, clip
from twin.core.layout import Layout, load_layout
from twin.core.layout.schema import FORMAT as LAYOUT_FORMAT
from twin.core.scenario.conditions import _commands, parse_condition
from twin.core.scenario.drill import during_window
from twin.core.scenario.drill_format import parse_drill
from twin.core.scenario.model import (
    _WINDOW,
    SCENARIO_KEYS,
    Condition,
    Event,
    Expectation,
    Scenario,
)
from twin.core.units import parse_duration_s
from twin.core.vocab import POLICY_ALIASES
from twin.core.yamlsrc import Reader, YList, YMap, boolean, integer, load_file


def is_scenario_doc(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and any(k in doc for k in ("events", "expect", "abort_if", "duration"))
        and "rows" not in doc
    )


def load_scenario(path: str | Path, catalog: Catalog | None = None) -> Scenario:
    path = Path(path)
    doc = load_file(path)
    return scenario_from_doc(doc, str(path), catalog, base_dir=path.parent)


_TIME = limits.Range(0, limits.MAX_DURATION_S, "s", "at most 90 days")


def _duration(v: Any) -> float:
    return _TIME.check(parse_duration_s(v), v)


def _positive(rng: limits.Range) -> Any:
    return lambda v: rng.check(parse_duration_s(v), v)


#: The scenario format's top-level keys and how each value is read (units and ranges from
#: ``twin.core.limits``); the other sections are read by the functions below.
FORMAT = {
    "seed": lambda v: limits.SEED.check(integer(v), v),
    "duration": _positive(limits.DURATION),
    "warmup": lambda v: limits.WARMUP.check(parse_duration_s(v), v),
    "tick": _positive(limits.TICK),
    "faults": boolean,
}


def scenario_from_doc(
    doc: Any, file: str, catalog: Catalog | None = None, base_dir: Path | None = None
) -> Scenario:
    catalog = catalog or load_catalog()
    r = Reader(file)
    top = r.mapping(doc, "scenario")
    if top is None:
        r.raise_if_any()
    r.only(top, SCENARIO_KEYS, "scenario")
    name = r.get(top, "name", str, "scenario", default=Path(file).stem)
    layout = _layout(r, top, catalog, base_dir)
    if layout is None:
        r.raise_if_any()
        raise InputError([Problem(file, top.line, "scenario: no layout")])
    seed = r.get(top, "seed", FORMAT["seed"], "scenario", default=layout.seed)
    duration = r.get(top, "duration", FORMAT["duration"], "scenario", default=None)
    warmup = r.get(top, "warmup", FORMAT["warmup"], "scenario", default=0.0)
    tick = r.get(top, "tick", FORMAT["tick"], "scenario", default=None)
    faults = r.get(top, "faults", boolean, "scenario", default=False)
    events = _events(r, top.get("events"), top.line_of("events"), layout, catalog)
    if duration is None:  # a recording cut short: run to a minute past its last command
        last = max((e.at_s or 0.0) for e in events) if events else 0.0
        duration = last + 60.0
    step = tick or layout.tick_s or 1.0  # the engine's default tick
    too_long = limits.check_ticks(duration + (warmup or 0.0), step)
    if too_long:
        r.error(top.line_of("duration") if "duration" in top else top.line, f"scenario: {too_long}")
    recorded = r.get(top, "recorded", boolean, "scenario", default=False)
    expect = _expectations(r, top.get("expect"), top.line_of("expect"), duration, recorded)
    aborts = []
    for i, text in enumerate(_as_list(top.get("abort_if"))):
        line = (
            top["abort_if"].line_of(i)
            if isinstance(top.get("abort_if"), YList)
            else top.line_of("abort_if")
        )
        cond, rest, err = parse_condition(str(text), "abort_if")
        if err or rest:
            r.error(line, err or f"abort_if: unexpected {rest!r} after the condition")
        else:
            aborts.append(cond)
    drill = parse_drill(r, top, layout, catalog, duration)
    for e in events:
        if e.at_s is not None and e.at_s > duration:
            r.error(e.line, f"events: at {e.at_s:g}s is after the scenario ends ({duration:g}s)")
    r.raise_if_any()
    return Scenario(
        name,
        str(top.get("description", "") or ""),
        file,
        layout,
        seed,
        duration,
        warmup,
        tick,
        faults,
        tuple(events),
        tuple(expect),
        tuple(aborts),
        recorded,
        drill,
    )


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def _layout(r: Reader, top: YMap, catalog: Catalog, base_dir: Path | None) -> Layout | None:
    if "layout" not in top:
        r.error(
            top.line, "scenario: missing required key 'layout' (a layout file or built-in name)"
        )
        return None
    target = str(top["layout"])
    if base_dir is not None and (base_dir / target).exists():
        target = str(base_dir / target)
    try:
        layout = load_layout(target, catalog)
    except InputError as e:
        r.problems.extend(e.problems)
        return None
    except TwinError as e:
        r.error(top.line_of("layout"), f"layout: {e}")
        return None
    ov = top.get("overrides")
    if ov is None:
        return layout
    om = r.mapping(ov, "overrides", top.line_of("overrides"))
    if om is None:
        return layout
    return _apply_overrides(r, om, layout, catalog)


def _apply_overrides(r: Reader, om: YMap, layout: Layout, catalog: Catalog) -> Layout:
    """Routing policy, workload rates (a factor like ``2x`` or a rate like ``40/s``),
    the GPU SKU of rows, and deployments' sizes and prefill share."""
    r.only(om, ("routing", "rates", "rows", "deployments"), "overrides")
    if "deployments" in om:
        layout = _override_deployments(r, om, layout)
    if "routing" in om:
        if str(om["routing"]) in POLICY_ALIASES:
            om["routing"] = POLICY_ALIASES[str(om["routing"])]
        if om["routing"] not in C.POLICIES:
            r.error(
                om.line_of("routing"),
                f"overrides.routing: unknown policy {om['routing']!r}; policies: {', '.join(C.POLICIES)}",
            )
        else:
            layout = dataclasses.replace(layout, routing=om["routing"])
    if "rates" in om:
        rm = r.mapping(om["rates"], "overrides.rates", om.line_of("rates"))
        ws = list(layout.workloads)
        ids = [w.id for w in ws]
        for key, val in (rm or {}).items():
            if key not in ids:
                r.error(
                    rm.line_of(key),
                    f"overrides.rates: unknown workload class {key!r}; classes: {', '.join(ids)}",
                )
                continue
            i = ids.index(key)
            text = str(val).strip()
            try:
                if text.endswith("x"):
                    rate = ws[i].rate_rps * limits.FACTOR.check(float(text[:-1]), text)
                else:
                    rate = LAYOUT_FORMAT["workload"]["rate"](text)
            except ValueError as e:
                hint = "" if str(e).startswith("'") else f" ({e})"
                r.error(
                    rm.line_of(key),
                    f"overrides.rates.{key}: {clip(str(val))!r} is not a factor like '2x' "
                    f"(up to {limits.MAX_FACTOR:g}x) or a rate like '40/s'{hint}",
                )
                continue
            ws[i] = dataclasses.replace(ws[i], rate_rps=rate)
        layout = dataclasses.replace(layout, workloads=tuple(ws))
    if "rows" in om:
        rows = r.mapping(om["rows"], "overrides.rows", om.line_of("rows"))
        racks = list(layout.racks)
        changed: dict[str, str] = {}
        for row_id, sku in (rows or {}).items():
            if str(sku) not in catalog.gpus:
                r.error(
                    rows.line_of(row_id),
                    f"overrides.rows.{row_id}: unknown GPU {sku!r}; GPUs: {', '.join(catalog.gpus)}",
                )
                continue
            ids = set(layout.racks_of(row_id)) if row_id in layout else set()
            if not ids:
                r.error(
                    rows.line_of(row_id),
                    f"overrides.rows: no row {row_id!r} in layout {layout.name}",
                )
                continue
            g = catalog.gpu(str(sku))
            racks = [
                dataclasses.replace(k, gpu=g.id, gpus=g.gpus_per_rack) if k.id in ids else k
                for k in racks
            ]
            changed.update(dict.fromkeys(ids, g.id))
        new_rows = []
        for row in layout.rows:
            skus = {changed.get(rid, row.gpu) for rid in row.racks}
            new_rows.append(dataclasses.replace(row, gpu=skus.pop() if len(skus) == 1 else None))
        layout = dataclasses.replace(layout, racks=tuple(racks), rows=tuple(new_rows))
    return layout


#: What ``overrides.deployments.ID`` may change (read as the layout reads them).
DEPLOYMENT_OVERRIDES = ("replicas", "gpus_per_replica", "prefill_share")


def _override_deployments(r: Reader, om: YMap, layout: Layout) -> Layout:
    dm = r.mapping(om["deployments"], "overrides.deployments", om.line_of("deployments"))
    deps = {d.id: d for d in layout.deployments}
    for did, changes in (dm or {}).items():
        where = f"overrides.deployments.{did}"
        if did not in deps:
            r.error(
                dm.line_of(did),
                f"overrides.deployments: unknown deployment {did!r}; deployments: {', '.join(deps)}",
            )
            continue
        cm = r.mapping(changes, where, dm.line_of(did))
        if cm is None:
            continue
        r.only(cm, DEPLOYMENT_OVERRIDES, where)
        if "prefill_share" in cm and not deps[did].disaggregated:
            r.error(
                cm.line_of("prefill_share"), f"{where}.prefill_share: {did} is not disaggregated"
            )
            continue
        new = {
            k: r.get(cm, k, LAYOUT_FORMAT["deployment"][k], where, default=getattr(deps[did], k))
            for k in DEPLOYMENT_OVERRIDES
            if k in cm
        }
        d = deps[did] = dataclasses.replace(deps[did], **new)
        gpus = sum(k.gpus for k in layout.racks if k.id in set(d.racks))
        if d.replicas and d.gpus_per_replica and d.replicas * d.gpus_per_replica > gpus:
            r.error(
                cm.line,
                f"{where}: {d.replicas} replicas × {d.gpus_per_replica} GPUs, but its racks have {gpus:,}",
            )
    return dataclasses.replace(layout, deployments=tuple(deps.values()))


def _events(
    r: Reader, raw: Any, line: int, layout: Layout, catalog: Catalog | None = None
) -> list[Event]:
    out: list[Event] = []
    if raw is None:
        return out
    seq = r.sequence(raw, "events", line)
    for i, item in enumerate(seq or []):
        ln = seq.line_of(i)
        em = r.mapping(item, f"events[{i + 1}]", ln)
        if em is None:
            continue
        where = f"events[{i + 1}]"
        r.only(em, EVENT_KEYS, where)
        triggers = [k for k in ("at", "every", "when") if k in em]
        if len(triggers) != 1:
            r.error(em.line, f"{where}: give exactly one of 'at', 'every' or 'when'")
            continue
        by, inject, hint = _author(r, em, where)
        if hint:
            at = r.get(em, "at", _duration, where, default=None)
            if at is not None:
                out.append(Event(ln, (), at, by=by, hint=True))
            continue
        if "do" not in em:
            r.error(em.line, f"{where}: missing 'do' (a command, or a list of them)")
            continue
        cmds = _commands(r, em["do"], em.line_of("do"), where, layout, catalog)
        at = r.get(em, "at", _duration, where, default=None)
        every = r.get(em, "every", _positive(limits.TICK), where, default=None)
        if every is not None and every <= 0:
            r.error(em.line_of("every"), f"{where}.every: must be longer than 0s")
        start = r.get(em, "from", _duration, where, default=0.0)
        until = r.get(em, "until", _duration, where, default=None)
        once = r.get(em, "once", boolean, where, default=True)
        when = None
        if "when" in em:
            when, rest, err = parse_condition(str(em["when"]), f"{where}.when")
            if err or rest:
                r.error(
                    em.line_of("when"),
                    err or f"{where}.when: unexpected {rest!r} after the condition",
                )
                continue
        ev = Event(ln, cmds, at, every, start, until, when, once, by, inject)
        if ev.submitted and at is None:
            r.error(em.line, f"{where}: a command given live ('by: {by}') is given 'at' a time")
            continue
        out.append(ev)
    return out


#: An event's keys; ``by``, ``inject`` and ``hint`` are a recording's (who did what).
EVENT_KEYS = ("at", "every", "from", "until", "when", "once", "do", "by", "inject", "hint")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def _author(r: Reader, em: YMap, where: str) -> tuple[str | None, str | None, bool]:
    """A recorded event's author, inject kind and hint flag (``FILE:LINE`` errors)."""
    by = em.get("by")
    if by is not None and not _NAME.match(str(by)):
        r.error(em.line_of("by"), f"{where}.by: {by!r} is not a name (letters, digits, . _ -)")
        by = None
    inject = em.get("inject")
    if inject is not None:
        inject = {True: "shown", "hidden": "hidden"}.get(inject)
        if inject is None:
            r.error(em.line_of("inject"), f"{where}.inject: say 'true' or 'hidden'")
    hint = r.get(em, "hint", boolean, where, default=False)
    if hint and "do" in em:
        r.error(em.line, f"{where}: a hint taken carries no 'do'")
        return None, None, False
    if hint and "at" not in em:
        r.error(em.line, f"{where}: a hint taken is given 'at' a time")
        return None, None, False
    return (None if by is None else str(by)), inject, bool(hint)


def _expectations(
    r: Reader, raw: Any, line: int, duration: float, recorded: bool = False
) -> list[Expectation]:
    out: list[Expectation] = []
    if raw is None:
        return out
    seq = r.sequence(raw, "expect", line)
    for i, item in enumerate(seq or []):
        ln = seq.line_of(i)
        where = f"expect[{i + 1}]"
        if isinstance(item, dict):
            r.only(
                item, ("metric", "op", "value", "at", "during", "always", "overall", "text"), where
            )
            if not all(k in item for k in ("metric", "op", "value")):
                r.error(ln, f"{where}: a structured expectation needs metric, op and value")
                continue
            when = (
                ("at " + str(item["at"]))
                if "at" in item
                else ("during " + str(item["during"]))
                if "during" in item
                else "always"
                if item.get("always")
                else "overall"
                if item.get("overall")
                else "at end"
            )
            text = f"{item['metric']} {item['op']} {item['value']} {when}"
        else:
            text = str(item)
        cond, rest, err = parse_condition(text, where)
        if err:
            r.error(ln, err)
            continue
        e = _window(rest, cond, text, ln, math.inf if recorded else duration, where)
        if isinstance(e, str):
            r.error(ln, e)
        else:
            out.append(e)
    return out


def _window(
    rest: str, cond: Condition, text: str, ln: int, duration: float, where: str
) -> Expectation | str:
    rest = rest.strip()
    try:
        if rest in ("", "at end"):
            return Expectation(ln, text, cond, "end")
        if rest == "always":
            return Expectation(ln, text, cond, "always", start_s=0.0, end_s=duration)
        if rest == "overall":
            return Expectation(ln, text, cond, "overall")
        if rest.startswith("at "):
            t = parse_duration_s(rest[3:].strip())
            if t > duration:
                return f"{where}: at {t:g}s is after the scenario ends ({duration:g}s)"
            return Expectation(ln, text, cond, "at", at_s=t)
        m = _WINDOW.match(rest)
        if m:
            bounds = during_window(m, duration)
            if isinstance(bounds, str):
                return f"{where}: {bounds}"
            return Expectation(ln, text, cond, "during", start_s=bounds[0], end_s=bounds[1])
    except ValueError as e:
        return f"{where}: {e}"
    return f"{where}: {rest!r} — say 'at 10m', 'during 10m..20m', 'always', 'at end' or 'overall'"


# ---------------------------------------------------------------------------------------
# observing the factory


def scenario_for_layout(
    layout: Layout, duration_s: float, seed: int | None = None, tick_s: float | None = None
) -> Scenario:
    """A layout run as a scenario with no events (the baseline of a what-if)."""
    return Scenario(
        layout.name,
        layout.description,
        layout.file,
        layout,
        layout.seed if seed is None else seed,
        duration_s,
        0.0,
        tick_s,
        False,
        (),
        (),
        (),
    )
