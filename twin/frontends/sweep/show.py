"""``twin sweep --show DIR``: the best grid points per KPI and the Pareto fronts.

The fronts are drawn with plotext in the terminal; the same text (colours included) is
recorded by rich and saved as ``DIR/front-X-vs-Y.svg`` — what the terminal shows, as a
file, with no plotting library beyond the one that draws it (matplotlib would add ~40 MB
for a chart that says nothing more, and plotext cannot write PNG).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from twin.core.api import kpis_by_direction
from twin.core.units import format_metric
from twin.frontends.sweep.results import Results, best, pareto

PLOT_SIZE = (88, 22)


def show(folder: Path, console: Console | None = None) -> list[Path]:
    """Print the results of the sweep in ``folder``; returns the SVG files written."""
    res = Results(folder)
    con = console or Console()
    summary = res.summary()
    done, errors = len(res.rows), res.errors
    con.print(
        f"[bold]{res.meta['sweep']}[/] — {done:,} of {res.total:,} runs finished"
        + (f", [red]{errors} failed[/]" if errors else "")
        + f"; {len(summary)} grid points × {len({r['seed'] for r in res.meta['runs']})} seeds"
    )
    if not res.rows:
        con.print("no finished runs yet")
        return []
    failed = [r for r in res.rows if r["status"] == "error"]
    for r in failed[:5]:
        con.print(
            f"[red]✘ run {r['run']}[/] ({_point(res.axes, r)}, seed {r['seed']}): {r['error']}"
        )
    if len(failed) > 5:
        con.print(f"[red]… and {len(failed) - 5} more failed runs[/] (see results.parquet)")
    given = [g for g in res.meta.get("given", ()) if g in res.axes]
    choices = [a for a in res.axes if a not in given]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for s in summary:
        groups.setdefault(tuple(s[g] for g in given), []).append(s)
    written = []
    for key, rows in groups.items():
        where = ", ".join(f"{g}={v}" for g, v in zip(given, key, strict=True))
        con.print(best_table(res.keep, choices, rows, where, 1 if given else 3))
        for x, y in res.meta["fronts"]:
            front = pareto(rows, x, y)
            if not front:
                continue
            plot = front_plot(rows, front, x, y, where)
            table = front_table(choices, front, x, y, where)
            con.print(Text.from_ansi(plot))
            con.print(table)
            slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"-{where}") if where else ""
            written.append(_save_svg(folder / f"front-{x}-vs-{y}{slug}.svg", plot, table))
    for p in written:
        con.print(f"plot: {p}")
    return written


def _point(axes: list[str], row: dict[str, Any]) -> str:
    return ", ".join(f"{a}={row[a]}" for a in axes) or "base"


def _mean_spread(kpi: str, s: dict[str, Any]) -> str:
    """The mean over seeds, and their spread (standard deviation) relative to it."""
    mean, std = s.get(f"{kpi}_mean"), s.get(f"{kpi}_std")
    if mean is None:
        return "—"
    rel = 100.0 * std / abs(mean) if std and mean else 0.0
    return fmt(kpi, mean) + (f" ±{rel:.2g}%" if rel >= 0.005 and s.get("runs", 0) > 1 else "")


def fmt(kpi: str, v: float) -> str:
    if kpi.endswith("_per_mw") or kpi.startswith("requests"):
        return f"{v:,.0f}"
    return format_metric(kpi, v)


def best_table(
    keep: list[str], axes: list[str], summary: list[dict[str, Any]], where: str = "", n: int = 3
) -> Table:
    t = Table(
        title=f"best grid points per KPI{f' at {where}' if where else ''} "
        "(↑ higher is better, ↓ lower; mean over seeds ±std)",
        title_justify="left",
    )
    t.add_column("KPI", style="bold", no_wrap=True)
    if n > 1:
        t.add_column("rank", justify="right")
    for a in axes:
        t.add_column(a)
    t.add_column("mean", justify="right", no_wrap=True)
    t.add_column("seeds", justify="right")
    for k in keep:
        for i, s in enumerate(best(summary, k, n)):
            label = f"{k} {'↑' if kpis_by_direction()[k] == 'max' else '↓'}" if i == 0 else ""
            rank = [str(i + 1)] if n > 1 else []
            t.add_row(label, *rank, *(str(s[a]) for a in axes), _mean_spread(k, s),
                      str(s["runs"]))  # fmt: skip
        if n > 1:
            t.add_section()
    return t


def front_table(
    axes: list[str], front: list[dict[str, Any]], x: str, y: str, where: str = ""
) -> Table:
    t = Table(
        title=f"Pareto front: {x} vs {y}{f' at {where}' if where else ''}", title_justify="left"
    )
    for a in axes:
        t.add_column(a)
    t.add_column(x, justify="right")
    t.add_column(y, justify="right")
    for s in front:
        t.add_row(*(str(s[a]) for a in axes), _mean_spread(x, s), _mean_spread(y, s))
    return t


def front_plot(
    summary: list[dict[str, Any]], front: list[dict[str, Any]], x: str, y: str, where: str = ""
) -> str:
    """A scatter of every grid point's means with the front drawn over it (ANSI text)."""
    import plotext as plt

    pts = [s for s in summary if s.get(f"{x}_mean") is not None and s.get(f"{y}_mean") is not None]
    plt.clf()
    plt.plotsize(*PLOT_SIZE)
    plt.theme("clear")
    plt.scatter([s[f"{x}_mean"] for s in pts], [s[f"{y}_mean"] for s in pts],
                marker="o", color="gray", label="grid points")  # fmt: skip
    plt.plot([s[f"{x}_mean"] for s in front], [s[f"{y}_mean"] for s in front],
             marker="*", color="green", label="Pareto front")  # fmt: skip
    plt.title(f"{x} ({_better(x)}) vs {y} ({_better(y)}){f' at {where}' if where else ''}")
    plt.xlabel(x)
    plt.ylabel(y)
    out = plt.build()
    plt.clf()
    return out


def _better(kpi: str) -> str:
    return "higher is better" if kpis_by_direction()[kpi] == "max" else "lower is better"


def _save_svg(path: Path, plot: str, table: Table) -> Path:
    rec = Console(record=True, width=max(PLOT_SIZE[0] + 4, 100), file=_Null())
    rec.print(Text.from_ansi(plot))
    rec.print(table)
    try:
        rec.save_svg(str(path), title=path.stem)
    except OSError as e:
        from twin.core.errors import TwinError

        raise TwinError(f"sweep: cannot write {path}: {e.strerror or e}") from None
    return path


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
