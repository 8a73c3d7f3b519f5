"""The Self-Cure Network's objectives: rank regularisation and weighted cross-entropy.

Wang et al., "Suppressing Uncertainties for Large-Scale Facial Expression
Recognition", CVPR 2020, eqs. (2)-(4).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cdr.errors import ParameterError


def importance_groups(alpha: torch.Tensor, *, beta: float = 0.7) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a batch by importance: the top ``floor(beta * B)`` alphas and the rest.

    Parameters
    ----------
    alpha : torch.Tensor [shape=(B,)]
        Importance weights of the batch.
    beta : float
        Share of the batch in the high-importance group, in (0, 1).

    Returns
    -------
    high, low : torch.Tensor [dtype=long]
        Indices into the batch of the high and the low group (disjoint, together all B).
    """
    if not 0.0 < beta < 1.0:
        raise ParameterError(f"beta={beta} must lie strictly between 0 and 1")
    n = alpha.shape[0]
    n_high = math.floor(n * beta + 1e-9)
    order = torch.argsort(alpha.detach(), descending=True, stable=True)
    return order[:n_high], order[n_high:]


def rank_regularisation(alpha: torch.Tensor, *, beta: float = 0.7, margin: float = 0.15) -> torch.Tensor:
    """L_RR = max(0, margin - (mean alpha_H - mean alpha_L)).

    Parameters
    ----------
    alpha : torch.Tensor [shape=(B,)]
        Importance weights in (0, 1).
    beta : float
        Share of the batch in the high group (the paper's 0.7).
    margin : float
        delta_1, the margin the two group means must be apart (paper 0.15; the
        reference code recommends 0.07 at batch 64).

    Returns
    -------
    loss : torch.Tensor [shape=()]
        Zero when either group is empty (a batch of one).
    """
    high, low = importance_groups(alpha, beta=beta)
    if len(high) == 0 or len(low) == 0:
        return alpha.sum() * 0.0
    gap = alpha[high].mean() - alpha[low].mean()
    return torch.clamp(margin - gap, min=0.0)


def weighted_cross_entropy(weighted_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Logit-weighted cross-entropy, eq. (2): CE over ``alpha * (W x)``.

    The weighting happens inside the model (``SCN.forward_head``); this is the
    cross-entropy of those weighted logits [B, K] against class indices [B].
    """
    return F.cross_entropy(weighted_logits.float(), targets)


def scn_loss(
    weighted_logits: torch.Tensor,
    alpha: torch.Tensor,
    targets: torch.Tensor,
    *,
    rank: bool = True,
    gamma: float = 0.5,
    beta: float = 0.7,
    margin: float = 0.15,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total objective gamma * L_RR + (1 - gamma) * L_WCE (plain L_WCE when ``rank`` is off).

    Returns
    -------
    loss : torch.Tensor [shape=()]
    parts : dict
        ``{"wce": tensor, "rr": tensor}``, detached, for logging (no device sync
        here; rr is 0 when rank is off).
    """
    if not 0.0 <= gamma < 1.0:
        raise ParameterError(f"gamma={gamma} must lie in [0, 1)")
    wce = weighted_cross_entropy(weighted_logits, targets)
    if not rank:
        return wce, {"wce": wce.detach(), "rr": torch.zeros_like(wce.detach())}
    rr = rank_regularisation(alpha.float(), beta=beta, margin=margin)
    total = gamma * rr + (1.0 - gamma) * wce
    return total, {"wce": wce.detach(), "rr": rr.detach()}
