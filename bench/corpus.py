"""Corpus benchmark: `stats --corpus` on MiniLM, scratch engine vs hf engine, and memory at 10×.

    python bench/corpus.py [--lines 1000] [--big 10000] [--workers N] [--skip-big]

Writes deterministic sentences of 10–30 words to bench/out/, runs each configuration as its own
process (bench/measure.py: wall time from spawn to exit, peak RSS) and prints sentences per
second, the scratch/hf throughput ratio (target ≥ 3×) and the peak-memory ratio of --big lines
to --lines lines with the scratch engine (target ≤ 1.1×).

Both engines run as `stats --corpus` runs them: each worker process gets its share of the cores
as threads (BLAS for scratch, torch for hf), so `--workers 1` uses every core for both.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from measure import ATTNVIZ, GB, OUT, PYTHON, log, run_once, shown  # bench/measure.py, beside this file

# the installed entry point, or the package itself where there is none (a bare machine, PYTHONPATH)
COMMAND = [ATTNVIZ] if Path(ATTNVIZ).exists() else [PYTHON, "-m", "attnviz"]

SUBJECTS = ["the cat", "a small dog", "the old farmer", "my sister", "the committee", "our teacher",
            "the engineers", "a tired student", "the city council", "the trophy", "her brother"]  # fmt: skip
VERBS = ["saw", "followed", "thanked", "ignored", "praised", "carried", "watched", "helped", "called", "found",
         "visited", "painted", "built", "questioned", "admired"]  # fmt: skip
OBJECTS = ["the suitcase", "a heavy box", "the mat", "the neighbours", "an old bridge", "the letter", "the garden",
           "the tall tree", "a red car", "the children", "the museum", "the market", "a quiet village"]  # fmt: skip
TAILS = ["because it was late", "before the storm began", "after they had eaten", "while he was waiting",
         "although she was tired", "when the bell rang", "since it seemed important", "until the lights went out",
         "in the morning", "near the station", "with great care", "for the second time"]  # fmt: skip


def sentence(rng: random.Random) -> str:
    """A sentence of 10 to 30 words: clauses joined with "and" until the drawn length is reached."""
    target = rng.randint(10, 30)
    words: list[str] = []
    while len(words) < target:
        clause = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}".split()
        words += (["and"] if words else []) + clause
    words = words[:target]
    return " ".join(words).capitalize() + "."


def corpus(lines: int) -> Path:
    """bench/out/corpus_<lines>.txt, the same sentences on every run (seed 0)."""
    path = OUT / f"corpus_{lines}.txt"
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        rng = random.Random(0)
        path.write_text("\n".join(sentence(rng) for _ in range(lines)) + "\n", encoding="utf-8")
    return path


def measure(lines: int, engine: str, workers: int, model: str) -> tuple[float, int]:
    argv = [*COMMAND, "stats", "--corpus", str(corpus(lines)), "--json", "--model", model, "--engine", engine,
            "--workers", str(workers)]  # fmt: skip
    log(f"running {shown(argv)}")
    wall, peak, _ = run_once(argv)
    log(f"  {wall:.2f} s, {lines / wall:.1f} sentences/s, peak {peak / GB:.3f} GB")
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=1, help="for the throughput runs (memory runs use 1)")
    parser.add_argument("--skip-big", action="store_true", help="skip the --big memory run")
    parser.add_argument("--model", default="minilm", help="minilm (packaged) or a folder holding MiniLM")
    args = parser.parse_args()

    scratch, scratch_peak = measure(args.lines, "scratch", args.workers, args.model)
    hf, _ = measure(args.lines, "hf", args.workers, args.model)
    ratio = hf / scratch
    print(f"stats --corpus, {args.lines} sentences of 10-30 words, {args.model}, --workers {args.workers}")
    print(f"  scratch: {args.lines / scratch:.1f} sentences/s ({scratch:.1f} s)")
    print(f"  hf:      {args.lines / hf:.1f} sentences/s ({hf:.1f} s)")
    print(f"  scratch throughput / hf throughput: {ratio:.2f}x (target >= 3x) {'pass' if ratio >= 3 else 'FAIL'}")
    if args.skip_big:
        return
    if args.workers != 1:
        _, scratch_peak = measure(args.lines, "scratch", 1, args.model)
    _, big_peak = measure(args.big, "scratch", 1, args.model)
    growth = big_peak / scratch_peak
    print(f"  peak memory, scratch, --workers 1: {args.lines} lines {scratch_peak / GB:.3f} GB, "
          f"{args.big} lines {big_peak / GB:.3f} GB: {growth:.3f}x (target <= 1.1x) "
          f"{'pass' if growth <= 1.1 else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    main()
