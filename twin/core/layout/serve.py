"""Reading ``deployments:`` and ``workloads:``: what runs on a layout and who asks for it."""

from __future__ import annotations

from typing import Any

from twin.core.errors import UnknownName
from twin.core.layout.model import (
    DEFAULT_PREFILL_SHARE,
    LENGTH_KINDS,
    PRECISION_BYTES,
    Agentic,
    Deployment,
    LengthDist,
    WorkloadClass,
)
from twin.core.layout.schema import (
    _AGENTIC_KEYS,
    _DEPLOYMENT_KEYS,
    _LENGTH_KEYS,
    _SLO_KEYS,
    _WORKLOAD_KEYS,
    DIURNAL_FACTOR,
    FORMAT,
    _fraction_open,
    _hour,
    _ident,
)
from twin.core.serving.replica import weight_bytes
from twin.core.yamlsrc import (
    YList,
    YMap,
    boolean,
    non_negative,
    text,
)


class ServingMixin:
    """The deployments/workloads half of the layout builder."""

    def deployments(self, top: YMap) -> list[Deployment]:
        r = self.r
        out = []
        for m in self.items(top, "deployments", "deployments"):
            r.only(m, _DEPLOYMENT_KEYS, "deployments")
            did = r.get(m, "id", _ident, "deployments")
            where = f"deployments.{did}"
            start = len(r.problems)
            model_id = r.get(m, "model", text, where)
            model = None
            if model_id is not None:
                model = self.catalog.models.get(model_id.lower())
                if model is None:
                    self.error(
                        m.line_of("model"),
                        f"{where}.model: {UnknownName('model', model_id, self.catalog.models)}",
                    )
            precision = r.get(m, "precision", text, where)
            if precision is not None and precision.lower() not in PRECISION_BYTES:
                self.error(
                    m.line_of("precision"),
                    f"{where}.precision: unknown precision {precision!r}; known: {', '.join(PRECISION_BYTES)}",
                )
                precision = None
            precision = precision.lower() if precision else None
            gpr = r.get(
                m, "gpus_per_replica", FORMAT["deployment"]["gpus_per_replica"], where, default=None
            )
            replicas = r.get(m, "replicas", FORMAT["deployment"]["replicas"], where, default=None)
            disagg = r.get(m, "disaggregated", boolean, where, default=False)
            share = r.get(m, "prefill_share", _fraction_open, where, default=None)
            if share is not None and not disagg:
                self.error(
                    m.line_of("prefill_share"),
                    f"{where}.prefill_share: only with disaggregated: true",
                )
            if "placement" not in m:
                self.error(
                    m.line,
                    f"{where}: missing required key 'placement' (the rows or racks it runs on)",
                )
            refs = self.refs(m, "placement", where)
            if refs is not None and not refs:
                self.error(m.line_of("placement"), f"{where}.placement: names no racks or rows")
            racks = self.expand(refs, f"{where}.placement")
            if did is not None and not self.register(did, "deployment", m.line_of("id")):
                continue
            if len(r.problems) > start or did is None or model is None or precision is None:
                continue
            if racks:  # empty only when its rows were already reported
                self.check_deployment(m, where, racks, model, precision, gpr, replicas, disagg)
            out.append(
                Deployment(
                    did,
                    model.id,
                    precision,
                    gpr,
                    replicas,
                    tuple(racks),
                    disagg,
                    (share or DEFAULT_PREFILL_SHARE) if disagg else 0.0,
                    tuple(str(ref) for ref in refs or ()),
                )
            )
        return out

    def check_deployment(
        self,
        m: YMap,
        where: str,
        racks: list[str],
        model: Any,
        precision: str,
        gpr: int | None,
        replicas: int | None,
        disagg: bool,
    ) -> None:
        skus = dict.fromkeys(self.racks[rk].gpu for rk in racks)
        cannot = [s for s in skus if precision not in self.catalog.gpus[s].precisions]
        if cannot:
            can = ", ".join(self.catalog.gpus[cannot[0]].precisions)
            self.error(
                m.line_of("precision"),
                f"{where}.precision: {', '.join(cannot)} cannot run {precision} (it does {can})",
            )
        available = sum(self.racks[rk].gpus for rk in racks)
        if gpr is not None and replicas is not None and gpr * replicas > available:
            self.error(
                m.line_of("replicas"),
                f"{where}: {replicas} replicas × {gpr} GPUs = {gpr * replicas:,} GPUs, but its racks have {available:,}",
            )
        elif gpr is not None and gpr > available:
            self.error(
                m.line_of("gpus_per_replica"),
                f"{where}.gpus_per_replica: {gpr} GPUs, but its racks have {available:,}",
            )
        if disagg and replicas is not None and replicas < 2:
            self.error(
                m.line_of("replicas"),
                f"{where}.replicas: a disaggregated deployment needs at least 2 (prefill and decode)",
            )
        if gpr is not None and skus:
            # the bytes the serving model loads (native 4-bit experts stay 4-bit)
            weights_gb = sum(weight_bytes(model, precision, self.catalog.constants)) / 1e9
            smallest = min(skus, key=lambda s: self.catalog.gpus[s].hbm_gb)
            hbm_gb = self.catalog.gpus[smallest].hbm_gb * gpr
            if weights_gb > hbm_gb:
                self.error(
                    m.line_of("gpus_per_replica"),
                    f"{where}.gpus_per_replica: {model.id} in {precision} has {weights_gb:,.0f} GB of weights, more than {gpr} × {smallest} hold ({hbm_gb:,.0f} GB)",
                )

    def workloads(self, top: YMap, deployments: list[Deployment]) -> list[WorkloadClass]:
        r = self.r
        out = []
        for m in self.items(top, "workloads", "workloads"):
            r.only(m, _WORKLOAD_KEYS, "workloads")
            wid = r.get(m, "id", _ident, "workloads")
            where = f"workloads.{wid}"
            start = len(r.problems)
            dep = r.get(m, "deployment", _ident, where)
            if dep is not None and self.ids.get(dep, ("",))[0] != "deployment":
                known = [k for k, (kind, _) in self.ids.items() if kind == "deployment"]
                self.error(
                    m.line_of("deployment"),
                    f"{where}.deployment: {UnknownName('deployment', dep, known)}",
                )
            if "rate" in m and "rate_rps" in m:
                self.error(m.line_of("rate_rps"), f"{where}: give rate or rate_rps, not both")
            if "rate" in m or "rate_rps" not in m:
                rate = r.get(m, "rate", FORMAT["workload"]["rate"], where)
            else:
                rate = r.get(m, "rate_rps", FORMAT["workload"]["rate_rps"], where)
            diurnal = self.diurnal(m, where)
            burst = r.get(m, "burstiness", FORMAT["workload"]["burstiness"], where, default=1.0)
            isl = self.length(m, "isl", where)
            osl = self.length(m, "osl", where)
            ttft = tpot = None
            if "slo" not in m:
                self.error(
                    m.line,
                    f"{where}: missing required key 'slo' (e.g. slo: {{ttft: 2s, tpot: 50ms}})",
                )
            else:
                sm = r.mapping(m["slo"], f"{where}.slo", m.line_of("slo"))
                if sm is not None:
                    r.only(sm, _SLO_KEYS, f"{where}.slo")
                    ttft = r.get(sm, "ttft", FORMAT["slo"]["ttft"], f"{where}.slo")
                    tpot = r.get(sm, "tpot", FORMAT["slo"]["tpot"], f"{where}.slo")
            agentic = None
            if "agentic" in m:
                am = r.mapping(m["agentic"], f"{where}.agentic", m.line_of("agentic"))
                if am is not None:
                    r.only(am, _AGENTIC_KEYS, f"{where}.agentic")
                    steps = r.get(am, "steps", FORMAT["agentic"]["steps"], f"{where}.agentic")
                    if steps is not None and steps < 1:
                        self.error(
                            am.line_of("steps"),
                            f"{where}.agentic.steps: a session has at least 1 step, got {steps:g}",
                        )
                    agentic = Agentic(
                        steps or 1.0,
                        r.get(am, "tool_pause", FORMAT["agentic"]["tool_pause"], f"{where}.agentic")
                        or 0.0,
                        r.get(
                            am,
                            "context_growth",
                            FORMAT["agentic"]["context_growth"],
                            f"{where}.agentic",
                        )
                        or 0,
                    )
            timeout = r.get(m, "timeout", FORMAT["workload"]["timeout"], where, default=None)
            if timeout is not None and ttft is not None and timeout < ttft:
                self.error(
                    m.line_of("timeout"),
                    f"{where}.timeout: {timeout:g} s is shorter than the TTFT SLO ({ttft:g} s); "
                    "a client gives up no earlier than the SLO it was promised",
                )
            if wid is not None and not self.register(wid, "workload class", m.line_of("id")):
                continue
            if len(r.problems) > start or wid is None:
                continue
            out.append(
                WorkloadClass(
                    wid, dep, rate, diurnal, burst, isl, osl, ttft, tpot, agentic, timeout
                )
            )
        return out

    def diurnal(self, m: YMap, where: str) -> tuple[tuple[float, float], ...]:
        if "diurnal" not in m or m["diurnal"] is None:
            return ()
        r = self.r
        value = m["diurnal"]
        where = f"{where}.diurnal"
        pairs: list[tuple[Any, Any, int]] = []
        if isinstance(value, YMap):
            pairs = [(k, v, value.line_of(k)) for k, v in value.items()]
        elif isinstance(value, YList):
            for i, item in enumerate(value):
                if isinstance(item, list) and len(item) == 2:
                    pairs.append((item[0], item[1], value.line_of(i)))
                else:
                    self.error(value.line_of(i), f"{where}: expected [hour, factor], got {item!r}")
        else:
            self.error(
                m.line_of("diurnal"),
                f"{where}: expected hour: factor pairs like {{0: 0.4, 12: 1.0}}, got {value!r}",
            )
        out: dict[float, float] = {}
        for hour, factor, line in pairs:
            try:
                h = _hour(hour)
                f = DIURNAL_FACTOR.check(non_negative(factor), factor)
            except ValueError as e:
                self.error(line, f"{where}: {e}")
                continue
            if h in out:
                self.error(line, f"{where}: hour {hour!r} given twice")
            out[h] = f
        if pairs and not any(out.values()) and out:
            r.error(
                m.line_of("diurnal"), f"{where}: every factor is 0; the class would send nothing"
            )
        return tuple(sorted(out.items()))

    def length(self, m: YMap, key: str, where: str) -> LengthDist | None:
        where = f"{where}.{key}"
        if key not in m:
            self.error(
                m.line,
                f"{where.rsplit('.', 1)[0]}: missing required key {key!r} (token lengths, e.g. {key}: 1k)",
            )
            return None
        value = m[key]
        r = self.r
        if not isinstance(value, dict):
            try:
                return LengthDist(float(FORMAT["length"]["mean"](value)))
            except ValueError as e:
                self.error(m.line_of(key), f"{where}: {e}")
                return None
        r.only(value, _LENGTH_KEYS, where)
        start = len(r.problems)
        kind = value.get("dist")
        if kind is None:
            kind = (
                "lognormal"
                if "sigma" in value
                else "uniform"
                if "mean" not in value and "max" in value
                else "fixed"
            )
        elif kind not in LENGTH_KINDS:
            self.error(
                value.line_of("dist"),
                f"{where}.dist: unknown distribution {kind!r}; known: {', '.join(LENGTH_KINDS)}",
            )
            return None
        lo = r.get(value, "min", FORMAT["length"]["min"], where, default=0)
        hi = r.get(value, "max", FORMAT["length"]["max"], where, default=0)
        sigma = (
            r.get(value, "sigma", FORMAT["length"]["sigma"], where, default=None)
            if kind == "lognormal"
            else 0.0
        )
        if kind == "lognormal" and sigma is None and "sigma" not in value:
            self.error(value.line, f"{where}: a lognormal length needs sigma (e.g. sigma: 0.6)")
        if kind != "lognormal" and "sigma" in value:
            self.error(value.line_of("sigma"), f"{where}.sigma: only for dist: lognormal")
        if kind == "uniform":
            if "max" not in value:
                self.error(value.line, f"{where}: a uniform length needs min and max")
            mean = r.get(value, "mean", FORMAT["length"]["mean"], where, default=(lo + hi) / 2)
        else:
            mean = r.get(value, "mean", FORMAT["length"]["mean"], where)
        if len(r.problems) > start or mean is None:
            return None
        if hi and lo > hi:
            self.error(value.line_of("min"), f"{where}: min {lo} is above max {hi}")
        elif mean < lo or (hi and mean > hi):
            self.error(
                value.line_of("mean") if "mean" in value else value.line,
                f"{where}: mean {mean:g} is outside min..max ({lo}..{hi or '∞'})",
            )
        return LengthDist(float(mean), kind, float(sigma or 0.0), lo, hi)
