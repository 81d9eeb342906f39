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

INDEX = st.one_of(
    st.integers(-6, 6).map(str),
    st.lists(st.integers(-5, 5), min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs))),
    st.tuples(st.integers(-5, 5), st.integers(-5, 5)).map(lambda ab: f"{ab[0]}-{ab[1]}"),
    st.sampled_from(["all", "", " ", "x", "1.5", "0-", "--1", "9" * 25, "\x1b[2J", "[/]"]),
    st.text(max_size=6),
)
WORD = st.one_of(st.sampled_from(["the", "cat", "it", "[CLS]", "cat#2", "#", "", "\x00"]), st.text(max_size=8))
TEXT = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=80),
    st.lists(
        st.sampled_from(["the", "cat", "猫", "👨\u200d👩\u200d👧", "\u202e", "\u200b", "e\u0301", "[b]", "\x1b["])
    ).map(" ".join),
)


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(["show", "compare", "find", "stats", "rollout", "explain"]))
    model = draw(st.sampled_from(["random", "random", "minilm"]))
    args = [command, draw(TEXT), "--model", model]
    if model == "random":
        for flag, values in (
            ("--random-layers", st.integers(-1, 5)),
            ("--random-heads", st.sampled_from([1, 2, 3, 4, 0, 64])),
            ("--random-dim", st.sampled_from([8, 16, 30, 64, 0])),
            ("--seed", st.integers(-2, 2**40)),
        ):
            if draw(st.booleans()):
                args += [flag, str(draw(values))]
    if draw(st.booleans()):
        args += ["--max-tokens", str(draw(st.integers(-1, 40)))]
    if command != "explain":
        for flag in ("--hide-special", "--merge-words"):
            if draw(st.booleans()):
                args.append(flag)
        if draw(st.integers(0, 3)) == 0:
            args += ["--tokens", draw(st.one_of(INDEX, st.just("0-3")))]
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
        pairs = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=3)
        args += ["--heads", draw(st.one_of(pairs.map(lambda ps: ",".join(f"{a}.{b}" for a, b in ps)), INDEX))]
        if draw(st.booleans()):
            args += ["--text", draw(TEXT)]
        if draw(st.booleans()):
            args.append("--diff")
    elif command == "find":
        args += ["--from", draw(WORD), "--to", draw(WORD), "--top", str(draw(st.integers(-1, 50)))]
    elif command == "stats":
        if draw(st.booleans()):
            args += ["--sort", draw(st.sampled_from(["entropy", "self", "distance", "bogus"]))]
    elif command == "rollout":
        args += ["--fusion", draw(st.sampled_from(["mean", "max", "min", "median"]))]
        if draw(st.booleans()):
            args += ["--query", draw(WORD)]
    elif command == "explain":
        args += ["--layer", str(draw(st.integers(-1, 6))), "--head", str(draw(st.integers(-1, 12)))]
        if draw(st.booleans()):
            args += ["--query", draw(WORD)]
    if command != "explain" and draw(st.integers(0, 3)) == 0:
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
