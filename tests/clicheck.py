"""Helpers for the robustness tests: run the CLI and check that a failure is one clean line."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.cells import cell_len
from typer.testing import CliRunner, Result

from attnviz.cli import app

# Every escape that could reach a terminal: ESC, CSI as one C1 byte, BEL (ends OSC), and the
# other C0/C1 controls except newline.
TERMINAL_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colour codes rich itself writes when colour is forced


def invoke(args: Sequence[str], *, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """Run `attnviz ARGS` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, list(args), input=input, env=env, prog_name="attnviz")


def run_module(
    args: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m attnviz ARGS` in a real subprocess; stdout is a pipe, not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "attnviz", *args],
        capture_output=True,
        cwd=cwd,
        env=subprocess_env(env),
        timeout=timeout,
    )


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "COLUMNS", "ATTNVIZ_DEBUG")}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(extra or {})
    return env


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not warnings."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("warning: ")]


def assert_clean_error(result: Result, code: int, message: str | None = None, *, prefix: str | None = None) -> str:
    """Exit `code`, nothing on stdout, and exactly one readable `error: …` line on stderr."""
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.exit_code, result.stderr)
    return check_error_text(result.stderr, result.stdout, message, prefix=prefix)


def check_error_text(stderr: str, stdout: str, message: str | None = None, *, prefix: str | None = None) -> str:
    assert stdout == "", stdout
    assert "Traceback" not in stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "internal error" not in line, line
    assert not TERMINAL_CONTROL.search(line), repr(line)
    if message is not None:
        assert line == f"error: {message}"
    if prefix is not None:
        assert line.startswith(f"error: {prefix}"), line
    return line


def snapshot(folder: Path) -> set[str]:
    """Every name in `folder`, hidden temporary files included."""
    return {p.name for p in folder.iterdir()}


def run(
    args: list[str], *, width: int = 80, env: dict[str, str | None] | None = None, input: str | None = None
) -> Result:
    """The CLI in-process at a fixed width, colour decided by a non-terminal stdout."""
    base: dict[str, str | None] = {
        "COLUMNS": str(width),
        "NO_COLOR": None,
        "FORCE_COLOR": None,
        "TTY_COMPATIBLE": None,
        "TTY_INTERACTIVE": None,
        "ATTNVIZ_DEBUG": None,
    }
    return CliRunner().invoke(app, args, env={**base, **(env or {})}, input=input, prog_name="attnviz")


def ok(result: Result) -> str:
    """stdout of a run that must succeed; otherwise the assertion shows both streams."""
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def widest(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])
