"""Measuring one whole process: wall time from spawn to exit and its own peak RSS.

Shared by every benchmark file in bench/ (run.py and the per-topic ones): import from here,
do not time processes another way, so that all figures in BENCHMARKS.md mean the same thing.
"""

from __future__ import annotations

import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import models  # bench/models.py, beside this file

ROOT = models.ROOT
OUT = models.OUT
FLOORS = ROOT.parent / "shared" / "bench"
PYTHON = sys.executable
ATTNVIZ = str(Path(sys.executable).with_name("attnviz"))
SEED = "The cat sat on the mat because it was comfortable"
TIMEOUT_S = 1800  # one process; a hang fails the benchmark instead of the whole night
TERMINAL_ENV = {"FORCE_COLOR": "1", "COLORTERM": "truecolor", "COLUMNS": "120", "LINES": "40"}
GB = 1e9


# --- measuring one process -------------------------------------------------------------------


class CommandFailed(Exception):
    def __init__(self, argv: list[str], code: int, stderr: str) -> None:
        super().__init__(f"exit {code}: {shown(argv)}")
        self.argv, self.code, self.stderr = argv, code, stderr


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return {**env, **TERMINAL_ENV}


# ru_maxrss counts what a process held before exec too, and subprocess forks with vfork, so a
# child of this runner starts at the runner's own RSS. A tiny forker in between (GNU time, or a
# bare `python -S` that only forks) keeps that out: the measured process starts from its RSS.
_FORKER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    try:\n"
    "        os.execvp(sys.argv[2], sys.argv[2:])\n"
    "    finally:\n"
    "        os._exit(127)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status) % 256)\n"
)


def _gnu_time() -> bool:
    try:
        with tempfile.NamedTemporaryFile("r") as f:
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name, "true"], check=True, capture_output=True)
            return f.read().strip().isdigit()
    except (OSError, subprocess.CalledProcessError):
        return False


GNU_TIME = _gnu_time()
PEAK_METHOD = "GNU `/usr/bin/time -f %M`" if GNU_TIME else "`ru_maxrss` from `wait4()` in a bare `python -S` forker"


def _peak_prefix(peak_file: str) -> list[str]:
    if GNU_TIME:
        return ["/usr/bin/time", "-f", "%M", "-o", peak_file]
    return [PYTHON, "-S", "-c", _FORKER, peak_file]


def run_once(argv: list[str], stdout: str = os.devnull) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in bytes, stdout if captured) of one run; CommandFailed on a non-zero exit."""
    with (
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as captured,
        tempfile.NamedTemporaryFile("r") as peak_file,
        open(os.devnull, "wb") as null,
    ):
        out = null if stdout == os.devnull else captured
        full = _peak_prefix(peak_file.name) + argv
        start = time.perf_counter()
        proc = subprocess.Popen(
            full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=_env(), cwd=ROOT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        wall = time.perf_counter() - start
        if code != 0:
            err.seek(0)
            raise CommandFailed(argv, code, err.read().decode("utf-8", "replace"))
        lines = peak_file.read().split()
        if not lines or not lines[-1].isdigit():
            raise CommandFailed(argv, code, f"no peak memory was recorded ({lines!r})")
        captured.seek(0)
        return wall, int(lines[-1]) * 1024, captured.read().decode("utf-8", "replace")


def shown(argv: list[str]) -> str:
    """A command as a person would type it: `attnviz`, `python`, paths relative to the repo."""
    words = []
    for word in argv:
        if word == ATTNVIZ:
            word = "attnviz"
        elif word == PYTHON:
            word = "python"
        else:
            word = word.replace(str(FLOORS) + "/", "../shared/bench/").replace(str(ROOT) + "/", "")
        words.append(word)
    return shlex.join(words)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- results -----------------------------------------------------------------------------------


@dataclass
class Samples:
    times: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)  # bytes

    def add(self, wall: float, peak: int) -> None:
        self.times.append(wall)
        self.peaks.append(peak)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def peak(self) -> int:
        return max(self.peaks)


@dataclass
class Row:
    group: str
    title: str
    subject: Samples | None = None
    reference: Samples | None = None
    ref_title: str = ""
    target: str = "—"
    status: str = "info"  # pass, FAIL, info, ERROR
    ratio: float | None = None
