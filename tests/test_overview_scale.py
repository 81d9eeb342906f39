"""The overview's colour scale: per head by default, one for all thumbnails with --scale global."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.render.terminal import Overview


def two_heads(n: int = 8) -> Attention:
    """Head 0 is the identity (peak 1); head 1 is uniform (peak 1/n)."""
    weights = np.stack([np.eye(n), np.full((n, n), 1 / n)])[None].astype(np.float32)
    return Attention(
        tokens=[f"t{i}" for i in range(n)], weights=weights, layers=[0], heads=[0, 1],
        special=np.zeros(n, bool), word_ids=np.arange(n),
    )  # fmt: skip


def thumbnail_rows(scale: str) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(Overview(two_heads(), scale=scale))
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("L0"))
    return [line[3:].ljust(17) for line in lines[start : start + 4]]


def test_per_head_scale_fills_the_uniform_head_and_global_scale_dims_it() -> None:
    per_head = thumbnail_rows("head")
    global_ = thumbnail_rows("global")
    uniform_per_head = "".join(row[9:17] for row in per_head)
    uniform_global = "".join(row[9:17] for row in global_)
    assert set(uniform_per_head) == {"█"}  # 1/n is that head's own max
    assert set(uniform_global) <= {" ", "░"}  # 1/8 of the global max of 1
    assert [row[:8] for row in per_head] == [row[:8] for row in global_]  # the identity peaks at 1 in both


def test_overview_rejects_an_unknown_scale() -> None:
    with pytest.raises(UsageError, match="invalid scale 'bogus'"):
        Overview(two_heads(), scale="bogus")
