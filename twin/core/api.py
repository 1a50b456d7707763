"""The one door from the front ends into the simulation core.

Front ends (the TUI, ``twin run``/``compare``/``sweep``/``perf``, the classroom) import
the core from here (and ``twin.core.errors``, ``units``, ``vocab`` for plain values); an
import-linter contract in ``pyproject.toml`` keeps it so. What is here:

Opening a factory
    ``open_target(target, catalog, seed=…)`` — a built-in layout, a layout file or a
    scenario (drill) file → a `Session`: ``apply(command)``, ``advance_to(t_s)``,
    ``snapshot()``, ``checkpoint()``/``restore(bytes)`` (the player's state included),
    ``copy()`` (an identical session: a class's per-trainee worlds), and ``factory``/
    ``player`` underneath. ``open_scenario(scenario, catalog, seed)`` does the same for a parsed
    `Scenario` — the one place a scenario's factory is set up (its layout, seed, tick;
    random faults off: a scenario's faults are its events).

Values and catalogs
    ``commands`` (``parse_command``, the command values, ``VERBS``, ``POLICIES``),
    ``kpis`` (the metric registry), ``load_catalog``/``Catalog``, ``load_layout``/
    ``Layout``/``builtin_layouts``, ``Snapshot`` and the ``RACK_*`` states.

Runs and reports
    ``Runner``/``scenario_report`` (a scenario headless), ``Recorder``/``report``/
    ``to_json`` (a layout headless), ``journal`` (recordings), ``sweep`` plans,
    ``serving`` (``twin perf``'s model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.core import commands, kpis, limits, serving
from twin.core.catalog import PRECISIONS, Catalog, load_catalog
from twin.core.commands import POLICIES, VERBS, Command, parse_command
from twin.core.engine import CheckpointError, EngineError, Factory, Snapshot
from twin.core.engine.checkpoint import peek
from twin.core.engine.snapshot import (
    RACK_DEGRADED,
    RACK_DOWN,
    RACK_DRAINED,
    RACK_OK,
    RACK_STATE_NAMES,
    RACK_SWAPPING,
    RACK_THROTTLED,
)
from twin.core.journal import Journal, check_writable, save_session
from twin.core.layout import (
    SCENARIO_KEYS,
    Layout,
    builtin_layouts,
    layout_from_doc,
    load_layout,
    rack_peak_kw,
    resolve_layout_path,
    summary_line,
)
from twin.core.report import Recorder, report, to_json
from twin.core.scenario import (
    Applied,
    Runner,
    Scenario,
    ScenarioPlayer,
    is_scenario_doc,
    load_scenario,
    margin,
    parse_condition,
    scenario_for_layout,
    scenario_from_doc,
    scenario_report,
)
from twin.core.scenario.drill import DRILL_KEYS
from twin.core.sweep import Plan, Run, is_plan_doc, kpis_by_direction, load_plan, plan_from_doc
from twin.core.yamlsrc import Reader, YMap, load_file, load_text

__all__ = [
    "Applied",
    "Catalog",
    "CheckpointError",
    "DRILL_KEYS",
    "Command",
    "EngineError",
    "Factory",
    "Journal",
    "Layout",
    "PRECISIONS",
    "POLICIES",
    "Plan",
    "RACK_DEGRADED",
    "RACK_DOWN",
    "RACK_DRAINED",
    "RACK_OK",
    "RACK_STATE_NAMES",
    "RACK_SWAPPING",
    "RACK_THROTTLED",
    "Reader",
    "Recorder",
    "Run",
    "Runner",
    "SCENARIO_KEYS",
    "Scenario",
    "ScenarioPlayer",
    "Session",
    "Snapshot",
    "VERBS",
    "YMap",
    "builtin_layouts",
    "check_writable",
    "commands",
    "is_plan_doc",
    "is_scenario_doc",
    "kpis",
    "kpis_by_direction",
    "layout_from_doc",
    "limits",
    "load_catalog",
    "load_file",
    "load_layout",
    "load_plan",
    "load_scenario",
    "load_text",
    "margin",
    "open_scenario",
    "open_target",
    "parse_command",
    "parse_condition",
    "peek",
    "plan_from_doc",
    "rack_peak_kw",
    "report",
    "resolve_layout_path",
    "save_session",
    "scenario_for_layout",
    "scenario_from_doc",
    "scenario_report",
    "serving",
    "summary_line",
    "to_json",
]


@dataclass
class Session:
    """A factory, and the scenario playing on it if there is one."""

    factory: Factory
    player: ScenarioPlayer | None = None

    @property
    def layout(self) -> Layout:
        return self.factory.layout

    @property
    def scenario(self) -> Scenario | None:
        return self.player.sc if self.player is not None else None

    def apply(self, cmd: Command) -> str:
        """Apply a factory command now; ``TwinError`` (one line) if it cannot apply."""
        return self.factory.apply(cmd)

    def advance_to(self, t_s: float) -> bool:
        """Advance to ``t_s`` (the scenario's events fire on the way); True if it ended or
        aborted on the way. With a scenario, the first advance runs its warm-up and starts its
        script (as ``twin run`` does) unless a front end started it already."""
        if self.player is not None:
            if not self.player.started:
                self.player.start()
            return bool(self.player.advance_to(t_s))
        self.factory.advance_to(t_s)
        return False

    def snapshot(self) -> Snapshot:
        return self.factory.snapshot()

    def checkpoint(self, context: dict[str, Any] | None = None) -> bytes:
        """The exact state as bytes: the engine's and, with a scenario, its player's (the
        core's state, also under a front end's subclass); ``context`` (JSON values)
        travels with it."""
        ctx = dict(context or {})
        if self.player is not None:
            ctx["player"] = ScenarioPlayer.state(self.player)
        return self.factory.checkpoint(ctx)

    def restore(self, data: bytes) -> dict[str, Any]:
        """Load a checkpoint of a session on the same layout and tick (the player's state
        too); returns its context. ``CheckpointError`` (one line) if it does not fit."""
        ctx = self.factory.restore(data)
        if self.player is not None:
            if "player" not in ctx:
                raise CheckpointError("checkpoint: it holds no scenario state; this plays one")
            self.player.load_state(ctx.pop("player"))
        return ctx

    def copy(self, data: bytes | None = None) -> Session:
        """A new session on the same layout, catalog, seed and tick, with a player of the
        same class on the same scenario, restored to ``data`` (default: this session now).
        A class's per-trainee worlds are copies of the warmed-up one."""
        f = self.factory
        factory = Factory(f.layout, f.catalog, seed=f.seed, faults=False, tick_s=f.dt)
        player = type(self.player)(self.player.sc, factory) if self.player is not None else None
        twin = Session(factory, player)
        twin.restore(self.checkpoint() if data is None else data)
        return twin


def open_scenario(
    sc: Scenario,
    catalog: Catalog | None = None,
    seed: int | None = None,
    player: Callable[[Scenario, Factory], ScenarioPlayer] = ScenarioPlayer,
) -> Session:
    """A scenario's factory (its layout, tick and seed unless ``seed`` is given; random
    faults off) with ``player`` (a `ScenarioPlayer` or a front end's subclass) on it."""
    factory = Factory(
        sc.layout,
        catalog or load_catalog(),
        seed=sc.seed if seed is None else seed,
        faults=False,
        tick_s=sc.tick_s,
    )
    return Session(factory, player(sc, factory))


def open_target(
    target: str | Path,
    catalog: Catalog | None = None,
    *,
    seed: int | None = None,
    faults: bool = False,
    tick_s: float | None = None,
    player: Callable[[Scenario, Factory], ScenarioPlayer] = ScenarioPlayer,
) -> Session:
    """A built-in layout, a layout file or a scenario (drill) file, ready to run."""
    catalog = catalog or load_catalog()
    path = Path(target)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        doc = load_file(path)
        if is_scenario_doc(doc):
            sc = scenario_from_doc(doc, str(path), catalog, base_dir=path.parent)
            return open_scenario(sc, catalog, seed, player)
    layout = load_layout(str(target), catalog)
    return Session(Factory(layout, catalog, seed=seed, faults=faults, tick_s=tick_s))
