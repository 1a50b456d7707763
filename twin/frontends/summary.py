"""``twin summary [TARGET]``: what a factory is and what it can serve, in plain text.

It answers, without running anything, the questions the control room's gauges answer
live: how big, how much power, how many tokens at the SLO.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from twin.core.api import load_catalog, load_layout, rack_peak_kw, serving
from twin.core.errors import TwinError


def deployment_capacity(layout, catalog) -> list[dict]:
    """Each deployment's output tokens/s at its tightest per-token SLO (serving model).

    A deployment on racks of several GPU types is counted type by type: ``gpu_mix`` lists
    (SKU, GPUs) in placement order, ``tok_s`` is the sum and ``usd_per_mtok`` the
    token-weighted mean."""
    gpus_by_rack = {r.id: (r.gpu, r.gpus) for r in layout.racks}
    out = []
    for d in layout.deployments:
        classes = [w for w in layout.workloads if w.deployment == d.id]
        skus: Counter = Counter()
        for rid in d.racks:
            sku, n = gpus_by_rack[rid]
            skus[sku] += n
        placed = sum(skus.values())
        gpus = d.gpus_per_replica * d.replicas if d.gpus_per_replica and d.replicas else placed
        # replicas fill the racks in order: with fewer GPUs than the racks hold, the first SKUs get them
        mix, left = [], gpus
        for sku, n in skus.items():
            take = min(n, left)
            if take > 0:
                mix.append((sku, take))
            left -= take
        isl = round(sum(w.isl.mean for w in classes) / len(classes)) if classes else 1024
        osl = round(sum(w.osl.mean for w in classes) / len(classes)) if classes else 1024
        tpot = min((w.slo_tpot_s for w in classes), default=0.05)
        row = {
            "id": d.id,
            "model": d.model,
            "precision": d.precision,
            "gpu": mix[0][0] if mix else "",
            "gpus": gpus,
            "gpu_mix": mix,
            "isl": isl,
            "osl": osl,
            "slo_tpot_s": tpot,
            "tok_s": None,
            "replica": "",
            "note": "",
        }
        try:
            tok_s, cost, replicas = 0.0, 0.0, []
            for sku, n in mix:
                cs = serving.curves(
                    catalog.gpu(sku),
                    catalog.model(d.model),
                    d.precision,
                    serving.Workload(isl, osl),
                    catalog=catalog,
                )
                p = serving.at_interactivity(cs, 1.0 / tpot)
                tok_s += p.tok_s_per_gpu * n
                cost += p.usd_per_mtok * p.tok_s_per_gpu * n
                replicas.append(f"{p.gpus} × {p.parallelism}")
            row.update(
                tok_s=tok_s,
                replica=" / ".join(dict.fromkeys(replicas)),
                usd_per_mtok=cost / tok_s if tok_s > 0 else float("nan"),
            )
        except TwinError as e:
            row["note"] = str(e)
        out.append(row)
    return out


def gpu_mix_text(mix: list[tuple[str, int]]) -> str:
    """'512 h100 + 512 h200'."""
    return " + ".join(f"{n:,} {sku}" for sku, n in mix)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "summary",
        help="print what a factory is and what it can serve (no simulation)",
        description="Summarise a layout: floor, power, deployments and their capacity at SLO.",
    )
    p.add_argument(
        "target",
        nargs="?",
        default="default",
        metavar="LAYOUT_OR_FILE",
        help="a built-in layout name or a layout file (default: default)",
    )
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace, target: str | None = None) -> int:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    catalog = load_catalog(getattr(args, "catalog", []))
    layout = load_layout(target or getattr(args, "target", None) or "default", catalog)
    import sys

    # piped or redirected: wide enough that no header or figure is cut (rich would assume 80 columns)
    console = Console() if sys.stdout.isatty() else Console(width=200)
    site = layout.site
    it_kw = layout.peak_it_kw(catalog)
    console.print(
        f"[bold]twin[/] — {layout.name}: {layout.description.strip().splitlines()[0] if layout.description else ''}"
    )
    console.print(
        f"site envelope {site.envelope_kw / 1000:,.1f} MW · PUE {site.pue} · ${site.usd_per_kwh}/kWh · "
        f"peak IT {it_kw / 1000:,.1f} MW → facility {it_kw * site.pue / 1000:,.1f} MW · routing {layout.routing}"
    )

    rows = Table(title="Floor", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    for c in ("row", "GPU", "racks", "GPUs", "peak IT kW", "A/B fed", "cooling"):
        rows.add_column(c, justify="right" if c in ("racks", "GPUs", "peak IT kW") else "left")
    by_row = defaultdict(list)
    for r in layout.racks:
        by_row[r.row].append(r)
    for row in layout.rows:
        racks = by_row[row.id]
        skus = sorted({r.gpu for r in racks})
        kw = sum(rack_peak_kw(catalog.gpu(r.gpu), r.gpus) for r in racks)
        ab = sum(r.ab_fed for r in racks)
        rows.add_row(
            row.id,
            ",".join(skus),
            str(len(racks)),
            f"{sum(r.gpus for r in racks):,}",
            f"{kw:,.0f}",
            "all" if ab == len(racks) else ("none" if ab == 0 else f"{ab}/{len(racks)}"),
            ",".join(sorted({r.cooling for r in racks})),
        )
    if len(layout.rows) <= 24:
        console.print(rows)
    else:
        console.print(
            f"Floor: {len(layout.rows)} rows, {len(layout.racks):,} racks, {sum(r.gpus for r in layout.racks):,} GPUs"
        )

    dep = Table(
        title="Deployments — output tokens/s at the per-user SLO (tok/s per user), serving model",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        show_edge=False,
    )
    for c in ("deployment", "model", "GPUs", "replica", "SLO", "tok/s", "$/Mtok"):
        dep.add_column(
            c, justify="left" if c in ("deployment", "model", "replica") else "right", no_wrap=True
        )
    total = 0.0
    for d in deployment_capacity(layout, catalog):
        if d["tok_s"] is None:
            dep.add_row(
                d["id"],
                f"{d['model']} {d['precision']}",
                gpu_mix_text(d["gpu_mix"]),
                "—",
                "—",
                d["note"][:30],
                "—",
            )
            continue
        total += d["tok_s"]
        dep.add_row(
            d["id"],
            f"{d['model']} {d['precision']}",
            gpu_mix_text(d["gpu_mix"]),
            d["replica"].replace(" × ", "×"),
            f"{1 / d['slo_tpot_s']:.0f}",
            _si(d["tok_s"]),
            f"{d['usd_per_mtok']:.3f}",
        )
    console.print(dep)
    console.print(
        f"capacity at SLO: [bold]{_si(total)}[/] output tokens/s · "
        f"{_si(total / (it_kw * site.pue / 1000))} tok/s per facility MW at peak power"
    )
    console.print(
        f"[dim]Watch it run: twin {layout.name if layout.name != 'default' else ''}".rstrip()
        + " · twin perf --gpu b200 --model deepseek-r1 --curve[/]"
    )
    return 0


def _si(x: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:,.1f}{suffix}"
    return f"{x:,.0f}"
