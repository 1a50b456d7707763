"""One economics model: the engine's $/GPU-hour is `twin perf`'s, built from the same parts.

``twin.core.economics.cost_parts`` prices a GPU-hour from capital (servers with cost of
capital, the fabric, the facility), opex and energy; the engine charges every GPU on the
floor the same capital and opex parts and meters energy as facility power × $/kWh. So a
saturated deployment's $/Mtok in `twin run` is `twin perf`'s for the same tokens/s per GPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_helpers import write_layout

from twin.cli import main
from twin.core.catalog import load_catalog
from twin.core.economics import cost_parts
from twin.core.engine import Factory
from twin.core.serving import usd_per_mtok

#: Two B200 racks serving Llama 3.3 70B at several times what they can: saturated.
SATURATED = {
    "name": "saturated",
    "seed": 5,
    "site": {"envelope": "1MW", "pue": 1.2},
    "economics": {"usd_per_kwh": 0.07},
    "power": {"feeds": [{"id": "feed-a", "capacity": "1MW"}]},
    "cooling": [{"id": "loop-1", "capacity": "600kW"}],
    "fabric": {"spines": 2, "uplink": "400Gbps", "frontend": "400Gbps"},
    "rows": [
        {"id": "row-a", "gpu": "b200", "racks": 2, "pdus": 1, "feed": "feed-a", "cooling": "loop-1"}
    ],
    "deployments": [
        {
            "id": "llama",
            "model": "llama-3.3-70b",
            "precision": "fp8",
            "gpus_per_replica": 8,
            "replicas": "auto",
            "placement": "row-a",
        }
    ],
    "workloads": [
        {
            "id": "chat",
            "deployment": "llama",
            "rate": "400/s",
            "isl": "1k",
            "osl": 500,
            "slo": {"ttft": "5s", "tpot": "100ms"},
        }
    ],
    "routing": "least-loaded",
}


def test_twin_run_and_twin_perf_agree_on_usd_per_mtok_for_a_saturated_deployment(tmp_path, capsys):
    layout = write_layout(tmp_path, SATURATED, "saturated.yaml")
    report = tmp_path / "r.json"
    path = str(tmp_path / "saturated.yaml")
    assert main(["run", path, "--for", "10m", "--quiet", "--report", str(report)]) == 0
    summary = json.loads(report.read_text())["summary"]
    gpus = sum(r.gpus for r in layout.racks)
    tok_s_per_gpu = summary["output_tok_s"] / gpus
    assert tok_s_per_gpu > 500  # saturated: the batch is full
    perf = usd_per_mtok(cost_parts(load_catalog().gpu("b200")).usd_per_gpu_hr, tok_s_per_gpu)
    assert summary["usd_per_mtok"] == pytest.approx(perf, rel=0.05)


def test_the_layout_overrides_each_part_of_the_cost(tmp_path):
    base = Factory(write_layout(tmp_path, SATURATED, "a.yaml"))
    dear = dict(
        SATURATED,
        economics={
            "usd_per_kwh": 0.07,
            "cost_of_capital": 0.15,
            "facility_usd_per_mw": 2e7,
            "opex_usd_per_gpu_hr": 0.5,
        },
    )
    f = Factory(write_layout(tmp_path, dear, "b.yaml"))
    (cap0, op0), (cap1, op1) = base._cost_rates(), f._cost_rates()
    gpus = float(f.rack_gpus.sum())
    b200 = load_catalog().gpu("b200")
    want = cost_parts(
        b200, {"usd_per_kwh": 0.07, "cost_of_capital": 0.15, "facility_usd_per_mw": 2e7}
    )
    assert cap1 * 3600 / gpus == pytest.approx(want.system + want.network + want.facility)
    assert op1 * 3600 / gpus == pytest.approx(0.5)
    assert cap1 > cap0 and op1 > op0


def test_energy_is_mean_facility_power_times_the_duration_exactly(tmp_path):
    f = Factory(write_layout(tmp_path, SATURATED, "s.yaml"))
    power = []
    for _ in range(120):
        f.advance_to(f.now + 1.0)
        power.append(f.gauges["facility_power_kw"])
    s = f.run_summary()
    assert f.totals["seconds"] == 120.0  # a run integrates exactly its duration
    assert s["energy_mwh"] * 1000 == pytest.approx(np.mean(power) * 120 / 3600, rel=1e-12)
