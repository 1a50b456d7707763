"""The catalog's file format: every entry's keys, their types and units, read into the model
(every mistake as ``FILE:LINE: message``); ``base:`` entries and constants with a ``source``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from twin.core.catalog.model import DEFAULT_EFFICIENCY, GPU, LLM, PRECISIONS, Efficiency
from twin.core.errors import clip
from twin.core.yamlsrc import (
    Reader,
    YMap,
    non_negative,
    number,
    positive,
    positive_int,
    text,
)

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
    "gemm_clock",
    "efficiency",
    "efficiency_overrides",
    "source",
]
_EFF_KEYS = [
    "mem",
    "comp",
    "attn",
    "attn_prefill",
    "net",
    "step_overhead_ms",
    "seq_overhead_us",
    "layer_overhead_us",
    "fp4",
    "fp4_moe",
    "moe",
    "block_fp8",
    "block_fp8_prefill",
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
    "vocab",
    "kernels_per_layer",
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
    "native_dense_precision",
    "tied_embeddings",
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
        attn_prefill=r.get(m, "attn_prefill", _fraction, where, default=0.0) or 0.0,
        layer_overhead_us=r.get(m, "layer_overhead_us", non_negative, where, default=0.0) or 0.0,
        fp4=r.get(m, "fp4", positive, where, default=1.0) or 1.0,
        fp4_moe=r.get(m, "fp4_moe", positive, where, default=None),
        moe=r.get(m, "moe", _fraction, where, default=1.0) or 1.0,
        block_fp8=r.get(m, "block_fp8", positive, where, default=1.0) or 1.0,
        block_fp8_prefill=r.get(m, "block_fp8_prefill", _fraction, where, default=1.0) or 1.0,
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
    gemm_clock = r.get(m, "gemm_clock", _fraction, where, default=1.0)
    if "gemm_clock" in m and source is not None and "gemm_clock" not in source:
        r.error(source.line, f"{where}.source: no source for 'gemm_clock' (every figure needs one)")
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
        gemm_clock=gemm_clock or 1.0,
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
    for k in ("native_precision", "native_dense_precision"):
        if k in m:
            if m[k] not in PRECISIONS:
                r.error(m.line_of(k), f"{where}.{k}: one of {', '.join(PRECISIONS)}")
            vals[k] = m[k]
    if "tied_embeddings" in m:
        if not isinstance(m["tied_embeddings"], bool):
            r.error(m.line_of("tied_embeddings"), f"{where}.tied_embeddings: true or false")
        vals["tied_embeddings"] = m["tied_embeddings"]
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
        bad = _constant_problem(str(key), v, out)
        if bad:
            r.error(em.line_of("value"), f"constants.{key}.value: {bad}")
            continue
        out[str(key)] = MappingProxyType(dict(v)) if isinstance(v, dict) else v


def _constant_problem(key: str, v: Any, out: Mapping[str, Any]) -> str | None:
    """What a constant's value must be beyond its type (None when it is fine)."""
    if key == "fp4_moe_dense_precision" and v not in out.get("bytes_per_param", {v: 0}):
        return f"expected one of {', '.join(out['bytes_per_param'])}, got {clip(repr(v))}"
    if key == "ep_load_imbalance" and isinstance(v, Mapping):
        g0 = v.get("measured_ep")
        if not _is_number(g0) or not 2 <= g0 < float("inf"):
            return f"measured_ep: expected an expert-group width of 2 or more, got {clip(repr(g0))}"
        for k in ("balanced", "unbalanced"):
            if not _is_number(v.get(k)) or not 0 <= v[k] < float("inf"):
                return f"{k}: expected a finite ratio of 0 or more, got {clip(repr(v.get(k)))}"
    if key == "vendor_mtp_max_drafts" and isinstance(v, Mapping):
        for vendor, d in v.items():
            if isinstance(d, bool) or not isinstance(d, int) or d < 0:
                return f"{vendor}: expected a whole number of draft tokens (0 or more), got {clip(repr(d))}"
    return None
