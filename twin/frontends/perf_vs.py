"""``twin perf --gpu A --vs B``: one GPU generation against another, across interactivity.

Each side serves the model at its own best precision (fp4 where the GPU has it) unless
``--precision`` / ``--vs-precision`` say otherwise, with its best split (co-located or
disaggregated, with or without MTP) at each interactivity. The ratios are A over B for
tokens/s per GPU and tokens/s per MW, and B over A for $/Mtok ("× lower cost").
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from twin.core.api import serving
from twin.core.errors import TwinError

#: interactivities of the short table (tok/s per user)
LEVELS = (10, 25, 50, 75, 100, 125, 150, 200)


def compare(
    cat,
    gpu,
    vs,
    model,
    precision,
    vs_precision,
    workload,
    levels,
    disagg=None,
    mtp=True,
    ttft_max=None,
):
    """Rows of (tok/s/user, point A, point B) at every level both sides reach."""
    a = serving.curves(gpu, model, precision, workload, None, cat, disagg=disagg, mtp=mtp)
    b = serving.curves(vs, model, vs_precision, workload, None, cat, disagg=disagg, mtp=mtp)
    rows = []
    for u in levels:
        try:
            pa = serving.at_interactivity(a, u, ttft_max)
            pb = serving.at_interactivity(b, u, ttft_max)
        except serving.ServingError:
            continue
        rows.append((float(u), pa, pb))
    if not rows:
        raise TwinError(f"perf: {gpu.id} and {vs.id} reach no common interactivity for {model.id}")
    return rows


def placement(
    args: argparse.Namespace, model, cat, par: serving.Parallelism | None = None
) -> bool | None:
    """``serving.curves``' ``disagg``: True with --disagg, False with --colocated (and for a
    given split, co-located unless --disagg asks for a prefill pool); otherwise as the
    model's public recipes serve it (``serving.recipe_placement``: the best of both for
    DeepSeek-R1, co-located for the rest)."""
    if args.disagg:
        return True
    if getattr(args, "colocated", False) or par:
        return False
    return serving.recipe_placement(model, cat)


def run_vs(args: argparse.Namespace, cat, gpu, model, w: serving.Workload) -> int:
    """``twin perf --vs``: ``gpu`` against ``args.vs`` on workload ``w``."""
    vs = cat.gpu(args.vs)
    pa = args.precision or serving.best_precision(gpu, model)
    pb = args.vs_precision or serving.best_precision(vs, model)
    if args.curve:
        levels = [float(x) for x in np.arange(5, 400, 5)]
    elif args.tps_user:
        levels = [args.tps_user]
    else:
        levels = list(LEVELS)
    rows = compare(
        cat,
        gpu,
        vs,
        model,
        pa,
        pb,
        w,
        levels,
        placement(args, model, cat),
        not args.no_mtp,
        args.ttft_max,
    )
    if args.json:
        out = [
            {
                "tok_s_per_user": u,
                "tok_s_per_gpu_ratio": a.tok_s_per_gpu / b.tok_s_per_gpu,
                "tok_s_per_mw_ratio": a.tok_s_per_mw / b.tok_s_per_mw,
                "usd_per_mtok_ratio": b.usd_per_mtok / a.usd_per_mtok,
                "a": a.as_dict(),
                "b": b.as_dict(),
            }
            for u, a, b in rows
        ]
        json.dump(
            {
                "gpu": gpu.id,
                "vs": vs.id,
                "model": model.id,
                "precision": pa,
                "vs_precision": pb,
                "rows": out,
            },
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"{model.name} · {w.isl} in / {w.osl} out"
        + (" · random prompts" if w.mtp_acceptance is not None else "")
        + f" · {gpu.id} {pa} vs {vs.id} {pb}\n"
        f"ratios {gpu.id} ÷ {vs.id} (cost: {vs.id} ÷ {gpu.id}, × lower)",
        title_justify="left",
        box=None,
        padding=(0, 1),
    )
    for col in (
        "tok/s/user",
        f"{gpu.id} tok/s/GPU",
        f"{vs.id} tok/s/GPU",
        "× tok/s/GPU",
        "× tok/s/MW",
        "× lower $/Mtok",
        f"{gpu.id} replica",
        f"{vs.id} replica",
    ):
        t.add_column(col, justify="right", no_wrap=True)
    for u, a, b in rows:
        t.add_row(
            f"{u:g}",
            f"{a.total_tok_s_per_gpu:,.0f}",
            f"{b.total_tok_s_per_gpu:,.0f}",
            f"{a.tok_s_per_gpu / b.tok_s_per_gpu:,.1f}×",
            f"{a.tok_s_per_mw / b.tok_s_per_mw:,.1f}×",
            f"{b.usd_per_mtok / a.usd_per_mtok:,.1f}×",
            f"{a.gpus} {a.parallelism}",
            f"{b.gpus} {b.parallelism}",
        )
    console = Console()
    console.width = max(console.width, 170)
    console.print(t)
    print("tok/s/GPU counts input + output (InferenceX); ratios are the same for output only.")
    return 0
