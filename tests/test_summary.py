"""`twin summary`: what a factory is and what it can serve, without running it."""

import dataclasses

from twin.cli import main
from twin.core import serving
from twin.core.catalog import load_catalog
from twin.core.layout import load_layout
from twin.frontends.summary import deployment_capacity


def test_twin_summary_shows_the_default_factory_and_what_it_can_serve(capsys):
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "envelope" in out
    assert "capacity at SLO" in out and "tokens/s" in out


def test_twin_summary_takes_a_layout_name(capsys):
    assert main(["summary", "hopper-hall"]) == 0
    assert "hopper-hall" in capsys.readouterr().out


def test_twin_summary_of_an_unknown_layout_is_one_line_and_exit_2(capsys):
    assert main(["summary", "no-such-factory"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: ") and err.count("\n") == 1


def test_every_default_deployment_has_a_capacity_at_its_slo():
    cat = load_catalog()
    caps = deployment_capacity(load_layout("default", cat), cat)
    assert caps and all(c["tok_s"] and c["tok_s"] > 0 for c in caps), [c["note"] for c in caps]
    for c in caps:
        # never more than its GPUs give flat out, with no per-user pace to keep
        best = 0.0
        for sku, n in c["gpu_mix"]:
            cs = serving.curves(
                cat.gpu(sku),
                cat.model(c["model"]),
                c["precision"],
                serving.Workload(c["isl"], c["osl"]),
                catalog=cat,
            )
            best += n * max(max(x.tok_s_per_gpu) for x in cs)
        assert c["tok_s"] <= best * (1 + 1e-9), c["id"]
    # faster per-user SLOs cost throughput: capacity falls as the SLO tightens
    layout = load_layout("default", cat)
    tight = dataclasses.replace(
        layout,
        workloads=tuple(
            dataclasses.replace(w, slo_tpot_s=0.7 * w.slo_tpot_s) for w in layout.workloads
        ),
    )
    for c, t in zip(caps, deployment_capacity(tight, cat), strict=True):
        assert t["tok_s"] < c["tok_s"], c["id"]


def test_a_deployment_on_two_gpu_types_lists_both(capsys):
    cat = load_catalog()
    caps = {c["id"]: c for c in deployment_capacity(load_layout("default", cat), cat)}
    assert caps["llama-70b"]["gpu_mix"] == [("h100", 512), ("h200", 512)]
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "512 h100 + 512 h200" in out and "1,024 h100" not in out


def test_twin_summary_piped_cuts_no_header(capsys):
    assert main(["summary"]) == 0  # capsys is not a terminal: as when piped into less or a file
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "deployment" in line and "model" in line)
    for word in ("deployment", "model", "GPUs", "replica", "SLO", "tok/s", "$/Mtok"):
        assert word in header.split(), header
    assert "…" not in out
