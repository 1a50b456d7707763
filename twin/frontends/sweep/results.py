"""A sweep's results: one row per run, a summary over seeds, the best points and Pareto fronts.

``results.parquet`` has a row per run of the plan: ``run`` (its id), ``index``, one
column per axis (the value as written), ``seed``, ``status`` (``ok`` or ``error``),
``verdict`` (the scenario's: passed, failed, aborted), ``error``, the kept KPIs and
``wall_s``. ``summary.parquet`` has a row per grid point: the axes, ``runs`` (finished
without error), ``errors``, and for each KPI its ``_mean``, ``_std`` (population standard
deviation over seeds), ``_min`` and ``_max``. A run not finished yet has no row.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from twin.core.api import kpis_by_direction
from twin.core.errors import TwinError


class Results:
    """What a sweep folder holds: its plan's runs and the results on disk."""

    def __init__(self, folder: Path):
        self.folder = folder
        try:
            self.meta = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise TwinError(
                f"sweep: --show: {folder} is not a sweep's folder (no readable sweep.json)"
            ) from None
        self.axes: list[str] = list(self.meta["axes"])
        self.keep: list[str] = list(self.meta["keep"])
        self.rows = self._rows()

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for run in self.meta["runs"]:
            try:
                res = json.loads(
                    (self.folder / "runs" / f"{run['id']}.json").read_text(encoding="utf-8")
                )
            except (OSError, ValueError):
                continue
            row: dict[str, Any] = {"run": run["id"], "index": run["index"]}
            row.update({a: run["point"][a] for a in self.axes})
            row.update(seed=run["seed"], status=res["status"], verdict=res.get("verdict"))
            row["error"] = res.get("error")
            summary = res.get("summary") or {}
            row.update({k: _num(summary.get(k)) for k in self.keep})
            row["wall_s"] = res.get("wall_s")
            rows.append(row)
        return rows

    @property
    def total(self) -> int:
        return len(self.meta["runs"])

    @property
    def errors(self) -> int:
        return sum(r["status"] == "error" for r in self.rows)

    def summary(self) -> list[dict[str, Any]]:
        """One row per grid point (in grid order) with the mean and spread of each KPI."""
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for run in self.meta["runs"]:
            groups.setdefault(tuple(run["point"][a] for a in self.axes), [])
        for r in self.rows:
            groups[tuple(r[a] for a in self.axes)].append(r)
        out = []
        for key, rows in groups.items():
            ok = [r for r in rows if r["status"] == "ok"]
            s: dict[str, Any] = dict(zip(self.axes, key, strict=True))
            s.update(runs=len(ok), errors=len(rows) - len(ok))
            for k in self.keep:
                vals = [r[k] for r in ok if r[k] is not None]
                mean = sum(vals) / len(vals) if vals else None
                s[f"{k}_mean"] = mean
                s[f"{k}_std"] = (
                    math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals)) if vals else None
                )
                s[f"{k}_min"] = min(vals) if vals else None
                s[f"{k}_max"] = max(vals) if vals else None
            out.append(s)
        return out

    def write(self, csv: bool = False) -> list[Path]:
        """``results.parquet`` and ``summary.parquet`` (and ``.csv`` of both with ``csv``)."""
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        text = {"run", "status", "verdict", "error", *self.axes}
        written = []
        for name, rows, cols in (
            ("results", self.rows, self.result_columns()),
            ("summary", self.summary(), self.summary_columns()),
        ):
            fields = [
                pa.field(
                    c,
                    pa.string()
                    if c in text
                    else pa.int64()
                    if c in ("index", "seed", "runs", "errors")
                    else pa.float64(),
                )
                for c in cols
            ]
            table = pa.Table.from_pylist(rows, schema=pa.schema(fields))
            path = self.folder / f"{name}.parquet"
            try:
                pq.write_table(table, path)
                written.append(path)
                if csv:
                    pacsv.write_csv(table, self.folder / f"{name}.csv")
                    written.append(self.folder / f"{name}.csv")
            except OSError as e:
                raise TwinError(f"sweep: cannot write {path}: {e}") from None
        return written

    def result_columns(self) -> list[str]:
        return [
            "run", "index", *self.axes, "seed", "status", "verdict", "error", *self.keep, "wall_s",
        ]  # fmt: skip

    def summary_columns(self) -> list[str]:
        stats = [f"{k}_{s}" for k in self.keep for s in ("mean", "std", "min", "max")]
        return [*self.axes, "runs", "errors", *stats]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def better(kpi: str, a: float, b: float) -> bool:
    """``a`` is strictly better than ``b`` for ``kpi``."""
    return a > b if kpis_by_direction()[kpi] == "max" else a < b


def best(summary: list[dict[str, Any]], kpi: str, n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` grid points with the best mean of ``kpi``."""
    have = [s for s in summary if s.get(f"{kpi}_mean") is not None]
    sign = -1.0 if kpis_by_direction()[kpi] == "max" else 1.0
    return sorted(have, key=lambda s: sign * s[f"{kpi}_mean"])[:n]


def pareto(summary: list[dict[str, Any]], x: str, y: str) -> list[dict[str, Any]]:
    """The grid points no other point beats on both ``x`` and ``y`` (means), sorted by ``x``."""
    pts = [s for s in summary if s.get(f"{x}_mean") is not None and s.get(f"{y}_mean") is not None]

    def dominated(p: dict[str, Any]) -> bool:
        px, py = p[f"{x}_mean"], p[f"{y}_mean"]
        for q in pts:
            qx, qy = q[f"{x}_mean"], q[f"{y}_mean"]
            no_worse = not better(x, px, qx) and not better(y, py, qy)
            if no_worse and (better(x, qx, px) or better(y, qy, py)):
                return True
        return False

    return sorted((p for p in pts if not dominated(p)), key=lambda p: p[f"{x}_mean"])
