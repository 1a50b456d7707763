"""Identical replicas as weighted rows (``engine/rows.py``): every shipped scenario gives
the same report with rows as with one row per replica (``TWIN_ROWS=0``), within float
summation order — also across a checkpoint — and what a user sees per replica and rack
still reads right when a fault splits a row.

Scenarios longer than a quarter hour run on a compressed timeline: every time × 0.4;
hopper→blackwell-ultra's 27 h in 13.5 minutes (the swap's downtime 4 minutes); the week
of failures in 12 minutes, faults 840× as often and repaired 840× as fast. A layout runs
ten minutes with random faults at 2,000× their rates.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from engine_helpers import cmd, small_doc, small_layout, write_layout

from twin.cli import main
from twin.core.catalog import load_catalog
from twin.core.engine import Factory
from twin.core.engine.snapshot import RACK_DOWN
from twin.core.layout import load_layout
from twin.core.scenario import Runner, scenario_from_doc
from twin.core.scenario.play import scenario_report
from twin.core.yamlsrc import load_file

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "scenarios"
SCENARIOS = sorted([*LIBRARY.glob("*.yaml"), *LIBRARY.glob("drills/*.yaml")])
LAYOUTS = [
    *(p.stem for p in sorted((ROOT / "layouts").glob("*.yaml"))),
    *map(str, sorted(LIBRARY.glob("layouts/*.yaml"))),
]
REL = 1e-9


def _differences(a, b, path="") -> list[str]:
    """Where two reports differ: floats beyond ``REL`` (or 1e-9 near 0), anything else
    (integers, verdicts, text) at all."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}[{i}]")]  # fmt: skip
    if isinstance(a, float) and isinstance(b, float):
        same = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL, abs_tol=1e-9)
        return [] if same else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} vs {b!r}"]


def _catalog(**constants):
    cat = load_catalog()
    return dataclasses.replace(cat, constants=MappingProxyType({**cat.constants, **constants}))


def _faster_faults(k: float):
    base = load_catalog().constants
    rates = {
        key: float(base[key]) * k
        for key in base
        if key.startswith(("failures_per_", "network_failures_per_"))
    }
    return _catalog(**rates, repair_s={kind: float(s) / k for kind, s in base["repair_s"].items()})


_TIME = re.compile(r"(?<!\w)(?<!\d\.)(\d+(?:\.\d+)?)([smhd])(?!\w)(?!\.\d)")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: Scenarios longer than a drill run on a compressed timeline (every time in their events
#: and expectations, warm-up and duration × the factor), with these catalog constants.
SHORTENED = {
    "hopper-to-blackwell-ultra": (1 / 120, lambda: _catalog(swap_downtime_s=240.0)),
    "week-of-random-failures": (1 / 840, lambda: _faster_faults(840.0)),
}


def _scenario(path: Path):
    doc = load_file(path)
    factor, catalog = SHORTENED.get(path.stem, (1.0, load_catalog))
    if path.stem not in SHORTENED and _seconds(str(doc["duration"])) > 15 * 60:
        factor = 0.4  # 25-40 minutes → 10-16

    def remap(text: str) -> str:
        return _TIME.sub(lambda m: f"{float(m.group(1)) * _UNIT_S[m.group(2)] * factor:g}s", text)

    for ev in doc.get("events") or []:
        for key in ("at", "every", "from", "until"):
            if key in ev:
                ev[key] = remap(str(ev[key]))
    for i, item in enumerate(doc.get("expect") or []):
        doc["expect"][i] = remap(item)
    for key in ("warmup", "duration"):
        doc[key] = remap(str(doc[key]))
    cat = catalog()
    return scenario_from_doc(doc, str(path), cat, base_dir=path.parent), cat


def _seconds(text: str) -> float:
    m = _TIME.fullmatch(text.strip())
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _both(monkeypatch, play):
    """``play()`` with rows, then with one row per replica."""
    monkeypatch.setenv("TWIN_ROWS", "1")
    weighted = play()
    monkeypatch.setenv("TWIN_ROWS", "0")
    return weighted, play()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_every_scenario_reports_the_same_with_rows_as_with_one_row_per_replica(path, monkeypatch):
    sc, cat = _scenario(path)

    def play():
        out = Runner(sc, cat).run()
        return scenario_report(out), len(out.factory.row_w), len(out.factory.rep_dep)

    (a, rows_a, n), (b, rows_b, _) = _both(monkeypatch, play)
    assert rows_b == n  # the reference: one row per replica
    assert rows_a < n  # rows did merge replicas
    diff = _differences(a, b)
    assert not diff, diff[:10]


@pytest.mark.parametrize("name", LAYOUTS, ids=lambda p: Path(p).stem)
def test_every_shipped_layout_runs_the_same_with_rows_under_random_faults(name, monkeypatch):
    cat = _faster_faults(2000.0)
    layout = load_layout(name, cat)

    def play():
        f = Factory(layout, cat, faults=True)
        f.advance_to(600)
        return f.run_summary(), [e.message for e in f.events], len(f.row_w)

    (a, ev_a, rows_a), (b, ev_b, rows_b) = _both(monkeypatch, play)
    assert rows_a < rows_b
    assert any("(random)" in m for m in ev_a), "faults happened"
    assert ev_a == ev_b
    diff = _differences(a, b)
    assert not diff, diff[:10]


DRILL = """\
name: drill
layout: small.yaml
seed: 4
warmup: 20s
duration: 4m
events:
  - at: 30s
    do: fail row-a-pdu-1 for 2m
  - at: 40s
    do: surge 2 3m chat
  - at: 50s
    do: straggle row-a-02-n1 2
expect:
  - slo_attainment >= 0.1 overall
  - output_tok_s > 0 during 1m..3m
"""


def test_a_drill_resumed_from_a_checkpoint_with_rows_reports_as_without(tmp_path, monkeypatch):
    """Checkpoint at 1m (the PDU down, its repair pending, the surge and the straggler
    on): with rows, the resumed run writes the uninterrupted run's report, which matches
    the run without rows within summation order — and so does the checkpoint resumed
    without rows (one row per replica)."""
    write_layout(tmp_path, small_doc(), "small.yaml")
    path = tmp_path / "drill.yaml"
    path.write_text(DRILL, encoding="utf-8")
    full, cp, resumed, plain = (tmp_path / n for n in ("f.json", "c.ckpt", "r.json", "p.json"))
    monkeypatch.setenv("TWIN_ROWS", "1")
    main(["run", str(path), "--quiet", "--report", str(full), f"--checkpoint=1m={cp}"])
    main(["resume", str(cp), "--quiet", "--report", str(resumed)])
    assert resumed.read_bytes() == full.read_bytes()
    monkeypatch.setenv("TWIN_ROWS", "0")
    main(["run", str(path), "--quiet", "--report", str(plain)])
    expected = json.loads(plain.read_text())
    assert not _differences(json.loads(full.read_text()), expected)
    main(["resume", str(cp), "--quiet", "--report", str(resumed)])
    assert not _differences(json.loads(resumed.read_text()), expected)


# ---- rows split where a fault touches part of them, and the per-replica view holds ------


def test_a_rack_fault_splits_its_replicas_off_and_the_view_per_replica_stays_right(tmp_path):
    f = Factory(small_layout(tmp_path))
    f.advance_to(60)
    n_rows = len(f.row_w)
    assert n_rows < len(f.rep_dep) / 2  # alike replicas share rows
    assert f.row_w.sum() == len(f.rep_dep)
    rack = f.rack_ids.index("row-a-01")
    cmd(f, "fail row-a-01")
    f.advance_to(70)
    hit = f.rep_rack == rack
    assert len(f.row_w) > n_rows  # the rack's replicas split off
    assert not (set(f.rep_row[hit]) & set(f.rep_row[~hit]))
    assert not f.rep_up[hit].any() and f.rep_up[~hit].any()
    run = f.per_replica(f.run).sum(axis=1)
    assert (run[hit] == 0).all() and (run[~hit] > 0).any()
    assert (f.rep_out_s[hit] == 0).all()
    snap = f.snapshot()
    assert snap.racks.state[rack] == RACK_DOWN
    assert snap.racks.replicas_up[rack] == 0 and snap.racks.utilisation[rack] == 0
    others = snap.racks.replicas_up[np.arange(len(f.rack_ids)) != rack]
    assert others.sum() == (~hit).sum() and (snap.racks.utilisation > 0).any()
    for d, idx in enumerate(f.dep_reps):
        dep = snap.deployments[d]
        assert dep.replicas_up == int(f.rep_up[idx].sum())
        assert dep.running == pytest.approx(run[idx].sum(), rel=1e-12)


def test_rows_of_equal_state_merge_back_and_none_merges_unlike_replicas(tmp_path):
    """Every replica of a row shares its kind (profile, role, room) and its inputs; two
    rows never hold the same state with the same inputs (they would have merged)."""
    f = Factory(small_layout(tmp_path), faults=True)
    for t in range(30, 300, 30):
        f.advance_to(t)
        first = f.row_rep[f.rep_row]
        assert (f.rep_kind == f.rep_kind[first]).all()
        assert (f.rep_up == f.rep_up[first]).all()
        state = np.column_stack(
            [f.q_cnt, f.run, f._tau_last, f._pf_rho, f._t_dec_last, f.rep_kind[f.row_rep]]
        )
        assert len(np.unique(state, axis=0)) == len(f.row_w)


def test_power_aware_routing_gives_identical_replicas_identical_shares(tmp_path, monkeypatch):
    """One row per replica: identical replicas still end in identical states (the policy
    fills equally efficient replicas together), so with rows they stay one row."""
    monkeypatch.setenv("TWIN_ROWS", "0")
    f = Factory(small_layout(tmp_path, routing="power-aware"))
    f.advance_to(120)
    for idx in f.dep_reps:
        same = f.rep_kind[idx] == f.rep_kind[idx[0]]
        assert len(np.unique(f.run[idx[same]], axis=0)) == 1


def test_a_checkpoint_whose_rows_do_not_fit_its_replicas_is_refused_in_one_line(tmp_path):
    import io

    from twin.core.engine.checkpoint import MAGIC, VERSION, CheckpointError, read

    f = Factory(small_layout(tmp_path))
    f.advance_to(30)
    meta, arrays = read(f.checkpoint())
    arrays = dict(arrays)
    arrays["rep_row"] = arrays["rep_row"] + len(f.row_w)  # rows that do not exist
    buf = io.BytesIO()
    buf.write(MAGIC + str(VERSION).encode() + b"\n")
    raw = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    np.savez(buf, meta=raw, **arrays)
    g = Factory(small_layout(tmp_path))
    before = g.checkpoint()
    with pytest.raises(CheckpointError, match="rows of replicas") as e:
        g.restore(buf.getvalue())
    assert "\n" not in str(e.value)
    assert g.checkpoint() == before  # the factory is unchanged
