"""Building a class's worlds: the target warmed up once, then copied exactly for each world.

The first world is the warmed-up factory itself; every other (``--per-trainee``) is a new
factory restored from the checkpoint taken right after the warm-up, so each trainee starts
from the very same instant on the same seed, in a fraction of the warm-up's time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from twin.core.api import Session, check_writable, load_catalog, open_target
from twin.frontends.classroom import codec
from twin.frontends.classroom.journal import ClassSession
from twin.frontends.classroom.world import World, make_world
from twin.frontends.recording import scenario_overrides


def world_builder(args: argparse.Namespace):
    """(new_world(name) -> World, what the server tells each console on attach)."""
    from twin.frontends.run_cli import scenario_doc
    from twin.frontends.tui_cli import WARM_UP_S, _warmed_up

    catalog_dirs = list(getattr(args, "catalog", None) or [])
    catalog = load_catalog(catalog_dirs)
    target = args.target
    sdoc = scenario_doc(target)
    record = Path(args.record) if args.record else None
    if record is not None:
        if Path(target).is_file() and record.resolve() == Path(target).resolve():
            raise_twin(f"serve: --record: {record} is the file being played; record elsewhere")
        check_writable(record, args.force, "--record")
    if sdoc is not None:
        player0 = _warmed_up(sdoc, target, catalog, args.seed)
        sim0 = Session(player0.factory, player0)
        sc = player0.sc
        layout, tick_s, history_from = sc.layout, sc.tick_s, 0.6 * sc.warmup_s
    else:
        sc, player0 = None, None
        sim0 = open_target(target, catalog, seed=args.seed)
        sim0.advance_to(WARM_UP_S)
        layout = sim0.layout
        tick_s, history_from = layout.tick_s, 0.6 * WARM_UP_S
    factory0 = sim0.factory
    base = sim0.checkpoint()
    seed = factory0.seed
    made = [0]

    def new_world(name: str) -> World:
        sim = sim0 if made[0] == 0 else sim0.copy(base)
        player = sim.player
        made[0] += 1
        path = None
        if record is not None:
            path = record if not args.per_trainee else record.with_stem(f"{record.stem}-{name}")
        session = ClassSession(
            layout,
            seed,
            tick_s,
            t0=player.t0 if player else 0.0,
            warmup_s=sc.warmup_s if sc else 0.0,
            overrides=scenario_overrides(sc.file) if sc else None,
            scenario=sc.name if sc else None,
            record=path,
            scenario_file=sc.file if sc else None,
            force=args.force,
        )
        if session.journal is not None:
            session.comment(
                f"world {name} of a class (twin serve); each command names its author (by:)"
            )
        return make_world(name, sim, session, args.speed, args.frozen)

    welcome = {
        "title": sc.name if sc else layout.name,
        "layout": codec.encode(layout),
        "catalog": catalog_dirs,
        "seed": seed,
        "start_hour": factory0.start_hour,
        "history_from_s": history_from,
        "scenario": None
        if sc is None
        else {
            "name": sc.name,
            "warmup_s": sc.warmup_s,
            "duration_s": sc.duration_s,
            "t0": player0.t0 if player0 else 0.0,
        },
        "scenario_description": sc.description if sc else "",
    }
    return new_world, welcome


def raise_twin(text: str):
    from twin.core.errors import TwinError

    raise TwinError(text)
