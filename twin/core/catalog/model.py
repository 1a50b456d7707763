"""The catalog as values: GPUs, models, their measured efficiencies, and the constants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twin.core import vocab
from twin.core.errors import UnknownName

PRECISIONS = vocab.PRECISIONS


@dataclass(frozen=True)
class Efficiency:
    """Measured ÷ roofline, per term of the step time (see twin.core.serving)."""

    mem: float
    comp: float
    net: float
    step_overhead_ms: float
    seq_overhead_us: float = 0.0
    #: decode attention's fraction of its tensor peak: the new tokens' queries against the
    #: cached KV (absorbed MLA over the latent cache: FlashMLA, AITER's MLA decode,
    #: TensorRT-LLM's XQA; paged attention for GQA); 0 = same as comp
    attn: float = 0.0
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
    #: DeepSeek ships them) relative to per-tensor fp8 on the same stack: GEMM rate, weight
    #: streaming and the per-layer fixed time (its extra activation-quantisation kernels)
    #: all scale with it; above 1 where the stack's DeepSeek kernels are its tuned path
    #: (ROCm's fused-MoE and block-scale GEMMs) and its per-tensor fp8 GEMMs lag
    block_fp8: float = 1.0
    #: a prompt's GEMMs where the experts run block-scaled fp8, relative to ``block_fp8``'s
    #: rate: a prefill is compute-bound, so it pays in full what a memory-bound decode step
    #: hides — the activation quantisation per 128-channel group before every GEMM, the
    #: FP32 promotion of partial sums per 128-deep K block, the token permutation around
    #: the experts (the fp8 recipes' MoE backends: DeepGEMM, SGLang's and TensorRT-LLM's
    #: block-scale MoE; the NVFP4 recipes run fused MoE kernels instead)
    block_fp8_prefill: float = 1.0
    #: prompt tokens' attention's fraction of its tensor peak: a different kernel from
    #: decode's — causal MHA over the decompressed K/V of the prompt, long query tiles
    #: against long key tiles (FlashAttention-2/3/4, cuDNN and TensorRT-LLM's context FMHA,
    #: CK/AITER's FMHA forward on ROCm), compute-bound where decode's is bound by the cache
    #: reads and its small query tiles; 0 = same as ``attn``
    attn_prefill: float = 0.0

    @property
    def decode_attn(self) -> float:
        """Decode attention's share of its peak (``attn``; unset: the GEMMs' ``comp``)."""
        return self.attn or self.comp

    @property
    def prefill_attn(self) -> float:
        """Prompt attention's share of its peak (``attn_prefill``; unset: decode's)."""
        return self.attn_prefill or self.decode_attn


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
    # prompt attention at decode's rate: the fitted stacks straddle it (Blackwell ~0.26,
    # CDNA4 at its floor, Hopper and CDNA3 unset: their points cannot tell them apart)
    attn_prefill=0.0,
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
    #: the share of its boost clock the GPU holds while dense tensor-core GEMMs run at its
    #: board power limit (AMD's max-achievable-FLOPs clocks: MI300X 1,230 of 2,100 MHz at
    #: 750 W); 1 where unmeasured, the stack's fitted ``comp`` then carries it
    gemm_clock: float = 1.0
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
    #: precision the native checkpoint keeps its non-expert weights in (attention, router,
    #: embeddings, LM head), where it differs from the experts' (gpt-oss: bf16 beside MXFP4
    #: experts); "" = the 4-bit MoE checkpoints' rule (``fp4_moe_dense_precision``)
    native_dense_precision: str = ""
    #: vocabulary size: the input embedding table (``vocab × hidden``) is gathered a row per
    #: token, not streamed every step as the other non-expert weights are (0 = unknown:
    #: every non-expert weight streams)
    vocab: int = 0
    #: input embedding and LM head share one matrix (then it is streamed, by the LM head)
    tied_embeddings: bool = False
    #: kernels one decode layer launches where the model's serving code says so (gpt-oss:
    #: no shared expert, a fused MoE); 0 = the catalog's constants by dense or MoE
    kernels_per_layer: int = 0
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
