"""Every command the README shows runs as written, through a shell, in a fresh folder."""

from __future__ import annotations

import itertools
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clicheck import subprocess_env

ROOT = Path(__file__).parent.parent
SEED = "The cat sat on the mat because it was comfortable"


def readme_commands() -> list[str]:
    """The attnviz lines of the README's sh blocks; '…' is the seed sentence; the set-up
    lines keep only their last step (the install itself is what .ci/run does)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if "attnviz" not in line:
                continue
            if line.startswith("python3 -m venv"):
                line = line.split("&&")[-1].strip().removeprefix(".venv/bin/")
            lines.append(line.replace("…", SEED))
    return lines


def variants(line: str) -> list[str]:
    """`[--json]` and `[--fusion mean|max|min]` are optional: the line without them, and with
    each alternative of each."""
    options = re.findall(r" \[([^\]]+)\]", line)
    bare = re.sub(r" \[[^\]]+\]", "", line)
    out = [bare]
    for option in options:
        head, _, alternatives = option.rpartition(" ")
        choices = alternatives.split("|") if "|" in alternatives else [alternatives]
        for choice in choices:
            out.append(bare + " " + (f"{head} {choice}" if head else choice))
    return out


COMMANDS = [v for line in readme_commands() for v in variants(line)]


def test_the_readme_shows_every_command() -> None:
    names = {re.search(r"attnviz (\w+)", c).group(1) for c in COMMANDS}
    assert names >= {"show", "compare", "find", "stats", "rollout", "explain", "verify", "explore"}
    assert any("--diff" in c for c in COMMANDS)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2: Path) -> Path:
    """A fresh folder holding what the README's commands name: the samples, ./my-bert, ./my-gpt2,
    ./my-t5 and ./my-marian (six layers each way, as the README's --layer 5 asks)."""
    from conftest import save_tiny_bert, save_tiny_seq2seq

    here = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "sample_texts", here / "sample_texts")
    save_tiny_bert(here / "my-bert")
    shutil.copytree(tiny_gpt2, here / "my-gpt2")
    save_tiny_seq2seq(here / "my-t5", "t5")
    save_tiny_seq2seq(here / "my-marian", "marian", encoder_layers=6, decoder_layers=6)
    return here


def shell_env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return subprocess_env({"PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "COLUMNS": "100"})


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in COMMANDS if "attnviz explore" not in c])
def test_readme_command_runs_as_written(command: str, folder: Path) -> None:
    result = subprocess.run(["bash", "-c", command], cwd=folder, env=shell_env(), capture_output=True, timeout=300)
    assert result.returncode == 0, (command, result.stderr.decode())
    assert result.stdout or re.search(rb"^(wrote|saved) ", result.stderr, re.M), command
    assert b"error:" not in result.stderr and b"Traceback" not in result.stderr
    for name in re.findall(r"-o (\S+)", command) + re.findall(r"--save (\S+)", command):
        assert (folder / name).stat().st_size > 0, name


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in COMMANDS if "attnviz explore" in c])
def test_readme_explore_runs_in_a_terminal(command: str, folder: Path) -> None:
    """explore needs a terminal: run it on a pseudo-terminal, wait for its screen, press q."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell on the terminal
        os.chdir(folder)
        os.execvpe("bash", ["bash", "-c", command], {**shell_env(), "TERM": "xterm-256color"})
    screen, deadline, quit_sent = b"", time.monotonic() + 120, False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(fd, 65536)
                except OSError:
                    break
            if not quit_sent and b"H11" in screen:  # the overview's header is on screen
                os.write(fd, b"q")
                quit_sent = True
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            os.kill(pid, 9)
            pytest.fail(f"explore did not quit: {screen[-2000:]!r}")
        if not done:
            _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert quit_sent and os.waitstatus_to_exitcode(status) == 0


def test_variants_expand_optional_parts() -> None:
    line = "attnviz rollout x --query it [--fusion mean|max|min] [--json]"
    assert variants(line) == [
        "attnviz rollout x --query it",
        "attnviz rollout x --query it --fusion mean",
        "attnviz rollout x --query it --fusion max",
        "attnviz rollout x --query it --fusion min",
        "attnviz rollout x --query it --json",
    ]
    assert list(itertools.chain(variants("attnviz stats x [-o e.png --stat entropy]")))[1].endswith(
        "-o e.png --stat entropy"
    )
