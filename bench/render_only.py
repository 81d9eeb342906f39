"""Benchmark 8: terminal rendering alone, in one process, with no model and no torch.

Usage: python bench/render_only.py OVERVIEW.npz HEAD.npz REPEAT

Times building and printing an `Overview` of every head in OVERVIEW.npz, and a `Heatmap` of
the single head in HEAD.npz, onto a 120-column truecolor Console that writes to a StringIO.
Each is drawn once untimed first (imports, colormap tables). Prints one JSON object.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import time
from collections.abc import Callable

from rich.console import Console

from attnviz.attention import Attention
from attnviz.render.terminal import Heatmap, Overview


def timed(make: Callable[[], object], repeat: int) -> dict[str, object]:
    times, size = [], 0
    for i in range(repeat + 1):
        console = Console(file=io.StringIO(), width=120, color_system="truecolor")
        start = time.perf_counter()
        console.print(make())
        elapsed = time.perf_counter() - start
        size = len(console.file.getvalue())
        if i:
            times.append(elapsed)
    if size < 1000 or "\x1b[" not in console.file.getvalue():
        raise SystemExit(f"render_only: suspiciously small or colourless output ({size} characters)")
    return {"times": times, "chars": size}


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    overview, head, repeat = Attention.load(argv[0]), Attention.load(argv[1]), int(argv[2])
    layer, h = head.layers[0], head.heads[0]
    result = {
        "overview": {
            "shape": list(overview.weights.shape),
            **timed(lambda: Overview(overview, cmap="viridis"), repeat),
        },
        "heatmap": {
            "shape": list(head.weights.shape),
            **timed(lambda: Heatmap.from_attention(head, layer, h, cmap="viridis"), repeat),
        },
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
