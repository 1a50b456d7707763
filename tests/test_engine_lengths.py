"""Length distributions and client timeouts per class: tails a user sees in a run.

The engine's flow runs at each class's mean lengths; a class's spread of prompt and output
lengths shows in its latency percentiles (``twin/core/engine/lengths.py``), and a class's
``timeout`` bounds how long its clients wait.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import cmd, small_layout

from twin.core.engine import Factory
from twin.core.engine import lengths as LN
from twin.core.engine.metrics import _MIDS, HIST_BUCKETS, percentiles
from twin.core.errors import InputError
from twin.core.layout import LengthDist, load_layout, resolve_layout_path


def _set(doc, cls_id, **keys):
    for w in doc["workloads"]:
        if w["id"] == cls_id:
            w.update(keys)


def _run(layout, seconds=120.0, warm=30.0, seed=None, commands=()):
    f = Factory(layout, seed=seed)
    f.advance_to(warm)
    f.reset_run_totals()
    for c in commands:
        cmd(f, c)
    f.advance_to(warm + seconds)
    return f


def _pct(f, hist_name, cls_id, qs=(0.5, 0.95, 0.99)):
    c = f.cls_ids.index(cls_id)
    return percentiles(getattr(f, hist_name)[c], qs)


# ---- the bins -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dist",
    [
        LengthDist(1500, "lognormal", 0.8, 0, 16000),
        LengthDist(4000, "lognormal", 1.5, 200, 0),
        LengthDist(1000, "uniform", 0.0, 500, 1500),
        LengthDist(350, "fixed"),
    ],
)
def test_bins_keep_the_declared_mean_and_bounds(dist):
    x, w = LN.length_bins(dist)
    assert np.isclose(w.sum(), 1.0)
    assert np.isclose((w * x).sum(), dist.mean, rtol=1e-6)
    assert x.min() >= max(1, dist.min) and (not dist.max or x.max() <= dist.max)
    assert np.all(np.diff(x) >= 0)  # in length order: p50, p95, p99 in successive bins


def test_a_wider_sigma_puts_more_of_the_length_in_the_tail():
    narrow, _ = LN.length_bins(LengthDist(1000, "lognormal", 0.3))
    wide, _ = LN.length_bins(LengthDist(1000, "lognormal", 1.2))
    assert wide[-1] / wide[1] > 2 * narrow[-1] / narrow[1]
    assert wide[0] < narrow[0]  # and more short requests


# ---- the default factory --------------------------------------------------------------


def test_the_default_factory_has_real_tails():
    f = _run(load_layout(resolve_layout_path("default")), seconds=90.0)
    s = f.run_summary()
    assert s["ttft_p50_s"] < s["ttft_p95_s"] < s["ttft_p99_s"]
    # chat: short, lognormal outputs on co-located replicas that prefill between steps
    p50, p95, p99 = _pct(f, "run_tpot", "chat")
    assert p50 < p95 < p99
    p50, p95, p99 = _pct(f, "run_ttft", "reasoning")  # R1's prompts: sigma 0.7 up to 32k
    assert p50 < p95 < p99
    # the site's TPOT too, in the run figure and in the live gauge a user watches (its
    # tail is the slowest class, R1 on B200; both used to sit in one 4 % bucket)
    assert s["tpot_p50_s"] < s["tpot_p95_s"] < s["tpot_p99_s"]
    assert f.gauges["tpot_p95_s"] < f.gauges["tpot_p99_s"]


def test_tpot_counts_each_request_once(tmp_path):
    """MLPerf and vLLM report TPOT per request: a class's TPOT histogram holds its
    requests' worth (output tokens over the mean output length), not its tokens, so a
    long-output class does not drown the others in the site's percentiles."""

    def edit(doc):
        _light(doc)
        _set(doc, "chat", osl={"mean": 300, "sigma": 0.8})
        _set(doc, "agent", osl=3000)

    f = _run(small_layout(tmp_path, edit=edit))
    for cls_id, osl in (("chat", 300), ("agent", 3000)):
        c = f.cls_ids.index(cls_id)
        assert f.run_tpot[c].sum() == pytest.approx(f.run_counts[4, c] / osl, rel=1e-6)


def test_quantiles_interpolate_inside_a_bucket():
    """A narrow distribution inside one 4 % bucket still has p95 below p99."""
    hist = np.zeros(HIST_BUCKETS)
    hist[100] = 1000.0
    p50, p95, p99 = percentiles(hist, (0.5, 0.95, 0.99))
    assert p50 == pytest.approx(_MIDS[100])
    assert p50 < p95 < p99 < _MIDS[101]
    hist[101] = 1000.0  # half the requests one bucket up: the median is the edge between
    assert percentiles(hist, (0.5,))[0] == pytest.approx(np.sqrt(_MIDS[100] * _MIDS[101]))


# ---- a class's spread ---------------------------------------------------------------------


def _light(doc):
    """The small factory at light load: latency is prefill and decode, not queueing."""
    _set(doc, "chat", rate="20/s")
    _set(doc, "agent", rate="1/s")


def test_fixed_lengths_have_no_spread_from_lengths(tmp_path, monkeypatch):
    layout = small_layout(tmp_path, edit=_light)  # every class: fixed lengths
    spread = _run(layout)
    init = LN.Lengths._init_lengths

    def no_spread(self):  # TTFT of every request at its cohort's: no prompt-length spread
        init(self)
        self._len_any_isl = False

    monkeypatch.setattr(LN.Lengths, "_init_lengths", no_spread)
    mean_only = _run(layout)
    assert np.array_equal(spread.run_ttft, mean_only.run_ttft)
    assert spread.run_summary() == mean_only.run_summary()


def _chat_with(tmp_path, name, **lengths):
    def edit(doc):
        _light(doc)
        _set(doc, "chat", **lengths)

    (tmp_path / name).mkdir()
    return _run(small_layout(tmp_path / name, edit=edit))


def test_a_wider_sigma_widens_the_tail_and_leaves_the_throughput(tmp_path):
    fixed = _chat_with(tmp_path, "fixed", isl="2k", osl=300)
    narrow = _chat_with(
        tmp_path,
        "narrow",
        isl={"mean": "2k", "sigma": 0.3, "max": "16k"},
        osl={"mean": 300, "sigma": 0.3},
    )
    wide = _chat_with(
        tmp_path,
        "wide",
        isl={"mean": "2k", "sigma": 1.2, "max": "16k"},
        osl={"mean": 300, "sigma": 1.2},
    )
    ratio = {}
    for name, f in (("fixed", fixed), ("narrow", narrow), ("wide", wide)):
        p50, _, p99 = _pct(f, "run_ttft", "chat")
        t50, _, t99 = _pct(f, "run_tpot", "chat")
        ratio[name] = (p99 / p50, t99 / t50)
    assert ratio["fixed"][0] < ratio["narrow"][0] < ratio["wide"][0]
    assert ratio["wide"][0] > 1.3  # a long prompt's own prefill shows in the tail
    assert ratio["narrow"][1] <= ratio["wide"][1] and ratio["fixed"][1] < ratio["wide"][1]
    # the mean physics is the same: same tokens, same power, whatever the spread
    for f in (narrow, wide):
        assert f.totals["output_tokens"] == pytest.approx(fixed.totals["output_tokens"], rel=1e-9)
        assert f.totals["energy_kwh"] == pytest.approx(fixed.totals["energy_kwh"], rel=1e-9)


def test_a_long_prompt_tail_costs_slo_attainment_at_a_tight_ttft(tmp_path):
    """With a TTFT SLO a mean prompt meets, the long prompts of a wide spread miss it."""

    def edit(sigma):
        def e(doc):
            _light(doc)
            isl = {"mean": "4k", "sigma": sigma, "max": "64k"} if sigma else "4k"
            _set(doc, "chat", isl=isl, slo={"ttft": "0.5s", "tpot": "50ms"})

        return e

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fixed = _run(small_layout(tmp_path / "a", edit=edit(None)))
    wide = _run(small_layout(tmp_path / "b", edit=edit(1.5)))
    c = fixed.cls_ids.index("chat")
    met = [f.run_counts[1, c] / f.run_counts[0, c] for f in (fixed, wide)]
    assert met[0] > 0.95 and met[1] < met[0] - 0.005


# ---- client timeouts ----------------------------------------------------------------------


def _overloaded(timeout=None):
    def edit(doc):
        _set(doc, "chat", rate="400/s", **({"timeout": timeout} if timeout else {}))

    return edit


def test_a_class_timeout_bounds_its_wait_and_counts_who_gave_up(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "d").mkdir()
    short = _run(small_layout(tmp_path / "t", edit=_overloaded("10s")), seconds=90.0)
    default = _run(small_layout(tmp_path / "d", edit=_overloaded()), seconds=90.0)
    c = short.cls_ids.index("chat")
    assert short.cls_timeout[c] == 10.0 and default.cls_timeout[c] == 30.0  # 20 × 1 s SLO
    s_short, s_default = short.run_summary(), default.run_summary()
    assert s_short["requests_abandoned"] > s_default["requests_abandoned"] > 0
    p99_short = _pct(short, "run_ttft", "chat", (0.99,))[0]
    p99_default = _pct(default, "run_ttft", "chat", (0.99,))[0]
    assert p99_short <= 10.0 * 1.04 + 1.0  # the wait, a bucket, and the prefill on top
    assert p99_default > 15.0


def test_a_timeout_is_checked_with_file_and_line(tmp_path):
    def write(timeout):
        def edit(doc):
            _set(doc, "chat", timeout=timeout)

        return edit

    with pytest.raises(InputError) as info:
        small_layout(tmp_path, edit=write("0.5s"))
    assert "small.yaml:" in str(info.value) and "workloads.chat.timeout" in str(info.value)
    assert small_layout(tmp_path, edit=write("2s")).workloads[0].timeout_s == 2.0

    def longer(doc):
        _set(doc, "long", timeout="2s")  # its TTFT SLO is 3 s

    with pytest.raises(InputError) as info:
        small_layout(tmp_path, edit=longer)
    assert "shorter than the TTFT SLO (3 s)" in str(info.value)
    with pytest.raises(InputError, match="expected a duration"):
        small_layout(tmp_path, edit=write("soon"))
