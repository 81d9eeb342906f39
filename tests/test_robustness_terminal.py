"""Text is data: escapes, controls and rich markup from the input never reach the terminal as
such, and wide or strange text keeps every grid aligned and within the terminal's width.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from clicheck import SGR, TERMINAL_CONTROL, check_error_text, invoke, run_module
from rich.cells import cell_len

from attnviz.attention import Attention

# Erase screen, blink/reverse/strike (a style rich never writes), an OSC 8 hyperlink, an OSC 0
# window title, CSI as the single C1 byte, bell, backspace, carriage return, and rich markup.
HOSTILE = (
    "cat \x1b[2J\x1b[5;7;9mred\x1b[0m \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 "
    "\x1b]0;pwned\x1b\\ \x9b31m \x07bell \x08back \r\n tab\there "
    "[bold]big[/] [/] [link=https://evil.example]x[/link] [red on white]"
)
HOSTILE_TOKENS = [
    "[CLS]",
    "[bold]",
    "[/]",
    "[link=https://evil.example]",
    "\x1b[2J",
    "\x1b]0;pwned\x07",
    "\x9b5;7;9m",
    "a\rb\x08\x7f",
    "[/link]",
    "[SEP]",
]
RANDOM = ["--model", "random"]

TEXT_COMMANDS = {
    "overview": ["show"],
    "head grid": ["show", "--layer", "0"],
    "heatmap with values": ["show", "--layer", "0", "--head", "0", "--values"],
    "query bars": ["show", "--query", "cat"],
    "comparison": ["compare", "--heads", "0.0,1.1"],
    "comparison of two texts, diff": ["compare", "--heads", "0.0", "--text", HOSTILE[::-1], "--diff"],
    "find": ["find", "--from", "cat", "--to", "big"],
    "stats": ["stats"],
    "rollout": ["rollout", "--query", "cat"],
    "explain": ["explain", "--query", "cat"],
    "hygiene": ["show", "--layer", "1", "--hide-special", "--merge-words"],
    "show json": ["show", "--json"],
    "find json": ["find", "--from", "cat", "--to", "big", "--json"],
    "rollout json": ["rollout", "--json"],
    "explain json": ["explain", "--json"],
}
LOAD_COMMANDS = {
    "overview": ["show"],
    "heatmap": ["show", "--layer", "0", "--head", "0", "--values"],
    "query bars": ["show", "--query", "[bold]"],
    "comparison": ["compare", "--heads", "0.0,0.1"],
    "find": ["find", "--from", "[/]", "--to", "[bold]"],
    "stats": ["stats", "--sort", "entropy"],
    "rollout": ["rollout", "--query", "[link=https://evil.example]"],
    "hygiene": ["show", "--hide-special", "--merge-words", "--layer", "0"],
}


def _assert_inert(stdout: bytes, *, colour: bool) -> str:
    """Nothing a terminal would act on, except (when colour is forced) rich's own SGR codes."""
    text = stdout.decode("utf-8")
    assert text.strip()
    assert "\x1b[5;7;9m" not in text and "\x1b[2J" not in text and "\x1b]" not in text
    if colour:
        assert SGR.search(text), "colour was forced but rich wrote none: the check below proves nothing"
        text = SGR.sub("", text)
    assert not TERMINAL_CONTROL.search(text), repr(TERMINAL_CONTROL.search(text))
    return text


@pytest.fixture(scope="module")
def hostile_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A crafted extraction: every token, the model name, the text and the notes are hostile."""
    n = len(HOSTILE_TOKENS)
    rng = np.random.default_rng(0)
    weights = rng.random((1, 2, n, n)).astype(np.float32)
    weights /= weights.sum(-1, keepdims=True)
    attn = Attention(
        tokens=HOSTILE_TOKENS,
        weights=weights,
        layers=[0],
        heads=[0, 1],
        special=[t in ("[CLS]", "[SEP]") for t in HOSTILE_TOKENS],
        word_ids=[-1, *range(n - 2), -1],
        model="[bold red]model\x1b]0;x\x07",
        engine="[i]scratch",
        text=HOSTILE,
        notes=("[blink]note\x1b[2J",),
    )
    path = tmp_path_factory.mktemp("hostile") / "hostile.npz"
    attn.save(path)
    return path


TEXT_RUNS = [
    pytest.param(args, colour, id=f"{name}-{'forced colour' if colour else 'pipe'}")
    for name, args in TEXT_COMMANDS.items()
    for colour in (False, True)
    if not (colour and "--json" in args)  # JSON is never coloured
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "colour"), TEXT_RUNS)
def test_no_escape_from_the_text_reaches_stdout(args: list[str], colour: bool) -> None:
    env = {"FORCE_COLOR": "1", "COLUMNS": "100"} if colour else {"COLUMNS": "100"}
    proc = run_module([args[0], HOSTILE, *RANDOM, *args[1:]], env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
    text = _assert_inert(proc.stdout, colour=colour)
    if "--json" in args:
        json.loads(text)


@pytest.mark.slow
@pytest.mark.parametrize("colour", [False, True], ids=["pipe", "forced colour"])
@pytest.mark.parametrize("args", LOAD_COMMANDS.values(), ids=LOAD_COMMANDS.keys())
def test_no_escape_or_markup_from_a_saved_file_is_interpreted(hostile_npz: Path, args: list[str], colour: bool) -> None:
    env = {"FORCE_COLOR": "1", "COLUMNS": "120"} if colour else {"COLUMNS": "120"}
    proc = run_module([*args, "--load", str(hostile_npz)], env=env)
    assert proc.returncode == 0, proc.stderr.decode()  # a rich MarkupError would be exit 1
    text = _assert_inert(proc.stdout, colour=colour)
    if args[0] != "stats":  # the statistics table shows no token, model name or note
        assert any(markup in text for markup in ("[bold]", "[/]", "[bold red]", "[blink]"))  # shown as text


def test_markup_tokens_are_shown_literally_in_the_heatmap(hostile_npz: Path) -> None:
    result = invoke(["show", "--load", str(hostile_npz), "--layer", "0", "--head", "0"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr
    rows = [line.strip() for line in result.stdout.splitlines()]
    for label in ("[bold]", "[/]", "[/link]", "␛[2J", "a␍b␈␡"):
        assert any(row.startswith(label) or f" {label} " in row for row in rows), label
    assert "[link=https://e…" in result.stdout  # cut to fit, but literal


def test_escapes_in_an_error_message_are_shown_not_sent() -> None:
    result = invoke(["show", "a cat", *RANDOM, "--query", "\x1b]0;pwned\x07[bold]dog[/]"])
    line = check_error_text(result.stderr, result.stdout)
    assert result.exit_code == 2
    assert line == 'error: "␛]0;pwned␇[bold]dog[/]" is not in this text: its words are a, cat'


@pytest.mark.slow
def test_escapes_in_the_error_stream_of_a_real_process() -> None:
    proc = run_module(["find", HOSTILE, *RANDOM, "--from", "\x1b[2J", "--to", "cat"])
    assert proc.returncode == 2
    stderr = proc.stderr.decode()
    check_error_text(stderr, proc.stdout.decode())
    assert not TERMINAL_CONTROL.search(stderr.replace("\n", ""))


# --- wide and strange text ------------------------------------------------------------------------

STRANGE = (
    "猫が好き 👨\u200d👩\u200d👧\u200d👦 🏳️\u200d🌈 שָׁלוֹם مرحبا a\u200bb \u200e\u202eevil "
    "e\u0301\u0301\u0301\u0301 🇯🇵 ﷽ Ａｂｃ ❤️ \u0915\u094d\u0937"
)
WIDTH = 72


def _lines(args: list[str]) -> list[str]:
    result = invoke([args[0], STRANGE, *RANDOM, *args[1:]], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) > 3
    return lines


@pytest.mark.parametrize(
    "args",
    [
        ["show"],
        ["show", "--layer", "0"],
        ["show", "--layer", "0", "--head", "0"],
        ["show", "--layer", "0", "--head", "0", "--values"],
        ["show", "--query", "猫が好き"],
        ["compare", "--heads", "0.0,1.1,2.2"],
        ["find", "--from", "猫が好き", "--to", "مرحبا"],
        ["rollout", "--query", "שָׁלוֹם"],
        ["explain", "--query", "Ａｂｃ"],
        ["show", "--merge-words", "--hide-special", "--layer", "0", "--head", "1", "--values"],
    ],
    ids=" ".join,
)
def test_wide_text_stays_within_the_width(args: list[str]) -> None:
    lines = _lines(args)
    assert max(cell_len(line) for line in lines) <= WIDTH
    text = "\n".join(lines)
    assert "\u200d" not in text and "\u202e" not in text and "\u200b" not in text  # no invisible characters
    assert not TERMINAL_CONTROL.search(text.replace("\n", ""))


def test_wide_text_keeps_the_heatmap_columns_aligned() -> None:
    """Every row of numbers starts and ends at the same terminal column, whatever its label."""
    lines = _lines(["show", "--layer", "0", "--head", "0", "--values"])
    rows = [line for line in lines if re.search(r"(\.\d\d|1\.0|  0)\s*$", line)]
    assert len(rows) >= 14  # one row per token
    starts, ends = set(), set()
    for row in rows:
        numbers = re.search(r"((?:\s*(?:\.\d\d|1\.0|0))+)\s*$", row)
        assert numbers is not None, row
        label = row[: numbers.start(1)]
        starts.add(cell_len(label))
        ends.add(cell_len(row.rstrip()))
    assert len(starts) == 1, starts
    assert len(ends) == 1, ends
    labels = " ".join(lines)
    for word in ("猫が好き", "שָׁלוֹם", "مرحبا", "🇯🇵", "Ａｂｃ"):
        assert word in labels, word


def _glyphs(line: str) -> list[tuple[int, int]]:
    """(first cell, width) of every visible glyph; zero-width marks belong to the glyph before."""
    out: list[tuple[int, int]] = []
    column = 0
    for ch in line:
        width = cell_len(ch)
        if width == 0 and out:
            continue
        if not ch.isspace():
            out.append((column, width))
        column += width
    return out


def test_wide_text_keeps_the_header_over_its_cells() -> None:
    """Each glyph of the vertical column labels sits inside the cells of its column."""
    lines = _lines(["show", "--layer", "0", "--head", "0", "--values"])
    first = next(i for i, line in enumerate(lines) if re.search(r"\.\d\d\s*$", line))
    row = lines[first]
    spans = [(cell_len(row[: m.start()]), cell_len(row[: m.end()])) for m in re.finditer(r"\.\d\d|1\.0", row)]
    assert len(spans) == 15  # one cell per token
    header = lines[1:first]
    assert len(header) >= 5  # the longest label, written downwards
    for line in header:
        for start, width in _glyphs(line):
            assert any(a <= start and start + width <= b for a, b in spans), (line, start)
