"""``twin sweep PLAN.yaml``: a grid of scenario runs on all cores (Ray), or on a Ray cluster.

The plan format and its expansion into runs live in ``twin.core.sweep``; this package
runs them (``execute``), tabulates them (``results``) and shows them (``show``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from twin.core.errors import TwinError

EXIT_OK, EXIT_FAILED = 0, 1
MAX_WORKERS = 1024


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a plan's grid of scenario changes × seeds in parallel (Ray) and tabulate the KPIs",
        description="Expand a sweep plan into scenario runs and run them on Ray — a local instance "
        "on this machine's cores, or a cluster with --address — writing each result as it arrives "
        "(run the same command again to resume). Writes results.parquet (one row per run) and "
        "summary.parquet (mean and spread over seeds). '--show DIR' prints the best grid points "
        "and the Pareto fronts. Exit 1 if a run failed.",
    )
    p.add_argument("plan", metavar="PLAN.yaml", nargs="?", help="a sweep plan (see README)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"CPUs of the local Ray instance (default: all, {os.cpu_count()})",
    )
    p.add_argument(
        "--address",
        metavar="ray://HOST:PORT",
        help="run on this Ray cluster instead (twin and the plan's files on every node)",
    )
    p.add_argument("--out", metavar="DIR", help="the sweep's folder (default: PLAN-sweep/)")
    p.add_argument("--csv", action="store_true", help="also write results.csv and summary.csv")
    p.add_argument(
        "--retry-failed", action="store_true", help="run again the runs that failed last time"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no result tables")
    p.add_argument(
        "--show", metavar="DIR", help="print a finished (or partial) sweep's results and plot"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from twin.frontends.sweep.show import show

    if args.show:
        if args.plan:
            raise TwinError("sweep: give a plan to run, or --show DIR, not both")
        show(Path(args.show))
        return EXIT_OK
    if not args.plan:
        raise TwinError("sweep: give a plan (PLAN.yaml), or --show DIR")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if not 1 <= workers <= MAX_WORKERS:
        raise TwinError(f"sweep: --workers: {workers} is out of range: from 1 to {MAX_WORKERS}")
    if args.address and args.workers is not None:
        raise TwinError("sweep: --workers sizes a local Ray instance; a cluster has its own")
    return sweep(args, workers)


def sweep(args: argparse.Namespace, workers: int) -> int:
    from twin.core.api import load_catalog, load_plan
    from twin.frontends.sweep.execute import Folder, execute
    from twin.frontends.sweep.results import Results

    catalog_dirs = tuple(str(Path(d).resolve()) for d in args.catalog or ())
    plan = load_plan(args.plan, load_catalog(catalog_dirs))
    out = Path(args.out) if args.out else Path(f"{Path(args.plan).stem}-sweep")
    if out.exists() and not out.is_dir():
        raise TwinError(f"sweep: --out: {out} is a file, not a folder")
    runs = plan.runs()
    folder = Folder(out)
    folder.prepare(plan, runs)
    done = folder.finished(runs, retry_errors=args.retry_failed)
    todo = [r for r in runs if r.id not in done]
    where = args.address or f"{workers} local worker{'s' * (workers != 1)}"
    print(
        f"sweep {plan.name}: {len(runs):,} runs ({plan.points:,} grid points × {len(plan.seeds)} "
        f"seeds){f', {len(done):,} finished already' if done else ''}; {len(todo):,} to run on "
        f"{where} → {out}/",
        flush=True,
    )
    tally = {"done": 0, "failed": 0}
    t0 = time.monotonic()
    try:
        with _progress(plan.name, len(todo), not args.quiet and sys.stderr.isatty()) as tick:

            def on_result(_run: Any, result: dict[str, Any]) -> None:
                tally["done"] += 1
                tally["failed"] += result["status"] == "error"
                tick(tally["failed"])

            execute(todo, folder, catalog_dirs, workers, args.address, on_result)
    except KeyboardInterrupt:
        print(
            f"interrupted after {tally['done']:,} runs; the same command resumes the sweep",
            file=sys.stderr,
        )
        return 130
    res = Results(out)
    written = res.write(csv=args.csv)
    wall = time.monotonic() - t0
    rate = f", {tally['done'] / wall * 60:,.1f} runs/min" if tally["done"] and wall > 0 else ""
    print(
        f"{tally['done']:,} runs in {wall:,.1f} s{rate}: {tally['done'] - tally['failed']:,} ok, "
        f"{tally['failed']:,} failed; {len(res.rows):,} of {res.total:,} runs in the table"
    )
    for p in written:
        print(f"table: {p}")
    if not args.quiet:
        from twin.frontends.sweep.show import show

        show(out)
    return EXIT_FAILED if res.errors else EXIT_OK


class _progress:
    """A rich progress bar of runs done, failed and the time left (a no-op when not shown)."""

    def __init__(self, name: str, total: int, visible: bool):
        self.name, self.total, self.visible = name, total, visible
        self.bar: Any = None

    def __enter__(self):
        if not self.visible or not self.total:
            return lambda failed: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn(self.name),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs · [red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.bar.__enter__()
        task = self.bar.add_task("sweep", total=self.total, failed=0)
        return lambda failed: self.bar.update(task, advance=1, failed=failed)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
