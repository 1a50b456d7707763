"""Hardware and model catalogs: YAML files read into frozen dataclasses.

The built-in catalog ships in ``data/``. Users add or override entries with YAML files
in directories named by ``--catalog DIR`` or ``TWIN_CATALOG`` (``os.pathsep``-separated),
each file holding ``gpus:`` and/or ``models:`` mappings in the built-in format. An entry
may start from another with ``base: h100`` and change only what differs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from twin.core import vocab
from twin.core.errors import InputError, UnknownName, clip
from twin.core.yamlsrc import (
    Reader,
    YMap,
    load_file,
    non_negative,
    number,
    positive,
    positive_int,
    text,
)

DATA_DIR = Path(__file__).parent / "data"
CATALOG_ENV = "TWIN_CATALOG"
PRECISIONS = vocab.PRECISIONS


@dataclass(frozen=True)
class Efficiency:
    """Measured ÷ roofline, per term of the step time (see twin.core.serving)."""

    mem: float
    comp: float
    net: float
    step_overhead_ms: float
    seq_overhead_us: float = 0.0
    attn: float = 0.0  # attention kernels' fraction of bf16 peak; 0 = same as comp
    fitted_to: tuple[str, ...] = ()
    #: fixed time per transformer layer outside the rooflines: kernel launches and the
    #: synchronisation gaps between them (CUDA/HIP graphs included), in µs
    layer_overhead_us: float = 0.0
    #: fp4 kernels' efficiency relative to the fp8 ones (the vendor's fp4 software maturity:
    #: below 1 where fp4 is new, above 1 where fp4 kernels are the tuned path)
    fp4: float = 1.0
    #: the fp4 grouped-GEMM (MoE expert) path relative to fp8 where it differs from the dense
    #: fp4 path (ROCm's fused-MoE MXFP4 kernels vs its dense MXFP4 GEMMs); None: as ``fp4``
    fp4_moe: float | None = None
    #: MoE grouped GEMMs' bandwidth relative to dense GEMMs' (many small expert matrices)
    moe: float = 1.0
    #: speed of the block-scaled fp8 path (weights with one scale per 128x128 block, as
    #: DeepSeek ships them) relative to per-tensor fp8: GEMM rate, weight streaming and the
    #: per-layer fixed time (its extra activation-quantisation kernels) all scale with it
    block_fp8: float = 1.0


# Used only for a GPU whose catalog entry has no fitted factors (a user's own SKU):
# typical achieved fractions of peak for a mature serving stack, the middle of the
# fitted values of the built-in SKUs. Source: this catalog's fits (benchmarks/fit_efficiency.py).
DEFAULT_EFFICIENCY = Efficiency(
    mem=0.70,
    comp=0.45,
    net=0.60,
    step_overhead_ms=3.0,
    seq_overhead_us=20.0,
    attn=0.30,
    fitted_to=(),
    layer_overhead_us=3.0,
    fp4=0.8,
    moe=0.8,
)


@dataclass(frozen=True)
class GPU:
    id: str
    name: str
    vendor: str
    generation: str
    peak_tflops: Mapping[str, float]
    hbm_gb: float
    hbm_tb_s: float
    scale_up_domain_gpus: int
    scale_up_gb_s: float
    scale_out_gb_s: float
    tdp_w: float
    idle_w: float
    gpus_per_node: int
    gpus_per_rack: int
    rack_kw: float
    allin_kw_per_gpu: float
    usd_per_gpu_hr: float
    capex_usd_per_gpu: float
    min_power_w: float = 0.0  # the lowest board power limit a cap can set (0: not given)
    efficiency: Efficiency = DEFAULT_EFFICIENCY
    #: attention (softmax) throughput relative to the generation before (Blackwell Ultra: 2×)
    attention_speedup: float = 1.0
    efficiency_overrides: Mapping[str, Efficiency] = field(default_factory=dict)
    source: Mapping[str, str] = field(default_factory=dict)

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(p for p in PRECISIONS if p in self.peak_tflops)

    def efficiency_for(self, model_id: str, precision: str) -> Efficiency:
        return self.efficiency_overrides.get(f"{model_id}/{precision}", self.efficiency)


@dataclass(frozen=True)
class LLM:
    id: str
    name: str
    params_b: float
    layers: int
    hidden: int
    heads: int
    head_dim: int
    attention: str  # "gqa" or "mla"
    kv_heads: int = 0
    v_head_dim: int = 0
    kv_lora_rank: int = 0
    qk_rope_dim: int = 0
    active_params_b: float = 0.0
    expert_params_b: float = 0.0
    experts: int = 0
    experts_per_token: int = 0
    sliding_window: int = 0
    sliding_layers: int = 0
    native_precision: str = ""
    mtp_drafts: int = 0
    #: fp8 weights scaled per block of this many rows and columns (DeepSeek: 128); 0 =
    #: per-tensor scales. Runs at the GPU's ``block_fp8`` efficiency in fp8.
    fp8_block_size: int = 0
    source: str = ""

    @property
    def is_moe(self) -> bool:
        return self.experts > 0


@dataclass(frozen=True)
class Catalog:
    gpus: Mapping[str, GPU]
    models: Mapping[str, LLM]
    constants: Mapping[str, Any] = field(default_factory=dict)

    def gpu(self, gpu_id: str) -> GPU:
        try:
            return self.gpus[gpu_id.lower()]
        except KeyError:
            raise UnknownName("GPU", gpu_id, self.gpus) from None

    def model(self, model_id: str) -> LLM:
        try:
            return self.models[model_id.lower()]
        except KeyError:
            raise UnknownName("model", model_id, self.models) from None


_GPU_NUMBERS = {
    "hbm_gb": positive,
    "hbm_tb_s": positive,
    "scale_up_domain_gpus": positive_int,
    "scale_up_gb_s": positive,
    "scale_out_gb_s": positive,
    "tdp_w": positive,
    "idle_w": non_negative,
    "gpus_per_node": positive_int,
    "gpus_per_rack": positive_int,
    "rack_kw": positive,
    "allin_kw_per_gpu": positive,
    "usd_per_gpu_hr": positive,
    "capex_usd_per_gpu": non_negative,
}
_GPU_KEYS = [
    "base",
    "name",
    "vendor",
    "generation",
    "peak_tflops",
    *_GPU_NUMBERS,
    "min_power_w",
    "attention_speedup",
    "efficiency",
    "efficiency_overrides",
    "source",
]
_EFF_KEYS = [
    "mem",
    "comp",
    "attn",
    "net",
    "step_overhead_ms",
    "seq_overhead_us",
    "layer_overhead_us",
    "fp4",
    "fp4_moe",
    "moe",
    "block_fp8",
    "fitted_to",
]

_MODEL_INTS = [
    "mtp_drafts",
    "fp8_block_size",
    "layers",
    "hidden",
    "heads",
    "head_dim",
    "kv_heads",
    "v_head_dim",
    "kv_lora_rank",
    "qk_rope_dim",
    "experts",
    "experts_per_token",
    "sliding_window",
    "sliding_layers",
]
_MODEL_FLOATS = ["params_b", "active_params_b", "expert_params_b"]
_MODEL_REQUIRED = [
    "name",
    "params_b",
    "layers",
    "hidden",
    "heads",
    "head_dim",
    "attention",
    "source",
]
_MODEL_KEYS = [
    "base",
    "name",
    "attention",
    "native_precision",
    "source",
    *_MODEL_INTS,
    *_MODEL_FLOATS,
]


def _fraction(value: Any) -> float:
    v = number(value)
    if not 0 < v <= 1:
        raise ValueError(f"must be a fraction in (0, 1], got {value!r}")
    return v


def _read_efficiency(r: Reader, m: Any, where: str) -> Efficiency | None:
    m = r.mapping(m, where)
    if m is None:
        return None
    r.only(m, _EFF_KEYS, where)
    fitted = m.get("fitted_to") or []
    return Efficiency(
        mem=r.get(m, "mem", _fraction, where) or 1.0,
        comp=r.get(m, "comp", _fraction, where) or 1.0,
        net=r.get(m, "net", _fraction, where) or 1.0,
        step_overhead_ms=r.get(m, "step_overhead_ms", non_negative, where) or 0.0,
        seq_overhead_us=r.get(m, "seq_overhead_us", non_negative, where, default=0.0) or 0.0,
        attn=r.get(m, "attn", _fraction, where, default=0.0) or 0.0,
        layer_overhead_us=r.get(m, "layer_overhead_us", non_negative, where, default=0.0) or 0.0,
        fp4=r.get(m, "fp4", positive, where, default=1.0) or 1.0,
        fp4_moe=r.get(m, "fp4_moe", positive, where, default=None),
        moe=r.get(m, "moe", _fraction, where, default=1.0) or 1.0,
        block_fp8=r.get(m, "block_fp8", _fraction, where, default=1.0) or 1.0,
        fitted_to=tuple(str(x) for x in fitted) if isinstance(fitted, list) else (str(fitted),),
    )


def _merge(base: YMap, over: YMap) -> YMap:
    out = YMap({**base, **over})
    out.line = over.line
    out.lines = {**{k: over.line for k in base}, **over.lines}
    if isinstance(base.get("source"), dict) and isinstance(over.get("source"), dict):
        out["source"] = YMap({**base["source"], **over["source"]})
        out["source"].line = over["source"].line
        out["source"].lines = {
            **{k: over["source"].line for k in base["source"]},
            **over["source"].lines,
        }
    return out


def _resolve_bases(
    r: Reader, entries: dict[str, YMap], known: Mapping[str, Any], kind: str
) -> dict[str, YMap]:
    """Apply ``base: other`` (from the same files or from already-known raw entries)."""
    out: dict[str, YMap] = {}
    for key, m in entries.items():
        seen = {key}
        cur = m
        while "base" in cur:
            base_id = str(cur["base"]).lower()
            parent = entries.get(base_id) if base_id not in seen else None
            parent = parent if parent is not None else known.get(base_id)
            if parent is None or base_id in seen:
                r.error(
                    m.line_of("base"), f"{kind} {key}: base {cur['base']!r} is not a known {kind}"
                )
                break
            seen.add(base_id)
            merged = _merge(parent, cur)
            merged.pop("base", None) if "base" not in parent else merged.__setitem__(
                "base", parent["base"]
            )
            cur = merged
        out[key] = cur
    return out


def _read_gpu(r: Reader, gid: str, m: YMap) -> GPU | None:
    where = f"gpus.{gid}"
    r.only(m, _GPU_KEYS, where)
    start = len(r.problems)
    nums = {k: r.get(m, k, conv, where) for k, conv in _GPU_NUMBERS.items()}
    peak: dict[str, float] = {}
    pm = r.mapping(m.get("peak_tflops"), f"{where}.peak_tflops", m.line_of("peak_tflops"))
    if pm is not None:
        r.only(pm, PRECISIONS, f"{where}.peak_tflops")
        for p in PRECISIONS:
            if p in pm:
                peak[p] = r.get(pm, p, positive, f"{where}.peak_tflops")
        if "bf16" not in peak:
            r.error(pm.line, f"{where}.peak_tflops: bf16 is required (attention runs in it)")
    source = r.mapping(m.get("source"), f"{where}.source", m.line)
    if source is not None:
        for k in ["peak_tflops", *_GPU_NUMBERS]:
            if k not in source:
                r.error(
                    source.line, f"{where}.source: no source for {k!r} (every figure needs one)"
                )
    eff = (
        _read_efficiency(r, m["efficiency"], f"{where}.efficiency")
        if "efficiency" in m
        else DEFAULT_EFFICIENCY
    )
    overrides: dict[str, Efficiency] = {}
    if "efficiency_overrides" in m:
        om = r.mapping(
            m["efficiency_overrides"],
            f"{where}.efficiency_overrides",
            m.line_of("efficiency_overrides"),
        )
        for key, val in (om or {}).items():
            if "/" not in str(key) or str(key).split("/")[1] not in PRECISIONS:
                r.error(
                    om.line_of(key),
                    f"{where}.efficiency_overrides: key {key!r} must be MODEL/PRECISION, e.g. deepseek-r1/fp8",
                )
                continue
            e = _read_efficiency(r, val, f"{where}.efficiency_overrides.{key}")
            if e is not None:
                overrides[str(key).lower()] = e
    speedup = r.get(m, "attention_speedup", positive, where, default=1.0)
    if "attention_speedup" in m and source is not None and "attention_speedup" not in source:
        r.error(
            source.line,
            f"{where}.source: no source for 'attention_speedup' (every figure needs one)",
        )
    name = r.get(m, "name", text, where)
    vendor = r.get(m, "vendor", text, where, default="unknown")
    gen = r.get(m, "generation", text, where, default="")
    if nums.get("idle_w") and nums.get("tdp_w") and nums["idle_w"] >= nums["tdp_w"]:
        r.error(m.line_of("idle_w"), f"{where}.idle_w: idle power must be below tdp_w")
    if "min_power_w" in m:
        nums["min_power_w"] = r.get(m, "min_power_w", positive, where)
        if (
            nums["min_power_w"]
            and nums.get("tdp_w")
            and not nums.get("idle_w", 0) < nums["min_power_w"] < nums["tdp_w"]
        ):
            r.error(
                m.line_of("min_power_w"),
                f"{where}.min_power_w: the minimum power limit must be between idle_w and tdp_w",
            )
    if len(r.problems) > start:
        return None
    return GPU(
        id=gid,
        name=name,
        vendor=vendor,
        generation=gen,
        peak_tflops=MappingProxyType(peak),
        efficiency=eff or DEFAULT_EFFICIENCY,
        attention_speedup=speedup or 1.0,
        efficiency_overrides=MappingProxyType(overrides),
        source=MappingProxyType({str(k): str(v) for k, v in (source or {}).items()}),
        **nums,
    )


def _read_model(r: Reader, mid: str, m: YMap) -> LLM | None:
    where = f"models.{mid}"
    r.only(m, _MODEL_KEYS, where)
    start = len(r.problems)
    for k in _MODEL_REQUIRED:
        if k not in m:
            r.error(m.line, f"{where}: missing required key {k!r}")
    vals: dict[str, Any] = {}
    for k in _MODEL_INTS:
        if k in m:
            vals[k] = r.get(m, k, _whole, where)
    for k in _MODEL_FLOATS:
        if k in m:
            vals[k] = r.get(m, k, positive, where)
    for k in ("name", "source"):
        if k in m:
            vals[k] = r.get(m, k, text, where)
    att = m.get("attention")
    if att is not None and att not in ("gqa", "mla"):
        r.error(m.line_of("attention"), f"{where}.attention: must be 'gqa' or 'mla', got {att!r}")
    vals["attention"] = att
    if "native_precision" in m:
        if m["native_precision"] not in PRECISIONS:
            r.error(
                m.line_of("native_precision"),
                f"{where}.native_precision: one of {', '.join(PRECISIONS)}",
            )
        vals["native_precision"] = m["native_precision"]
    if len(r.problems) > start:
        return None
    if att == "gqa" and not vals.get("kv_heads"):
        r.error(m.line, f"{where}: a gqa model needs kv_heads")
    if att == "mla" and not vals.get("kv_lora_rank"):
        r.error(m.line, f"{where}: an mla model needs kv_lora_rank")
    if vals.get("experts") and not (
        vals.get("experts_per_token")
        and vals.get("expert_params_b")
        and vals.get("active_params_b")
    ):
        r.error(
            m.line,
            f"{where}: a MoE model needs experts_per_token, expert_params_b and active_params_b",
        )
    if vals.get("expert_params_b", 0) >= vals.get("params_b", 1e30):
        r.error(m.line_of("expert_params_b"), f"{where}.expert_params_b must be below params_b")
    if len(r.problems) > start:
        return None
    vals.setdefault("active_params_b", vals["params_b"])
    vals.setdefault("v_head_dim", vals["head_dim"])
    return LLM(id=mid, **vals)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _catalog_files(dirs: Iterable[str | Path]) -> list[Path]:
    files = sorted(DATA_DIR.glob("*.yaml"))
    for d in dirs:
        d = Path(d)
        if d.is_file():
            files.append(d)
        elif d.is_dir():
            files.extend(sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")))
        else:
            raise InputError([_problem(str(d), "catalog directory does not exist")])
    return files


def _problem(file: str, message: str):
    from twin.core.errors import Problem

    return Problem(file, 0, message)


def user_catalog_dirs(extra: Iterable[str | Path] = ()) -> tuple[str, ...]:
    env = os.environ.get(CATALOG_ENV, "")
    return tuple(p for p in env.split(os.pathsep) if p) + tuple(str(e) for e in extra)


def load_catalog(extra_dirs: Iterable[str | Path] = ()) -> Catalog:
    """The built-in catalog plus user entries (``extra_dirs`` and ``$TWIN_CATALOG``)."""
    dirs = user_catalog_dirs(extra_dirs)
    files = _catalog_files(dirs)
    return _load(dirs, tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


@lru_cache(maxsize=8)
def _load(dirs: tuple[str, ...], stamp: tuple) -> Catalog:
    """Parse the catalog; cached per set of files and their modification stamps."""
    raw: dict[str, dict[str, tuple[Reader, YMap]]] = {"gpus": {}, "models": {}}
    problems = []
    readers = []
    constants: dict[str, Any] = {}
    for f in _catalog_files(dirs):
        r = Reader(str(f))
        readers.append(r)
        try:
            doc = load_file(f)
        except InputError as e:
            problems.extend(e.problems)
            continue
        top = r.mapping(doc, "catalog file")
        if top is None:
            continue
        r.only(top, ["gpus", "models", "constants"], "catalog file")
        if "constants" in top:
            _read_constants(r, top["constants"], constants)
        for section in ("gpus", "models"):
            if section not in top:
                continue
            sec = r.mapping(top[section], section, top.line_of(section))
            for key, entry in (sec or {}).items():
                em = r.mapping(entry, f"{section}.{key}", sec.line_of(key))
                if em is not None:
                    raw[section][str(key).lower()] = (r, em)
    gpus: dict[str, GPU] = {}
    models: dict[str, LLM] = {}
    for section, out, read in (("gpus", gpus, _read_gpu), ("models", models, _read_model)):
        entries = {k: m for k, (_, m) in raw[section].items()}
        for k, (r, m) in raw[section].items():
            resolved = _resolve_bases(r, {k: m}, entries, section[:-1])[k]
            obj = read(r, k, resolved)
            if obj is not None:
                out[k] = obj
    for r in readers:
        problems.extend(r.problems)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.file, p.line)))
    return Catalog(
        gpus=MappingProxyType(gpus),
        models=MappingProxyType(models),
        constants=MappingProxyType(constants),
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _same_shape(base: Any, v: Any) -> bool:
    """An override of a built-in constant has its type, keys and sign (input policy, issue 10)."""
    if _is_number(base):
        return _is_number(v) and (base < 0 or v >= 0)
    if isinstance(base, Mapping):
        return isinstance(v, dict) and all(
            k in base and _same_shape(base[k], x) for k, x in v.items()
        )
    return type(v) is type(base)


def _shape(base: Any) -> str:
    if _is_number(base):
        return "a number" + (" (0 or more)" if base >= 0 else "")
    if isinstance(base, Mapping):
        return f"a mapping of {', '.join(map(str, base))}"
    return type(base).__name__


def _read_constants(r: Reader, value: Any, out: dict[str, Any]) -> None:
    sec = r.mapping(value, "constants")
    for key, entry in (sec or {}).items():
        em = r.mapping(entry, f"constants.{key}", sec.line_of(key))
        if em is None:
            continue
        r.only(em, ["value", "source"], f"constants.{key}")
        if "source" not in em:
            r.error(em.line, f"constants.{key}: no source (every figure needs one)")
        if "value" not in em:
            r.error(em.line, f"constants.{key}: missing value")
            continue
        v = em["value"]
        if str(key) in out and not _same_shape(
            out[str(key)], v
        ):  # an override: typed like the built-in
            r.error(
                em.line_of("value"),
                f"constants.{key}.value: expected {_shape(out[str(key)])} like the "
                f"built-in, got {clip(repr(v))}",
            )
            continue
        if isinstance(v, dict) and isinstance(out.get(str(key)), Mapping):
            v = {**out[str(key)], **v}  # a partial override keeps the built-in's other keys
        out[str(key)] = MappingProxyType(dict(v)) if isinstance(v, dict) else v
