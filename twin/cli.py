"""The command-line entry: parses arguments and hands off to a front end.

Every user mistake (a ``TwinError``) is printed as one line on stderr with exit code 2;
tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from twin.core.errors import TwinError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(EXIT_USAGE, f"twin: {message} (see 'twin --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from twin.frontends import (
        check_cli,
        compare_cli,
        perf_cli,
        resume_cli,
        run_cli,
        summary,
        sweep,
        tui_cli,
    )
    from twin.frontends.classroom import cli as classroom_cli

    p = _Parser(
        prog="twin",
        usage="twin [options] [LAYOUT_OR_FILE] | twin COMMAND ...",
        description="A terminal digital twin of an AI factory. With no command, the live "
        "control room (TUI) on a layout: a built-in name or a YAML file (default: 'default').",
    )
    p.add_argument(
        "--catalog",
        action="append",
        default=[],
        metavar="DIR",
        help="extra catalog directory with GPU/model YAML files (also $TWIN_CATALOG)",
    )
    tui_cli.add_options(p)
    sub = p.add_subparsers(dest="command", parser_class=_Parser, prog="twin")
    summary.add_parser(sub)
    perf_cli.add_parser(sub)
    check_cli.add_parser(sub)
    run_cli.add_parser(sub)
    resume_cli.add_parser(sub)
    compare_cli.add_parser(sub)
    sweep.add_parser(sub)
    classroom_cli.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from twin.frontends import tui_cli

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    argv, target = tui_cli.split_target(parser, argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return int(e.code or 0)
    try:
        if args.command is None:
            return tui_cli.run(args, target)
        return args.handler(args)
    except TwinError as e:
        print(f"twin: {e}" if "\n" not in str(e) else str(e), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # `python -m twin.cli` as well as `twin` and `python -m twin`
    sys.exit(main())
