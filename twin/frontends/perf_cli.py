"""``twin perf``: one replica's throughput, interactivity and economics, from the serving model."""

from __future__ import annotations

import argparse
import json
import re
import sys

from twin.core.api import PRECISIONS, limits, load_catalog, serving
from twin.core.errors import TwinError
from twin.frontends.perf_vs import placement

_PAR = re.compile(r"^(TP|DP)(\d+)(-EP1)?(?:[x·*]?PP(\d+))?(\+MTP(\d)?)?$", re.IGNORECASE)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "perf",
        help="throughput, interactivity and $/Mtok of one model replica",
        description="Throughput–interactivity of one replica (GPU, model, precision) from the calibrated serving model.",
    )
    p.add_argument(
        "--gpu",
        required=True,
        help="GPU SKU (h100, h200, b200, gb200, gb300, mi300x, mi325x, mi355x, …)",
    )
    p.add_argument(
        "--model", required=True, help="model (llama-3.3-70b, deepseek-r1, gpt-oss-120b, …)"
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="weights/compute precision (default: the model's native or fp8)",
    )
    p.add_argument(
        "--isl", type=_tokens, default=1024, help="input (prompt) tokens per request (default 1024)"
    )
    p.add_argument(
        "--osl", type=_tokens, default=1024, help="output tokens per request (default 1024)"
    )
    p.add_argument(
        "--osl-spread",
        type=_spread,
        default=0.0,
        metavar="CV",
        help="spread of output lengths as a coefficient of variation (0 = all alike; 1 ≈ exponential)",
    )
    p.add_argument(
        "--isl-spread",
        type=_spread,
        default=0.0,
        metavar="CV",
        help="spread of prompt lengths as a coefficient of variation (lognormal; 0 = all alike): "
        "adds the TTFT of the 99th-percentile prompt, which --ttft-max then bounds",
    )
    p.add_argument(
        "--reserve-output",
        type=_tokens,
        default=0,
        metavar="N",
        help="KV reserved for N output tokens per request at admission, as TensorRT-LLM's "
        "default scheduler does for max_tokens (default: KV taken as it grows)",
    )
    p.add_argument(
        "--scheduler-steps",
        type=_scheduler_steps,
        default=1,
        metavar="N",
        help="decode steps per scheduling pass, as vLLM V0's num_scheduler_steps (multi-step "
        "scheduling, AMD's MLPerf recipes: 7-19): the host's per-step and per-sequence work "
        "is paid once per N steps (default 1: every step)",
    )
    p.add_argument(
        "--inflight-batching",
        action="store_true",
        default=None,
        help="TensorRT-LLM's in-flight batching: prompts ride whole on decode steps, MoE "
        "replicas too, each attention-DP rank with its own token budget (default: as the "
        "model's public recipes serve it, MoE prompts in steps of their own)",
    )
    p.add_argument(
        "--prompts",
        choices=("natural", "random"),
        default="natural",
        help="natural text (default) or random tokens as benchmark suites send them (InferenceX): "
        "speculative MTP drafts are accepted less on random prompts",
    )
    p.add_argument(
        "--tps-user",
        type=_positive,
        metavar="X",
        help="the best point that gives each user X output tok/s",
    )
    p.add_argument(
        "--parallelism",
        metavar="P",
        help="e.g. TP8, DP8 (DP attention + EP), TP8-EP1 (experts split like dense layers), "
        "TP8xPP2, TP8+MTP, DP48+MTP3 (default: best of all that fit)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--disagg",
        action="store_true",
        help="only disaggregated prefill/decode, a prefill pool feeding the decode replicas "
        "(default: as the model's public recipes serve it: the best of co-located and "
        "disaggregated for DeepSeek-R1, co-located for the rest)",
    )
    where.add_argument(
        "--colocated",
        action="store_true",
        help="only co-located replicas, prefilling in chunks on their decode steps "
        "(default: as the model's public recipes serve it)",
    )
    p.add_argument(
        "--no-mtp",
        action="store_true",
        help="no speculative decoding with the model's multi-token-prediction head",
    )
    p.add_argument(
        "--ttft-max",
        type=_positive,
        metavar="S",
        help="only operating points whose time to first token is at most S seconds "
        "(with --isl-spread: the 99th-percentile prompt's, as MLPerf's TTFT limits are p99)",
    )
    p.add_argument(
        "--vs",
        metavar="GPU",
        help="compare with another GPU: ratios of tok/s per GPU, tok/s per MW and $/Mtok across interactivity",
    )
    p.add_argument(
        "--vs-precision",
        choices=PRECISIONS,
        help="precision of the --vs GPU (default: its best, fp4 where it has it)",
    )
    p.add_argument(
        "--curve",
        action="store_true",
        help="the whole throughput–interactivity frontier as a table",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run)


def _whole(text: str, unit: str, high: int) -> int:
    """A whole number of ``unit`` from 1 to ``high``, or argparse's one-line error."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of {unit}, got {text!r}"
        ) from None
    if not 1 <= v <= high:
        raise argparse.ArgumentTypeError(f"must be from 1 to {high:,} {unit}, got {v:,}")
    return v


def _scheduler_steps(text: str) -> int:
    return _whole(text, "steps", 64)


def _tokens(text: str) -> int:
    return _whole(text, "tokens", limits.MAX_TOKENS)


def _spread(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= v <= 5:
        raise argparse.ArgumentTypeError(f"must be between 0 and 5, got {text}")
    return v


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < v <= 1e6:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"must be a finite number above 0 and at most 1,000,000, got {text}"
        )
    return v


def parse_parallelism(text: str) -> serving.Parallelism:
    m = _PAR.match(text.strip())
    if not m:
        raise TwinError(
            f"perf: --parallelism {text!r} is not like TP8, DP8, TP8xPP2, TP8+MTP or TP8-EP1"
        )
    if m[3] and m[1].upper() == "DP":
        raise TwinError(
            f"perf: --parallelism {text!r}: EP1 (experts split like dense layers) is TP only"
        )
    return serving.Parallelism(
        tp=int(m[2]),
        pp=int(m[4] or 1),
        dp_attention=m[1].upper() == "DP",
        mtp=(int(m[6]) if m[6] else 1) if m[5] else 0,
        tp_experts=bool(m[3]),
    )


def workload_of(args: argparse.Namespace, cat) -> serving.Workload:
    """The request shape the options describe (random prompts accept fewer MTP drafts)."""
    accept = (
        float(cat.constants["mtp_acceptance_random_prompts"])
        if getattr(args, "prompts", "natural") == "random"
        else None
    )
    return serving.Workload(
        args.isl,
        args.osl,
        args.osl_spread,
        accept,
        getattr(args, "isl_spread", 0.0),
        getattr(args, "reserve_output", 0),
        getattr(args, "scheduler_steps", 1),
        getattr(args, "inflight_batching", None),
    )


def run(args: argparse.Namespace) -> int:
    cat = load_catalog(args.catalog)
    gpu, model = cat.gpu(args.gpu), cat.model(args.model)
    if args.vs:
        from twin.frontends.perf_vs import run_vs

        return run_vs(args, cat, gpu, model, workload_of(args, cat))
    precision = args.precision or serving.default_precision(gpu, model)
    par = parse_parallelism(args.parallelism) if args.parallelism else None
    if par and par.mtp and not model.mtp_drafts:
        raise TwinError(f"perf: {model.id} has no multi-token-prediction head; drop +MTP")
    if par and par.mtp and args.no_mtp:
        raise TwinError("perf: --parallelism asks for +MTP and --no-mtp forbids it; drop one")
    workload = workload_of(args, cat)
    disagg = placement(args, model, cat, par)
    cs = serving.curves(
        gpu, model, precision, workload, par, cat, disagg=disagg, mtp=not args.no_mtp
    )
    ttft = args.ttft_max
    if args.curve:
        points = serving.frontier(cs, ttft)
        if args.json:
            json.dump({"curve": [p.as_dict() for p in points]}, sys.stdout, indent=2)
            print()
        else:
            _print_curve(points, gpu, model, precision, workload)
        return 0
    point = (
        serving.at_interactivity(cs, args.tps_user, ttft)
        if args.tps_user
        else serving.max_throughput(cs, ttft)
    )
    if args.json:
        json.dump(point.as_dict(), sys.stdout, indent=2)
        print()
    else:
        _print_point(point, gpu, model, args.tps_user, workload)
    return 0


def _title(gpu, model, precision, w) -> str:
    spread = f" (spread {w.osl_cv:g})" if w.osl_cv else ""
    isl = f"{w.isl} (spread {w.isl_cv:g})" if w.isl_cv else f"{w.isl}"
    prompts = " · random prompts" if w.mtp_acceptance is not None else ""
    held = f" · KV reserved for {w.reserve_output} out" if w.reserve_output else ""
    steps = f" · {w.scheduler_steps}-step scheduling" if w.scheduler_steps > 1 else ""
    ifb = " · in-flight batching" if w.inflight_batching else ""
    return (
        f"{model.name} · {precision} · on {gpu.name} · {isl} in / {w.osl} out{spread}{prompts}"
        f"{held}{steps}{ifb}"
    )


def _print_point(p: serving.OperatingPoint, gpu, model, tps_user, w: serving.Workload) -> None:
    from rich.console import Console
    from rich.table import Table

    what = f"at {tps_user:g} tok/s per user" if tps_user else "at maximum throughput"
    # the heading goes above the table, not in its title: a title wraps at the table's
    # width, which splits a long GPU name's line where the terminal has room for it
    t = Table(show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_column(style="dim")
    rows = [
        ("replica", f"{p.gpus} × {gpu.id}", _placement_label(p)),
        ("prefill GPUs", f"{p.prefill_gpus:.1f}", "share of a prefill pool")
        if p.prefill_gpus
        else None,
        ("batch (concurrent requests)", f"{p.batch:,}", "per replica"),
        (
            "output tokens/s per GPU",
            f"{p.tok_s_per_gpu:,.0f}",
            f"{p.total_tok_s_per_gpu:,.0f} input+output",
        ),
        (
            "output tokens/s per user",
            f"{p.tok_s_per_user:,.1f}",
            f"{p.step_s * 1e3:.1f} ms per output token",
        ),
        ("time to first token", f"{p.ttft_s:.3f} s", "unloaded queue"),
        (
            "time to first token, p99",
            f"{p.ttft_p99_s:.3f} s",
            f"its {w.prompt_p99:,.0f}-token prompt (p99)",
        )
        if w.isl_cv
        else None,
        ("GPU power at this load", f"{p.power_w_per_gpu:,.0f} W", f"TDP {gpu.tdp_w:,.0f} W"),
        (
            "cost per million output tokens",
            f"${p.usd_per_mtok:,.3f}",
            f"${p.usd_per_mtok_total:,.3f} per M input+output",
        ),
        (
            "cost per GPU-hour, all-in",
            f"${p.usd_per_gpu_hr:,.2f}",
            "capital, facility, opex, energy",
        ),
        (
            "output tokens/s per MW",
            f"{p.tok_s_per_mw:,.0f}",
            f"all-in {gpu.allin_kw_per_gpu} kW per GPU",
        ),
        ("energy per output token", f"{p.j_per_tok:.3f} J", ""),
    ]
    for r in rows:
        if r:
            t.add_row(*r)
    console = Console(highlight=False)
    console.print(_title(gpu, model, p.precision, w), style="italic")
    console.print(what, style="italic")
    console.print(t)


def _placement_label(p: serving.OperatingPoint) -> str:
    """The split and how it is placed: a disaggregated label names its prefill pool
    (``P0.22 + D2, TP2``); a co-located one says so (``TP2, co-located``)."""
    return p.parallelism if p.prefill_gpus else f"{p.parallelism}, co-located"


def _print_curve(points, gpu, model, precision, w) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"{_title(gpu, model, precision, w)}\nthroughput–interactivity frontier",
        title_justify="left",
        box=None,
        padding=(0, 1),
    )
    for col in (
        "tok/s/user",
        "tok/s/GPU",
        "in+out",
        "batch",
        "replica",
        "TTFT s",
        *(("TTFT p99",) if w.isl_cv else ()),
        "W/GPU",
        "$/Mtok",
    ):
        t.add_column(col, justify="right", no_wrap=True)
    step = max(1, len(points) // 24)
    console = Console()
    console.width = max(console.width, 150)
    shown = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    for p in shown:
        t.add_row(
            f"{p.tok_s_per_user:,.1f}",
            f"{p.tok_s_per_gpu:,.0f}",
            f"{p.total_tok_s_per_gpu:,.0f}",
            f"{p.batch:,}",
            f"{p.gpus} {p.parallelism}",
            f"{p.ttft_s:.2f}",
            *((f"{p.ttft_p99_s:.2f}",) if w.isl_cv else ()),
            f"{p.power_w_per_gpu:,.0f}",
            f"{p.usd_per_mtok:,.3f}",
        )
    console.print(t)
