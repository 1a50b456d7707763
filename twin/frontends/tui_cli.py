"""``twin [LAYOUT_OR_FILE]``: the live control room, and how the command line reaches it.

``twin SCENARIO.yaml`` plays a scenario in it (warm-up first, with a progress bar, then
the scenario clock from 0 at 1×); ``--blind`` hides what the script does next and
``--record FILE`` journals every command applied, as it is applied.

The TUI takes a positional target next to the subcommands (``twin hyperscale`` but also
``twin perf …``), which argparse cannot express with subparsers; `split_target` takes the
target out of the argument list before parsing when it is not a subcommand's name.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from contextlib import contextmanager

#: Top-level options that take a value (so their value is not mistaken for the target).
_VALUED = ("--catalog", "--seed", "--speed", "--record")


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text.rstrip("xX×"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"speed must be a factor like 1, 60 or 600, or 'max', not {text!r}"
        ) from None
    if not 0 < value <= 1e6:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"speed must be above 0 and at most 1000000, not {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to 2^63-1, got {text!r}")
    return value


def add_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "the live control room: twin [LAYOUT_OR_FILE | SCENARIO.yaml] "
        "(default: the built-in 'default'; a scenario plays live)"
    )
    g.add_argument(
        "--readonly",
        action="store_true",
        help="observe only: commands are refused, navigation works",
    )
    g.add_argument("--seed", type=_seed, metavar="N", help="random seed (default: the layout's)")
    g.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="X",
        help="start at X times real time (1, 10, 60, 600 or max; default 1)",
    )
    g.add_argument(
        "--faults", action="store_true", help="random faults from published failure rates"
    )
    g.add_argument(
        "--blind",
        action="store_true",
        help="with a scenario: hide its upcoming events (trainees see only what has happened)",
    )
    g.add_argument(
        "--record",
        metavar="FILE",
        help="write every command applied (yours and a scenario's) to FILE as it happens: "
        "a scenario file that replays the session (twin run FILE); an existing FILE is refused",
    )
    g.add_argument("--force", action="store_true", help="with --record: replace FILE if it exists")


def split_target(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[list[str], str | None]:
    """(arguments without the TUI target, the target) — no target if a subcommand comes first."""
    commands: set[str] = set()
    for action in parser._actions:  # argparse keeps subcommands here and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            commands |= set(action.choices)
    args = list(argv)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args[:i] + args[i + 2 :], (args[i + 1] if i + 1 < len(args) else None)
        if a in _VALUED:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        if a in commands:
            return args, None
        return args[:i] + args[i + 1 :], a
    return args, None


def run(args: argparse.Namespace, target: str | None) -> int:
    from pathlib import Path

    from twin.core.api import load_catalog, load_layout
    from twin.core.errors import TwinError
    from twin.frontends.run_cli import scenario_doc

    catalog = load_catalog(getattr(args, "catalog", ()) or ())
    record = getattr(args, "record", None)
    blind = getattr(args, "blind", False)
    sdoc = scenario_doc(target) if target else None  # a bad file: FILE:LINE: message, exit 2
    force = getattr(args, "force", False)
    if record is not None:
        from twin.core.api import check_writable

        out = Path(record)
        if args.readonly:
            raise TwinError("--readonly writes nothing; drop --record (or --readonly)")
        if target and Path(target).is_file() and out.resolve() == Path(target).resolve():
            raise TwinError(f"--record: {record} is the file being played; record to another file")
        check_writable(out, force, "--record")
    elif force:
        raise TwinError("--force only goes with --record FILE (to replace FILE)")
    player = None
    if sdoc is not None:
        if args.faults:
            raise TwinError("a scenario sets its own random faults ('faults:'); drop --faults")
        player = _warmed_up(sdoc, target, catalog, args.seed)
        layout = player.sc.layout
    else:
        if blind:
            raise TwinError(
                "--blind hides a scenario's upcoming events; give a scenario file (twin SCENARIO.yaml --blind)"
            )
        layout = load_layout(target or "default", catalog)  # a bad name or file: one line, exit 2
    from twin.frontends.tui.app import TwinApp

    with _progress(
        f"{layout.name}: warming up to steady state" if player is None else None, WARM_UP_S
    ) as follow:
        app = TwinApp(
            layout,
            catalog=catalog,
            seed=args.seed,
            speed=args.speed,
            readonly=args.readonly,
            faults=args.faults,
            scenario=player,
            blind=blind,
            record=record,
            force=force,
            warm_up_s=WARM_UP_S if player is None else 0.0,
            warm_up_progress=follow,
        )
    if record is not None:
        _close_on_hangup(app)
    previous = _exit_on_signals(app)
    try:
        app.run()
    finally:
        app.close_recording()
        _restore_signals(previous)
    if app.session.recording is not None:
        print(
            f"recorded {len(app.session.entries)} commands to {app.session.recording} (replay: twin run {app.session.recording})"
        )
    return (
        app.return_code or 0
    )  # a crash: Textual restored the terminal, printed the error, and set 1


def _exit_on_signals(app) -> dict:
    """SIGTERM and SIGINT end the session as quitting does: the app exits (Textual restores
    the terminal: alternate screen, mouse reporting), the recording gets its closing line,
    and twin exits 128 + the signal's number."""
    import asyncio
    import signal

    def stop(signum, frame) -> None:
        app.close_recording(timeout=1.0)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not running yet (or any more): leave as the signal would
            raise SystemExit(128 + signum) from None
        loop.call_soon_threadsafe(lambda: app.exit(return_code=128 + signum))

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(
            ValueError
        ):  # not the main thread (tests drive the app from another)
            previous[sig] = signal.signal(sig, stop)
    return previous


def _restore_signals(previous: dict) -> None:
    import signal

    for sig, handler in previous.items():
        signal.signal(sig, handler)


#: Simulated seconds a layout runs before the control room's first frame: queues, caches
#: and the latency windows are at steady state by then (the gauges move < 1 % after it).
WARM_UP_S = 300.0


@contextmanager
def _progress(label: str | None, total: float):
    """A one-line progress bar on stderr while ``label`` runs (none when not a terminal)."""
    import sys

    if label is None or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn

    from twin.core.units import format_duration

    with Progress(
        TextColumn(label), BarColumn(), TextColumn("{task.fields[clock]}"), transient=True
    ) as bar:
        task = bar.add_task("warm-up", total=total, clock="0s")
        yield lambda t, _total: bar.update(
            task, completed=t, clock=f"{format_duration(t)} of {format_duration(total)}"
        )


def _close_on_hangup(app) -> None:
    """A dropped connection (SIGHUP) still ends the recording with the session's length,
    then ends twin as SIGHUP always does (no process is left behind)."""
    import os
    import signal

    def hangup(signum, frame) -> None:
        app.close_recording(timeout=1.0)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGHUP)

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, hangup)


def _warmed_up(sdoc, target: str, catalog, seed: int | None):
    """The scenario parsed, its factory built and its warm-up run (with a progress bar on a terminal)."""
    import sys
    from pathlib import Path

    from twin.core.api import open_scenario, scenario_from_doc
    from twin.core.units import format_duration
    from twin.frontends.playback import ScenarioPlayer

    sc = scenario_from_doc(sdoc, target, catalog, base_dir=Path(target).parent)
    player = open_scenario(sc, catalog, seed, ScenarioPlayer).player
    if sc.warmup_s > 0 and sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(f"{sc.name}: warming up"),
            BarColumn(),
            TextColumn("{task.fields[clock]}"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("warm-up", total=sc.warmup_s, clock="0s")
            player.warm_up(lambda t, total: bar.update(task, completed=t, clock=format_duration(t)))
    else:
        player.warm_up()
    return player
