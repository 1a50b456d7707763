"""The serving model of 2024 software, kept for the factory engine until it adopts
``twin.core.serving.replica.Replica`` (issue 8, item 8: one set of physics in both levels).

``serving.Replica`` is this class: the engine's step tables, placements and scenario
expectations were all built on it, and the engine is being rewritten; ``twin perf``, the
calibration and the frontier use the new physics (``serving.StepModel``). The efficiency
factors below are the ones this step function was fitted with (MLPerf v4.1 and the 2025
InferenceX points of MODEL.md; see git history of gpus.yaml); GPUs outside this table use
their catalog factors.
"""

from __future__ import annotations

import numpy as np

from twin.core.catalog import GPU, LLM, Catalog, Efficiency, load_catalog
from twin.core.serving.replica import MAX_BATCH, Parallelism, Replica, StepCost, Workload

_SCALE_UP_LATENCY_US = 8.0  # the collective latency this step function was fitted with
_H = Efficiency(
    mem=0.778, comp=0.497, attn=0.356, net=0.624, step_overhead_ms=1.71, seq_overhead_us=17.0
)
_B = Efficiency(
    mem=0.781, comp=0.370, attn=0.246, net=0.682, step_overhead_ms=0.00, seq_overhead_us=4.3
)
_M = Efficiency(
    mem=0.725, comp=0.355, attn=0.343, net=0.600, step_overhead_ms=2.36, seq_overhead_us=20.4
)
_LEGACY = {"h100": _H, "h200": _H, "b200": _B, "gb200": _B, "gb300": _B, "mi300x": _M, "mi355x": _M}
_LEGACY_OVERRIDES = {
    ("h100", "deepseek-r1/fp8"): Efficiency(
        mem=0.765, comp=0.450, attn=0.356, net=0.604, step_overhead_ms=3.50, seq_overhead_us=116.0
    ),
    ("mi300x", "deepseek-r1/fp8"): Efficiency(
        mem=0.726, comp=0.408, attn=0.052, net=0.548, step_overhead_ms=18.90, seq_overhead_us=48.8
    ),
}


def legacy_efficiency(gpu: GPU, model_id: str, precision: str) -> Efficiency:
    o = _LEGACY_OVERRIDES.get((gpu.id, f"{model_id}/{precision}"))
    return o or _LEGACY.get(gpu.id) or gpu.efficiency_for(model_id, precision)


class LegacyReplica(Replica):
    """The 2024-fitted rates and step function over the same memory sizing as ``Replica``
    (kept for the factory engine until it moves onto ``StepModel``)."""

    def __init__(
        self, gpu: GPU, model: LLM, precision: str, par: Parallelism, catalog: Catalog | None = None
    ):
        catalog = catalog or load_catalog()
        k = self._size(
            gpu, model, precision, par, catalog, legacy_efficiency(gpu, model.id, precision)
        )

        # --- rates ----------------------------------------------------------------------
        self.hbm_bytes_s = gpu.hbm_tb_s * 1e12
        self.flops_s = gpu.peak_tflops[precision] * 1e12
        self.attn_flops_s = gpu.peak_tflops["bf16"] * 1e12
        self.active_params = model.active_params_b * 1e9
        self.act_bytes = k["activation_bytes"]
        self.dispatch_bytes = k["dispatch_bytes"]
        self.mem_clock_sens = k["memory_clock_sensitivity"]
        self.power_mem_weight = k["power_mem_weight"]
        self.power_gamma = k["power_gamma"]
        self.clock_power_exp = k["clock_power_exponent"]

        # --- the collective fabric of one stage --------------------------------------
        up_bw, out_bw = gpu.scale_up_gb_s * 1e9, gpu.scale_out_gb_s * 1e9
        domain = gpu.scale_up_domain_gpus
        if self.n_stage <= domain:
            self.inv_link_bw = 1 / up_bw
            self.coll_latency_s = _SCALE_UP_LATENCY_US * 1e-6
        else:  # the part of the traffic that leaves the domain rides the slower fabric
            cross = 1 - domain / self.n_stage
            self.inv_link_bw = (1 - cross) / up_bw + cross / out_bw
            self.coll_latency_s = k["scale_out_latency_us"] * 1e-6
        self.p2p_latency_s = k["scale_out_latency_us"] * 1e-6 if par.pp > 1 else 0.0
        #: output tokens a request gains per decode step (speculation accepts some drafts)
        self.tokens_per_step = 1.0 + par.mtp * k["mtp_acceptance"]
        self.inv_p2p_bw = 1 / out_bw if self.n > domain else 1 / up_bw

    # ----------------------------------------------------------------------------------
    def max_batch(self, workload: Workload) -> int:
        """``B_max``: the requests whose KV fits at the workload's mean context."""
        seq = float(self.kv_seq_bytes(workload.mean_context)) / self.model.layers
        per_tok = self.kv_per_token_layer
        eq_tokens = seq / per_tok if per_tok else workload.mean_context
        return int(min(MAX_BATCH, self.kv_capacity_tokens // max(eq_tokens, 1.0)))

    # ----------------------------------------------------------------------------------
    def step(
        self, batch, context, prefill_tokens=0.0, prefill_context=None, clock: float = 1.0
    ) -> StepCost:
        """One engine step for ``batch`` running requests of mean ``context`` plus
        ``prefill_tokens`` prompt tokens (mean causal context ``prefill_context``).

        Vectorised: every argument may be an array. ``clock`` < 1 is a power-capped or
        thermally throttled GPU: compute slows with the clock, memory streaming much less.
        """
        e, par, m = self.eff, self.par, self.model
        B = np.asarray(batch, dtype=float)
        b = B / par.pp  # one micro-batch per pipeline stage
        q = 1 + par.mtp  # query tokens per running request (1 + speculative drafts)
        p = np.asarray(prefill_tokens, dtype=float) / par.pp
        pctx = np.asarray(context if prefill_context is None else prefill_context, dtype=float)
        T = b * q + p
        mem_rate = e.mem * self.hbm_bytes_s * (1 - self.mem_clock_sens * (1 - clock))
        lin_rate = e.comp * self.flops_s * clock
        att_rate = (e.attn or e.comp) * self.attn_flops_s * clock

        # linear layers (per GPU of a stage)
        if m.is_moe:
            touched = 1.0 - np.power(1.0 - m.experts_per_token / m.experts, T)
            dense_shard = 1 if par.dp_attention else par.tp
            lin_bytes = (
                self.dense_bytes / (par.pp * dense_shard) + touched * self.expert_bytes / self.n
            )
        else:
            lin_bytes = np.full_like(T, self.dense_bytes / self.n)
        lin_flops = 2.0 * self.active_params / par.pp * T / self.n_stage
        t_lin_mem, t_lin_comp = lin_bytes / mem_rate, lin_flops / lin_rate
        t_lin = np.maximum(t_lin_mem, t_lin_comp)

        # attention (decode reads the KV of every running request; prefill is compute)
        kv_bytes = b * self.kv_seq_bytes(context) / (par.pp * self.kv_shard)
        layers_s = m.layers / par.pp
        att_flops = (
            layers_s
            * (
                b * q * self.attn_flops_per_ctx * np.asarray(context, dtype=float)
                + p * self.prefill_attn_flops_per_ctx * pctx
            )
            / self.n_stage
        )
        t_att_mem, t_att_comp = kv_bytes / mem_rate, att_flops / att_rate
        t_att = np.maximum(t_att_mem, t_att_comp)

        # communication inside a stage
        t_comm = np.zeros_like(T)
        if self.n_stage > 1:
            g = self.n_stage
            inv_bw = self.inv_link_bw / e.net
            ar_bytes = 2.0 * (g - 1) / g * T * m.hidden * self.act_bytes
            if m.is_moe:
                a2a_bytes = (
                    (T / g)
                    * m.experts_per_token
                    * m.hidden
                    * (self.dispatch_bytes + self.act_bytes)
                    * (g - 1)
                    / g
                )
                per_layer = 2 * self.coll_latency_s + a2a_bytes * inv_bw
                if not par.dp_attention:
                    per_layer = per_layer + self.coll_latency_s + ar_bytes / 2 * inv_bw
            else:
                per_layer = 2 * (self.coll_latency_s + ar_bytes / 2 * inv_bw)
            t_comm = layers_s * per_layer
        t_stage = t_lin + t_att + t_comm
        p2p = (par.pp - 1) * (self.p2p_latency_s + T * m.hidden * self.act_bytes * self.inv_p2p_bw)
        t = par.pp * t_stage + p2p + e.step_overhead_ms * 1e-3 + e.seq_overhead_us * 1e-6 * B * q
        busy = par.pp / t
        comp_busy = np.minimum(1.0, (t_lin_comp + t_att_comp) * busy)
        mem_busy = np.minimum(1.0, (t_lin_mem + t_att_mem) * busy)
        return StepCost(t, comp_busy, mem_busy)
