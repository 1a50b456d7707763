"""What speculation (MTP) buys in InferenceX's DeepSeek-R1 runs, measured and in twin, by
prompt/output length.

InferenceX ran many configurations twice, with and without MTP: same GPU, precision,
lengths, framework, serving mode, prefill and decode split, and concurrency. Such a pair
isolates what the drafts buy on that configuration. For each pair this script prints the
measured gain (MTP over no-MTP) in interactivity (1 / median TPOT) and in tokens/s per GPU,
and twin's gain relative to it: each run priced at its own split, serving mode and
speculation (``inferencex_runs.py --own``) at its own interactivity, the ratio
(1 + error with MTP) / (1 + error without). 1.00 means twin's drafts buy what the runs'
drafts bought; below 1, the measured drafts bought more than twin's.

The runs' prompts are random tokens, sent greedy (temperature 0) with EOS ignored
(InferenceX benchmarks/benchmark_lib.sh, utils/bench_serving/backend_request_func.py), so
past the model's own answer the output is a forced continuation; whether the drafts accept
more of it the longer it runs is what the 1k/1k against 1k/8k rows ask.

A second table reads the tokens each step yields from the disaggregated MTP runs directly:
there the decode workers only decode, so a run's median time per output token is one
decode step over the tokens that step yields. twin's step (``Replica.step``, which holds
against the no-MTP runs' steps at a median +1 %: ``inferencex_steps.py``) at the run's
split, running batch and context, with 1, 2 or 3 drafts (the rows do not say how many),
over the measured TPOT is the tokens per step the run implies. twin's own figure with
InferenceX's random-prompt acceptance is 1.70, 2.09 and 2.27.

    python benchmarks/inferencex_mtp.py            # summary by GPU, precision and length
    python benchmarks/inferencex_mtp.py --pairs    # every pair
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from statistics import median

from inferencex_runs import DATA, own, run_groups, run_split
from inferencex_steps import LENGTH_SHARE, QUEUED

from twin.core.serving import Parallelism, Replica, ServingError

#: what must match for two runs to be the same configuration with and without MTP
SAME = (
    "hardware",
    "precision",
    "isl",
    "osl",
    "framework",
    "disagg",
    "prefill_tp",
    "prefill_workers",
    "num_prefill_gpu",
    "decode_tp",
    "decode_ep",
    "decode_dpa",
    "decode_workers",
    "num_decode_gpu",
    "conc",
)


def pairs(priced: list) -> list[tuple[dict, dict, float, float]]:
    """(run with MTP, run without, twin's error with, twin's error without) for every
    configuration run both ways (the latest run of each when one was repeated)."""
    both: dict[tuple, dict[bool, tuple]] = defaultdict(dict)
    for key, e, r, _ in sorted(priced, key=lambda x: x[2]["date"]):
        both[tuple(r[c] for c in SAME)][key[4]] = (r, e)
    return [
        (v[True][0], v[False][0], v[True][1], v[False][1])
        for v in both.values()
        if True in v and False in v
    ]


def implied_tokens_per_step(cat) -> dict[tuple, list[list[float]]]:
    """Per GPU, precision and length: for each disaggregated MTP run with a known decode
    split, twin's decode step at 1, 2 and 3 drafts over the run's median TPOT (the batch
    and context as inferencex_steps.py takes them; runs whose throughput does not account
    for their batch left out)."""
    model = cat.model("deepseek-r1")
    out: dict[tuple, list[list[float]]] = defaultdict(list)
    with DATA.open() as f:
        rows = [
            r for r in csv.DictReader(f) if r["disagg"] == "true" and r["spec_method"] != "none"
        ]
    for r in rows:
        par, workers, known = run_split(r)
        if not known:
            continue
        isl, osl = int(r["isl"]), int(r["osl"])
        tpot, ttft = float(r["median_tpot"]), float(r["median_ttft"])
        decoding = LENGTH_SHARE * osl * tpot
        running = float(r["conc"]) / workers * decoding / (ttft + decoding)
        produced = float(r["output_tput_per_gpu"] or 0) * int(r["num_decode_gpu"]) * tpot / workers
        if produced < QUEUED * running:
            continue
        ctx = LENGTH_SHARE * (isl + osl / 2)
        per = []
        for d in (1, 2, 3):
            p = Parallelism(par.tp, 1, par.dp_attention, d, par.tp_experts)
            try:
                rep = Replica(cat.gpu(r["hardware"]), model, r["precision"], p, cat)
                per.append(float(rep.step(running, ctx).t_s) / tpot)
            except ServingError:
                per.append(float("nan"))
        out[(r["hardware"], r["precision"], f"{isl}/{osl}")].append(per)
        out[("all", "", f"{isl}/{osl}")].append(per)
    return out


def main(argv: list[str]) -> int:
    cat, model, accept, groups = run_groups()
    rows = []
    for m, n, em, en in pairs(own(cat, model, accept, groups)):
        gain_u = float(m["median_intvty"]) / float(n["median_intvty"])
        gain_t = float(m["tput_per_gpu"]) / float(n["tput_per_gpu"])
        twin = (1 + em) / (1 + en) if em == em and en == en else float("nan")
        rows.append((m, gain_u, gain_t, twin))
    if "--pairs" in argv:
        print(
            "| run | framework | split | conc | measured tok/s/user gain | tok/s/GPU gain | twin/measured |"
        )
        print("|---|---|---|---:|---:|---:|---:|")
        for m, gu, gt, tw in sorted(rows, key=lambda x: tuple(x[0][c] for c in SAME)):
            split = f"D{m['num_decode_gpu']} tp{m['decode_tp']}{' dpa' if m['decode_dpa'] == 'true' else ''}"
            print(
                f"| {m['hardware']} {m['precision']} {m['isl']}/{m['osl']} | {m['framework']} "
                f"| {'disagg ' if m['disagg'] == 'true' else ''}{split} | {m['conc']} "
                f"| {gu:.2f}x | {gt:.2f}x | {tw:.2f} |"
            )
        print()

    def line(label: str, sel: list) -> None:
        tw = sorted(t for *_, t in sel if t == t)
        if not sel:
            return
        q = (f"{tw[len(tw) // 4]:.2f}–{tw[3 * len(tw) // 4]:.2f}") if tw else "–"
        print(
            f"| {label} | {len(sel)} | {median(g for _, g, _, _ in sel):.2f}x "
            f"| {median(g for _, _, g, _ in sel):.2f}x | {median(tw) if tw else float('nan'):.2f} | {q} |"
        )

    print(
        "| group | pairs | measured gain, tok/s/user | measured gain, tok/s/GPU "
        "| twin's gain / measured | its quartiles |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    lengths = sorted({(int(m["isl"]), int(m["osl"])) for m, *_ in rows})
    for gp in sorted({(m["hardware"], m["precision"]) for m, *_ in rows}):
        for isl, osl in lengths:
            sel = [
                x
                for x in rows
                if (x[0]["hardware"], x[0]["precision"]) == gp
                and (int(x[0]["isl"]), int(x[0]["osl"])) == (isl, osl)
            ]
            line(f"{gp[0]} {gp[1]} {isl}/{osl}", sel)
    for isl, osl in lengths:
        for mode, label in (("false", "co-located"), ("true", "disaggregated")):
            sel = [
                x
                for x in rows
                if (int(x[0]["isl"]), int(x[0]["osl"])) == (isl, osl) and x[0]["disagg"] == mode
            ]
            line(f"{isl}/{osl} {label}", sel)
        line(
            f"{isl}/{osl} all",
            [x for x in rows if (int(x[0]["isl"]), int(x[0]["osl"])) == (isl, osl)],
        )

    print()
    print(
        "| disaggregated MTP runs | runs | tokens per step implied at 1 draft "
        "| at 2 drafts | at 3 drafts |"
    )
    print("|---|---:|---:|---:|---:|")
    for key, per in sorted(
        implied_tokens_per_step(cat).items(), key=lambda kv: (kv[0][0] == "all", kv[0])
    ):
        cols = [median(x[i] for x in per if x[i] == x[i]) for i in range(3)]
        label = " ".join(k for k in key if k)
        print(f"| {label} | {len(per)} | " + " | ".join(f"{c:.2f}" for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
