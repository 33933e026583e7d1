"""A selective state-space layer in the spirit of Mamba (Gu & Dao 2023), in plain PyTorch.

Per channel c of the inner width E and state index n of N, with input-dependent step and
projections (the "selection"):

    delta_t = softplus(dt_proj(x_proj(u_t)) + dt_bias)     [E]
    B_t, C_t = x_proj(u_t)                                   [N] each
    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t           [E, N], A = -exp(A_log) < 0
    y_t = C_t . h_t + D u_t                                  [E]

around the Mamba block's other parts: an input projection to u and a gate z, a short causal
depthwise convolution and SiLU on u, the output ``y * silu(z)`` projected back. The scan runs
sequentially over T (no CUDA kernel; T is short here); :func:`naive_scan` is the scalar loop the
reference test compares it with. A is initialized as S4D-real (A_n = -(n + 1)), dt's bias so that
softplus gives steps in [1e-3, 1e-1], as in the Mamba code.

Known for: linear cost, a fixed-size state, and gates that depend on the input, which lets it
select what to keep (selective copying, induction heads in the Mamba paper).

Shapes: B batch, T length, C = d_model, E = expand * C, N = d_state, R = dt_rank.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from anchorbench.models.mixer_stack import MixerStack, MixerStackConfig, ShortConv


class SelectiveSSMConfig(MixerStackConfig):
    d_state: int = Field(16, ge=1, description="state size N per channel")
    expand: int = Field(1, ge=1, description="inner width E = expand x d_model (Mamba: 2; 1 halves a CPU step)")
    d_conv: int = Field(4, ge=1, description="width of the short causal convolution")
    dt_rank: int | None = Field(None, ge=1, description="rank of the step-size projection; None -> ceil(d_model / 16)")


def selective_scan(u, delta, A, B, C, D):
    """``u, delta [B, T, E]``, ``A [E, N]``, ``B, C [B, T, N]``, ``D [E]`` -> ``y [B, T, E]``."""
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])  # [B, E, N]
    ys = []
    # per step, from [B, E] slices (unbind): slicing a [B, T, E, N] tensor would make autograd
    # allocate a full-size zero gradient for every step
    for delta_t, u_t, B_t, C_t in zip(delta.unbind(1), u.unbind(1), B.unbind(1), C.unbind(1)):
        decay = torch.exp(delta_t.unsqueeze(-1) * A)  # [B, E, N]
        h = decay * h + (delta_t * u_t).unsqueeze(-1) * B_t.unsqueeze(1)  # [B, E, N]
        ys.append((h * C_t.unsqueeze(1)).sum(-1))  # [B, E]
    return torch.stack(ys, dim=1) + u * D  # [B, T, E]


def naive_scan(u, delta, A, B, C, D):
    """:func:`selective_scan` one scalar at a time (the reference test's ground truth)."""
    Bsz, T, E = u.shape
    N = A.shape[1]
    y = torch.zeros_like(u)
    for b in range(Bsz):
        for e in range(E):
            h = [0.0] * N
            for t in range(T):
                total = 0.0
                for n in range(N):
                    h[n] = math.exp(delta[b, t, e] * A[e, n]) * h[n] + delta[b, t, e] * B[b, t, n] * u[b, t, e]
                    total += C[b, t, n] * h[n]
                y[b, t, e] = total + D[e] * u[b, t, e]
    return y


class SelectiveSSMMixer(nn.Module):
    dynamics = ("A_log", "D", "dt_bias")  # the gamma init keeps these (mixer_stack)

    def __init__(self, d_model: int, seq_len: int, cfg: SelectiveSSMConfig, layer: int) -> None:
        super().__init__()
        E, N = cfg.expand * d_model, cfg.d_state
        self.dt_rank = cfg.dt_rank or math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * E, bias=False)  # u and the gate z
        self.conv = ShortConv(E, cfg.d_conv)
        self.x_proj = nn.Linear(E, self.dt_rank + 2 * N, bias=False)  # delta (low rank), B, C
        self.dt_proj = nn.Linear(self.dt_rank, E, bias=False)
        dt = torch.exp(torch.rand(E) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))  # [E] in [1e-3, 0.1]
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))  # [E, N]
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d_model, bias=False)

    def ssm_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``[B, T, C]`` -> the scan's (u, delta, A, B, C, D) and the gate z."""
        u, z = self.in_proj(x).chunk(2, dim=-1)  # [B, T, E] each
        u = F.silu(self.conv(u))  # [B, T, E]
        dt, B, C = self.x_proj(u).split([self.dt_rank, self.A_log.shape[1], self.A_log.shape[1]], dim=-1)
        delta = F.softplus(self.dt_proj(dt) + self.dt_bias)  # [B, T, E]
        return u, delta, -torch.exp(self.A_log), B, C, self.D, z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *scan_inputs, z = self.ssm_inputs(x)
        y = selective_scan(*scan_inputs)  # [B, T, E]
        return self.out_proj(y * F.silu(z))  # [B, T, C]


class SelectiveSSM(MixerStack):
    """Pre-LN stack of Mamba-style selective SSM layers (no positions: the scan carries order)."""

    Config = SelectiveSSMConfig
    mixer = SelectiveSSMMixer
