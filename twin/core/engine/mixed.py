"""Co-located chunked prefill in the engine: a tick's prompts ride on its decode steps.

A dense co-located replica's serving stack (vLLM V1, TensorRT-LLM: ``serving.mixes_prefill``)
fills each decode step's token budget (``prefill_chunk_tokens``) with the prompts waiting,
after one query token (plus drafts) per running request. ``twin perf``'s ``schedule`` prices
that, and so does the engine here, from the same step function tabulated by ``plan.py``
(``Profile.t_mix``: a step of ``b`` running requests carrying ``g`` prompt tokens):

- a tick's decode steps at batch B each carry up to ``room = chunk − B·(1 + drafts)`` prompt
  tokens, the prompts waiting then (at least one whole prompt, at most the room: perf's
  ``chunk``); such a step takes ``t_mix(B, g)``, ``t_mix(B, g) − t_dec(B)`` more than a
  decode step: that difference is the prefill time the tick's decode loses;
- tokens beyond what every step of the tick can carry go, as in perf, to prefill-only
  steps (``t_pf``), where those carry more tokens per second than the mixed steps they
  displace;
- power: a mixed step's activity (``Profile.u_mix``) over its whole time, so the prefill
  time is charged the activity the chunk adds to the step, not a prefill step's;
- TTFT: the prompt's chunks on mixed steps, ``⌈prompt / min(room, prompt)⌉·t_mix`` (perf's).

The functions fill and read a small scratch vector ``mx`` (indices below) so the caller,
``kernel.serve_queues``, keeps one code path for admission.
"""

from __future__ import annotations

import math

from twin.core.engine.jit import njit

# mx: the mixed schedule of one replica this tick
M_G, M_A, M_DLT, M_B, M_G2, M_K, M_EM, M_UA, M_TD, M_ROOM = range(10)
MX_LEN = 10


@njit(cache=True, error_model="numpy", inline="always")
def _bilinear(tab, base, f, h, n):
    """``tab[base]`` is the grid point below on both axes; ``f`` along the batch grid
    (stride ``n``), ``h`` along the prefill grid."""
    a = tab[base] + (tab[base + 1] - tab[base]) * h
    b = tab[base + n] + (tab[base + n + 1] - tab[base + n]) * h
    return a + (b - a) * f


@njit(cache=True, error_model="numpy", inline="always")
def mix_step(tmix, p, i0, f, j0, h, cw, G, n):
    """A mixed step's time on profile ``p`` (``tmix`` flattened from (P, 2, G, n)): batch
    at grid position (i0, f), prompt tokens at (j0, h), clock weight ``cw``."""
    base = (p * 2 * G + i0) * n + j0
    t1 = _bilinear(tmix, base, f, h, n)
    t2 = _bilinear(tmix, base + G * n, f, h, n)
    return t1 + (t2 - t1) * cw


@njit(cache=True, error_model="numpy", inline="always")
def pf_pos(g, chunk, pf_scale, pf_grid):
    """Where a step carrying ``g`` prompt tokens falls on the log-spaced prefill grid
    (``kernel.py``'s prefill steps use it too)."""
    n = len(pf_grid)
    gc = min(max(g, 1.0), chunk)
    i0 = min(int(math.log(gc) * pf_scale), n - 2)
    return i0, (gc - pf_grid[i0]) / (pf_grid[i0 + 1] - pf_grid[i0])


@njit(cache=True, error_model="numpy")
def mixed_plan(
    dt, budget, B, q, p, bi0, bf, td, ud, cw, slow, prompt, spread, alone_g, alone_t, ua,
    chunk, pf_scale, pf_grid, tmix, umix, G, mx,
):  # fmt: skip
    """This tick's mixed schedule of a replica running ``B`` requests (decode step ``td``
    and activity ``ud`` at that batch, full clock, unslowed; batch grid position (bi0, bf))
    with ``spread`` prompt tokens waiting per step and ``prompt`` the mean waiting prompt:
    fills ``mx`` and returns the prompt tokens the tick can prefill (within ``budget`` of
    prefill time). ``alone_g``/``alone_t``/``ua``: a prefill-only step's tokens, time
    (unslowed) and activity."""
    n = len(pf_grid)
    room = chunk - B * q
    g = min(room, max(prompt, spread))
    j0, h = pf_pos(g, chunk, pf_scale, pf_grid)
    tm = mix_step(tmix, p, bi0, bf, j0, h, cw, G, n)
    um = _bilinear(umix, (p * G + bi0) * n + j0, bf, h, n)
    a = tm * slow  # a mixed step, wall time
    dlt = max(tm - td, 1e-12) * slow  # what the chunk adds to a decode step
    mx[M_G], mx[M_A], mx[M_DLT], mx[M_ROOM] = g, a, dlt, room
    mx[M_B], mx[M_G2], mx[M_UA] = alone_t * slow, alone_g, ua
    mx[M_EM] = (tm * min(um, 1.0) - td * ud) * slow  # activity·time the chunk adds
    mx[M_TD] = td * slow
    K = g * dt / a  # every step of the tick mixed
    mx[M_K] = K
    if K * dlt / g >= budget:
        return budget * g / dlt
    rate_m, rate_a = g / a, alone_g / mx[M_B]
    if rate_a <= rate_m:  # prefill-only steps would carry fewer tokens than they displace
        return K
    t_a = min((budget - dt * dlt / a) / (1.0 - dlt / a), dt)
    return K + t_a * (rate_a - rate_m)


@njit(cache=True, error_model="numpy")
def mixed_cost(dt, tok, mx, out):
    """The prefill time ``tok`` prompt tokens cost the tick's decode on ``mx``'s schedule
    (``out[0]``), its activity (``out[1]``, per second of that time; above 1 where the
    chunks make the decode steps they ride on busier) and the busy time of the prefill
    "server" a prompt queues at (``out[2]``): the steps' room is its capacity, so a step
    that carries every prompt waiting keeps none waiting (the wait for that step is the
    half decode step every TTFT has); prompts queue only as the room fills."""
    g, a, dlt, b = mx[M_G], mx[M_A], mx[M_DLT], mx[M_B]
    gain = mx[M_G2] / b - g / a  # tokens/s a prefill-only second adds over a mixed one
    if tok <= mx[M_K] or gain <= 0.0:
        n_mix, t_a = min(tok, mx[M_K]) / g, 0.0
    else:
        t_a = min((tok - mx[M_K]) / gain, dt)
        n_mix = (dt - t_a) / a
    pf = n_mix * dlt + t_a
    out[0] = pf
    out[1] = (n_mix * mx[M_EM] + t_a * mx[M_UA]) / pf if pf > 0.0 else 0.0
    out[2] = n_mix * g / mx[M_ROOM] * a + t_a


@njit(cache=True, error_model="numpy", inline="always")
def mixed_prompt_time(tmix, p, bi0, bf, cw, prompt, room, chunk, pf_scale, pf_grid, G):
    """A prompt's own prefill in chunks on mixed steps (twin perf's TTFT), unslowed."""
    own = max(min(room, prompt), 1.0)
    j0, h = pf_pos(own, chunk, pf_scale, pf_grid)
    t = mix_step(tmix, p, bi0, bf, j0, h, cw, G, len(pf_grid))
    return math.ceil(max(prompt, 1.0) / own) * t
