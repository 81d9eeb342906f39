"""`attnviz compare` and `attnviz verify` through the real CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from clicheck import ok, png_size, run
from rich.cells import cell_len

import attnviz
from attnviz.attention import Attention

SEED = "The cat sat on the mat because it was comfortable"
OTHER = "The dog ran to the park because it was sunny"
TOKENS = ["[CLS]", "The", "cat", "sat", "on", "the", "mat", "because", "it", "was", "comfortable", "[SEP]"]
NUMBER = re.compile(r"-?\d*\.\d+")


def title_line(text: str, *titles: str) -> str | None:
    """The first line holding every one of `titles`, or None."""
    return next((line for line in text.splitlines() if all(t in line for t in titles)), None)


def row_numbers(text: str, label: str) -> list[float]:
    for line in text.splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[0] == label:
            return [float(x) for x in NUMBER.findall(parts[1])]
    raise AssertionError(f"no row {label!r} in:\n{text}")


@pytest.fixture(scope="module")
def seed() -> Attention:
    return attnviz.extract(SEED)


# --- compare -----------------------------------------------------------------------------------


def test_compare_help() -> None:
    out = ok(run(["compare", "--help"]))
    assert "Put heads side by side: several heads, two models, or two texts." in out
    for option in ("--heads", "--model", "--text", "--load", "--diff", "--values", "--cmap", "--output"):
        assert option in out, option


def test_compare_without_heads_is_a_usage_error() -> None:
    result = run(["compare", SEED])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: compare needs --heads (e.g. --heads 5.11,0.3)\n"


def test_compare_one_head_is_the_default_model(seed: Attention) -> None:
    out = ok(run(["compare", SEED, "--heads", "5.11", "--values"]))
    assert re.findall(r"\bL\d+ H\d+\b", out) == ["L5 H11"]
    assert row_numbers(out, "it") == pytest.approx(seed.head(5, 11)[8].tolist(), abs=0.0051)


def test_two_heads_side_by_side_in_the_order_given(seed: Attention) -> None:
    out = ok(run(["compare", SEED, "--heads", "5.11,0.3", "--values"], width=120))
    line = title_line(out, "L5 H11", "L0 H3")
    assert line is not None and line.index("L5 H11") < line.index("L0 H3")
    expected = np.concatenate([seed.head(5, 11)[8], seed.head(0, 3)[8]])
    assert row_numbers(out, "it") == pytest.approx(expected.tolist(), abs=0.0051)  # one shared label column


def test_two_heads_stack_when_the_terminal_is_narrow() -> None:
    out = ok(run(["compare", SEED, "--heads", "5.11,0.3"], width=40))
    assert title_line(out, "L5 H11", "L0 H3") is None
    assert "L5 H11" in out and "L0 H3" in out


def test_two_texts_side_by_side() -> None:
    out = ok(run(["compare", SEED, "--heads", "5.11", "--text", OTHER], width=120))
    assert title_line(out, '"The cat sat…" · L5 H11', '"The dog ran…" · L5 H11') is not None
    words = set(out.split())
    assert {"cat", "comfortable", "dog", "sunny"} <= words  # each panel keeps its own text's tokens


def test_two_models_side_by_side(tiny_bert: Path) -> None:
    out = ok(run(["compare", SEED, "--heads", "1.3", "--model", "minilm", "--model", str(tiny_bert)], width=200))
    assert title_line(out, "all-MiniLM-L6-v2 · L1 H3", f"{tiny_bert.name} · L1 H3") is not None
    # the tiny tokenizer splits "comfortable", MiniLM does not: each panel keeps its own tokens
    assert "comfortable" in out and "##able" in out


def test_two_models_and_two_texts_at_once_is_a_usage_error(tiny_bert: Path) -> None:
    result = run(["compare", SEED, "--heads", "1.3", "-m", "minilm", "-m", str(tiny_bert), "--text", OTHER])
    assert (result.exit_code, result.stderr) == (2, "error: compare two models or two texts, not both at once\n")


def test_diff_is_one_panel_of_the_difference(seed: Attention) -> None:
    out = ok(run(["compare", SEED, "--heads", "5.11,0.3", "--diff", "--values"]))
    assert re.findall(r"\bL\d+ H\d+(?: − L\d+ H\d+)?", out.split("note")[0]) == ["L5 H11 − L0 H3"]
    assert "notes: + where L5 H11 is higher, − where L0 H3 is" in out
    expected = seed.head(5, 11)[8].astype(np.float64) - seed.head(0, 3)[8]
    assert row_numbers(out, "it") == pytest.approx(expected.tolist(), abs=0.0051)
    assert "diverging, centred on 0, symmetric" in " ".join(out.split())


def test_diff_of_two_texts_of_the_same_length(seed: Attention) -> None:
    other = attnviz.extract(OTHER)
    assert other.n_tokens == seed.n_tokens
    out = ok(run(["compare", SEED, "--heads", "5.11", "--text", OTHER, "--diff", "--values"], width=120))
    assert '"The cat sat…" · L5 H11 − "The dog ran…" · L5 H11' in out
    assert 'notes: + where "The cat sat…" · L5 H11 is higher, − where "The dog ran…" · L5 H11 is' in out
    expected = seed.head(5, 11)[0].astype(np.float64) - other.head(5, 11)[0]
    assert row_numbers(out, "[CLS]") == pytest.approx(expected.tolist(), abs=0.0051)


def test_diff_values_are_separated_by_spaces() -> None:
    out = ok(run(["compare", SEED, "--heads", "5.11,0.3", "--diff", "--values"]))
    line = next(line for line in out.splitlines() if line.split() and line.split()[0] == "it")
    assert len(line.split()) == 1 + 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--heads", "5.11,0.3,1.1", "--diff"],
         "--diff needs exactly two maps, not 3 (give two heads, or one head with two models or two texts)"),
        (["--heads", "5.11", "--diff"],
         "--diff needs exactly two maps, not 1 (give two heads, or one head with two models or two texts)"),
        (["--heads", "5.11", "--text", "A dog barked", "--diff"],
         '--diff needs as many tokens on both sides: "The cat sat…" has 12, "A dog barked" has 5 '
         "(drop --diff to see them side by side, or give texts of as many tokens)"),
        (["--heads", "5"], "invalid head '5': use LAYER.HEAD pairs, e.g. 5.11,0.3"),
        (["--heads", "9.0"], "layer 9 is out of range: this model has layers 0-5"),
        (["--heads", "5.12"], "head 12 is out of range: this model has heads 0-11"),
        (["--heads", "5.11", "-m", "minilm", "-m", "minilm", "-m", "minilm"],
         "compare takes at most two models or two --load files"),
        (["--heads", "5.11", "--cmap", "nope"],
         "unknown colormap 'nope' (built in: viridis, magma, inferno, plasma, cividis, Greys, Blues, Reds, RdBu_r, "
         "coolwarm; or any matplotlib colormap name)"),
        (["--heads", "5.11", "-o", "x.gif"],
         "cannot write 'x.gif': unsupported extension '.gif' (use one of .png, .svg, .pdf, .html)"),
    ],
    ids=["diff-3", "diff-1", "diff-lengths", "heads-syntax", "layer-range", "head-range", "three-models", "cmap",
         "output"],
)  # fmt: skip
def test_compare_invalid_value(args: list[str], message: str) -> None:
    result = run(["compare", SEED, *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"


def test_compare_of_two_saved_extractions_equals_the_live_comparison(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    ok(run(["show", SEED, "--save", str(a), "--json"]))
    ok(run(["show", OTHER, "--save", str(b), "--json"]))
    live = ok(run(["compare", SEED, "--heads", "5.11,0.3", "--text", OTHER], width=250))
    assert ok(run(["compare", "--load", str(a), "--load", str(b), "--heads", "5.11,0.3"], width=250)) == live


def test_compare_image_is_wider_than_tall(tmp_path: Path) -> None:
    path = tmp_path / "pair.png"
    result = run(["compare", SEED, "--heads", "5.11,0.3", "-o", str(path)])
    assert ok(result) == ""
    assert result.stderr == f"wrote {path} (2 panels)\n"
    width, height = png_size(path)
    assert width > height > 100


@pytest.mark.parametrize("width", [40, 80, 120, 250])
@pytest.mark.parametrize(
    "args", [["--heads", "5.11,0.3"], ["--heads", "5.11,0.3", "--diff", "--values"], ["--heads", "5.11,4.1,0.3"]]
)
def test_compare_fits_the_terminal(width: int, args: list[str]) -> None:
    out = ok(run(["compare", SEED, *args], width=width))
    assert max(cell_len(line) for line in out.splitlines()) <= width


# --- verify ------------------------------------------------------------------------------------


def verify_rows(out: str) -> list[tuple[int, float, str]]:
    rows = re.findall(r"│\s*(\d+)\s*│\s*(\S+)\s*│\s*(\S+)\s*│", out)
    return [(int(layer), float(diff), verdict) for layer, diff, verdict in rows]


def test_verify_help() -> None:
    out = ok(run(["verify", "--help"]))
    assert "Run both engines on the same weights and text" in out
    assert "--tol" in out and "--model" in out


def test_verify_without_text_is_a_usage_error() -> None:
    result = run(["verify"])
    assert result.exit_code == 2 and result.stderr.startswith("error: no text given")


@pytest.mark.slow
def test_verify_minilm_passes_with_a_row_per_layer() -> None:
    result = run(["verify", SEED], width=120)
    out = ok(result)
    assert "all-MiniLM-L6-v2: scratch vs hf, 12 tokens" in " ".join(out.split())
    assert "≤ 1e-05" in out  # the default tolerance
    rows = verify_rows(out)
    assert [r[0] for r in rows] == list(range(6))
    assert all(diff <= 1e-5 and verdict == "ok" for _, diff, verdict in rows)
    assert result.stderr == ""


@pytest.mark.slow
def test_verify_title_is_one_line_on_a_wide_terminal() -> None:
    out = ok(run(["verify", SEED], width=120))
    assert out.splitlines()[0].rstrip() == "all-MiniLM-L6-v2: scratch vs hf, 12 tokens"


@pytest.mark.slow
def test_verify_with_zero_tolerance_fails_with_exit_1() -> None:
    result = run(["verify", SEED, "--tol", "0"], width=120)
    assert result.exit_code == 1
    rows = verify_rows(result.stdout)
    assert [r[0] for r in rows] == list(range(6))
    assert any(verdict == "FAIL" for _, _, verdict in rows)
    assert all((verdict == "FAIL") == (diff > 0) for _, diff, verdict in rows)
    largest = max(diff for _, diff, _ in rows)
    assert result.stderr == f"the engines differ by {largest:.2e}, more than --tol 0\n"


@pytest.mark.slow
def test_verify_tiny_gpt2_passes(tiny_gpt2: Path) -> None:
    out = ok(run(["verify", SEED, "--model", str(tiny_gpt2)], width=120))
    assert f"{tiny_gpt2.name}: scratch vs hf" in out
    rows = verify_rows(out)
    assert [r[0] for r in rows] == [0, 1]
    assert all(verdict == "ok" for _, _, verdict in rows)


def test_verify_invalid_tolerance_is_a_usage_error() -> None:
    result = run(["verify", SEED, "--tol", "abc"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Invalid value for '--tol'")
    assert result.stderr.endswith("(see 'attnviz verify --help')\n")


@pytest.mark.parametrize("tol", ["-1", "nan"])
def test_verify_negative_or_nan_tolerance_is_a_usage_error(tol: str) -> None:
    result = run(["verify", SEED, "--tol", tol])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: invalid --tol {tol}: it must be a number ≥ 0 (e.g. --tol 1e-5)\n"


def test_verify_random_model_does_not_blame_an_option_never_given() -> None:
    result = run(["verify", SEED, "--model", "random"])
    assert result.exit_code == 2
    assert "--engine" not in result.stderr


def test_a_diff_hint_suggests_only_what_works() -> None:
    """--merge-words is offered when it gives both texts as many words, and then it works."""
    split, plain = "The unbelievably tired cat slept", "The very tired cat slept"
    result = run(["compare", split, "--heads", "5.11", "--text", plain, "--diff"])
    assert (result.exit_code, result.stderr) == (2, (
        'error: --diff needs as many tokens on both sides: "The unbelievably tired…" has 11, "The very tired…" '
        "has 7 (--merge-words gives both 7 words)\n"))  # fmt: skip
    out = ok(run(["compare", split, "--heads", "5.11", "--text", plain, "--diff", "--merge-words"], width=120))
    assert '"The unbelievably tired…" · L5 H11 − "The very tired…" · L5 H11' in out
    assert re.search(r"unbelievably/v", out)  # both texts name the position where they differ
