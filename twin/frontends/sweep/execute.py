"""Running a sweep's runs on Ray, writing each result as it arrives.

A sweep's folder holds ``sweep.json`` (the plan's runs: id, grid point, seed),
``runs/ID.yaml`` (each run's scenario — ``twin run runs/ID.yaml`` is that run) and
``runs/ID.json`` (its result, written atomically when it arrives). A run whose result is
on disk is finished: a sweep started again on the same folder skips it, so an
interrupted sweep resumes where it stopped.

Every run is a Ray task calling `run_one`, which reads the run's scenario text and plays
it with ``twin run``'s own code (`run_cli.play`). A run that raises — or whose worker
dies — is recorded with its error; it never stops the sweep.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from twin.core.api import Plan, Run
from twin.core.errors import TwinError

#: Tasks in flight per CPU: enough to keep workers busy, few enough to stop quickly.
IN_FLIGHT_PER_CPU = 2


def run_one(text: str, where: str, catalog_dirs: tuple[str, ...] = ()) -> dict[str, Any]:
    """One run, as ``twin run WHERE`` would play it: its summary, verdict and the SHA-256
    of its JSON report — or the error that stopped it."""
    from twin.core.api import load_catalog, load_text, scenario_from_doc, to_json
    from twin.frontends import run_cli

    t0 = time.perf_counter()
    try:
        catalog = load_catalog(catalog_dirs)
        sc = scenario_from_doc(load_text(text, where), where, catalog, Path(where).parent)
        report = to_json(run_cli.play(sc, catalog))
        doc = json.loads(report)
        return {
            "status": "ok",
            "verdict": doc["status"],
            "error": None,
            "summary": doc["summary"],
            "report_sha256": hashlib.sha256(report.encode()).hexdigest(),
            "wall_s": round(time.perf_counter() - t0, 3),
        }
    except Exception as e:  # noqa: BLE001 — a run's failure is its result, never the sweep's
        return failure(e, time.perf_counter() - t0)


def failure(e: BaseException, wall_s: float = 0.0) -> dict[str, Any]:
    msg = " ".join(str(e).split()) or type(e).__name__
    kind = "" if isinstance(e, TwinError) else f"{type(e).__name__}: "
    return {
        "status": "error",
        "verdict": None,
        "error": (kind + msg)[:500],
        "summary": {},
        "report_sha256": None,
        "wall_s": round(wall_s, 3),
    }


class Folder:
    """The sweep's folder: its run list, each run's scenario, each finished run's result."""

    def __init__(self, path: Path):
        self.path = path
        self.runs_dir = path / "runs"

    def prepare(self, plan: Plan, runs: list[Run]) -> None:
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            meta = {
                "sweep": plan.name,
                "description": plan.description,
                "plan": str(Path(plan.file).resolve()),
                "base": plan.base,
                "axes": [a.name for a in plan.axes],
                "keep": list(plan.keep),
                "fronts": [list(p) for p in plan.fronts],
                "given": list(plan.given),
                "runs": [
                    {"id": r.id, "index": r.index, "point": r.point, "seed": r.seed} for r in runs
                ],
            }
            _atomic(self.path / "sweep.json", json.dumps(meta, indent=1) + "\n")
            for r in runs:
                f = self.scenario(r.id)
                if not f.exists():
                    _atomic(f, r.text)
        except OSError as e:
            raise TwinError(f"sweep: cannot write to {self.path}: {e.strerror or e}") from None

    def scenario(self, rid: str) -> Path:
        return self.runs_dir / f"{rid}.yaml"

    def result_path(self, rid: str) -> Path:
        return self.runs_dir / f"{rid}.json"

    def finished(self, runs: Iterable[Run], retry_errors: bool = False) -> set[str]:
        done = set()
        for r in runs:
            res = self.result(r.id)
            if res is not None and not (retry_errors and res["status"] == "error"):
                done.add(r.id)
        return done

    def result(self, rid: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.result_path(rid).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # not finished (or cut short while written: run it again)

    def record(self, run: Run, result: dict[str, Any]) -> None:
        doc = {"id": run.id, "index": run.index, "point": run.point, "seed": run.seed, **result}
        try:
            _atomic(self.result_path(run.id), json.dumps(doc, indent=1, sort_keys=True) + "\n")
        except OSError as e:
            raise TwinError(f"sweep: cannot write {self.result_path(run.id)}: {e}") from None


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def execute(
    runs: list[Run],
    folder: Folder,
    catalog_dirs: tuple[str, ...],
    workers: int,
    address: str | None,
    on_result: Callable[[Run, dict[str, Any]], None],
) -> None:
    """Run ``runs`` on Ray (a local instance of ``workers`` CPUs, or the cluster at
    ``address``; an already started Ray session is used as it is), recording each result
    as it arrives and calling ``on_result``."""
    if not runs:
        return
    import ray

    started = not ray.is_initialized()
    if started:
        _init(ray, workers, address)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_one)
        cpus = max(1, int(ray.cluster_resources().get("CPU", workers)))
        todo = list(reversed(runs))
        pending: dict[Any, Run] = {}
        while todo or pending:
            while todo and len(pending) < cpus * IN_FLIGHT_PER_CPU:
                r = todo.pop()
                ref = task.remote(r.text, str(folder.scenario(r.id)), catalog_dirs)
                pending[ref] = r
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                r = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001 — a worker that died: the run failed
                    result = failure(e)
                folder.record(r, result)
                on_result(r, result)
    finally:
        if started:
            ray.shutdown()


def _init(ray: Any, workers: int, address: str | None) -> None:
    import warnings

    kw: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
    try:
        with warnings.catch_warnings():  # Ray warns, then raises: the error says it once
            warnings.simplefilter("ignore")
            if address:
                ray.init(address=address, **kw)
            else:
                # "local": a Ray of our own, even where `ray start` left a cluster running
                ray.init(address="local", num_cpus=workers, include_dashboard=False, **kw)
    except Exception as e:  # noqa: BLE001 — a cluster that cannot be reached is bad input
        where = address or f"a local Ray instance of {workers} CPUs"
        raise TwinError(f"sweep: cannot start {where}: {' '.join(str(e).split())[:300]}") from None
