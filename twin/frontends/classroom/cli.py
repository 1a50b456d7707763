"""``twin serve``, ``twin attach`` and ``twin passwd``: the command lines of a class."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

from twin.core.errors import TwinError
from twin.core.units import format_duration, parse_duration_s

COLORS = ("auto", "truecolor", "256", "16", "none")


def default_socket() -> Path:
    """``$XDG_RUNTIME_DIR/twin/class.sock`` (else a private folder in the temp folder)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "twin" if base else Path(tempfile.gettempdir()) / f"twin-{os.getuid()}"
    return folder / "class.sock"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from twin.frontends.tui_cli import _seed, _speed

    p = sub.add_parser(
        "serve",
        help="run a class: one simulation for many consoles (twin attach, or SSH)",
        description="Own the simulation, its clock, scenario, journal, checkpoints and roles, and "
        "serve it to consoles: 'twin attach' on this machine, or SSH logins with --ssh. Draws no screen.",
    )
    p.add_argument(
        "target", metavar="TARGET", help="a layout (built-in name or YAML) or a scenario"
    )
    p.add_argument("--socket", metavar="PATH", help=f"the Unix socket (default {default_socket()})")
    p.add_argument("--ssh", metavar="HOST:PORT", help="also accept SSH logins here (needs --users)")
    p.add_argument("--users", metavar="FILE", help="users.yaml: who may attach, and their roles")
    p.add_argument(
        "--host-key",
        metavar="FILE",
        help="the SSH host key (created once; default: ssh_host_key beside the users file)",
    )
    p.add_argument(
        "--record", metavar="FILE", help="journal the session to FILE (twin run replays it)"
    )
    p.add_argument("--force", action="store_true", help="with --record: replace FILE")
    p.add_argument(
        "--per-trainee", action="store_true", help="each trainee gets their own copy (same seed)"
    )
    p.add_argument(
        "--exam", action="store_true", help="freeze, rewind and hints for the instructor only"
    )
    p.add_argument("--seed", type=_seed, metavar="N", help="random seed (default: the layout's)")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X", help="clock speed (default 1)")
    p.add_argument(
        "--frozen", action="store_true", help="start with the clock frozen (the instructor runs it)"
    )
    p.add_argument(
        "--checkpoint-every",
        metavar="T",
        help="take a checkpoint every T of simulated time (e.g. 5m)",
    )
    p.add_argument(
        "--auto-freeze",
        action="store_true",
        help="freeze the clock when a critical alarm is raised",
    )
    p.add_argument(
        "--color",
        choices=COLORS,
        default="auto",
        help="colours of SSH consoles (SSH does not forward COLORTERM; default: auto)",
    )
    p.set_defaults(handler=serve)

    a = sub.add_parser(
        "attach",
        help="the control room on a class's simulation (twin serve)",
        description="Open the control room on the simulation 'twin serve' runs: commands go to the "
        "server, frames come back. The role comes from the server's users file (or --role).",
    )
    a.add_argument(
        "path", nargs="?", metavar="PATH", help=f"the socket (default {default_socket()})"
    )
    a.add_argument("--name", default=None, help="your name in the class (default: $USER)")
    a.add_argument(
        "--role",
        choices=("instructor", "trainee", "observer"),
        help="the role to ask for (a server with a users file decides it)",
    )
    a.set_defaults(handler=attach)

    pw = sub.add_parser(
        "passwd",
        help="print a salted password hash for a class's users file",
        description="Read a password (from the terminal, or one line of stdin) and print its argon2 "
        "hash for users.yaml.",
    )
    pw.set_defaults(handler=passwd)


# ---- serve ---------------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    from twin.frontends.classroom.roles import Policy
    from twin.frontends.classroom.server import Classroom
    from twin.frontends.classroom.setup import world_builder

    every = None
    if args.checkpoint_every:
        try:
            every = parse_duration_s(args.checkpoint_every)
        except ValueError as e:
            raise TwinError(f"serve: --checkpoint-every: {e}") from None
        if every <= 0:
            raise TwinError("serve: --checkpoint-every must be above 0")
    users = host_key = ssh_addr = None
    if args.ssh and not args.users:
        raise TwinError("serve: --ssh needs --users FILE (who may log in)")
    if args.users:
        from twin.frontends.classroom.users import load_users

        users = load_users(args.users)
        host_key = (
            Path(args.host_key) if args.host_key else Path(args.users).parent / "ssh_host_key"
        )
    elif args.host_key:
        raise TwinError("serve: --host-key goes with --ssh and --users")
    if args.ssh:
        ssh_addr = _host_port(args.ssh)
    if args.force and not args.record:
        raise TwinError("serve: --force only goes with --record FILE")
    sock = Path(args.socket) if args.socket else default_socket()
    if not sock.parent.exists():
        if args.socket:
            raise TwinError(f"serve: --socket: folder {sock.parent} does not exist")
        sock.parent.mkdir(mode=0o700, parents=True)
    new_world, welcome = world_builder(args)
    room = Classroom(
        new_world,
        policy=Policy(per_trainee=args.per_trainee, exam=args.exam),
        users={n: u.role for n, u in users.items()} if users is not None else None,
        checkpoint_every_s=every,
        auto_freeze=args.auto_freeze,
        welcome=welcome,
    )
    return asyncio.run(_serve(room, sock, args, users, host_key, ssh_addr))


async def _serve(room, sock: Path, args, users, host_key, ssh_addr) -> int:
    await room.start(sock)
    ssh = None
    if ssh_addr is not None:
        from twin.frontends.classroom.ssh import start_ssh

        ssh = await start_ssh(room, sock, users, host_key, ssh_addr, color=args.color)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(room.stop()))
    where = f" · ssh -t USER@{ssh_addr[0]} -p {ssh.port}" if ssh is not None else ""
    print(
        f"twin serve: {room.welcome['title']} on {sock}{where}\n"
        f"  attach: twin attach {sock} --name NAME · stop: Ctrl-C",
        flush=True,
    )
    await room.stopped.wait()
    if ssh is not None:
        await ssh.close()
    await room.stop()
    print("twin serve: stopped", file=sys.stderr)
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise TwinError(f"serve: --ssh {text!r}: expected HOST:PORT, e.g. 127.0.0.1:2222")
    return host.strip("[]"), int(port)


# ---- attach --------------------------------------------------------------------------------------
def attach(args: argparse.Namespace) -> int:
    from twin.frontends.classroom.console import RemoteApp
    from twin.frontends.classroom.remote import RemoteDriver

    path = Path(args.path) if args.path else default_socket()
    name = args.name or os.environ.get("USER") or "console"
    driver = RemoteDriver(path, name, args.role)
    app = RemoteApp(driver)
    try:
        app.run()
    finally:
        driver.close()
    return app.return_code or 0


# ---- passwd --------------------------------------------------------------------------------------
def passwd(args: argparse.Namespace) -> int:
    from twin.frontends.classroom.users import hash_password

    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise TwinError("passwd: the two passwords differ")
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    if len(first) < 8:
        raise TwinError("passwd: a password has at least 8 characters")
    print(hash_password(first))
    return 0


def describe(seconds: float) -> str:
    return format_duration(seconds)
