"""Generation benchmarks: `--generate 64` on a GPT-2-small-shaped model, scratch against hf
in the same run, and the scratch engine's cost per generated token at two context lengths.

Usage: python bench/generate.py [--runs N] [--quick]

1. `attnviz show SEED --generate 64 --layer 11 --save …`, whole processes, scratch vs hf
   (target: scratch ≤ 0.5× hf).
2. One cached step of the scratch engine (all 12 layers, logits, every layer's row kept) at
   a 1,024-token context against a 128-token one (target: ≤ 4×; a rerun of the whole sequence
   per token would be 8× or worse).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import measure
import models


def whole_runs(folder: Path, runs: int, new: int) -> dict[str, float]:
    """Median wall time of the full command on each engine."""
    times: dict[str, list[float]] = {"scratch": [], "hf": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            for engine in times:  # interleaved: a busy spell hits both engines alike
                argv = [measure.ATTNVIZ, "show", measure.SEED, "-m", str(folder), "--engine", engine,
                        "--generate", str(new), "--layer", "11", "--save", f"{tmp}/{engine}.npz"]  # fmt: skip
                wall, peak, _ = measure.run_once(argv)
                times[engine].append(wall)
                measure.log(f"  {engine}: {wall:.2f} s, {peak / measure.GB:.2f} GB  ({measure.shown(argv)})")
    return {engine: statistics.median(t) for engine, t in times.items()}


def per_token(folder: Path, contexts: tuple[int, ...], steps: int, runs: int) -> dict[int, float]:
    """Seconds per generated token after `context` cached tokens (median over `runs`): one
    cached step through every layer, every layer's row kept, and the logits."""
    import numpy as np

    from attnviz.models import scratch
    from attnviz.models.scratch.engine import blas_threads_for
    from attnviz.models.scratch.kvcache import KVCache

    model = scratch.load(folder)
    model.keep_layers()
    head = model.lm_head()
    c = model.config
    keep = list(range(c.n_layer))
    vocab = head(np.zeros(c.d_model, np.float32)).shape[-1]
    rng = np.random.default_rng(0)
    result = {}
    for context in contexts:
        samples = []
        for _ in range(runs):
            cache = KVCache(c.n_layer, c.n_kv, c.d_head, context + steps)
            with blas_threads_for(context):
                model.step(rng.integers(0, vocab, size=context), keep, cache)
            with blas_threads_for(1):
                start = time.perf_counter()
                for token in rng.integers(0, vocab, size=steps):
                    hidden, _ = model.step(np.asarray([token]), keep, cache)
                    head(hidden[-1])
                samples.append((time.perf_counter() - start) / steps)
        result[context] = statistics.median(samples)
        measure.log(f"  context {context}: {result[context] * 1e3:.1f} ms per token")
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run, fewer steps: a smoke test")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    folder = models.gpt2_4096()
    measure.log(f"model: {folder} (GPT-2 small's shape: 12 layers, 768 wide, 12 heads)")
    measure.log("--generate 64, whole command:")
    whole = whole_runs(folder, runs, 64)
    measure.log("scratch cost per generated token:")
    tokens = per_token(folder, (128, 1024), 8 if args.quick else 32, runs)
    ratio_engines = whole["scratch"] / whole["hf"]
    ratio_context = tokens[1024] / tokens[128]
    print("| benchmark | attnviz | reference | ratio | target |")
    print("|---|--:|--:|--:|--:|")
    print(f"| `show SEED --generate 64` scratch vs hf (GPT-2-small shape) | {whole['scratch']:.2f} s "
          f"| {whole['hf']:.2f} s | {ratio_engines:.2f}× | ≤ 0.5× |")  # fmt: skip
    print(f"| scratch per generated token, 1,024-token context vs 128 | {tokens[1024] * 1e3:.1f} ms "
          f"| {tokens[128] * 1e3:.1f} ms | {ratio_context:.2f}× | ≤ 4× |")  # fmt: skip
    return 0 if ratio_engines <= 0.5 and ratio_context <= 4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
