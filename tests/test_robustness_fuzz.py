"""Fuzzing the CLI: arbitrary unicode text and option values on the fast models.

The property: exit 0 with sane output, or exit 1/2 with one clean error line. Never a
traceback, an "internal error", an escape byte on stdout, or a file left behind.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from clicheck import TERMINAL_CONTROL, check_error_text, error_lines, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnviz.attention import Attention

SAVE = "<save path>"


def _mostly(valid: st.SearchStrategy, invalid: st.SearchStrategy) -> st.SearchStrategy:
    """Nine draws in ten from `valid`: with a dozen options, most runs still get as far as drawing."""
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda ok: valid if ok else invalid)


INDEX = _mostly(
    st.one_of(
        st.integers(-4, 3).map(str),
        st.lists(st.integers(0, 3), min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs))),
        st.tuples(st.integers(0, 1), st.integers(1, 3)).map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.just("all"),
    ),
    st.one_of(
        st.integers(-9, 9).map(str),
        st.sampled_from(["", " ", "x", "1.5", "0-", "--1", "3-1", "9" * 25, "\x1b[2J", "[/]"]),
        st.text(max_size=6),
    ),
)
WORDS = ["the", "cat", "猫", "👨\u200d👩\u200d👧", "\u202e", "\u200b", "e\u0301", "[b]", "[/]", "\x1b[", "it"]
WORD = _mostly(
    st.sampled_from(["the", "cat", "猫", "it", "cat#2", "[CLS]"]),
    st.one_of(st.sampled_from(["#", "", " ", "\x00", "cat#0", "cat#x"]), st.text(max_size=8)),
)
TEXT = _mostly(
    st.one_of(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=30).map(" ".join),
        st.text(min_size=1, max_size=80),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=80),
    ),
    st.sampled_from(["", " \t\n", "\x00", "\ud800"]),
)
JSON_COMMANDS = ("show", "find", "stats", "rollout", "explain")


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(["show", "compare", "find", "stats", "rollout", "explain"]))
    model = draw(st.sampled_from(["random", "random", "minilm"]))
    args = [command, draw(TEXT), "--model", model]
    if model == "random":
        for flag, values in (
            ("--random-layers", _mostly(st.integers(1, 4), st.sampled_from([0, -1, 13]))),
            ("--random-heads", _mostly(st.sampled_from([1, 2, 4]), st.sampled_from([0, 3, 64]))),
            ("--random-dim", _mostly(st.sampled_from([8, 16, 32]), st.sampled_from([0, 30, 100_000]))),
            ("--seed", _mostly(st.integers(0, 2**40), st.just(-1))),
        ):
            if draw(st.booleans()):
                args += [flag, str(draw(values))]
    if draw(st.booleans()):
        args += ["--max-tokens", str(draw(_mostly(st.integers(1, 40), st.integers(-1, 0))))]
    if command != "explain":
        for flag in ("--hide-special", "--merge-words"):
            if draw(st.booleans()):
                args.append(flag)
        if draw(st.integers(0, 3)) == 0:
            args += ["--tokens", draw(_mostly(st.sampled_from(["0-3", "1-2", "0", "2"]), INDEX))]
    if command == "show":
        if draw(st.booleans()):
            args += ["--layer", draw(INDEX)]
        if draw(st.booleans()):
            args += ["--head", draw(INDEX)]
        if draw(st.integers(0, 3)) == 0:
            args += ["--query", draw(WORD)]
        if draw(st.booleans()):
            args.append("--values")
        if draw(st.integers(0, 3)) == 0:
            args += ["--save", SAVE]
    elif command == "compare":
        pairs = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=3)
        args += ["--heads", draw(_mostly(pairs.map(lambda ps: ",".join(f"{a}.{b}" for a, b in ps)), INDEX))]
        if draw(st.booleans()):
            args += ["--text", draw(TEXT)]
        if draw(st.booleans()):
            args.append("--diff")
    elif command == "find":
        args += ["--from", draw(WORD), "--to", draw(WORD)]
        if draw(st.booleans()):
            args += ["--top", str(draw(_mostly(st.integers(1, 50), st.integers(-1, 0))))]
    elif command == "stats":
        if draw(st.booleans()):
            args += ["--sort", draw(_mostly(st.sampled_from(["entropy", "self", "distance"]), st.just("bogus")))]
    elif command == "rollout":
        args += ["--fusion", draw(_mostly(st.sampled_from(["mean", "max", "min"]), st.just("median")))]
        if draw(st.booleans()):
            args += ["--query", draw(WORD)]
    elif command == "explain":
        args += ["--layer", str(draw(_mostly(st.integers(0, 3), st.integers(-1, 12))))]
        args += ["--head", str(draw(_mostly(st.integers(0, 3), st.integers(-1, 12))))]
        if draw(st.booleans()):
            args += ["--query", draw(WORD)]
    if command in JSON_COMMANDS and draw(st.integers(0, 3)) == 0:
        args.append("--json")
    return args


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(args=invocations())
def test_any_invocation_gives_output_or_one_clean_error(args: list[str]) -> None:
    check_invocation(args)


def check_invocation(args: list[str]) -> None:
    """The property, for one command line (`SAVE` stands for a fresh --save path)."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "x.npz"
        result = invoke([str(saved) if a == SAVE else a for a in args], env={"COLUMNS": "80"})
        written = sorted(p.name for p in Path(folder).iterdir())
        if result.exit_code == 0 and SAVE in args:
            assert written == ["x.npz"]
            assert Attention.load(saved).n_tokens > 0
        else:
            assert written == []
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    if result.exit_code != 0:
        check_error_text(result.stderr, result.stdout)
        return
    assert not any(line.startswith("error") for line in error_lines(result.stderr)), result.stderr
    assert result.stdout.strip()
    assert not TERMINAL_CONTROL.search(result.stdout.replace("\n", "")), repr(result.stdout)
    if "--json" in args:
        json.loads(result.stdout)


MAGIC = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}


@pytest.mark.slow
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=TEXT,
    command=st.sampled_from([["show"], ["show", "--layer", "0"], ["compare", "--heads", "0.0,1.1"], ["rollout"]]),
    suffix=st.sampled_from(sorted(MAGIC)),
    hide=st.booleans(),
)
def test_any_text_draws_an_image_or_fails_cleanly(text: str, command: list[str], suffix: str, hide: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"out{suffix}"
        args = [command[0], text, "--model", "random", *command[1:], "-o", str(out), "--dpi", "40"]
        result = invoke([*args, "--hide-special"] if hide else args)
        written = sorted(p.name for p in Path(folder).iterdir())
        if result.exit_code == 0:
            assert written == [out.name]
            assert out.read_bytes().startswith(MAGIC[suffix])
        else:
            assert written == []
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr)
    if result.exit_code:
        check_error_text(result.stderr, result.stdout)
