"""The step of ``optimizer: gd-ntk``: gradient descent scaled by the loss's largest curvature.

For the mean squared error ``L = (1/n) sum_i |f(x_i) - y_i|^2`` the Gauss-Newton matrix is
``G = (2/n) J^T J`` (J: the Jacobian of the n * d_out outputs by the parameters); its nonzero
eigenvalues are those of the empirical NTK ``(2/n) J J^T``, an ``n d_out`` square matrix, cheap
when the training set is a few points. Gradient descent on the quadratic part is stable for
steps below ``2 / lambda_max``; a step of ``c / lambda_max`` (c = 0.5 in the [COND-PD] task) is a
discretized gradient flow whose speed does not depend on the init scale or the width, so one
recipe serves every (gamma, gamma', m) of a phase diagram. The curvature is recomputed every step
because it grows by orders of magnitude in the condensed regime (the weights move far).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

MAX_OUTPUTS = 4096  # n * d_out rows of J: one backward pass each


def ntk_top_eigenvalue(
    forward: Callable[[torch.Tensor], torch.Tensor], params: list[nn.Parameter], x: torch.Tensor
) -> float:
    """``lambda_max((2/n) J J^T)`` of ``forward`` at ``x [n, d_in]`` (n: the rows of the batch)."""
    out = forward(x).float().reshape(-1)  # [n * d_out]
    if out.numel() > MAX_OUTPUTS:
        raise ValueError(f"gd-ntk computes one gradient per output: {out.numel()} outputs is over {MAX_OUTPUTS}")
    rows = []
    for k in range(out.numel()):
        grads = torch.autograd.grad(out[k], params, retain_graph=k + 1 < out.numel(), allow_unused=True)
        flat = [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)]
        rows.append(torch.cat(flat))
    jac = torch.stack(rows).double()  # [n d_out, P]
    ntk = (2.0 / x.shape[0]) * (jac @ jac.T)  # [n d_out, n d_out]
    return float(torch.linalg.eigvalsh(ntk)[-1])
