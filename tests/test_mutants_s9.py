"""Behaviour that the open survivors of the fresh seed-7 mutation sample (session 8) changed
unnoticed, and the survivors of seed 8 (session 9, issue 15). Each test says what a user
reads (a class's TPOT percentiles, a rack meter at its floor clock, a session's cached
prefix, a PDU's cap, goodput, a batch against its KV cache, an author's every mistake)
against a figure worked out from first principles, and was checked against its mutant by
planting it by hand (``benchmarks/MUTATION.md``). Small factories, seconds each."""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import cmd, pdu, run, small_layout
from test_drills import POD

from twin.core.engine import Factory
from twin.core.engine import plan as P
from twin.core.engine.metrics import percentiles
from twin.core.errors import InputError
from twin.core.scenario import scenario_from_doc
from twin.core.yamlsrc import load_text

# -- the TPOT spread a batch's fluctuations put on a request ------------------------------


def _long_context_decode(tmp_path):
    """The small factory with its disaggregated deployment decoding long-context requests
    (32k prompts, 4000 output tokens, fixed lengths): the decode replicas never stall on a
    prefill, so a request's TPOT spread is the batch it saw, nothing else."""

    def edit(doc):
        for w in doc["workloads"]:
            if w["id"] == "chat":
                w["rate"] = "20/s"
            elif w["id"] == "agent":
                w["rate"] = "1/s"
            else:  # long, on split-70b
                w.update(rate="1.3/s", isl="32k", osl=4000, slo={"ttft": "30s", "tpot": "100ms"})

    return small_layout(tmp_path, edit=edit)


def test_a_long_context_decodes_tpot_spread_is_the_batch_it_saw(tmp_path):
    """A decode replica's batch fluctuates around its mean B̄: Poisson arrivals into B_max
    slots, variance B̄(1 − B̄/B_max), so the batch's relative spread is √((1 − B̄/B_max)/B̄).
    A step's time moves with the batch by its elasticity ε = d ln t_step / d ln B, read off
    the step-time function at B̄; a request of the mean output length averages the batch
    over one correlation time, keeping g(1) = 2/e of the variance. Its TPOT is then normal
    with a relative sd of ε·√(g(1)(1 − B̄/B_max)/B̄): p95 lies 1.645 sd above p50, p99 2.326
    sd. The run's class percentiles must say so — at most half again above, for the mean
    batch's own swings from tick to tick, which the formula leaves out. (kernel.py: the
    batch's variance × B̄ for ÷ B̄ put p95 at +50 % for +8 %; lengths.py: ε for ε² at
    ε ≈ 0.16, p99 at +27 % for +11 %.)"""
    f = Factory(_long_context_decode(tmp_path), seed=2)
    f.advance_to(120.0)  # a 4000-token decode lasts ~45 s: the batch is steady by then
    f.reset_run_totals()
    dec = np.flatnonzero(f.rep_role == P.ROLE_DECODE)
    batches = []
    for t in range(130, 250, 10):
        f.advance_to(float(t))
        d = next(d for d in f.snapshot().deployments if d.id == "split-70b")
        batches.append(d.running / len(dec))
    b = float(np.mean(batches))
    prof = f.profiles[f.rep_prof[dec[0]]]
    assert all(f.profiles[f.rep_prof[i]] is prof for i in dec)  # identical decode replicas
    assert 4 < b < 0.5 * prof.bmax  # a batch that fluctuates, with room to

    def step(batch: float) -> float:
        return float(prof.replica.step(np.array([batch]), prof.context).t_s[0])

    eps = (math.log(step(b * 1.02)) - math.log(step(b / 1.02))) / (2 * math.log(1.02))
    assert 0.05 < eps < 0.5  # part weights, part KV: the batch matters, not wholly
    sd = eps * math.sqrt(2 / math.e * (1 - b / prof.bmax) / b)
    p50, p95, p99 = percentiles(f.run_tpot[f.cls_ids.index("long")], (0.5, 0.95, 0.99))
    assert 1.645 * sd * 0.8 < p95 / p50 - 1 < 1.645 * sd * 1.5
    assert 2.326 * sd * 0.8 < p99 / p50 - 1 < 2.326 * sd * 1.5


# -- a board's power under its voltage floor -------------------------------------------------


def test_a_busy_board_at_its_floor_clock_draws_its_minimum_power_limit_on_the_racks_meter(
    catalog,
):
    """Dynamic power is C·V²·f: above the voltage floor the voltage falls with the clock
    (∝ clock^e), under it the voltage can fall no further and power falls linearly with
    the clock alone, continuous at the floor. A cap's floor clock (``power.min_clock``) is
    where a fully busy board draws its minimum power limit (H100: 200 W, under the floor);
    the thermal throttle's half clock is under the floor too. The rack's meter (the power
    tree's compiled pass) must read those draws: 32 busy H100s at the floor clock, 6.4 kW
    of GPU power. (power_kernel.py: ``c / vfloor`` → ``c * vfloor`` under the floor read
    120 W a board at the floor clock, and a cliff at the floor.)"""
    from twin.core.engine import power_kernel as PK
    from twin.core.engine.power import min_clock

    gpu, k = catalog.gpu("h100"), catalog.constants
    e, v = float(k["clock_power_exponent"]), float(k["voltage_floor_clock"])
    n = 32

    def gpu_kw(clock: float) -> float:
        out = [np.zeros(1) for _ in range(4)]  # rack util, rack kW, GPU kW, dynamic kW
        PK.rack_loads(
            np.array([gpu.tdp_w - gpu.idle_w]), np.array([clock]), True, e, v,
            np.array([0]), np.array([0]), np.array([n / 1000]), np.array([1.0]),
            np.array([1.0]), np.array([1]), np.array([n * gpu.idle_w / 1000]), np.zeros(1),
            np.zeros(1), 0.6, np.array([True]), np.array([[0, 0]]),
            np.array([[True, False]]), np.array([0]), *out, np.zeros(1), np.zeros(1),
        )  # fmt: skip
        return float(out[2][0])

    floor = min_clock(gpu, k)
    assert floor < v and float(k["throttle_clock"]) < v  # both under the voltage floor
    assert gpu_kw(floor) == pytest.approx(n * gpu.min_power_w / 1000, rel=1e-9)
    assert gpu_kw(1.0) == pytest.approx(n * gpu.tdp_w / 1000, rel=1e-12)
    # continuous at the floor, linear under it: half the floor's clock, half its dynamic power
    dyn_v = gpu_kw(v) - n * gpu.idle_w / 1000
    assert gpu_kw(v * (1 - 1e-9)) == pytest.approx(gpu_kw(v), rel=1e-6)
    assert gpu_kw(v / 2) - n * gpu.idle_w / 1000 == pytest.approx(dyn_v / 2, rel=1e-9)
    assert dyn_v == pytest.approx(n * (gpu.tdp_w - gpu.idle_w) / 1000 * v**e, rel=1e-9)


# -- an agentic session's prefix on a full KV cache ---------------------------------------------


def test_a_full_kv_cache_keeps_no_session_prefix_through_a_tool_pause():
    """The replicas' free KV is an LRU prefix cache: with C tokens free and W written a
    second an entry lives τ = C/W, so a pause p survives with probability τ/(τ + p). A
    replica whose batch fills every slot has no free KV: behind it, no prefix outlives any
    pause, and a follow-up turn re-prefills its whole context (on a KV-bound, overloaded
    deployment the batch sits within a slot of full). One with free slots counts them at
    its context each, times the replicas its row stands for, and only while it is up.
    (sessions.py: ``max(0.0, bmax − b)`` → ``max(1.0, …)`` counted a full replica as one
    free slot: on 2 overloaded replicas with 32k contexts a follow-up prefilled 10 % less.)"""
    from twin.core.engine.sessions import prefix_survival

    bmax, ctx = np.array([86.0, 86.0, 86.0]), np.array([35_500.0] * 3)
    lam, kv_tok, pause = np.array([6.0, 2.0]), np.array([36_500.0, 9_000.0]), np.array([1.0, 0.0])
    rep_dep, cls_dep = np.array([0, 0, 1]), np.array([0, 0])

    def survival(batches, up=(True, True, True), w=(1, 1, 1)):
        run = np.array([[b / 2, b / 2] for b in batches])  # two slots' worth of requests each
        out = np.ones(2)
        prefix_survival(
            run, bmax, ctx, np.array(up), rep_dep, np.array(w, dtype=float), 2, cls_dep, lam,
            kv_tok, pause, out,
        )  # fmt: skip
        return out

    written = 6.0 * 36_500 + 2.0 * 9_000  # KV tokens a second, both classes of the deployment
    assert survival([86.0, 86.0, 0.0])[0] == 0.0  # full: nothing survives, however short
    assert survival([86.0, 86.0, 0.0])[1] == 1.0  # a class with no pause re-sends nothing lost
    for batches, up, w, free in (
        ([76.0, 86.0, 0.0], (True, True, True), (1, 1, 1), 10),
        ([76.0, 80.0, 0.0], (True, True, True), (3, 1, 1), 36),  # a row of 3: 3 × 10 + 6
        ([76.0, 80.0, 0.0], (True, False, True), (1, 1, 1), 10),  # a replica down: none of its
        ([85.5, 86.0, 10.0], (True, True, True), (1, 1, 1), 0.5),  # half a slot: half a context
    ):
        tau = free * 35_500 / written
        assert survival(batches, up, w)[0] == pytest.approx(tau / (tau + 1.0), rel=1e-12)


# -- a cap given as a share -----------------------------------------------------------------


def test_a_pdu_capped_at_a_share_of_its_rating_holds_that_share(small):
    """``cap row-a-pdu-1 40%`` is a demand-response event on one PDU: its limit is 40 % of
    the PDU's rated capacity (the panel reads it as the cap), and its load comes down under
    it — as ``cap row-a-pdu-1 <that many kW>`` would. (actions.py: the share × the rating
    → the share ÷ the rating capped the PDU at 0.0036 kW.)"""
    f = Factory(small)
    run(f, 30)
    before = pdu(f.snapshot(), "row-a-pdu-1")
    assert before.load_kw > 0.4 * before.capacity_kw  # the cap binds
    cmd(f, "cap row-a-pdu-1 40%")
    loads = [pdu(run(f, 0.5), "row-a-pdu-1").load_kw for _ in range(60)]
    p = pdu(f.snapshot(), "row-a-pdu-1")
    assert p.cap_kw == pytest.approx(0.4 * p.capacity_kw, rel=1e-12)
    assert 0.85 * p.cap_kw <= np.mean(loads[-20:]) <= p.cap_kw * 1.02


# -- a scenario author's mistakes, every one with its line -------------------------------------

_POD = f"name: s\nlayout: {POD}\n"


def _problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(InputError) as e:
        scenario_from_doc(load_text(text, "s.yaml"), "s.yaml")
    return [(p.line, p.message) for p in e.value.problems]


def test_every_command_of_an_event_naming_something_unknown_is_reported_on_its_line():
    """An event's ``do:`` list is checked command by command: two commands naming racks
    the layout does not have are two errors, each on its own line, not one (conditions.py:
    ``continue`` → ``break`` stopped at the first unknown name and never read the rest)."""
    text = _POD + (
        "duration: 5m\n"
        "events:\n"
        "  - at: 1m\n"
        "    do:\n"
        "      - fail pod-rack-9\n"
        "      - drain pod-rack-8\n"
        "      - fail pod-rack-7\n"
    )
    got = _problems(text)
    assert [ln for ln, _ in got] == [7, 8, 9]
    assert all(name in msg for (_, msg), name in zip(got, ("9", "8", "7"), strict=True))


def test_every_bad_rate_override_is_reported_with_its_line():
    """``overrides.rates`` is read key by key: an unknown class is one error and a bad rate
    for a real class, after it, another — each on its line (parse.py: ``continue`` →
    ``break`` after the unknown class hid the bad rate behind it)."""
    text = _POD + ("duration: 5m\noverrides:\n  rates:\n    chatt: 2x\n    chat: lots\n")
    got = _problems(text)
    assert [ln for ln, _ in got] == [6, 7]
    assert "unknown workload class 'chatt'" in got[0][1] and "chat" in got[0][1]
    assert "overrides.rates.chat" in got[1][1] and "'lots'" in got[1][1]


@pytest.mark.parametrize(
    ("events", "duration"),
    [
        ("  - at: 0s\n    do: fail pod-01\n", 60.0),  # a command at the very start
        ("  - when: facility_power_kw > 1\n    do: fail pod-01\n", 60.0),  # no time of its own
        ("  - at: 0s\n    do: fail pod-01\n  - at: 30s\n    do: repair pod-01\n", 90.0),
    ],
)
def test_a_recording_without_a_duration_runs_a_minute_past_its_last_command(events, duration):
    """A recording cut short has no ``duration``: it runs to a minute past its last timed
    command — 60 s when every command is at 0 s or waits on a condition (parse.py: a
    command at 0 s or untimed counted as at 1 s: a 61 s run)."""
    sc = scenario_from_doc(load_text(_POD + "events:\n" + events, "s.yaml"), "s.yaml")
    assert sc.duration_s == duration


# -- goodput ------------------------------------------------------------------------------------


def test_goodput_is_the_output_times_the_share_of_requests_that_met_their_slo(tmp_path):
    """With one class and nothing shed or failed, the goodput gauge (output of requests
    that met their SLO) is the output gauge times the share of admitted requests that met
    it — which is then the SLO attainment gauge itself. A TTFT SLO a long prompt's prefill
    cannot meet leaves only part of the output good. (metrics.py: the admitted count read
    from the met row made every class's share met ÷ met = 1: goodput = output at 70 %
    attainment.)"""

    def edit(doc):
        doc["workloads"] = [w for w in doc["workloads"] if w["id"] == "chat"]
        doc["workloads"][0].update(
            isl={"mean": "2k", "sigma": 1.0, "max": "32k"}, slo={"ttft": "0.1s", "tpot": "50ms"}
        )

    f = Factory(small_layout(tmp_path, edit=edit))
    g = run(f, 90).gauges
    assert g["shed_rps"] == 0.0 and g["failed_rps"] == 0.0
    assert 0.1 < g["slo_attainment"] < 0.9  # part of the output misses its SLO
    assert g["goodput_tok_s"] == pytest.approx(g["output_tok_s"] * g["slo_attainment"], rel=1e-6)


# -- admission under overload -------------------------------------------------------------------


def test_an_overloaded_replica_never_holds_more_requests_than_its_kv_cache_fits(tmp_path):
    """Short prompts and long outputs at ten times what two replicas serve: prefill is
    cheap, so what stops admission is the KV cache — `twin perf`'s max batch for the
    workload (KV memory ÷ a mean request's context). The queue grows tick after tick, its
    cohorts admitted in order, and the replicas' batch sits at that limit, never above it
    (kernel.py: the free slots left after the cohorts ahead, ``room − taken`` → ``room +
    taken``, let later cohorts overfill the cache: 3,735 requests in a 2,456 cache)."""

    def edit(doc):
        doc["deployments"][0]["replicas"] = 2
        doc["workloads"] = [w for w in doc["workloads"] if w["id"] == "chat"]
        doc["workloads"][0].update(
            rate="100/s", isl=256, osl=2000, slo={"ttft": "600s", "tpot": "1s"}
        )

    f = Factory(small_layout(tmp_path, edit=edit))
    prof = f.profiles[f.rep_prof[f.dep_reps[0][0]]]
    fits = prof.replica.max_batch(prof.workload)  # twin perf's KV-bound batch
    queue, batch = [], []
    for t in range(60, 181, 20):
        f.advance_to(float(t))
        d = f.snapshot().deployments[0]
        queue.append(d.queue)
        batch.append(d.running / d.replicas)
    assert np.all(np.diff(queue) > 0)  # overloaded all along
    assert max(batch) <= fits
    assert batch[-1] > 0.99 * fits  # and full: the cache, not the prefill, is the limit
