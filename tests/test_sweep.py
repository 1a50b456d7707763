"""``twin sweep`` on a local Ray instance of 2 CPUs: one row per run, each row the KPIs
``twin run`` gives for the same scenario and seed, failed runs recorded, resumption.

One Ray session serves the whole module (starting Ray takes seconds); the sweep uses a
session already started and leaves it running, and the fixture shuts it down.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from engine_helpers import small_doc

from twin.cli import main

ray = pytest.importorskip("ray")

KEEP = ["output_tok_s", "usd_per_mtok", "slo_attainment", "facility_power_kw", "ttft_p95_s"]


@pytest.fixture(scope="module")
def ray_session():
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("layout") / "small.yaml"
    path.write_text(yaml.safe_dump(small_doc(), sort_keys=False), encoding="utf-8")
    return path


def write_plan(folder: Path, base: Path | str, **plan) -> Path:
    doc = {"sweep": "t", "base": str(base), "duration": "20s", **plan}
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def grid(ray_session, small_file, tmp_path_factory):
    """routing × prefill share of the disaggregated deployment, 2 seeds: 8 runs."""
    folder = tmp_path_factory.mktemp("grid")
    plan = write_plan(
        folder,
        small_file,
        seeds=[1, 2],
        axes=[
            {
                "name": "routing",
                "set": "overrides.routing",
                "values": ["least-loaded", "round-robin"],
            },
            {
                "name": "prefill",
                "set": "overrides.deployments.split-70b.prefill_share",
                "values": [0.25, 0.5],
            },
        ],
        keep=KEEP,
    )
    out = folder / "out"
    code = main(["sweep", str(plan), "--out", str(out), "--quiet", "--csv"])
    return plan, out, code


def rows(out: Path) -> list[dict]:
    return pq.read_table(out / "results.parquet").to_pylist()


def test_a_small_grid_gives_one_row_per_run_with_the_right_columns(grid):
    _, out, code = grid
    assert code == 0
    table = pq.read_table(out / "results.parquet")
    axes = ["routing", "prefill"]
    assert table.column_names == [
        "run", "index", *axes, "seed", "status", "verdict", "error", *KEEP, "wall_s",
    ]  # fmt: skip
    got = sorted((r["routing"], r["prefill"], r["seed"]) for r in table.to_pylist())
    assert got == sorted(
        (rt, pf, s)
        for rt in ("least-loaded", "round-robin")
        for pf in ("0.25", "0.5")
        for s in (1, 2)
    )
    assert all(r["status"] == "ok" and r["output_tok_s"] > 0 for r in table.to_pylist())
    assert (out / "results.csv").read_text().splitlines()[0].startswith('"run","index"')
    # the axes change the factory: the grid points do not all give the same figures
    assert len({r["output_tok_s"] for r in table.to_pylist()}) > 2


def test_the_summary_gives_mean_and_spread_over_seeds(grid):
    _, out, _ = grid
    summary = pq.read_table(out / "summary.parquet").to_pylist()
    assert len(summary) == 4
    for s in summary:
        mine = [
            r["usd_per_mtok"]
            for r in rows(out)
            if (r["routing"], r["prefill"]) == (s["routing"], s["prefill"])
        ]
        assert s["runs"] == 2 and s["errors"] == 0
        assert s["usd_per_mtok_mean"] == pytest.approx(sum(mine) / 2)
        assert s["usd_per_mtok_min"] == min(mine) and s["usd_per_mtok_max"] == max(mine)
        assert s["usd_per_mtok_std"] == pytest.approx(abs(mine[0] - mine[1]) / 2)


def test_a_row_equals_twin_run_of_the_same_scenario_and_seed(grid, small_file, tmp_path):
    _, out, _ = grid
    row = next(r for r in rows(out) if r["routing"] == "round-robin" and r["seed"] == 2)
    # the run's own scenario file: twin run gives the very report, byte for byte
    report = tmp_path / "run.json"
    assert main(["run", str(out / "runs" / f"{row['run']}.yaml"), "--report", str(report),
                 "--quiet"]) == 0  # fmt: skip
    result = json.loads((out / "runs" / f"{row['run']}.json").read_text())
    assert hashlib.sha256(report.read_bytes()).hexdigest() == result["report_sha256"]
    # the same change written by hand as a scenario: the same KPIs
    hand = tmp_path / "hand.yaml"
    hand.write_text(
        f"name: by hand\nlayout: {small_file}\nduration: 20s\nseed: 2\n"
        f"overrides:\n  routing: round-robin\n"
        f"  deployments: {{split-70b: {{prefill_share: {row['prefill']}}}}}\n",
        encoding="utf-8",
    )
    assert main(["run", str(hand), "--report", str(tmp_path / "hand.json"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "hand.json").read_text())["summary"]
    assert {k: row[k] for k in KEEP} == {k: summary[k] for k in KEEP}


def test_a_failing_run_is_recorded_and_the_rest_complete(ray_session, tmp_path, capsys):
    # 4 B200s cannot hold DeepSeek-R1 in fp8: that run fails when its factory is built
    plan = write_plan(
        tmp_path,
        "default",
        duration="10s",
        seeds=[1],
        axes=[
            {
                "name": "gpus",
                "set": "overrides.deployments.r1-b200.gpus_per_replica",
                "values": [8, 4],
            }
        ],
        keep=KEEP,
    )
    out = tmp_path / "out"
    assert main(["sweep", str(plan), "--out", str(out), "--quiet"]) == 1
    by = {r["gpus"]: r for r in rows(out)}
    assert by["4"]["status"] == "error" and "does not fit on 4 b200" in by["4"]["error"]
    assert by["4"]["output_tok_s"] is None
    assert by["8"]["status"] == "ok" and by["8"]["output_tok_s"] > 0
    assert "1 ok, 1 failed" in capsys.readouterr().out


def test_resume_skips_finished_runs_and_reruns_the_missing_one(grid, capsys):
    plan, out, _ = grid
    results = sorted((out / "runs").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in results}
    ids = [r["id"] for r in json.loads((out / "sweep.json").read_text())["runs"]]
    capsys.readouterr()
    assert main(["sweep", str(plan), "--out", str(out), "--quiet"]) == 0
    assert "8 finished already; 0 to run" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in results} == stamps
    # same plan, same run ids
    assert [r["id"] for r in json.loads((out / "sweep.json").read_text())["runs"]] == ids
    # a sweep cut short: one result missing, that run alone runs again
    lost = results[3]
    lost.unlink()
    assert main(["sweep", str(plan), "--out", str(out), "--quiet"]) == 0
    assert "7 finished already; 1 to run" in capsys.readouterr().out
    assert lost.exists()
    assert all(p.stat().st_mtime_ns == stamps[p] for p in results if p != lost)
    assert len(rows(out)) == 8


def test_show_prints_the_best_points_and_the_pareto_front_and_writes_an_svg(grid, capsys):
    _, out, _ = grid
    capsys.readouterr()
    assert main(["sweep", "--show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "best grid points per KPI" in text
    assert "Pareto front: usd_per_mtok vs slo_attainment" in text
    svg = out / "front-usd_per_mtok-vs-slo_attainment.svg"
    assert svg.read_text().startswith("<svg")


def test_show_ranks_and_draws_fronts_per_value_of_a_given_axis(grid, capsys):
    _, out, _ = grid
    meta = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps({**meta, "given": ["routing"]}))
    try:
        capsys.readouterr()
        assert main(["sweep", "--show", str(out)]) == 0
        text = capsys.readouterr().out
    finally:
        (out / "sweep.json").write_text(json.dumps(meta))
    for policy in ("least-loaded", "round-robin"):
        assert f"best grid points per KPI at routing={policy}" in text
        assert (out / f"front-usd_per_mtok-vs-slo_attainment-routing={policy}.svg").exists()
