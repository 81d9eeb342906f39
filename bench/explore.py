"""`attnviz explore` in a real terminal (tmux): start to the first drawn overview, and key press to the next frame.

    python bench/explore.py [--runs N] [--presses N]

1. Start-up: from spawning `attnviz explore SEED` in a tmux pane to the overview on its screen,
   against `attnviz show SEED` spawned and timed the same way (until its last line is drawn),
   alternated in the same run; target ≤ 1.5×. The `show` process alone (bench/measure.py's
   run_once, no terminal) is printed too, for the ratio against it.
2. Key press to frame with 512 tokens (MiniLM, bench/models.py's exact text): send one key, read
   the pane until it changes; median over the presses, for the head view (↓ moves the query)
   and the overview (→ and ← in turn move the cursor). Aim: < 100 ms. The pane is read every ~2 ms, and one
   read costs a few ms, so the figures are upper bounds by that much.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import time

import models
from measure import ATTNVIZ, ROOT, SEED, log, run_once

SOCKET = f"attnviz-bench-{os.getpid()}"
OVERVIEW = "6 layers × 12 heads"  # the overview's title line


def tmux(*args: str) -> str:
    proc = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def screen(target: str) -> str:
    return tmux("capture-pane", "-p", "-t", target)


def wait_until(target: str, done, timeout: float = 120.0) -> tuple[float, str]:
    """(seconds, screen) once `done(screen)` holds, reading the pane as fast as tmux answers."""
    start = time.perf_counter()
    while True:
        shown = screen(target)
        if done(shown):
            return time.perf_counter() - start, shown
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"the pane never got there; it shows:\n{shown}")
        time.sleep(0.002)


def spawn_and_wait(argv: list[str], marker: str, width: int = 200, height: int = 60) -> float:
    """Seconds from starting `argv` in a fresh pane until `marker` is on its screen."""
    name = f"w{time.monotonic_ns()}"
    command = shlex.join(argv) + "; sleep 30"
    start = time.perf_counter()
    tmux("new-window", "-d", "-n", name, "-t", "bench", command)
    _, _ = wait_until(f"bench:{name}", lambda s: marker in s)
    elapsed = time.perf_counter() - start
    tmux("kill-window", "-t", f"bench:{name}")
    return elapsed


def key_latency(target: str, keys: tuple[str, ...], presses: int) -> list[float]:
    """Seconds from each `send-keys KEY` (cycling through `keys`, so that each one moves
    something) to the first changed screen."""
    times = []
    for i in range(presses):
        key = keys[i % len(keys)]
        before = screen(target)
        start = time.perf_counter()
        tmux("send-keys", "-t", target, key)
        _, _ = wait_until(target, lambda s, before=before: s != before, timeout=30)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="start-ups of each command")
    parser.add_argument("--presses", type=int, default=20, help="key presses per view")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    subprocess.run(
        ["tmux", "-L", SOCKET, "new-session", "-d", "-s", "bench", "-x", "200", "-y", "60"],
        check=True, env={**env, "COLORTERM": "truecolor"}, cwd=ROOT,
    )  # fmt: skip
    tmux("set-option", "-g", "remain-on-exit", "off")
    try:
        explore, show, show_pane = [], [], []
        for i in range(args.runs):
            log(f"start-up {i + 1}/{args.runs}")
            show.append(run_once([ATTNVIZ, "show", SEED])[0])
            explore.append(spawn_and_wait([ATTNVIZ, "explore", SEED], OVERVIEW))
            show_pane.append(spawn_and_wait([ATTNVIZ, "show", SEED], "zoom in"))
        text = models.exact_text(models.minilm_dir(), 512)
        log("512 tokens: opening the explorer")
        tmux("new-window", "-d", "-n", "long", "-t", "bench", shlex.join([ATTNVIZ, "explore", "--file", str(text)]))
        wait_until("bench:long", lambda s: OVERVIEW in s)
        time.sleep(1.0)  # Textual flushes what was typed while it started: let it settle first
        overview = key_latency("bench:long", ("Right", "Left"), args.presses)
        tmux("send-keys", "-t", "bench:long", "Enter")
        wait_until("bench:long", lambda s: "query 1 " in s)
        head = key_latency("bench:long", ("Down",), args.presses)
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)

    pane = statistics.median(explore) / statistics.median(show_pane)
    process = statistics.median(explore) / statistics.median(show)
    ms = {name: 1000 * statistics.median(t) for name, t in (("overview", overview), ("head", head))}
    worst = {name: 1000 * max(t) for name, t in (("overview", overview), ("head", head))}
    print("| benchmark | subject | reference | ratio | target | status |")
    print("|---|--:|--:|--:|--:|---|")
    print(
        f"| start to first drawn overview, SEED: `explore` vs `show`, both spawned in a tmux pane and "
        f"timed until drawn | {statistics.median(explore):.3f} s | {statistics.median(show_pane):.3f} s "
        f"| {pane:.2f}× | ≤ 1.5× | {'pass' if pane <= 1.5 else 'FAIL'} |"
    )
    print(
        f"| the same `explore` against the `show SEED` process alone (no terminal, run_once) "
        f"| {statistics.median(explore):.3f} s | {statistics.median(show):.3f} s | {process:.2f}× | | info |"
    )
    for name, key in (("head view, ↓ (query)", "head"), ("overview, →/← (cursor)", "overview")):
        status = "pass" if ms[key] < 100 else "FAIL"
        print(
            f"| key to next frame, 512 tokens, {name} | {ms[key]:.0f} ms median, {worst[key]:.0f} ms max "
            f"| | | < 100 ms | {status} |"
        )
    print(f"\nruns: {args.runs} start-ups each, {args.presses} presses per view; machine load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
