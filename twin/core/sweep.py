"""Sweep plans: a grid of scenario changes × seeds, expanded into concrete scenario runs.

A plan names a ``base`` (a scenario file, a layout file or a built-in layout), the
``duration`` (and optionally ``warmup`` and ``tick``) of every run, ``seeds``, ``axes``
and the KPIs to ``keep``. An axis either sets a key of the scenario (``set:
overrides.rows.row-b`` — any override a scenario allows) or adds a command at a time
(``do: "cap {}"``, ``at: 0s``), and lists its ``values``. The grid is the product of the
axes; every point is run once per seed.

Each run is a scenario file's text (``Run.text``): the base scenario with the axis values
applied, its seed and a name. ``twin run`` on that text is the run, byte for byte — the
sweep's executor reads it with the same reader and plays it with the same code. A run's
id is a hash of its text, so the same plan gives the same ids and an interrupted sweep
knows which runs it has.

Every mistake in a plan is reported in one pass as ``FILE:LINE: message``; a value an
axis gives is checked by building the base scenario with that value alone, and any
mistake found there is reported at the value's line in the plan.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from twin.core import kpis, limits
from twin.core.catalog import Catalog, load_catalog
from twin.core.errors import InputError, TwinError
from twin.core.layout import resolve_layout_path
from twin.core.scenario import is_scenario_doc, scenario_from_doc
from twin.core.units import parse_duration_s
from twin.core.yamlsrc import Reader, YMap, integer, load_file, load_text


#: KPIs a plan may keep (the report's ``summary``), and which way is better — the
#: built-in ones; ``kpis_by_direction()`` reads the registry as it is now.
def kpis_by_direction() -> dict[str, str]:
    return {m.name: "max" if m.better == "higher" else "min" for m in kpis.metrics() if m.run}


KPIS = kpis_by_direction()
DEFAULT_KEEP = (
    "output_tok_s",
    "tok_s_per_mw",
    "usd_per_mtok",
    "ttft_p95_s",
    "tpot_p95_s",
    "slo_attainment",
    "facility_power_kw",
)
#: Pareto pairs shown when a plan names none: the first whose KPIs are both kept.
DEFAULT_FRONTS = (("usd_per_mtok", "slo_attainment"), ("tok_s_per_mw", "facility_power_kw"))
#: Scenario keys an axis may not set: a run's name and seed are the sweep's.
NOT_AXES = ("name", "seed", "description", "recorded")
MAX_RUNS = 100_000  # a grid this large is a typo, not a plan

#: The plan format: every top-level key and what it means (``twin check`` and the README).
PLAN_KEYS: dict[str, str] = {
    "sweep": "the plan's name (marks the file as a sweep plan)",
    "description": "one line on what the plan asks",
    "base": "a scenario file, a layout file or a built-in layout (relative to the plan)",
    "duration": "simulated time of every run (default: the base scenario's)",
    "warmup": "warm-up before each run (default: the base scenario's, else 0s)",
    "tick": "engine step of every run (default: the base's)",
    "seeds": "the seeds every grid point runs with (default: the base's seed)",
    "axes": "the grid: each axis sets a scenario key (set:) or adds a command (do:, at:)",
    "keep": "the KPIs of the results table (default: the headline ones)",
    "fronts": "pairs of KPIs whose Pareto front `--show` draws",
    "given": "axes that are conditions, not choices: `--show` ranks and draws fronts per value",
}
AXIS_KEYS = ("name", "set", "do", "at", "values")


def is_plan_doc(doc: Any) -> bool:
    return isinstance(doc, dict) and ("sweep" in doc or "axes" in doc)


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    lines: tuple[int, ...]
    set: str | None = None  # a dotted scenario key
    do: str | None = None  # a command template: '{}' is the value
    at: str = "0s"


@dataclass(frozen=True)
class Run:
    """One concrete run: a scenario file's text, its grid point and seed."""

    id: str
    index: int
    point: dict[str, str]  # axis name -> value label
    seed: int
    text: str


@dataclass(frozen=True)
class Plan:
    name: str
    description: str
    file: str
    base: str  # as resolved: a file path or a built-in layout name
    base_kind: str  # "scenario" | "layout"
    seeds: tuple[int, ...]
    axes: tuple[Axis, ...]
    keep: tuple[str, ...]
    fronts: tuple[tuple[str, str], ...]
    scenario: dict[str, Any] = field(repr=False)
    given: tuple[str, ...] = ()  # the base scenario, plain data

    @property
    def points(self) -> int:
        n = 1
        for a in self.axes:
            n *= len(a.values)
        return n

    def runs(self) -> list[Run]:
        """The grid × seeds in order (axes as written, the last varying fastest; seeds innermost)."""
        out: list[Run] = []
        for combo in itertools.product(*(range(len(a.values)) for a in self.axes)):
            doc, point = apply_point(self.scenario, self.axes, combo)
            label = ", ".join(f"{k}={v}" for k, v in point.items())
            rest = {k: v for k, v in doc.items() if k not in ("name", "seed")}
            for seed in self.seeds:
                name = f"{self.name} [{label}{', ' if label else ''}seed {seed}]"
                text = scenario_text({"name": name, **rest, "seed": seed})
                rid = hashlib.sha256(text.encode()).hexdigest()[:12]
                out.append(Run(rid, len(out), point, seed, text))
        return out

    def summary_line(self) -> str:
        axes = " × ".join(f"{a.name} ({len(a.values)})" for a in self.axes) or "no axes"
        n = self.points * len(self.seeds)
        return (
            f"sweep {self.name}: base {self.base}, {axes} × {len(self.seeds)} seeds = {n:,} runs, "
            f"keeps {', '.join(self.keep)}"
        )


def scenario_text(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def apply_point(
    base: dict[str, Any], axes: tuple[Axis, ...], combo: tuple[int, ...]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The base scenario with each axis at its value ``combo[i]``, and the point's labels."""
    doc = copy.deepcopy(base)
    point: dict[str, str] = {}
    for a, i in zip(axes, combo, strict=True):
        point[a.name] = a.labels[i]
        value = a.values[i]
        if a.set is not None:
            _set_path(doc, a.set, copy.deepcopy(value))
        elif value is not None:
            cmd = a.do.replace("{}", str(value)) if a.do else str(value)
            doc.setdefault("events", []).append({"at": a.at, "do": cmd})
    return doc, point


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = doc
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def plain(x: Any) -> Any:
    """YAML-read data as plain dicts, lists and scalars (what ``yaml.safe_dump`` writes)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    return x


def label(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict):
        return ",".join(f"{k}={label(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "+".join(label(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------
# reading a plan


def load_plan(path: str | Path, catalog: Catalog | None = None) -> Plan:
    path = Path(path)
    return plan_from_doc(load_file(path), str(path), catalog)


def plan_from_doc(doc: Any, file: str, catalog: Catalog | None = None) -> Plan:
    catalog = catalog if catalog is not None else load_catalog()
    r = Reader(file)
    top = r.mapping(doc, "sweep plan")
    if top is None:
        r.raise_if_any()
    r.only(top, PLAN_KEYS, "sweep plan")
    name = r.get(top, "sweep", _name, "sweep plan", default=Path(file).stem)
    base, kind, scenario = _base(r, top, Path(file).parent)
    for key, check in (
        ("duration", limits.DURATION),
        ("warmup", limits.WARMUP),
        ("tick", limits.TICK),
    ):
        if key in top:
            n = len(r.problems)
            r.get(top, key, lambda v, c=check: c.check(parse_duration_s(v), v), "sweep plan")
            if scenario is not None and len(r.problems) == n:
                scenario[key] = plain(top[key])
    if kind == "layout" and "duration" not in top:
        r.error(top.line, "sweep plan: a layout base needs a 'duration' (e.g. 30m)")
    seeds = _seeds(r, top, scenario)
    axes = _axes(r, top)
    keep = _keep(r, top)
    fronts = _fronts(r, top, keep)
    given = _given(r, top, axes)
    if scenario is None:
        r.raise_if_any()
    scenario.pop("seed", None)
    plan = Plan(
        name, str(top.get("description") or ""), file, base, kind, seeds, axes, keep, fronts,
        scenario, given,
    )  # fmt: skip
    n = len(seeds) * plan.points
    if n > MAX_RUNS:
        r.error(top.line_of("axes"), f"sweep plan: {n:,} runs; at most {MAX_RUNS:,}")
    else:
        _check_values(r, plan, catalog, top.line_of("base"))
    r.raise_if_any()
    return plan


def _product(xs: Any) -> int:
    n = 1
    for x in xs:
        n *= x
    return n


def _name(v: Any) -> str:
    s = str(v).strip()
    if not s or len(s) > 80 or any(c in s for c in "\n[]"):
        raise ValueError(f"{s[:60]!r} is not a name (one line, up to 80 characters, no brackets)")
    return s


def _base(r: Reader, top: YMap, here: Path) -> tuple[str, str, dict[str, Any] | None]:
    """(the base as resolved, its kind, the base scenario as plain data)."""
    if "base" not in top:
        r.error(
            top.line, "sweep plan: missing required key 'base' (a scenario, layout or built-in)"
        )
        return "", "layout", None
    raw = str(top["base"])
    line = top.line_of("base")
    path = here / raw
    if path.is_file():
        try:
            doc = load_file(path)
        except InputError as e:
            r.problems.extend(e.problems)
            return raw, "scenario", None
        if is_scenario_doc(doc):
            sc = plain(doc)
            layout = str(sc.get("layout", ""))
            if layout and (path.parent / layout).exists():
                sc["layout"] = str((path.parent / layout).resolve())
            return str(path), "scenario", sc
        return str(path), "layout", {"layout": str(path.resolve())}
    try:
        resolve_layout_path(raw)
    except TwinError as e:
        msg = str(e).split(": ", 1)[-1] if isinstance(e, InputError) else str(e)
        r.error(line, f"sweep plan.base: {raw!r}: {msg}")
        return raw, "layout", None
    return raw, "layout", {"layout": raw}


def _seeds(r: Reader, top: YMap, scenario: dict[str, Any] | None) -> tuple[int, ...]:
    if "seeds" not in top:
        if scenario is not None and "seed" in scenario:
            try:
                return (int(limits.SEED.check(integer(scenario["seed"]))),)
            except (TypeError, ValueError):
                return ()  # the base scenario's own check reports it
        return (_layout_seed(scenario),) if scenario is not None else ()
    seq = r.sequence(top["seeds"], "sweep plan.seeds", top.line_of("seeds"))
    out: list[int] = []
    for i, v in enumerate(seq or []):
        try:
            out.append(int(limits.SEED.check(integer(v), v)))
        except (TypeError, ValueError) as e:
            r.error(seq.line_of(i), f"seeds[{i + 1}]: {e}")
    if seq is not None and not seq:
        r.error(top.line_of("seeds"), "sweep plan.seeds: give at least one seed")
    if len(set(out)) != len(out):
        r.error(top.line_of("seeds"), "sweep plan.seeds: a seed is listed twice")
    return tuple(out)


def _layout_seed(scenario: dict[str, Any]) -> int:
    from twin.core.layout import load_layout

    try:
        return load_layout(scenario["layout"]).seed
    except TwinError:
        return 0


def _axes(r: Reader, top: YMap) -> tuple[Axis, ...]:
    if "axes" not in top:
        return ()
    seq = r.sequence(top["axes"], "sweep plan.axes", top.line_of("axes"))
    out: list[Axis] = []
    for i, item in enumerate(seq or []):
        where = f"axes[{i + 1}]"
        m = r.mapping(item, where, seq.line_of(i))
        if m is None:
            continue
        r.only(m, AXIS_KEYS, where)
        if ("set" in m) == ("do" in m):
            r.error(
                m.line, f"{where}: give exactly one of 'set' (a scenario key) or 'do' (a command)"
            )
            continue
        path = str(m["set"]) if "set" in m else None
        if path is not None and (path.split(".")[0] in NOT_AXES or not all(path.split("."))):
            why = "the sweep's own" if path.split(".")[0] in NOT_AXES else "not a key path"
            r.error(m.line_of("set"), f"{where}.set: {path!r} is {why} (seeds: use 'seeds')")
            continue
        at = str(m.get("at", "0s"))
        if "at" in m:
            r.get(m, "at", lambda v: limits.DURATION.check(parse_duration_s(v) or 1e-9, v), where)
            if path is not None:
                r.error(m.line_of("at"), f"{where}.at: only a command axis (do:) has a time")
        name = r.get(m, "name", _name, where, default=path or str(m.get("do", "")).split()[0])
        raw = m.get("values")
        if isinstance(raw, YMap):  # {label: value}: the table shows the labels
            keys = list(raw)
            vals = tuple(plain(raw[k]) for k in keys)
            labels, lines = tuple(str(k) for k in keys), tuple(raw.line_of(k) for k in keys)
        else:
            values = r.sequence(raw, f"{where}.values (a list, or a mapping label: value)", m.line)
            if values is None:
                continue
            vals, lines = tuple(plain(v) for v in values), tuple(values.lines)
            labels = tuple(label(v) for v in vals)
        if not vals:
            r.error(
                m.line_of("values") if "values" in m else m.line,
                f"{where}.values: give at least one value",
            )
            continue
        if len(set(labels)) != len(labels):
            r.error(m.line_of("values"), f"{where}.values: a value is listed twice")
        if any(a.name == name for a in out):
            r.error(m.line, f"{where}: another axis is named {name!r}")
        out.append(Axis(name, vals, labels, lines, path, None if path else str(m["do"]), at))
    return tuple(out)


def _keep(r: Reader, top: YMap) -> tuple[str, ...]:
    if "keep" not in top:
        return DEFAULT_KEEP
    seq = r.sequence(top["keep"], "sweep plan.keep", top.line_of("keep"))
    out: list[str] = []
    known = kpis_by_direction()
    for i, k in enumerate(seq or []):
        if str(k) not in known:
            import difflib

            close = difflib.get_close_matches(str(k), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; KPIs: {', '.join(known)}"
            r.error(seq.line_of(i), f"keep[{i + 1}]: unknown KPI {str(k)!r}{hint}")
        elif str(k) not in out:
            out.append(str(k))
    return tuple(out)


def _fronts(r: Reader, top: YMap, keep: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if "fronts" not in top:
        return tuple(p for p in DEFAULT_FRONTS if set(p) <= set(keep))
    seq = r.sequence(top["fronts"], "sweep plan.fronts", top.line_of("fronts"))
    out = []
    for i, pair in enumerate(seq or []):
        where = f"fronts[{i + 1}]"
        if not (isinstance(pair, list) and len(pair) == 2):
            r.error(
                seq.line_of(i), f"{where}: a pair of kept KPIs like [usd_per_mtok, slo_attainment]"
            )
            continue
        missing = [str(k) for k in pair if str(k) not in keep]
        if missing:
            r.error(seq.line_of(i), f"{where}: {', '.join(missing)} not in 'keep'")
            continue
        out.append((str(pair[0]), str(pair[1])))
    return tuple(out)


def _given(r: Reader, top: YMap, axes: tuple[Axis, ...]) -> tuple[str, ...]:
    if "given" not in top:
        return ()
    seq = r.sequence(top["given"], "sweep plan.given", top.line_of("given"))
    names = [a.name for a in axes]
    out = []
    for i, g in enumerate(seq or []):
        if str(g) not in names:
            r.error(
                seq.line_of(i),
                f"given[{i + 1}]: no axis named {str(g)!r}; axes: {', '.join(names)}",
            )
        else:
            out.append(str(g))
    return tuple(out)


def _check_values(r: Reader, plan: Plan, catalog: Catalog, base_line: int) -> None:
    """Check the base scenario file as it is, then with the plan's duration, warm-up and
    tick, then with each axis value alone; report what fails at the plan's line."""
    base_dir = Path(plan.file).parent
    if plan.base_kind == "scenario":
        try:
            scenario_from_doc(load_file(plan.base), plan.base, catalog, Path(plan.base).parent)
        except InputError as e:
            r.problems.extend(e.problems)
            return
    try:
        _build(plan.scenario, catalog, base_dir)
    except InputError as e:
        for msg in dict.fromkeys(p.message for p in e.problems):
            r.error(base_line, f"base {plan.base}: {msg}")
        return
    for a in plan.axes:
        for i, line in enumerate(a.lines):
            doc, _ = apply_point(plan.scenario, (a,), (i,))
            try:
                _build(doc, catalog, base_dir)
            except InputError as e:
                for msg in dict.fromkeys(p.message for p in e.problems):
                    msg = re.sub(r"^events\[\d+\]: ", "", msg) if a.do is not None else msg
                    r.error(line, f"axis {a.name!r} value {a.labels[i]!r}: {msg}")


def _build(doc: dict[str, Any], catalog: Catalog, base_dir: Path) -> None:
    text = scenario_text({"name": "check", **doc})
    scenario_from_doc(load_text(text, "run"), "run", catalog, base_dir=base_dir)
