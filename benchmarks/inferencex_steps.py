"""twin's decode step against every measured decode step in the raw InferenceX DeepSeek-R1
runs: the disaggregated runs without speculation.

In a disaggregated run the decode workers only decode, so without speculation a run's
median time per output token *is* the decode step of one worker at its running batch and
context — the measurement ``twin/core/calibration.py``'s step table checks
(``benchmarks/calibration_table.py``: "measured decode step"), here at every split, GPU,
precision, framework and length InferenceX ran. None of these runs is fitted.

For each run (``data/inferencex-dsr1-runs.csv``, source in ``inferencex_runs.py``):

* split: the decode worker's TP, DP attention and expert parallelism (``run_split``: a
  Dynamo-SGLang row naming TP1 for a multi-GPU worker takes its decode GPUs over its
  workers); a row that names no decode workers (``decode_workers`` 0, TP = every decode
  GPU) or whose decode GPUs are not TP x workers has no known split and is left out;
* running batch per worker, by Little's law as the step table takes it: concurrency over
  workers times the share of a request's life spent decoding, ``1 - TTFT / (TTFT + 0.9 x
  OSL x TPOT)`` (InferenceX draws lengths in 80-100 % of ISL/OSL);
* context: ``0.9 x (ISL + OSL / 2)``, the batch's mean;
* a second batch from the tokens the run produced: output tok/s per decode GPU x decode
  GPUs x TPOT over the workers is the batch the measured throughput says was decoding.
  Where it is below 70 % of the first, requests were waiting outside the batch (a
  saturated or broken run, or a row whose GPU counts are wrong) and the run is left out
  (counted under "dropped").

twin's step is ``predict_step_ms`` — the step the step table prices, ``Replica.step`` at
that split, batch and context.

The last table splits the steps of DP-attention workers (each GPU decodes its own
requests over their own KV cache) at four or more requests per GPU, where every expert's
weights are read each step, into what the step costs per GPU: a fixed part (weights,
launches, host), a part per request (GEMM rows, dispatch and combine, host bookkeeping)
and a part per request per 1,000 tokens of context (reading its KV cache and the
attention math) — a least-squares fit ``t = a + b·n + c·n·ctx/1000`` (n requests per GPU)
of the measured steps and, at the same points, of twin's. Where the measured ``c`` is
attention-bound, ``attention TFLOP/s`` is the rate it implies (the MLA decode FLOPs of one
request over 1,000 tokens of context, over ``c``), against the rate twin prices
attention at (η_attn x the attention peak); "—" where ``c`` is below the time to read
that KV cache at the HBM peak (the runs do not determine it).

    python benchmarks/inferencex_steps.py          # summaries by group, by batch, by cost
    python benchmarks/inferencex_steps.py --runs   # ... and every run's line
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from statistics import median

import numpy as np
from inferencex_runs import DATA, run_split  # this folder's: the runs and their splits

from twin.core.calibration import StepMeasurement, predict_step_ms
from twin.core.catalog import load_catalog
from twin.core.serving import Replica, ServingError

#: InferenceX's random prompts and outputs are uniform in 80-100 % of ISL/OSL
LENGTH_SHARE = 0.9
#: below this share of the Little's-law batch the throughput does not account for the
#: concurrency: requests queued outside the decode batch
QUEUED = 0.7
#: batch per GPU (per DP rank under DP attention, else per worker / TP) bands for the trend
BANDS = ((0, 4, "< 4"), (4, 16, "4–16"), (16, 64, "16–64"), (64, 1e9, "≥ 64"))


def runs(cat) -> tuple[list[dict], dict[str, int]]:
    """Every disaggregated run without speculation, priced; and the count of each drop."""
    out, dropped = [], defaultdict(int)
    with DATA.open() as f:
        rows = [r for r in csv.DictReader(f) if r["disagg"] == "true"]
    for r in rows:
        if r["spec_method"] != "none":
            continue
        par, workers, known = run_split(r)
        if not known:
            dropped["no known decode split"] += 1
            continue
        tp, dpa, tpx = par.tp, par.dp_attention, par.tp_experts
        isl, osl, conc = int(r["isl"]), int(r["osl"]), float(r["conc"])
        tpot, ttft = float(r["median_tpot"]), float(r["median_ttft"])
        decoding = LENGTH_SHARE * osl * tpot
        running = conc / workers * decoding / (ttft + decoding)
        out_tput = float(r["output_tput_per_gpu"] or 0)
        produced = out_tput * int(r["num_decode_gpu"]) * tpot / workers
        if produced < QUEUED * running:
            dropped["queued (throughput × TPOT < 70 % of the batch)"] += 1
            continue
        m = StepMeasurement(
            id=r["run"],
            gpu=r["hardware"],
            model="deepseek-r1",
            precision=r["precision"],
            tp=tp,
            dp_attention=dpa,
            tp_experts=tpx,
            running=running,
            context=LENGTH_SHARE * (isl + osl / 2),
            tpot_ms=tpot * 1e3,
            source=r["run"],
        )
        try:
            t = predict_step_ms(m, cat)
        except ServingError as e:
            dropped[f"out of reach ({str(e).split(':')[0]})"] += 1
            continue
        per_gpu = running / tp  # per DP rank, or per GPU of a TP worker
        out.append(dict(r=r, m=m, twin=t, err=t / m.tpot_ms - 1, per_gpu=per_gpu))
    return out, dict(dropped)


def costs(cat, priced: list[dict]) -> None:
    """Fixed, per-request and per-request-per-1k-context costs of the DP-attention steps,
    measured and twin's, by GPU, precision and framework (one fixed part per split width: a wider
    expert group holds fewer experts' weights per GPU)."""
    groups: dict[tuple, list] = defaultdict(list)
    for p in priced:
        if p["m"].dp_attention and p["per_gpu"] >= 4:
            groups[(p["m"].gpu, p["m"].precision, p["r"]["framework"])].append(p)
    print()
    print(
        "| DP attention, ≥ 4 requests/GPU | runs | fixed ms, commonest split (measured / twin) "
        "| µs per request | µs per request per 1k context | attention TFLOP/s (implied / twin) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for key in sorted(groups):
        sel = groups[key]
        widths = sorted({p["m"].tp for p in sel})
        if len(sel) < len(widths) + 5 or len({round(p["m"].context) for p in sel}) < 2:
            continue  # too few runs, or one context only: the context term is not determined
        a = np.array(
            [
                [float(p["m"].tp == w) for w in widths]
                + [p["per_gpu"], p["per_gpu"] * p["m"].context / 1e3]
                for p in sel
            ]
        )
        meas = np.linalg.lstsq(a, np.array([p["m"].tpot_ms for p in sel]), rcond=None)[0]
        twin = np.linalg.lstsq(a, np.array([p["twin"] for p in sel]), rcond=None)[0]
        common = max(widths, key=lambda w: sum(p["m"].tp == w for p in sel))
        i = widths.index(common)
        r = Replica(cat.gpu(key[0]), cat.model("deepseek-r1"), key[1], sel[0]["m"].parallelism, cat)
        flops = r.model.layers * r.attn_flops_per_ctx * 1e3  # one request, 1k context
        rate = r.eff.decode_attn * r.attn_flops_s / 1e12
        # a context term below the time to read that KV cache at the HBM peak is noise
        kv_s = r.model.layers * r.kv_per_token_layer * 1e3 / r.hbm_bytes_s
        implied = f"{flops / (meas[-1] * 1e-3) / 1e12:,.0f}" if meas[-1] * 1e-3 > kv_s else "—"
        print(
            f"| {' '.join(key)} | {len(sel)} | DP{common}: {meas[i]:.1f} / {twin[i]:.1f} "
            f"| {meas[-2] * 1e3:.0f} / {twin[-2] * 1e3:.0f} "
            f"| {meas[-1] * 1e3:.1f} / {twin[-1] * 1e3:.1f} | {implied} / {rate:,.0f} |"
        )


def main(argv: list[str]) -> int:
    cat = load_catalog()
    priced, dropped = runs(cat)
    if "--runs" in argv:
        print("| run | framework | split | running (/GPU) | context | measured | twin | error |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for p in sorted(priced, key=lambda p: (p["m"].gpu, p["m"].precision, p["per_gpu"])):
            r, m = p["r"], p["m"]
            print(
                f"| {m.gpu} {m.precision} {r['isl']}/{r['osl']} c{r['conc']} "
                f"| {r['framework']} | {m.parallelism.label(True)} "
                f"| {m.running:,.1f} ({p['per_gpu']:,.1f}) | {m.context:,.0f} "
                f"| {m.tpot_ms:.2f} ms | {p['twin']:.2f} ms | {p['err']:+.0%} |"
            )
        print()

    def line(label, sel):
        if not sel:
            return
        errs = [p["err"] for p in sel]
        print(
            f"| {label} | {len(sel)} | {median(errs):+.0%} | {median(abs(e) for e in errs):.0%} "
            f"| {sum(abs(e) > 0.2 for e in errs)} |"
            + "".join(
                f" {median(es):+.0%} ({len(es)}) |" if es else " |"
                for es in (
                    [p["err"] for p in sel if lo <= p["per_gpu"] < hi] for lo, hi, _ in BANDS
                )
            )
        )

    print(
        "| group | runs | median error | median \\|error\\| | beyond 20 % |"
        + "".join(f" {name} /GPU |" for *_, name in BANDS)
    )
    print("|---|---:|---:|---:|---:|" + "---:|" * len(BANDS))
    groups: dict[tuple, list] = defaultdict(list)
    for p in priced:
        r = p["r"]
        groups[(r["hardware"], r["precision"], r["framework"])].append(p)
    for key in sorted(groups):
        line(" ".join(key), groups[key])
    for isl, osl in sorted({(int(p["r"]["isl"]), int(p["r"]["osl"])) for p in priced}):
        line(
            f"{isl}/{osl}",
            [p for p in priced if (int(p["r"]["isl"]), int(p["r"]["osl"])) == (isl, osl)],
        )
    for name, pick in (
        ("DP attention", lambda m: m.dp_attention),
        ("TP attention, EP", lambda m: not m.dp_attention and not m.tp_experts),
        ("TP attention, EP1", lambda m: m.tp_experts),
    ):
        line(name, [p for p in priced if pick(p["m"])])
    for fw in sorted({p["r"]["framework"] for p in priced}):
        line(fw, [p for p in priced if p["r"]["framework"] == fw])
    line("all", priced)
    costs(cat, priced)
    print()
    print(
        f"{len(priced)} measured decode steps priced; left out: "
        + (", ".join(f"{n} {why}" for why, n in sorted(dropped.items())) or "none")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
