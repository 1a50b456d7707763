"""``twin [LAYOUT_OR_FILE]``: the live control room, and how the command line reaches it.

The TUI takes a positional target next to the subcommands (``twin hyperscale`` but also
``twin perf …``), which argparse cannot express with subparsers; `split_target` takes the
target out of the argument list before parsing when it is not a subcommand's name.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

#: Top-level options that take a value (so their value is not mistaken for the target).
_VALUED = ("--catalog", "--seed", "--speed")


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text.rstrip("xX×"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a factor like 1, 60 or 600, or 'max', not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"speed must be above 0, not {text!r}")
    return value


def add_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("the live control room: twin [LAYOUT_OR_FILE] (default: the built-in 'default')")
    g.add_argument("--readonly", action="store_true", help="observe only: commands are refused, navigation works")
    g.add_argument("--seed", type=int, metavar="N", help="random seed (default: the layout's)")
    g.add_argument("--speed", type=_speed, default=1.0, metavar="X",
                   help="start at X times real time (1, 10, 60, 600 or max; default 1)")
    g.add_argument("--faults", action="store_true", help="random faults from published failure rates")


def split_target(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[list[str], str | None]:
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
            return args[:i] + args[i + 2:], (args[i + 1] if i + 1 < len(args) else None)
        if a in _VALUED:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        if a in commands:
            return args, None
        return args[:i] + args[i + 1:], a
    return args, None


def run(args: argparse.Namespace, target: str | None) -> int:
    from twin.core.catalog import load_catalog
    from twin.core.layout import load_layout

    catalog = load_catalog(getattr(args, "catalog", ()) or ())
    layout = load_layout(target or "default", catalog)  # a bad name or file: one line, exit 2
    from twin.frontends.tui.app import TwinApp

    app = TwinApp(layout, catalog=catalog, seed=args.seed, speed=args.speed, readonly=args.readonly,
                  faults=args.faults)
    app.run()
    return 0
