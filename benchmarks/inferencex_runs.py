"""twin against every published InferenceX DeepSeek-R1 run: the measured frontier of each
GPU, precision, prompt/output length and speculation setting, point by point, against a
plain ``twin perf`` query at the same interactivity.

The runs (``data/inferencex-dsr1-runs.csv``, 1,729 rows, 2025-10 to 2026-05) are the raw
benchmark table behind the InferenceX dashboard: SemiAnalysisAI/InferenceX-app,
packages/app/cypress/fixtures/api/benchmarks.json at commit
3a600f1d9ce155536d52e2f58f744f27a301aac9 (the API's DeepSeek-R1 rows), each row's ``run``
the GitHub Actions run behind it (github.com/SemiAnalysisAI/InferenceX/actions/runs/NNN/
attempts/K). ``tput_per_gpu`` counts input + output tokens per GPU over every GPU of the
deployment (prefill and decode), ``median_intvty`` is 1 / median time per output token —
the dashboard's axes. The dashboard draws, for each GPU and precision, the upper envelope
over every configuration it ran; this script takes that envelope's measured points (no
interpolation) and asks twin at each one the question a user would: ``twin perf --gpu G
--model deepseek-r1 --precision P --isl I --osl O --prompts random --tps-user X``, with
``--no-mtp`` for the runs without speculation. None of these points is fitted.

A measured envelope is only as dense as the configurations InferenceX ran: where it jumps
from one run to the next, twin's continuous frontier sits above the gap. ``--own`` asks
the physics question instead: every run priced at its own decode split (TP, DP attention,
expert parallelism), serving mode and speculation, at its own interactivity.

    python benchmarks/inferencex_runs.py            # envelope, summary by GPU and length
    python benchmarks/inferencex_runs.py --points   # every envelope point
    python benchmarks/inferencex_runs.py --own      # every run at its own split
    python benchmarks/inferencex_runs.py --own --runs  # ... and every run's line
"""

from __future__ import annotations

import contextlib
import csv
import sys
from collections import defaultdict
from pathlib import Path
from statistics import median

from twin.core.catalog import load_catalog
from twin.core.serving import (
    Parallelism,
    ServingError,
    Workload,
    at_interactivity,
    curves,
    recipe_placement,
)

DATA = Path(__file__).with_name("data") / "inferencex-dsr1-runs.csv"


def envelope(rows: list[dict]) -> list[dict]:
    """The measured upper envelope: runs no other run beats on both interactivity and
    throughput per GPU."""
    best, out = -1.0, []
    for r in sorted(rows, key=lambda r: (-float(r["median_intvty"]), -float(r["tput_per_gpu"]))):
        if float(r["tput_per_gpu"]) > best:
            best = float(r["tput_per_gpu"])
            out.append(r)
    return out


def run_split(r: dict, side: str = "decode") -> tuple[Parallelism, int, bool]:
    """A run's decode (or, with ``side="prefill"``, prefill) split, that side's workers,
    and whether the row pins that split down. Some rows name tp 1 for a multi-GPU worker
    (Dynamo SGLang, MoRI SGLang): the worker's GPUs are then the side's GPUs over its
    workers. A row naming no workers for the side, or whose GPUs are not tp x workers,
    gives a split but does not pin it."""
    tp, ep = int(r[f"{side}_tp"]), int(r[f"{side}_ep"])
    workers = int(r[f"{side}_workers"] or 0)
    gpus = int(r[f"num_{side}_gpu"])
    if tp == 1 and r["disagg"] == "true":
        tp = max(1, gpus // max(1, workers))
        ep = tp
    dpa = r[f"{side}_dpa"] == "true" and tp > 1
    par = Parallelism(tp, dp_attention=dpa, tp_experts=ep == 1 and tp > 1 and not dpa)
    return par, workers, workers > 0 and tp * workers == gpus


def own(cat, model, accept, groups) -> list:
    """Every run priced at its own split, serving mode and speculation."""
    out = []
    cache: dict[tuple, list] = {}
    for key in sorted(groups):
        gpu_id, prec, isl, osl, mtp = key
        gpu = cat.gpu(gpu_id)
        w = Workload(isl, osl, mtp_acceptance=accept)
        for r in groups[key]:
            base, _, _ = run_split(r)
            disagg = r["disagg"] == "true"
            ck = (key, base, disagg)
            if ck not in cache:
                cs = []
                for d in (1, 2, 3) if mtp else (0,):
                    par = Parallelism(base.tp, 1, base.dp_attention, d, base.tp_experts)
                    with contextlib.suppress(ServingError):
                        cs += curves(gpu, model, prec, w, par, cat, disagg=disagg, mtp=mtp)
                cache[ck] = cs
            cs = cache[ck]
            try:
                p = at_interactivity(cs, float(r["median_intvty"])) if cs else None
            except ServingError:
                p = None
            e = p.total_tok_s_per_gpu / float(r["tput_per_gpu"]) - 1 if p else float("nan")
            out.append((key, e, r, p))
    return out


def run_groups() -> tuple:
    """The catalog, DeepSeek-R1, the random-prompt MTP acceptance, and the runs grouped by
    (GPU, precision, ISL, OSL, MTP or not)."""
    cat = load_catalog()
    model = cat.model("deepseek-r1")
    accept = float(cat.constants["mtp_acceptance_random_prompts"])
    groups: dict[tuple, list[dict]] = defaultdict(list)
    with DATA.open() as f:
        for r in csv.DictReader(f):
            mtp = r["spec_method"] != "none"
            key = (r["hardware"], r["precision"], int(r["isl"]), int(r["osl"]), mtp)
            groups[key].append(r)
    return cat, model, accept, groups


def main(argv: list[str]) -> int:
    cat, model, accept, groups = run_groups()
    errs: list[tuple[tuple, float, dict, object]] = []
    if "--own" in argv:
        errs = own(cat, model, accept, groups)
    for key in sorted(groups) if "--own" not in argv else ():
        gpu_id, prec, isl, osl, mtp = key
        gpu = cat.gpu(gpu_id)
        w = Workload(isl, osl, mtp_acceptance=accept)
        cs = curves(gpu, model, prec, w, catalog=cat, disagg=recipe_placement(model, cat), mtp=mtp)
        for r in envelope(groups[key]):
            u, meas = float(r["median_intvty"]), float(r["tput_per_gpu"])
            try:
                p = at_interactivity(cs, u)
                errs.append((key, p.total_tok_s_per_gpu / meas - 1, r, p))
            except ServingError:
                errs.append((key, float("nan"), r, None))
    if "--points" in argv or ("--own" in argv and "--runs" in argv):
        print("| run | tok/s/user | measured | twin | error | measured config | twin |")
        print("|---|---:|---:|---:|---:|---|---|")
        for key, e, r, p in errs:
            cfg = f"{r['framework']} P{r['num_prefill_gpu']}/D{r['num_decode_gpu']} tp{r['decode_tp']}{' dpa' if r['decode_dpa'] == 'true' else ''}"
            print(
                f"| {key[0]} {key[1]} {key[2]}/{key[3]} {'MTP' if key[4] else 'no MTP'} "
                f"| {float(r['median_intvty']):.1f} | {float(r['tput_per_gpu']):,.0f} "
                f"| {p.total_tok_s_per_gpu if p else float('nan'):,.0f} | {e:+.0%} | {cfg} "
                f"| {p.parallelism if p else 'out of reach'} |"
            )
        print()

    def summary(label, sel):
        xs = [abs(e) if e == e else 1.0 for e in sel]  # out of twin's reach counts as 100 %
        signed = [e for e in sel if e == e]
        if xs:
            print(
                f"| {label} | {len(xs)} | {median(xs):.0%} | {sum(x > 0.2 for x in xs)} "
                f"| {sum(x > 0.5 for x in xs)} | {median(signed) if signed else 0:+.0%} "
                f"| {len(xs) - len(signed)} |"
            )

    what = "runs at their own split" if "--own" in argv else "envelope points"
    print(
        f"| group | {what} | median \\|error\\| | beyond 20 % | beyond 50 % "
        "| median error | out of reach |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for gpu_id in sorted({k[0] for k, *_ in errs}):
        summary(gpu_id, [e for k, e, *_ in errs if k[0] == gpu_id])
    for isl, osl in sorted({(k[2], k[3]) for k, *_ in errs}):
        summary(f"{isl}/{osl}", [e for k, e, *_ in errs if (k[2], k[3]) == (isl, osl)])
    for prec in ("fp4", "fp8"):
        summary(prec, [e for k, e, *_ in errs if k[1] == prec])
    summary("MTP", [e for k, e, *_ in errs if k[4]])
    summary("no MTP", [e for k, e, *_ in errs if not k[4]])
    for lo, hi, name in ((0, 40, "< 40 tok/s/user"), (40, 90, "40–90"), (90, 1e9, "> 90")):
        summary(name, [e for k, e, r, _ in errs if lo <= float(r["median_intvty"]) < hi])
    summary("all", [e for _, e, *_ in errs])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
