"""attnviz's benchmark suite: every benchmark, its reference measured in the same run, one table.

Usage: python bench/run.py [--repeat N] [--quick] [--only NAME[,NAME…]] [--write | --no-write]

Each measurement is a whole process, timed by wall clock from spawn to exit; its peak memory is
the maximum RSS of that very process (its own children included), read by GNU time (or a bare
forker), so one measurement never sees another's nor this runner's. Every command runs once
untimed first (file cache, .pyc), then subject and reference alternate; the table shows medians.
Subjects run as if on a 120-column truecolor terminal (FORCE_COLOR, COLORTERM, COLUMNS), with
stdout sent to /dev/null.

Exit status: 0 all targets met, 1 a target missed, 2 a command failed (its stderr is printed).
The table goes to stdout and, for a full run (no --only, no --quick), into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import models  # bench/models.py, beside this file
from measure import (  # bench/measure.py: timing and peak memory of one process
    ATTNVIZ,
    FLOORS,
    GB,
    OUT,
    PEAK_METHOD,
    PYTHON,
    ROOT,
    SEED,
    CommandFailed,
    Row,
    Samples,
    log,
    run_once,
    shown,
)

# --- benchmarks --------------------------------------------------------------------------------


@dataclass
class Bench:
    group: str
    name: str
    title: str
    subject: Callable[[], list[str]] | None = None  # argv, built after setup
    reference: Callable[[], list[str]] | None = None
    ref_title: str = ""
    max_ratio: float | None = None  # subject median / reference median
    max_peak: float | None = None  # bytes, subject only
    repeat: int = 5
    warm_files: Callable[[], list[Path]] | None = None  # warm by reading these, not by a run
    setup: Callable[[], None] | None = None
    check: Callable[[], None] | None = None  # after the runs: the output is what we think
    custom: Callable[[int], list[Row]] | None = None

    def matches(self, word: str) -> bool:
        """--only picks by number (7), name (gpt2-4096-hf) or name prefix (gpt2-4096)."""
        return word in (self.group, self.name) or self.name.startswith(word + "-")


class Fixtures:
    """Models, texts and saved extractions the benchmarks read; built once, cached on disk."""

    def __init__(self) -> None:
        self._done: dict[str, object] = {}

    def _once(self, key: str, make: Callable[[], object]) -> object:
        if key not in self._done:
            self._done[key] = make()
        return self._done[key]

    def _helper(self, *args: str) -> Path:
        log(f"  setup: python bench/models.py {' '.join(args)}")
        _, _, out = run_once([PYTHON, str(Path(__file__).with_name("models.py")), *args], stdout="capture")
        return Path(out.strip().splitlines()[-1])

    def bert(self) -> Path:
        return self._once("bert", lambda: self._helper("bert"))

    def gpt2(self) -> Path:
        return self._once("gpt2", lambda: self._helper("gpt2"))

    def text(self, tokenizer_dir: Path, n: int) -> Path:
        return self._once(f"text{tokenizer_dir}{n}", lambda: self._helper("text", str(tokenizer_dir), str(n)))

    def seed_npz(self) -> Path:
        def make() -> Path:
            path = OUT / "seed.npz"
            log("  setup: attnviz show SEED --save bench/out/seed.npz")
            run_once([ATTNVIZ, "show", SEED, "--save", str(path)])
            return path

        return self._once("seed", make)

    def head512_npz(self) -> Path:
        def make() -> Path:
            path = OUT / "minilm-512-L0H0.npz"
            text = self.text(models.minilm_dir(), 512)
            log("  setup: attnviz show --file TEXT512 --layer 0 --head 0 --save bench/out/minilm-512-L0H0.npz")
            run_once([ATTNVIZ, "show", "--file", str(text), "--layer", "0", "--head", "0", "--save", str(path)])
            return path

        return self._once("head512", make)


def floor(name: str, *args: str) -> list[str]:
    path = FLOORS / name
    if not path.is_file():
        raise SystemExit(f"bench: the reference script {path} is missing")
    return [PYTHON, str(path), *args]


def npz_tokens(path: Path) -> int:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return len(data["tokens"])


def expect_file(path: Path) -> Callable[[], None]:
    def check() -> None:
        if not path.is_file() or path.stat().st_size == 0:
            raise SystemExit(f"bench: {path} was not written")

    return check


def suite(fx: Fixtures) -> list[Bench]:
    bert_npz = {e: OUT / f"bert512-{e}.npz" for e in ("scratch", "hf")}
    gpt2_png = {e: OUT / f"gpt2-4096-{e}.png" for e in ("scratch", "hf")}

    def bert_cmd(engine: str) -> list[str]:
        text = fx.text(fx.bert(), 512)
        return [ATTNVIZ, "show", "--file", str(text), "--model", str(fx.bert()), "--engine", engine,
                "--max-tokens", "512", "--save", str(bert_npz[engine])]  # fmt: skip

    def bert_check() -> None:
        for engine, path in bert_npz.items():
            if npz_tokens(path) != 512:
                raise SystemExit(f"bench: {path} holds {npz_tokens(path)} tokens, not 512 ({engine})")

    def gpt2_cmd(engine: str) -> list[str]:
        text = fx.text(fx.gpt2(), 4096)
        return [ATTNVIZ, "show", "--file", str(text), "--model", str(fx.gpt2()), "--engine", engine,
                "--layer", "11", "-o", str(gpt2_png[engine])]  # fmt: skip

    def gpt2_files() -> list[Path]:
        return [fx.gpt2() / "model.safetensors", fx.text(fx.gpt2(), 4096)]

    floor_grid_png, grid_png = OUT / "grid-floor.png", OUT / "grid.png"
    benches = [
        Bench("1", "help", "attnviz --help",
              subject=lambda: [ATTNVIZ, "--help"],
              reference=lambda: [PYTHON, "-c", "import typer, rich"], ref_title="import typer, rich",
              max_ratio=2.0),
        Bench("2", "show-scratch", "show SEED (scratch)",
              subject=lambda: [ATTNVIZ, "show", SEED],
              reference=lambda: floor("floor_transformers.py"), ref_title="floor_transformers.py",
              max_ratio=0.15),
        Bench("3", "show-hf", "show SEED --engine hf",
              subject=lambda: [ATTNVIZ, "show", SEED, "--engine", "hf"],
              reference=lambda: floor("floor_transformers.py"), ref_title="floor_transformers.py",
              max_ratio=1.10),
        Bench("4", "load", "show --load seed.npz",
              subject=lambda: [ATTNVIZ, "show", "--load", str(fx.seed_npz())],
              reference=lambda: floor("floor_transformers.py"), ref_title="floor_transformers.py",
              max_ratio=0.10, setup=fx.seed_npz),
        Bench("5", "grid", "show SEED -o grid.png (72 heads)",
              subject=lambda: [ATTNVIZ, "show", SEED, "-o", str(grid_png)],
              reference=lambda: floor("floor_matplotlib_grid.py", str(floor_grid_png)),
              ref_title="floor_matplotlib_grid.py", max_ratio=0.25, check=expect_file(grid_png)),
        Bench("6", "bert512", "BERT-base 512 tok → .npz, scratch",
              subject=lambda: bert_cmd("scratch"), reference=lambda: bert_cmd("hf"),
              ref_title="same, --engine hf", max_ratio=1.5, repeat=3, check=bert_check),
        Bench("7", "gpt2-4096-scratch", "GPT-2 4096 tok --layer 11 -o, scratch",
              subject=lambda: gpt2_cmd("scratch"), max_peak=4 * GB, repeat=1, warm_files=gpt2_files,
              check=expect_file(gpt2_png["scratch"])),
        Bench("7", "gpt2-4096-hf", "GPT-2 4096 tok --layer 11 -o, hf",
              subject=lambda: gpt2_cmd("hf"), max_peak=4 * GB, repeat=1, warm_files=gpt2_files,
              check=expect_file(gpt2_png["hf"])),
        Bench("8", "render", "terminal rendering alone", custom=lambda n: render_rows(fx, n), repeat=10),
    ]  # fmt: skip
    return benches


def render_rows(fx: Fixtures, repeat: int) -> list[Row]:
    """Benchmark 8: in-process times from bench/render_only.py (one process, no model)."""
    script = str(Path(__file__).with_name("render_only.py"))
    argv = [PYTHON, script, str(fx.seed_npz()), str(fx.head512_npz()), str(repeat)]
    log(f"  run: {shown(argv)}")
    _, peak, out = run_once(argv, stdout="capture")
    result = json.loads(out)
    rows = []
    for key, title in (("overview", "Overview of 72 heads (seed .npz)"), ("heatmap", "Heatmap, 1 head × 512 tokens")):
        samples = Samples()
        for t in result[key]["times"]:
            samples.add(t, peak)
        rows.append(Row("8", f"{title}, in-process", samples, target="— (info)"))
    return rows


def measure(bench: Bench, repeat: int, seen: dict[str, list[str]]) -> list[Row]:
    if bench.setup is not None:
        bench.setup()
    if bench.custom is not None:
        return bench.custom(repeat)
    subject = bench.subject()
    reference = bench.reference() if bench.reference is not None else None
    seen[bench.name] = [shown(subject)] + ([shown(reference)] if reference else [])
    commands = [("subject", subject)] + ([("reference", reference)] if reference else [])
    if bench.warm_files is not None:
        for path in bench.warm_files():
            with path.open("rb") as handle:
                while handle.read(1 << 24):
                    pass
        log("  warm-up: read the model and text files")
    else:
        for role, argv in commands:
            log(f"  warm-up {role}: {shown(argv)}")
            run_once(argv)
    results = {role: Samples() for role, _ in commands}
    for i in range(repeat):
        order = commands if i % 2 == 0 else commands[::-1]  # alternate who goes first
        for role, argv in order:
            wall, peak, _ = run_once(argv)
            results[role].add(wall, peak)
            log(f"  {i + 1}/{repeat} {role}: {wall:.3f} s, {peak / 1e6:.0f} MB")
    if bench.check is not None:
        bench.check()
    row = Row(bench.group, bench.title, results["subject"], results.get("reference"), bench.ref_title)
    passed = []
    if bench.max_ratio is not None and row.reference is not None:
        row.ratio = row.subject.median / row.reference.median
        passed.append(row.ratio <= bench.max_ratio)
        row.target = f"≤ {bench.max_ratio:g}×"
    if bench.max_peak is not None:
        passed.append(row.subject.peak < bench.max_peak)
        row.target = f"peak < {bench.max_peak / GB:g} GB"
    row.status = ("pass" if all(passed) else "FAIL") if passed else "info"
    return [row]


# --- the report --------------------------------------------------------------------------------


def seconds(x: float) -> str:
    if x >= 100:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    if x >= 0.001:
        return f"{x:.3f}"
    return f"{x:.5f}"


HEADER = (
    "#", "benchmark", "median s", "min s", "max s", "peak MB",
    "reference", "ref median s", "ref min–max s", "ref peak MB", "ratio", "target", "result",
)  # fmt: skip


def cells(row: Row) -> list[str]:
    s, r = row.subject, row.reference
    return [
        row.group,
        row.title,
        seconds(s.median) if s else "—",
        seconds(min(s.times)) if s else "—",
        seconds(max(s.times)) if s else "—",
        f"{s.peak / 1e6:.0f}" if s else "—",
        row.ref_title or "—",
        seconds(r.median) if r else "—",
        f"{seconds(min(r.times))}–{seconds(max(r.times))}" if r else "—",
        f"{r.peak / 1e6:.0f}" if r else "—",
        f"{row.ratio:.3f}×" if row.ratio is not None else "—",
        row.target,
        f"**{row.status}**" if row.status in ("FAIL", "ERROR") else row.status,
    ]


def table(rows: list[Row]) -> str:
    body = [list(HEADER)] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADER))]
    numeric = {0, 2, 3, 4, 5, 7, 8, 9, 10}

    def fmt(line: list[str]) -> str:
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in numeric else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(body[0]), rule, *(fmt(line) for line in body[1:])])


def machine() -> list[str]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    mem = first("/proc/meminfo", "MemTotal")
    ram = f"{int(mem.split()[0]) / 2**20:.1f} GiB" if mem != "unknown" else mem
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    libs = ", ".join(
        f"{d} {version(d)}"
        for d in ("torch", "transformers", "tokenizers", "safetensors", "numpy", "matplotlib", "rich", "typer")
    )
    return [
        f"- CPU: {first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores ({usable} usable)",
        f"- RAM: {ram}; load average at start: {load}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()} ({PYTHON.replace(str(ROOT) + '/', '')})",
        f"- {libs}",
        f"- attnviz {version('attnviz')}, {git_state()}",
    ]


def git_state() -> str:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


def report(
    rows: list[Row],
    benches: list[Bench],
    seen: dict[str, list[str]],
    started: dt.datetime,
    machine_lines: list[str],
    args: str,
) -> str:
    missed = [r for r in rows if r.status in ("FAIL", "ERROR")]
    commands = []
    for b in benches:
        if b.custom is not None:
            commands.append(
                f"- {b.group} `{b.name}`: `python bench/render_only.py bench/out/seed.npz "
                "bench/out/minilm-512-L0H0.npz N` (Overview and Heatmap onto "
                '`Console(file=io.StringIO(), width=120, color_system="truecolor")`)'
            )
            continue
        ran = seen.get(b.name)
        if not ran:
            commands.append(f"- {b.group} `{b.name}`: (did not run)")
            continue
        line = f"- {b.group} `{b.name}`: `{ran[0]}`"
        if len(ran) > 1:
            line += f"  \n  reference: `{ran[1]}`"
        commands.append(line)
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `python bench/run.py` (do not edit by hand; rerun it). "
            f"Run on {started:%Y-%m-%d %H:%M} UTC, `{args}`.",
            "",
            "## Machine",
            "",
            *machine_lines,
            "",
            "## Method",
            "",
            "Each number is a whole process, wall clock from spawn to exit. Peak memory is the "
            f"maximum RSS of that one process (children included), by {PEAK_METHOD}, so "
            "measurements never share it. Every command runs once untimed first (file cache; for "
            "7 the model and text files are read instead of a full run), then subject and "
            "reference alternate, which one goes first switching each round; the table shows "
            "medians, and ratios are subject median / reference median from the same run. Peak "
            "MB is the largest over the runs (1 MB = 10⁶ bytes). Subjects run as on a "
            "120-column truecolor terminal (`FORCE_COLOR=1 COLORTERM=truecolor COLUMNS=120`), "
            "stdout to /dev/null. The machine is shared and noisy: trust medians, not single "
            "runs. Benchmark 8 times rendering in one process (first draw untimed).",
            "",
            "## Results",
            "",
            table(rows),
            "",
            ("Missed: " + "; ".join(f"{r.group} {r.title} ({r.status})" for r in missed) + ".")
            if missed
            else "Every target met.",
            "",
            "## Commands",
            "",
            "Paths are relative to the repository; bench/out/ holds the built models "
            "(bench/models.py, cached by their parameters) and the outputs.",
            "",
            *commands,
            "",
        ]
    )


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, help="timed runs per command (default 5; 3 for 6, 1 for 7, 10 for 8)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 timed runs, 1 for the slow ones")
    parser.add_argument("--only", action="append", default=[], help="names or numbers, comma-separated")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, help="write BENCHMARKS.md")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not Path(ATTNVIZ).is_file():
        parser.error(f"no attnviz entry point next to {PYTHON}: run with the venv's python")

    fx = Fixtures()
    benches = suite(fx)
    if args.list:
        for b in benches:
            print(f"{b.group}  {b.name:<20} {b.title}")
        return 0
    wanted = {w.strip() for item in args.only for w in item.split(",") if w.strip()}
    if wanted:
        chosen = [b for b in benches if any(b.matches(w) for w in wanted)]
        unknown = [w for w in wanted if not any(b.matches(w) for b in benches)]
        if unknown:
            parser.error(f"unknown benchmark {', '.join(sorted(unknown))} (see --list)")
        benches = chosen
    write = args.write if args.write is not None else not (wanted or args.quick)

    started = dt.datetime.now(dt.timezone.utc)
    machine_lines = machine()
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    failed = False
    seen: dict[str, list[str]] = {}  # benchmark name -> the commands it ran, for the report
    for bench in benches:
        repeat = args.repeat or (min(2, bench.repeat) if args.quick and bench.repeat > 1 else bench.repeat)
        if args.quick and args.repeat is None and bench.group in ("6", "7"):
            repeat = 1
        log(f"[{bench.group}] {bench.title} ({repeat} timed run{'s' if repeat > 1 else ''})")
        try:
            rows += measure(bench, repeat, seen)
        except CommandFailed as exc:
            failed = True
            log(f"bench: {bench.name}: command failed, {exc}\n--- its stderr ---\n{exc.stderr.rstrip()}\n---")
            rows.append(Row(bench.group, bench.title, status="ERROR", target="command failed"))
    text = table(rows)
    print(text)
    if write:
        argv = "python bench/run.py" + ("" if len(sys.argv) == 1 else " " + shlex.join(sys.argv[1:]))
        (ROOT / "BENCHMARKS.md").write_text(report(rows, benches, seen, started, machine_lines, argv), encoding="utf-8")
        log("wrote BENCHMARKS.md")
    if failed:
        log("bench: a command failed (see its stderr above)")
        return 2
    missed = [r for r in rows if r.status == "FAIL"]
    if missed:
        log("bench: target missed: " + "; ".join(f"{r.group} {r.title}" for r in missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
