"""The README's exit-code table, row by row, and a reader that closes the pipe early: exit 0
and silence, every time, for every command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from clicheck import assert_clean_error, invoke, subprocess_env

from attnviz.cli import EPILOG

SEED = "The cat sat on the mat because it was comfortable"
RANDOM = ["--model", "random"]
README = Path(__file__).parent.parent / "README.md"


def readme_codes() -> dict[int, str]:
    section = README.read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n#", 1)[0]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_the_readme_table_and_the_help_epilog_name_the_same_codes() -> None:
    codes = readme_codes()
    assert sorted(codes) == [0, 1, 2, 130]
    assert "a file could not be written" in codes[1] and "a model could not load" in codes[1]
    assert "--tol" in codes[1] and "bad option" in codes[2] and "interrupted" in codes[130]
    assert re.findall(r"(\d+) [a-z]", EPILOG.split(":", 1)[1]) == ["0", "1", "2", "130"]


def test_row_0_success() -> None:
    result = invoke(["show", SEED, *RANDOM, "--json"])
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", SEED, *RANDOM, "-o", "/nonexistent/dir/x.png"],
         "cannot write '/nonexistent/dir/x.png': folder '/nonexistent/dir' does not exist"),
        (["show", SEED, *RANDOM, "--save", "/nonexistent/dir/x.npz"],
         "cannot write '/nonexistent/dir/x.npz': folder '/nonexistent/dir' does not exist"),
        (["stats", SEED, *RANDOM, "-o", "TMP/d.png"], "cannot write 'TMP/d.png': it is a directory"),
    ],
    ids=["image", "save", "directory"],
)  # fmt: skip
def test_row_1_a_file_that_cannot_be_written(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "d.png").mkdir()
    args = [a.replace("TMP", str(tmp_path)) for a in args]
    assert_clean_error(invoke(args), 1, message.replace("TMP", str(tmp_path)))


def test_row_1_a_model_that_cannot_load(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{")
    line = assert_clean_error(invoke(["show", SEED, "--model", str(tmp_path)]), 1)
    assert line.startswith(f"error: cannot load model '{tmp_path}'")


@pytest.mark.slow
def test_row_1_verify_beyond_tol(tiny_gpt2: Path) -> None:
    result = invoke(["verify", SEED, "--model", str(tiny_gpt2), "--tol", "0"])
    assert result.exit_code == 1, result.stderr
    assert re.fullmatch(r"the engines differ by \S+, more than --tol 0\n", result.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", SEED, *RANDOM, "--colour"], "No such option: --colour (Possible options: --no-color) "
                                              "(see 'attnviz show --help')"),
        (["show", SEED, *RANDOM, "--layer", "9"], "layer 9 is out of range: this model has layers 0-3"),
        (["find", SEED, "--from", "it", "--to", "dog"], '"dog" is not in this text: its words are '
         "The, cat, sat, on, mat, because, it, was, comfortable"),
        (["show", "   ", *RANDOM], "the text is empty (give a sentence, --file PATH, or - for stdin)"),
        (["show", SEED, *RANDOM, "-o", "x.gif"],
         "cannot write 'x.gif': unsupported extension '.gif' (use one of .png, .svg, .pdf, .html)"),
    ],
    ids=["bad-option", "bad-layer", "missing-word", "bad-text", "bad-extension"],
)  # fmt: skip
def test_row_2_usage_errors(args: list[str], message: str) -> None:
    assert_clean_error(invoke(args), 2, message)


def test_row_130_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    from attnviz.commands.common import Common

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C while the model runs

    monkeypatch.setattr(Common, "extract", interrupted)
    monkeypatch.setattr(Common, "extract_all", interrupted)
    for command in (["show", SEED], ["stats", SEED]):
        assert_clean_error(invoke([*command, *RANDOM]), 130, "interrupted")


# --- a reader that stops reading -----------------------------------------------------------------

PIPED = {
    "show": ["show", SEED],
    "show-json": ["show", SEED, "--json"],
    "show-head": ["show", SEED, "--layer", "5", "--head", "11", "--values"],
    "compare": ["compare", SEED, "--heads", "5.11,0.3"],
    "find": ["find", SEED, "--from", "it", "--to", "cat"],
    "find-json": ["find", SEED, "--from", "it", "--to", "cat", "--json"],
    "stats": ["stats", SEED],
    "rollout": ["rollout", SEED, "--query", "it"],
    "explain": ["explain", SEED, "--layer", "5", "--head", "11", "--query", "it"],
    "stats-corpus": ["stats", "--corpus", "CORPUS", *RANDOM],
    "help": ["--help"],
    "show-help": ["show", "--help"],
}


def closed_early(args: list[str], read_first_line: bool, cwd: Path) -> tuple[int, bytes]:
    """Run attnviz with stdout a pipe that the reader closes at once, or after one line (head -1)."""
    proc = subprocess.Popen([sys.executable, "-m", "attnviz", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=subprocess_env({"COLUMNS": "80"}), cwd=cwd)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    if read_first_line:
        proc.stdout.readline()
    proc.stdout.close()
    with proc.stderr:
        stderr = proc.stderr.read()
    return proc.wait(timeout=120), stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", PIPED)
def test_a_closed_pipe_is_exit_0_and_silence_every_time(name: str, tmp_path: Path) -> None:
    (tmp_path / "CORPUS").write_text(f"{SEED}\nThe trophy did not fit because it was too big\n" * 20)
    for attempt in range(3):
        for read_first_line in (False, True):
            code, stderr = closed_early(PIPED[name], read_first_line, tmp_path)
            assert (code, stderr) == (0, b""), (attempt, read_first_line)


@pytest.mark.slow
def test_verify_into_a_closed_pipe(tiny_gpt2: Path, tmp_path: Path) -> None:
    for read_first_line in (False, True):
        assert closed_early(["verify", SEED, "--model", str(tiny_gpt2)], read_first_line, tmp_path) == (0, b"")


def test_a_closed_pipe_after_an_error_keeps_the_error(tmp_path: Path) -> None:
    code, stderr = closed_early(["show", SEED, *RANDOM, "--layer", "9"], False, tmp_path)
    assert code == 2 and stderr.decode().startswith("error: layer 9 is out of range")
