"""The catalogue of bad inputs, each through the CLI: exit code, one clean error line, no file left.

Text, files, layer/head selections, output paths, saved extractions and option values. Bad
models are in test_robustness_models.py; interruption in test_robustness_signals.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from clicheck import assert_clean_error, invoke, snapshot

from attnviz.attention import Attention

RANDOM = ["--model", "random"]
OUT = ["-o", "out.png"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case runs in an empty folder, so that messages hold short relative paths."""
    monkeypatch.chdir(tmp_path)


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def _nothing(_folder: Path) -> None:
    pass


# (args, stdin, setup, exit code, the exact error message)
TEXT_CASES = {
    "empty text": (["show", "", *RANDOM, *OUT], None, _nothing, 2,
        "the text is empty (give a sentence, --file PATH, or - for stdin)"),
    "whitespace-only text": (["show", " \t\n\u3000 ", *RANDOM, *OUT], None, _nothing, 2,
        "the text is empty (give a sentence, --file PATH, or - for stdin)"),
    "no text at all": (["show", *RANDOM, *OUT], None, _nothing, 2,
        'no text given (pass it as an argument, "-" to read stdin, or --file PATH)'),
    "empty stdin": (["show", "-", *RANDOM, *OUT], b"", _nothing, 2,
        "the text is empty (give a sentence, --file PATH, or - for stdin)"),
    "text with NUL bytes": (["show", "a\x00b", *RANDOM, *OUT], None, _nothing, 2,
        "the text contains NUL bytes: is it a binary file?"),
    "NUL bytes on stdin": (["show", "-", *RANDOM, *OUT], b"a\x00b", _nothing, 2,
        "stdin contains NUL bytes: it looks like a binary file, not text"),
    "invalid UTF-8 on stdin": (["show", "-", *RANDOM, *OUT], b"caf\xe9 au lait", _nothing, 2,
        "stdin is not valid UTF-8 text (byte 0xe9 at offset 3)"),
    "invalid UTF-8 in --file": (["show", "-f", "latin1.txt", *RANDOM, *OUT], None,
        _write("latin1.txt", b"na\xefve"), 2, "'latin1.txt' is not valid UTF-8 text (byte 0xef at offset 2)"),
    "undecodable bytes in the argument": (["show", "caf\udce9", *RANDOM, *OUT], None, _nothing, 2,
        "the text is not valid UTF-8 (byte 0xe9 at character 3)"),
    "a binary file": (["show", "-f", "blob.bin", *RANDOM, *OUT], None,
        _write("blob.bin", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))), 2,
        "'blob.bin' contains NUL bytes: it looks like a binary file, not text"),
    "an empty file": (["show", "-f", "empty.txt", *RANDOM, *OUT], None, _write("empty.txt", b""), 2,
        "the text is empty (give a sentence, --file PATH, or - for stdin)"),
    "a missing file": (["show", "-f", "missing.txt", *RANDOM, *OUT], None, _nothing, 2,
        "cannot read 'missing.txt': no such file"),
    "a folder as --file": (["show", "-f", ".", *RANDOM, *OUT], None, _nothing, 2,
        "cannot read '.': it is a directory"),
    "TEXT and --file": (["show", "a cat", "-f", "t.txt", *RANDOM, *OUT], None, _write("t.txt", b"a dog"), 2,
        "give TEXT or --file, not both"),
}  # fmt: skip

SELECTION_CASES = {
    "layer out of range": (["show", "a cat", "--layer", "4", *RANDOM, *OUT], 2,
        "layer 4 is out of range: this model has layers 0-3"),
    "negative layer out of range": (["show", "a cat", "--layer", "-5", *RANDOM, *OUT], 2,
        "layer -5 is out of range: this model has layers 0-3"),
    "head out of range": (["show", "a cat", "--layer", "0", "--head", "4", *RANDOM, *OUT], 2,
        "head 4 is out of range: this model has heads 0-3"),
    "huge layer": (["show", "a cat", "--layer", "99999999999999999999", *RANDOM, *OUT], 2,
        "layer 99999999999999999999 is out of range: this model has layers 0-3"),
    "malformed layer": (["show", "a cat", "--layer", "x", *RANDOM, *OUT], 2,
        "invalid layer 'x': use an index, a list (0,3), a range (0-3) or 'all' (this model has layers 0-3)"),
    "malformed head": (["show", "a cat", "--layer", "0", "--head", "1.5", *RANDOM, *OUT], 2,
        "invalid head '1.5': use an index, a list (0,3), a range (0-3) or 'all' (this model has heads 0-3)"),
    "reversed range": (["show", "a cat", "--layer", "3-1", *RANDOM, *OUT], 2,
        "invalid layer range '3-1': the start comes after the end (this model has layers 0-3)"),
    "compare: head out of range": (["compare", "a cat", "--heads", "1.9", *RANDOM, *OUT], 2,
        "head 9 is out of range: this model has heads 0-3"),
    "compare: malformed pair": (["compare", "a cat", "--heads", "1-2", *RANDOM, *OUT], 2,
        "invalid head '1-2': use LAYER.HEAD pairs, e.g. 5.11,0.3"),
    "explain: layer out of range": (["explain", "a cat", "--layer", "7", *RANDOM], 2,
        "layer 7 is out of range: this model has layers 0-3"),
    "explain: head out of range": (["explain", "a cat", "--head", "4", *RANDOM], 2,
        "head 4 is out of range: this model has heads 0-3"),
    "missing word": (["find", "a cat", "--from", "dog", "--to", "cat", *RANDOM, *OUT], 2,
        '"dog" is not in this text: its words are a, cat'),
    "missing query": (["show", "a cat", "--query", "dog", *RANDOM], 2,
        '"dog" is not in this text: its words are a, cat'),
    "token range out of range": (["show", "a cat", "--tokens", "2-9", *RANDOM, *OUT], 2,
        "token range 2-9 is out of range: this text has tokens 0-3"),
    "--max-tokens 0": (["show", "a cat", "--max-tokens", "0", *RANDOM, *OUT], 2,
        "--max-tokens must be at least 1, not 0"),
    "explain: --max-tokens 0": (["explain", "a cat", "--max-tokens", "0", *RANDOM], 2,
        "--max-tokens must be at least 1, not 0"),
    "--query missing after --hide-special, with --save": (
        ["show", "a cat", "--hide-special", "--query", "[CLS]", "--save", "x.npz", *RANDOM], 2,
        '"[CLS]" is not in this text: its words are a, cat'),
    "--random-layers too large": (["show", "a cat", *RANDOM, "--random-layers", "100000", *OUT], 2,
        "--random-layers must be between 1 and 12, not 100000"),
    "--random-dim not a multiple of heads": (["show", "a cat", *RANDOM, "--random-heads", "3", *OUT], 2,
        "--random-dim 64 must be a multiple of --random-heads 3 (e.g. --random-dim 63)"),
    "negative --seed": (["show", "a cat", *RANDOM, "--seed", "-1", *OUT], 2, "--seed must be 0 or more, not -1"),
    "unknown engine": (["show", "a cat", "--engine", "torch", *OUT], 2,
        "invalid engine 'torch' (use auto, scratch, hf)"),
    "unknown global option": (["--bogus", "show", "a cat", *OUT], 2, "No such option: --bogus (see 'attnviz --help')"),
    "unknown option": (["show", "a cat", "--colour", *OUT], 2,
        "No such option: --colour (Possible options: --no-color) (see 'attnviz show --help')"),
    "verify: nan --tol": (["verify", "a cat", "--tol", "nan"], 2,
        "invalid --tol nan: it must be a number ≥ 0 (e.g. --tol 1e-5)"),
}  # fmt: skip

OUTPUT_CASES = {
    "output folder does not exist": (["-o", "nowhere/out.png"], 1,
        "cannot write 'nowhere/out.png': folder 'nowhere' does not exist"),
    "output is a directory": (["-o", "plots.png"], 1, "cannot write 'plots.png': it is a directory"),
    "unsupported output extension": (["-o", "out.gif"], 2,
        "cannot write 'out.gif': unsupported extension '.gif' (use one of .png, .svg, .pdf, .html)"),
    "output without extension": (["-o", "out"], 2,
        "cannot write 'out': unsupported extension '(none)' (use one of .png, .svg, .pdf, .html)"),
    "--save with a non-npz extension": (["--save", "out.png"], 2,
        "cannot write 'out.png': unsupported extension '.png' (use one of .npz)"),
    "--save into a missing folder": (["--save", "nowhere/x.npz"], 1,
        "cannot write 'nowhere/x.npz': folder 'nowhere' does not exist"),
}  # fmt: skip


@pytest.mark.parametrize(("args", "stdin", "setup", "code", "message"), TEXT_CASES.values(), ids=TEXT_CASES.keys())
def test_bad_text_input(
    tmp_path: Path, args: list[str], stdin: bytes | None, setup: Callable[[Path], None], code: int, message: str
) -> None:
    setup(tmp_path)
    before = snapshot(tmp_path)
    assert_clean_error(invoke(args, input=stdin), code, message)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("args", "code", "message"), SELECTION_CASES.values(), ids=SELECTION_CASES.keys())
def test_bad_selection_or_option(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    assert_clean_error(invoke(args), code, message)
    assert snapshot(tmp_path) == set()


@pytest.mark.parametrize(("extra", "code", "message"), OUTPUT_CASES.values(), ids=OUTPUT_CASES.keys())
def test_bad_output_path(tmp_path: Path, extra: list[str], code: int, message: str) -> None:
    (tmp_path / "plots.png").mkdir()
    before = snapshot(tmp_path)
    assert_clean_error(invoke(["show", "a cat", *RANDOM, *extra]), code, message)
    assert snapshot(tmp_path) == before
    assert list((tmp_path / "plots.png").iterdir()) == []


def _make_unwritable(folder: Path) -> Callable[[], None]:
    """A folder this process cannot create files in, even as root; returns the undo."""
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root ignores permission bits: make it immutable instead
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            folder.chmod(0o755)
            pytest.skip("running as root without chattr: no folder is unwritable")
        return lambda: (subprocess.run(["chattr", "-i", str(folder)], check=True), folder.chmod(0o755))
    return lambda: folder.chmod(0o755)


@pytest.mark.parametrize("option", ["-o", "--save"])
def test_output_folder_not_writable(tmp_path: Path, option: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    undo = _make_unwritable(locked)
    try:
        name = "locked/out.png" if option == "-o" else "locked/out.npz"
        assert_clean_error(
            invoke(["show", "a cat", *RANDOM, option, name]),
            1,
            f"cannot write '{name}': folder 'locked' is not writable",
        )
        assert list(locked.iterdir()) == []
    finally:
        undo()


def test_output_on_a_filesystem_that_refuses_files(tmp_path: Path) -> None:
    """procfs reports itself writable to root but refuses new files: the write itself fails."""
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    result = invoke(["show", "a cat", *RANDOM, "-o", "/proc/out.png"])
    assert_clean_error(result, 1, prefix="cannot write '/proc/out.png'")
    assert not Path("/proc/out.png").exists()


# --- --load with files that are not attnviz extractions --------------------------------------


def _npz(**arrays: object) -> Callable[[Path], None]:
    return lambda path: np.savez(path, **arrays)


def _good() -> Attention:
    n = 3
    return Attention(
        tokens=["a", "b", "c"],
        weights=np.full((1, 1, n, n), 1 / n, np.float32),
        layers=[0],
        heads=[0],
        special=np.zeros(n, bool),
        word_ids=np.arange(n),
    )


def _saved_then(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        _good().save(path)
        path.write_bytes(change(path.read_bytes()))

    return make


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]


LOAD_CASES = {
    "truncated npz": (_saved_then(lambda d: d[: len(d) // 2]),
        "cannot load 'x.npz': not an .npz file (it is not a zip archive; was it cut short?)"),
    "random bytes": (lambda p: p.write_bytes(bytes(range(256)) * 4),
        "cannot load 'x.npz': not an .npz file (it is not a zip archive; was it cut short?)"),
    "corrupted compressed data": (_saved_then(_flip_middle), None),
    "a foreign npz": (_npz(x=np.arange(3)), "cannot load 'x.npz': not an attnviz extraction"),
    "an npz holding pickled objects": (_npz(format_version=1, weights=np.array([{"a": 1}], dtype=object)), None),
    "weights that do not fit the tokens": (
        _npz(format_version=1, weights=np.zeros((1, 1, 2, 2)), tokens=np.array(["a", "b", "c"]), layers=[0],
             heads=[0]),
        "cannot load 'x.npz': not a valid attnviz .npz file (weights have shape (1, 1, 2, 2), expected (1, 1, 3, 3))"),
    "an empty extraction": (
        _npz(format_version=1, weights=np.zeros((0, 0, 0, 0)), tokens=np.array([], str), layers=np.array([], int),
             heads=np.array([], int)),
        "cannot load 'x.npz': the extraction holds no tokens, layers or heads"),
    "a missing npz": (lambda _p: None, "cannot load 'x.npz': no such file"),
}  # fmt: skip


@pytest.mark.parametrize(("make", "message"), LOAD_CASES.values(), ids=LOAD_CASES.keys())
@pytest.mark.parametrize(
    "command",
    [["show"], ["show", "--layer", "0", "--head", "0"], ["stats"], ["rollout"], ["compare", "--heads", "0.0"]],
    ids=" ".join,
)
def test_bad_npz_for_load(
    tmp_path: Path, make: Callable[[Path], None], message: str | None, command: list[str]
) -> None:
    make(tmp_path / "x.npz")
    before = snapshot(tmp_path)
    result = invoke([*command, "--load", "x.npz", *OUT])
    assert_clean_error(result, 2, message, prefix="cannot load 'x.npz': ")
    assert snapshot(tmp_path) == before


def test_a_good_npz_still_loads(tmp_path: Path) -> None:
    """The --load cases above fail because of the file, not because --load is broken."""
    _good().save(tmp_path / "x.npz")
    result = invoke(["show", "--load", "x.npz", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["tokens"] == ["a", "b", "c"]


# --- text past the model's positions: truncated with a warning, never a crash ----------------


def test_long_text_is_truncated_with_a_warning_on_the_default_model() -> None:
    text = " ".join(["word"] * 600)  # 602 tokens with [CLS] and [SEP]; MiniLM takes 512
    result = invoke(["show", text, "--layer", "0", "--head", "0", "--json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "warning: the input has 602 tokens; the model takes 512: the last 90 tokens were dropped\n"
    assert len(json.loads(result.stdout)["tokens"]) == 512


@pytest.mark.parametrize("engine", ["scratch", pytest.param("hf", marks=pytest.mark.slow)])
def test_long_text_is_truncated_on_a_small_model(tiny_bert: Path, engine: str) -> None:
    text = " ".join(["cat"] * 100)  # 102 tokens; tiny_bert has 64 positions
    result = invoke(["show", text, "--model", str(tiny_bert), "--engine", engine, "--json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "warning: the input has 102 tokens; the model takes 64: the last 38 tokens were dropped\n"
    data = json.loads(result.stdout)
    assert data["engine"] == engine
    assert len(data["tokens"]) == 64
    assert np.asarray(data["weights"]).shape == (2, 4, 64, 64)


def test_max_tokens_truncates_with_a_warning() -> None:
    result = invoke(["rollout", "one two three four five", *RANDOM, "--max-tokens", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "warning: --max-tokens 3 kept 3 of the input's 7 tokens (special tokens included): "
        "the last 4 tokens were dropped\n"
    )
    assert json.loads(result.stdout)["tokens"] == ["[CLS]", "one", "[SEP]"]  # the special tokens stay


@pytest.mark.parametrize("engine", ["scratch", pytest.param("hf", marks=pytest.mark.slow)])
def test_max_tokens_warning_names_the_users_limit_not_the_model(tiny_bert: Path, engine: str) -> None:
    text = " ".join(["cat"] * 40)  # 42 tokens; tiny_bert takes 64, so 30 is the user's limit
    result = invoke(["show", text, "--model", str(tiny_bert), "--engine", engine, "--max-tokens", "30", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "the model takes" not in result.stderr
    assert result.stderr == (
        "warning: --max-tokens 30 kept 30 of the input's 42 tokens (special tokens included): "
        "the last 12 tokens were dropped\n"
    )
    assert len(json.loads(result.stdout)["tokens"]) == 30


# --- --debug: the traceback and versions ------------------------------------------------------


def test_debug_shows_the_traceback_and_versions() -> None:
    plain = invoke(["show", "a cat", *RANDOM, "--layer", "9"])
    debug = invoke(["--debug", "show", "a cat", *RANDOM, "--layer", "9"])
    assert "Traceback" not in plain.stderr
    assert plain.exit_code == debug.exit_code == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert "UsageError: layer 9 is out of range" in debug.stderr
    assert "attnviz 0.1.0, Python 3." in debug.stderr
    assert debug.stderr.rstrip().endswith("error: layer 9 is out of range: this model has layers 0-3")


def test_help_epilog_documents_the_exit_codes() -> None:
    for args in (["--help"], ["show", "--help"], ["explain", "--help"]):
        result = invoke(args)
        assert result.exit_code == 0
        text = " ".join(result.stdout.split())
        assert "Exit codes: 0 success, 1 runtime failure (model or file), 2 usage error, 130 interrupted." in text


def test_readme_documents_the_exit_codes() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for row in ("| 0 | success |", "| 1 | runtime failure", "| 2 | usage error", "| 130 | interrupted"):
        assert row in readme
