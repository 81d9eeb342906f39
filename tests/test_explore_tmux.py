"""The installed `attnviz explore` in a real terminal: tmux runs it, send-keys types, capture-pane reads."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_startup import clean_env, entry_point

pytestmark = pytest.mark.slow

SEED = "The cat sat on the mat because it was comfortable"


class Tmux:
    """One tmux server of our own (its own socket), one pane."""

    def __init__(self, folder: Path) -> None:
        self.socket = f"attnviz-test-{os.getpid()}"
        self.folder = folder

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=clean_env(), timeout=30
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "explore")

    def wait_for(self, *texts: str, timeout: float = 90) -> str:
        """The screen once it shows every one of `texts` (a frame can be drawn in parts)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} never all appeared; the screen:\n{screen}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing: .ci/run installs it")
        pytest.skip("tmux is not installed")
    server = Tmux(tmp_path)
    yield server
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.mark.parametrize("piped", [False, True], ids=["argument", "stdin"])
def test_explore_draws_moves_and_quits_with_0_in_a_real_terminal(tmux: Tmux, tmp_path: Path, piped: bool) -> None:
    status = tmp_path / "status"
    explore = f"{shlex.quote(entry_point())} explore"
    run = f"printf %s {shlex.quote(SEED)} | {explore} -" if piped else f"{explore} {shlex.quote(SEED)}"
    command = f"{run}; echo $? > {shlex.quote(str(status))}"
    tmux("new-session", "-d", "-s", "explore", "-x", "80", "-y", "24", "-c", str(tmp_path), command)
    screen = tmux.wait_for("6 layers × 12 heads, 12 tokens", " L0 H0 ", "▕▀▀▀▀▀▏")
    assert screen.splitlines()[0].startswith(" L0 H0")
    assert screen.splitlines()[5].startswith("L0▕▀▀▀▀▀▏")  # the cursor's frame around L0 H0
    tmux("send-keys", "-t", "explore", "Right", "Right", "Down")
    tmux.wait_for(" L1 H2 ")
    tmux("send-keys", "-t", "explore", "Enter")
    tmux.wait_for("query 1 'The'", "The▶")  # the query's row marked in the heatmap
    tmux("send-keys", "-t", "explore", "Down")
    tmux.wait_for("query 2 'cat'")
    tmux("send-keys", "-t", "explore", "q")
    end = time.monotonic() + 30
    while not status.exists() and time.monotonic() < end:
        time.sleep(0.1)
    assert status.read_text().strip() == "0"
