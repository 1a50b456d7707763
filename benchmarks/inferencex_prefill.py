"""twin's prefill against the prefill pools of every disaggregated InferenceX DeepSeek-R1 run.

A disaggregated run (``data/inferencex-dsr1-runs.csv``, source in ``inferencex_runs.py``)
names its prefill pool: ``num_prefill_gpu`` GPUs in ``prefill_workers`` workers of
``prefill_tp`` GPUs (expert parallel ``prefill_ep``, DP attention ``prefill_dpa``). Every
prompt token the run served went through that pool, so the run's prompt tokens per second
per prefill GPU is a LOWER BOUND on the pool's capacity:

    input_tput_per_gpu  (= tput_per_gpu x (P + D) x ISL / (ISL + OSL) / P)

The row's ``input_tput_per_gpu`` is that figure as InferenceX counted it (prompt tokens
over the prefill GPUs); where a row's P and D are wrong (rows naming no workers, whose P
and D are split evenly) it still divides by the real prefill GPUs, so it is used as is
(the formula where the column is empty). The tokens are the ones sent: InferenceX's
random prompts are 80-100 % of the nominal ISL; twin is priced at the nominal ISL.

A run shows the pool's capacity only where the pool was the bottleneck. Runs are grouped
by (GPU, precision, ISL, framework, prefill split); every OSL, concurrency, speculation
setting and prefill:decode ratio of a group share one pool design. Per group, with M the
highest prompt rate any of its runs reached:

* ``plateau``: at least three runs within 5 % of M, at two or more different
  decode-to-prefill GPU ratios. Were the decode side the limit, the prompt rate per
  prefill GPU would grow with the decode GPUs behind each prefill GPU; it does not: the
  pool is saturated and M is its capacity.
* ``queue``: at least two runs within 5 % of M, and one of them waited for its first
  token at least 5 x as long as the group's least loaded run (its lowest median TTFT)
  and at least 2 s: prompts queued in front of the pool while its rate held.
* ``lower bound``: neither; M is only what the pool did, not what it can do (marked
  ``≥``). twin below a lower bound is a miss; above it says nothing.

Next to M, the prompts per second one worker prefilled at it (M x the worker's GPUs / ISL):
a cost per prompt (host, scheduling, KV hand-off) caps that rate whatever the silicon, and a
line after the summary lists it for the saturated 1k pools. Then twin's
``prefill_rate_per_gpu`` (prompt tokens per second per GPU of a
replica that only prefills, in full chunks) at the run's own prefill split
(``run_split``; "—" where the row does not pin it down: no workers named, or GPUs not
TP x workers) and at twin's best prefill replica (``best_prefill_replica``, the split
``twin perf`` builds its prefill pool from). The summary takes the saturated groups
(plateau and queue) only: the median ratio twin / measured by GPU, precision and ISL. Then
pairs of saturated pools that differ in one thing (precision, prompt length, split or GPU):
a ratio between two pools does not depend on how far a recipe keeps its pools below the
silicon's capacity, so twin's ratio against the measured one tests the mechanism alone.

The catalog's prefill points (``prefill:`` in ``twin/core/catalog/measurements.yaml``,
priced by ``twin.core.calibration.predict_prefill_rate``, the function this script prices
the own split with) are the plateau groups, and, for a GPU, precision and ISL with no
plateau group, its queue groups; split pinned down in both cases. B300, GB300 and H100
are held out whole (their siblings on the same software stack, B200, GB200 and H200,
carry the fit). ``--yaml`` prints those entries (the publications' own prefill figures,
``saturation: reported``, follow them in the file and are not printed here).

    python benchmarks/inferencex_prefill.py           # groups and summary
    python benchmarks/inferencex_prefill.py --runs    # ... and each group's top runs
    python benchmarks/inferencex_prefill.py --pairs   # ... and every pair of pools
    python benchmarks/inferencex_prefill.py --yaml    # the catalog's prefill entries
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from statistics import median

from inferencex_runs import DATA, run_split  # this folder's: the runs and their splits

from twin.core.calibration import PrefillMeasurement, predict_prefill_rate
from twin.core.catalog import load_catalog
from twin.core.serving import Parallelism, ServingError, Workload
from twin.core.serving.curves import best_prefill_replica, prefill_rate_per_gpu

#: runs within this share of a group's highest prompt rate count as reaching it
NEAR = 0.05
#: a queue in front of the pool: TTFT this many times the group's least loaded run's ...
QUEUE_FACTOR = 5.0
#: ... and at least this long (s)
QUEUE_MIN_S = 2.0
#: GPUs whose prefill points are held out of the fit
HOLDOUT = ("b300", "gb300", "h100")
SOURCE = (
    "SemiAnalysis InferenceX DeepSeek-R1 runs (SemiAnalysisAI/InferenceX-app, "
    "packages/app/cypress/fixtures/api/benchmarks.json at commit "
    "3a600f1d9ce155536d52e2f58f744f27a301aac9; benchmarks/data/inferencex-dsr1-runs.csv)"
)


def prompt_rate(r: dict) -> float:
    """Prompt tokens per second per prefill GPU the run served (a lower bound on the
    pool's capacity)."""
    if r["input_tput_per_gpu"]:
        return float(r["input_tput_per_gpu"])
    P, D = int(r["num_prefill_gpu"]), int(r["num_decode_gpu"])
    isl, osl = int(r["isl"]), int(r["osl"])
    return float(r["tput_per_gpu"]) * (P + D) * isl / (isl + osl) / P


@dataclass
class Group:
    gpu: str
    precision: str
    isl: int
    framework: str
    split: Parallelism
    pinned: bool  # the rows pin the split down (workers named, GPUs = TP x workers)
    runs: list[dict]

    @property
    def rates(self) -> list[float]:
        return sorted((prompt_rate(r) for r in self.runs), reverse=True)

    @property
    def capacity(self) -> float:
        return self.rates[0]

    def near(self) -> list[dict]:
        top = self.capacity
        return [r for r in self.runs if prompt_rate(r) >= (1 - NEAR) * top]

    @property
    def kind(self) -> str:
        """``plateau``, ``queue`` or ``lower bound`` (the rules in the module's doc)."""
        near = self.near()
        ratios = {round(int(r["num_decode_gpu"]) / int(r["num_prefill_gpu"]), 3) for r in near}
        if len(near) >= 3 and len(ratios) >= 2:
            return "plateau"
        least = min(float(r["median_ttft"]) for r in self.runs)
        waited = max(float(r["median_ttft"]) for r in near)
        if len(near) >= 2 and waited >= max(QUEUE_FACTOR * least, QUEUE_MIN_S):
            return "queue"
        return "lower bound"

    @property
    def prompts_per_s(self) -> float:
        """Prompts per second one worker (one replica of the split) prefilled at the
        group's highest rate."""
        return self.capacity * self.split.gpus / self.isl

    @property
    def saturated(self) -> bool:
        return self.kind != "lower bound"

    @property
    def id(self) -> str:
        split = self.split.label(True).lower()
        return (
            f"inferencex-prefill-{self.gpu}-{self.precision}-{self.isl // 1024}k-"
            f"{self.framework}-{split}"
        )

    def measurement(self) -> PrefillMeasurement:
        """The group as a catalog prefill point (its highest rate, its evidence)."""
        near = sorted(self.near(), key=prompt_rate, reverse=True)
        ratios = sorted({f"{int(r['num_prefill_gpu'])}:{int(r['num_decode_gpu'])}" for r in near})
        ids = ", ".join(sorted({r["run"].split("/")[0] for r in near}))
        runs = "; ".join(
            f"{prompt_rate(r):,.0f} at P{r['num_prefill_gpu']}/D{r['num_decode_gpu']} "
            f"conc {r['conc']} ({r['date']}, TTFT {float(r['median_ttft']):.1f} s)"
            for r in near
        )
        return PrefillMeasurement(
            id=self.id,
            gpu=self.gpu,
            model="deepseek-r1",
            precision=self.precision,
            isl=self.isl,
            tp=self.split.tp,
            dp_attention=self.split.dp_attention,
            tp_experts=self.split.tp_experts,
            tok_s_per_gpu=round(self.capacity),
            framework=self.framework,
            role="holdout" if self.gpu in HOLDOUT else "fit",
            saturation=self.kind,
            source=(
                f"M: {SOURCE}: {self.framework} prefill workers of {self.split.label(True)} "
                f"at ISL {self.isl}, prompt tokens per prefill GPU (input_tput_per_gpu); "
                f"{len(near)} runs within 5 % of the highest, prefill:decode GPUs "
                f"{', '.join(ratios)}: {runs}; GitHub Actions runs {ids} "
                "(github.com/SemiAnalysisAI/InferenceX/actions/runs/N)"
            ),
        )

    @property
    def label(self) -> str:
        return (
            f"{self.gpu} {self.precision} {self.isl // 1024}k {self.framework} "
            f"{self.split.label(True)}{'' if self.pinned else ' (split not pinned)'}"
        )


def groups() -> list[Group]:
    """The disaggregated runs grouped by GPU, precision, ISL, framework and prefill split."""
    out: dict[tuple, Group] = {}
    with DATA.open() as f:
        for r in csv.DictReader(f):
            if r["disagg"] != "true":
                continue
            par, _, pinned = run_split(r, "prefill")
            key = (r["hardware"], r["precision"], int(r["isl"]), r["framework"], par, pinned)
            if key not in out:
                out[key] = Group(*key, runs=[])
            out[key].runs.append(r)
    return [out[k] for k in sorted(out, key=lambda k: (*k[:4], k[4].gpus, k[4].label(True)))]


def twin_rates(g: Group, cat) -> tuple[float | None, float | None, str]:
    """twin's prompt tokens/s per GPU at the group's own split (None where the rows do not
    pin it, or twin cannot build it) and at its best prefill replica, and that replica."""
    gpu, model = cat.gpu(g.gpu), cat.model("deepseek-r1")
    w = Workload(g.isl, 1024)
    own = None
    if g.pinned:
        try:
            own = predict_prefill_rate(g.measurement(), cat)
        except ServingError:
            own = None
    best = best_prefill_replica(gpu, model, g.precision, w, cat)
    if best is None:
        return own, None, "none"
    return own, prefill_rate_per_gpu(best, w, cat), best.par.label(True)


def catalog_groups(gs: list[Group]) -> list[Group]:
    """The groups the catalog holds: plateau groups, and where a GPU, precision and ISL
    has none, its queue groups (split pinned down in both)."""
    gs = [g for g in gs if g.pinned and g.saturated]
    flat = {(g.gpu, g.precision, g.isl) for g in gs if g.kind == "plateau"}
    return [g for g in gs if g.kind == "plateau" or (g.gpu, g.precision, g.isl) not in flat]


def yaml_entries(gs: list[Group]) -> None:
    for g in catalog_groups(gs):
        m = g.measurement()
        print(f"  - id: {m.id}")
        for k in ("gpu", "model", "precision", "isl", "tp"):
            print(f"    {k}: {getattr(m, k)}")
        for k in ("dp_attention", "tp_experts"):
            print(f"    {k}: {str(getattr(m, k)).lower()}")
        print(f"    tok_s_per_gpu: {m.tok_s_per_gpu}")
        print(f"    framework: {m.framework}")
        print(f"    role: {m.role}")
        print(f"    saturation: {m.saturation}")
        print(f'    source: "{m.source}"')


def main(argv: list[str]) -> int:
    cat = load_catalog()
    if "--yaml" in argv:
        yaml_entries(groups())
        return 0
    rows = []
    print(
        "| group | runs | measured tok/s/GPU | prompts/s per worker | kind | near (D/P ratios) "
        "| top TTFT s | twin own split | ratio | twin best | ratio | twin's best split |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for g in groups():
        own, best, best_split = twin_rates(g, cat)
        near = g.near()
        ratios = {round(int(r["num_decode_gpu"]) / int(r["num_prefill_gpu"]), 3) for r in near}
        top = max(near, key=prompt_rate)
        mark = "" if g.saturated else "≥ "
        print(
            f"| {g.label} | {len(g.runs)} | {mark}{g.capacity:,.0f} | {mark}{g.prompts_per_s:.1f} "
            f"| {g.kind} "
            f"| {len(near)} ({len(ratios)}) | {float(top['median_ttft']):.1f} "
            f"| {f'{own:,.0f}' if own else '—'} | {f'{own / g.capacity:.2f}' if own else '—'} "
            f"| {f'{best:,.0f}' if best else '—'} | {f'{best / g.capacity:.2f}' if best else '—'} "
            f"| {best_split} |"
        )
        if "--runs" in argv:
            for r in sorted(g.runs, key=prompt_rate, reverse=True)[:6]:
                print(
                    f"|   {prompt_rate(r):,.0f}: P{r['num_prefill_gpu']}/D{r['num_decode_gpu']} "
                    f"conc {r['conc']} osl {r['osl']} {r['spec_method']} "
                    f"TTFT {float(r['median_ttft']):.2f} s, {float(r['median_intvty']):.0f} tok/s/user, "
                    f"{r['date']} run {r['run']} | | | | | | | | | | |"
                )
        rows.append((g, own, best))

    def line(label, sel):
        owns = [o / g.capacity for g, o, _ in sel if o]
        bests = [b / g.capacity for g, _, b in sel if b]
        if sel:
            print(
                f"| {label} | {len(sel)} | {median(owns):.2f} ({len(owns)}) | "
                if owns
                else f"| {label} | {len(sel)} | — | ",
                end="",
            )
            print(f"{median(bests):.2f} |" if bests else "— |")

    sat = [x for x in rows if x[0].saturated]
    low = [x for x in rows if not x[0].saturated]
    print()
    print(
        f"{len(rows)} groups: {len(sat)} saturated (plateau or queue), {len(low)} lower bounds; "
        f"of the lower bounds, twin at its own split below the measured rate in "
        f"{sum(1 for g, o, _ in low if o and o < g.capacity)}"
    )
    print()
    print(
        "| saturated groups | groups | twin / measured, own split (priced) | twin best / measured |"
    )
    print("|---|---:|---:|---:|")
    for gpu in sorted({g.gpu for g, *_ in sat}):
        line(gpu, [x for x in sat if x[0].gpu == gpu])
    for prec in ("fp4", "fp8"):
        line(prec, [x for x in sat if x[0].precision == prec])
    for isl in sorted({g.isl for g, *_ in sat}):
        line(f"ISL {isl}", [x for x in sat if x[0].isl == isl])
    for fw in sorted({g.framework for g, *_ in sat}):
        line(fw, [x for x in sat if x[0].framework == fw])
    line("all", sat)
    short = sorted(
        (g.framework, g.split.gpus, g.prompts_per_s, g.gpu, g.precision)
        for g, *_ in sat
        if g.pinned and g.isl == 1024
    )
    print()
    print(
        "Saturated 1k pools, prompts per second per worker (a per-prompt cost shows as a "
        "rate that does not grow with the GPU): "
        + "; ".join(
            f"{fw} {n}-GPU workers "
            + ", ".join(
                f"{gpu} {prec} {x:.0f}" for f, k, x, gpu, prec in short if (f, k) == (fw, n)
            )
            for fw, n in sorted({(f, k) for f, k, *_ in short})
        )
    )
    pairs([(g, o) for g, o, _ in sat if o and g.pinned], "--pairs" in argv)
    return 0


def pairs(priced: list[tuple[Group, float]], every: bool) -> None:
    """Saturated pools that differ in one thing only: precision (same GPU, framework and
    length, each at its own split: fp4 DeepSeek fits on fewer GPUs), prompt length or split
    (same GPU, framework and the rest), or GPU (same framework, precision and length, each
    at its own split: B300 against B200, GB300 against GB200). The measured ratio against
    twin's at the same splits. A ratio does not depend on how far a recipe keeps its pool
    from the silicon's capacity, so it points at the mechanism (the fp4 path, attention's
    growth with the prompt, the split, what a newer GPU's peak buys). ``every``: each pair;
    else a line per kind: the pairs, and the median factor by which twin's ratio misses the
    measured one (1.00: twin's ratios are the measured ones)."""
    same_as = {
        "precision": ("gpu", "framework", "isl"),
        "isl": ("gpu", "framework", "precision", "split"),
        "split": ("gpu", "framework", "precision", "isl"),
        "gpu": ("framework", "precision", "isl"),
    }
    print()
    if every:
        print("| pools alike in | differ in | measured ratio | twin ratio |")
        print("|---|---|---:|---:|")
    else:
        print("| pools that differ in | pairs | twin's ratio / measured, median | within 20 % |")
        print("|---|---:|---:|---:|")
    for field, rest in same_as.items():
        misses = []
        for i, (a, ta) in enumerate(priced):
            for b, tb in priced[i + 1 :]:
                if any(getattr(a, f) != getattr(b, f) for f in rest):
                    continue
                if getattr(a, field) == getattr(b, field):
                    continue
                # the measured faster one on top
                (hi, t_hi), (lo, t_lo) = sorted(
                    ((a, ta), (b, tb)), key=lambda x: x[0].capacity, reverse=True
                )

                misses.append((t_hi / t_lo) / (hi.capacity / lo.capacity))
                if not every:
                    continue

                def side(g: Group, field: str = field) -> str:
                    own = g.split.label(True)
                    return {
                        "precision": f"{g.precision} {own}",
                        "isl": f"ISL {g.isl}",
                        "split": own,
                        "gpu": f"{g.gpu} {own}",
                    }[field]

                same = " ".join(
                    getattr(hi, f).label(True) if f == "split" else str(getattr(hi, f))
                    for f in rest
                )
                print(
                    f"| {same} | {side(hi)} / {side(lo)} "
                    f"| {hi.capacity / lo.capacity:.2f} | {t_hi / t_lo:.2f} |"
                )
        if misses and not every:
            far = [max(x, 1 / x) for x in misses]
            print(
                f"| {field} | {len(misses)} | {median(misses):.2f} "
                f"| {sum(f <= 1.2 for f in far)} of {len(far)} |"
            )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
