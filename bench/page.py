"""The interactive HTML page (`-o FILE.html`): its size, its precision, and how fast it draws.

    python bench/page.py [--runs N]

1. Seed sentence, all 72 MiniLM heads: the page's size (target ≤ 300 kB) against the .npz
   of the same extraction, and every weight the page decodes in Chromium
   (`window.attnviz.weight`) against the .npz (target: within 2e-3).
2. 512 tokens (bench/models.py's exact text), all 72 heads: the page's size (target ≤ 25 MB),
   every weight again, and navigation to a drawn model view in headless Chromium (the page's
   own `window.attnviz.drawnAt`, milliseconds from navigation start; median of N loads;
   target ≤ 3 s). Hovering a token in the head view is timed too (lines drawn, in the page).
3. Writing the page against writing the PNG grid of the same heads, whole processes alternated
   (bench/measure.py's run_once): the ratio is information, not a target.

Needs Debian's Chromium (/usr/bin/chromium) and the test extra's playwright.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import models
import numpy as np
from measure import ATTNVIZ, OUT, SEED, log, run_once

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pagecheck import ARGS, chromium_path

HEAD_JS = """([layer, head]) => {
  const a = window.attnviz, out = new Array(a.tokens.length * a.keyTokens.length);
  for (let q = 0; q < a.tokens.length; q++)
    for (let k = 0; k < a.keyTokens.length; k++) out[q * a.keyTokens.length + k] = a.weight(layer, head, q, k);
  return out;
}"""

HOVER_JS = """() => {
  const index = Math.min(100, window.attnviz.tokens.length - 1);
  const hit = document.querySelector(`#view-head rect.hit[data-side=q][data-index='${index}']`);
  const start = performance.now();
  hit.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
  return [performance.now() - start, document.querySelectorAll("#view-head line").length];
}"""


def load_times(browser, path: Path, runs: int) -> tuple[list[float], float, tuple[float, int]]:
    """(ms to the drawn model view per load, the weights' largest error, (hover ms, lines))."""
    from attnviz.attention import Attention

    times, error, hover = [], 0.0, (0.0, 0)
    attn = Attention.load(path.with_suffix(".npz"))
    for run in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 860}, offline=True)
        page = context.new_page()
        page.goto(path.resolve().as_uri())
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=120_000)
        times.append(page.evaluate("window.attnviz.drawnAt"))
        if run == 0:
            for i, layer in enumerate(attn.layers):  # head by head: 18.9 M numbers at once would not cross
                for j, head in enumerate(attn.heads):
                    decoded = np.array(page.evaluate(HEAD_JS, [layer, head])).reshape(attn.weights.shape[2:])
                    error = max(error, float(np.abs(decoded - attn.weights[i, j]).max()))
            page.click("button.thumb[aria-label='L5 H11']")
            hover = tuple(page.evaluate(HOVER_JS))
        context.close()
    return times, error, hover


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = OUT / "html"
    folder.mkdir(parents=True, exist_ok=True)
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("bench: no Chromium (apt-get install chromium)")
    long_text = models.exact_text(models.minilm_dir(), 512)
    cases = {"seed": ["show", SEED], "512 tokens": ["show", "--file", str(long_text)]}
    limits = {"seed": (300e3, 2e-3), "512 tokens": (25e6, 2e-3)}
    rows, write = [], {}
    for name, argv in cases.items():
        stem = folder / name.replace(" ", "-")
        page, npz, png = stem.with_suffix(".html"), stem.with_suffix(".npz"), stem.with_suffix(".png")
        log(f"{name}: writing the page and the .npz")
        run_once([ATTNVIZ, *argv, "--save", str(npz), "-o", str(page)])
        html_times, png_times = [], []
        for _ in range(args.runs):  # alternated, so that a busy moment hits both
            html_times.append(run_once([ATTNVIZ, *argv, "-o", str(page)])[0])
            png_times.append(run_once([ATTNVIZ, *argv, "-o", str(png)])[0])
        write[name] = (statistics.median(html_times), statistics.median(png_times))
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            times, error, hover = load_times(browser, page, args.runs)
            browser.close()
        size = page.stat().st_size
        max_size, max_error = limits[name]
        rows.append((name, size, npz.stat().st_size, max_size, error, max_error, statistics.median(times), hover))

    print("| benchmark | subject | reference | ratio | target | result |")
    print("|---|--:|--:|--:|--:|---|")
    for name, size, npz_size, max_size, error, max_error, drawn_ms, (hover_ms, lines) in rows:
        print(
            f"| {name}: page size (72 heads) | {size / 1e3:,.1f} kB | .npz {npz_size / 1e3:,.1f} kB "
            f"| {size / npz_size:.2f}× | ≤ {max_size / 1e3:,.0f} kB | {'pass' if size <= max_size else 'FAIL'} |"
        )
        print(
            f"| {name}: largest weight error in the page | {error:.2e} | | | ≤ {max_error:g} "
            f"| {'pass' if error <= max_error else 'FAIL'} |"
        )
        target = 3000 if name == "512 tokens" else None
        verdict = "info" if target is None else ("pass" if drawn_ms <= target else "FAIL")
        print(
            f"| {name}: navigation to drawn model view (Chromium) | {drawn_ms:,.0f} ms | | "
            f"| {'≤ 3,000 ms' if target else '—'} | {verdict} |"
        )
        print(f"| {name}: hover a token, head view L5 H11 | {hover_ms:.1f} ms, {lines} lines | | | — | info |")
        html_s, png_s = write[name]
        print(
            f"| {name}: `show -o page.html` vs `show -o grid.png` | {html_s:.2f} s | {png_s:.2f} s "
            f"| {html_s / png_s:.2f}× | — | info |"
        )


if __name__ == "__main__":
    main()
