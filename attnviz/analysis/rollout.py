"""Attention rollout (Abnar & Zuidema 2020): how attention flows through the layers."""

from __future__ import annotations

import numpy as np

from attnviz.analysis.select import format_indices
from attnviz.attention import Attention
from attnviz.errors import UsageError

FUSIONS = ("mean", "max", "min")


def rollout(attn: Attention, fusion: str = "mean") -> np.ndarray:
    """(query, key) rollout from the first layer to the last held one.

    Per layer the heads are fused, the residual is added as A = 0.5 W + 0.5 I, rows are
    normalised, and R_l = A_l R_(l-1). Needs every head of layers 0..L held.
    """
    if fusion not in FUSIONS:
        raise UsageError(f"invalid fusion '{fusion}': use mean, max or min")
    if not attn.is_self:
        raise UsageError(
            "rollout follows attention through a stack of self-attention layers; cross-attention maps "
            "the target onto the source and does not chain",
            hint="use --stack encoder or --stack decoder",
        )
    if not attn.layers or attn.layers != tuple(range(len(attn.layers))):
        raise UsageError(
            f"rollout needs consecutive layers from 0, but this extraction holds layers {format_indices(attn.layers)}"
        )
    if not attn.heads or attn.heads != tuple(range(len(attn.heads))):
        raise UsageError(
            f"rollout fuses every head of each layer, but this extraction holds only heads {format_indices(attn.heads)}"
        )
    weights = attn.weights.astype(np.float64)  # (layers, heads, query, key)
    fused = getattr(weights, fusion)(axis=1)  # (layers, query, key)
    flow = 0.5 * fused + 0.5 * np.eye(attn.n_tokens)
    flow /= flow.sum(axis=-1, keepdims=True)  # each row >= 0.5 on the diagonal, never 0
    result = flow[0]
    for layer in flow[1:]:
        result = layer @ result  # (query, key)
    return result
