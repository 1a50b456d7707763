"""One set of physics: the factory engine never serves more than `twin perf` says is possible.

Each deployment of the shipped layouts, at 0.3× to 4× its layout's demand, must deliver
at most the serving model's frontier output per GPU (+5 %) at the interactivity it
delivers: the engine steps with the same step function, so beating the frontier would
mean it skipped work (prefill, a step's weight reads) somewhere.

Compared tick by tick after a settling time: a deployment's output tokens/s per GPU (all
its GPUs, prefill replicas included) against the frontier at that tick's pace (output
tokens/s per running request). ``twin perf`` has no prefix cache, so KV-aware routing
(whose cache hits skip prefill) is compared as least-loaded.
"""

from __future__ import annotations

import numpy as np
import pytest

from twin.core import serving
from twin.core.commands import parse_command
from twin.core.engine import Factory
from twin.core.engine import plan as P
from twin.core.layout import load_layout

LAYOUTS = ("default", "hopper-hall", "blackwell-ultra")
LOADS = (0.3, 0.6, 0.9, 1.5, 4.0)
WARM_S, SETTLE_S, WINDOW_S = 300.0, 300.0, 120.0
TOLERANCE = 1.05

_factories: dict[str, tuple[Factory, bytes]] = {}
_frontiers: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _warm(name: str) -> tuple[Factory, bytes]:
    """One factory per layout, warmed at its own demand; each load starts from there."""
    if name not in _factories:
        f = Factory(load_layout(name))
        if f.policy == "kv-aware":
            f.apply(parse_command("route least-loaded"))
        f.advance_to(WARM_S)
        _factories[name] = (f, f.checkpoint())
    return _factories[name]


def _frontier(profile: P.Profile) -> tuple[np.ndarray, np.ndarray]:
    """The frontier of `twin perf` for the deployment's GPU, model, precision and mean
    lengths (every split, co-located and disaggregated): pace → output tok/s per GPU."""
    r, w = profile.replica, profile.workload
    key = (r.gpu.id, r.model.id, r.precision, w)
    if key not in _frontiers:
        cs = serving.curves(r.gpu, r.model, r.precision, w, disagg=None)
        pts = serving.frontier(cs)
        ups = np.array([p.tok_s_per_user for p in pts])
        gps = np.array([p.tok_s_per_gpu for p in pts])
        order = np.argsort(ups)
        _frontiers[key] = (ups[order], gps[order])
    return _frontiers[key]


@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("name", LAYOUTS)
def test_engine_output_per_gpu_stays_under_the_serving_frontier(name, load):
    f, blob = _warm(name)
    f.restore(blob)
    f.apply(parse_command(f"surge {load:g}"))
    f.advance_to(f.now + SETTLE_S)
    n_dep = len(f.dep_reps)
    served, possible = np.zeros(n_dep), np.zeros(n_dep)
    for _ in range(int(WINDOW_S / f.dt)):
        f.advance_to(f.now + f.dt)
        for d, idx in enumerate(f.dep_reps):
            out = f.rep_out_s[idx]
            pace = f.rep_user_s[idx]
            busy = (out > 0) & (pace > 0)
            if not busy.any():
                continue
            # the pace of an average token: output over the requests producing it
            u = out[busy].sum() / (out[busy] / pace[busy]).sum()
            ups, gps = _frontier(f.profiles[f.rep_prof[idx[-1]]])
            served[d] += out.sum() / f.rep_gpus[idx].sum()
            possible[d] += np.interp(u, ups, gps, right=0.0)
    assert served.sum() > 0
    for d in range(n_dep):
        assert served[d] <= TOLERANCE * possible[d], (
            f"{name} at {load:g}× demand: {f.dep_ids[d]} serves "
            f"{served[d] / WINDOW_S:,.0f} tok/s/GPU, the frontier at its pace "
            f"{possible[d] / WINDOW_S:,.0f}"
        )
