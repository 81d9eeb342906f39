"""Edges a review found: positions after --tokens, rollout over the whole text, real indices in
stats images, hostile model names, --max-tokens below the special tokens, JSON without NaN, and
explain checked against the engine's own intermediates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from clicheck import run

import attnviz
from attnviz.analysis.explain import explain
from attnviz.models.resolve import default_model_dir
from attnviz.models.run import record_layer

SEED = "The cat sat on the mat because it was comfortable"
LONG = Path(__file__).resolve().parent.parent / "sample_texts" / "11_long_paragraph.txt"


def test_tokens_zoom_labels_rows_with_their_real_positions() -> None:
    attn = attnviz.extract(LONG.read_text(), layers=[0], heads=[3])
    result = run(["show", "--file", str(LONG), "--layer", "0", "--head", "3", "--tokens", "100-300"])
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.split() and line.split()[0].isdigit()]
    first = rows[1]  # rows[0] is the column ruler
    assert first[0] == "100" and first[1] == attn.tokens[100]  # the window starts at token 100


def test_rollout_is_computed_over_the_whole_text_then_cropped() -> None:
    full = json.loads(run(["rollout", SEED, "--json"]).stdout)
    window = json.loads(run(["rollout", SEED, "--json", "--tokens", "2-5"]).stdout)
    assert window["tokens"] == full["tokens"][2:6]
    expected = np.array(full["rollout"])[2:6, 2:6]
    np.testing.assert_allclose(np.array(window["rollout"]), expected, atol=1e-12)


def test_stats_image_axes_carry_the_saved_layer_and_head_numbers(tmp_path: Path) -> None:
    from attnviz.render import image

    saved = tmp_path / "sub.npz"
    assert run(["show", SEED, "--layer", "3-5", "--head", "2,7", "--save", str(saved)]).exit_code == 0
    drawn: dict[str, list[str]] = {}
    original = image.render_layer_head_table

    def spy(values, path, **kw):  # type: ignore[no-untyped-def]
        rendered = original(values, path, **kw)
        ax = rendered.figure.axes[0]
        drawn["y"] = [t.get_text() for t in ax.get_yticklabels()]
        drawn["x"] = [t.get_text() for t in ax.get_xticklabels()]
        return rendered

    image.render_layer_head_table = spy
    try:
        result = run(["stats", "--load", str(saved), "-o", str(tmp_path / "st.png")])
    finally:
        image.render_layer_head_table = original
    assert result.exit_code == 0, result.stderr
    assert drawn == {"y": ["3", "4", "5"], "x": ["2", "7"]}


@pytest.mark.slow
def test_a_model_name_with_escape_codes_never_reaches_stdout(tmp_path: Path) -> None:
    folder = tmp_path / "evil\x1b[31mRED\x1b]0;title\x07"
    shutil.copytree(default_model_dir(), folder)
    for args in (["explain", SEED, "--model", str(folder)], ["verify", "The cat", "--model", str(folder)]):
        result = run(args)
        assert result.exit_code == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "evil␛[31mRED" in result.stdout


@pytest.mark.parametrize("model", ["minilm", "random"])
def test_max_tokens_below_the_special_tokens_is_a_usage_error(model: str) -> None:
    result = run(["show", "The cat sat on the mat", "--max-tokens", "1", "--model", model, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--max-tokens 1 " in result.stderr and result.stderr.startswith("error: ")


def test_json_refuses_nan_instead_of_printing_invalid_json(tmp_path: Path) -> None:
    attn = attnviz.extract(SEED, layers=[0], heads=[0])
    broken = attn.weights.copy()
    broken[0, 0, 1, 1] = np.nan
    path = tmp_path / "nan.npz"
    attn.replace(weights=broken).save(path)
    result = run(["stats", "--load", str(path), "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "error: the result holds NaN or infinite values, which JSON cannot represent\n"


@pytest.mark.parametrize("model_kind", ["bert", "gpt2"])
def test_explain_equals_the_engines_own_intermediates(model_kind: str, tiny_gpt2: Path) -> None:
    """Not `weights @ v` recomputed the same way: the row the engine itself computed (`pattern`)
    and the head output it itself produced (`z`)."""
    model = "minilm" if model_kind == "bert" else str(tiny_gpt2)
    attn, record = record_layer(SEED, model, 1)
    query = len(attn.tokens) // 2
    for head in range(record["q"].shape[0]):
        e = explain(record, model=attn.model, tokens=attn.tokens, layer=1, head=head, query=query, causal=attn.causal)
        np.testing.assert_allclose(e.weights, record["pattern"][head, query], atol=1e-6)
        np.testing.assert_allclose(e.output, record["z"][head, query], atol=1e-5)
        merged = record["merged"][query]
        d_k = e.d_k
        np.testing.assert_allclose(merged[head * d_k : (head + 1) * d_k], record["z"][head, query], atol=0)
