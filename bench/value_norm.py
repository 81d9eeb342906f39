"""Benchmark: what --measure value-norm costs over the plain weights, per engine.

Usage: python bench/value_norm.py [REPEAT]

Times whole processes (bench/measure.py): `attnviz show TEXT --json` with the default weights
(the reference) and with `--measure value-norm`, on MiniLM, for the seed sentence and the long
sample paragraph, with the scratch and the hf engine; prints a markdown table of medians and
ratios. Target: value-norm within 1.5x of the weights (one extra matrix product per head).
"""

from __future__ import annotations

import sys

from measure import ATTNVIZ, ROOT, SEED, Samples, log, run_once

TARGET = 1.5
LONG = str(ROOT / "sample_texts" / "11_long_paragraph.txt")


def samples(argv: list[str], repeat: int) -> Samples:
    found = Samples()
    run_once(argv)  # warm the page cache and bytecode
    for _ in range(repeat):
        wall, peak, _ = run_once(argv)
        found.add(wall, peak)
    return found


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print("| benchmark | subject | reference | ratio | target | result |")
    print("|---|---|---|---|---|---|")
    for engine in ("scratch", "hf"):
        for name, text in (("seed", [SEED]), ("long paragraph", ["--file", LONG])):
            base = [ATTNVIZ, "show", *text, "--engine", engine, "--json"]
            log(f"value-norm, {engine}, {name}")
            weights = samples(base, repeat)
            norms = samples([*base, "--measure", "value-norm"], repeat)
            ratio = norms.median / weights.median
            print(
                f"| value-norm {engine}, {name} | {norms.median:.2f} s, {norms.peak / 1e6:.0f} MB "
                f"| weights {weights.median:.2f} s, {weights.peak / 1e6:.0f} MB | {ratio:.2f}x | <= {TARGET}x "
                f"| {'pass' if ratio <= TARGET else 'FAIL'} |"
            )


if __name__ == "__main__":
    main()
