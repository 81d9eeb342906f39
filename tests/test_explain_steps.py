"""explain, complete: the formula and shapes, the whole score matrix, one dot product term by
term, the mask of the last token, and the steps as one picture, all holding the numbers the
scratch engine recorded (its Q, K, V and weights)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from clicheck import ok, run, widest

from attnviz.analysis.explain import explain
from attnviz.models.run import record_layer
from attnviz.render.explain_image import render_steps

SEED = "The cat sat on the mat because it was comfortable"


@pytest.fixture(scope="module")
def recorded() -> tuple[object, dict[str, np.ndarray]]:
    return record_layer(SEED, "minilm", 5)


def test_json_holds_the_score_matrix_and_the_worked_terms(recorded) -> None:  # type: ignore[no-untyped-def]
    _, record = recorded
    q, k = record["q"][11].astype(np.float64), record["k"][11].astype(np.float64)
    data = json.loads(ok(run(["explain", SEED, "-l", "5", "-H", "11", "-q", "it", "--json"])))
    np.testing.assert_allclose(np.array(data["score_matrix"]), q @ k.T, atol=1e-9)
    assert data["worked_key"] == 2  # "cat", the key "it" weighs most
    np.testing.assert_allclose(data["terms"], q[8] * k[2], atol=1e-12)
    assert sum(data["terms"]) == pytest.approx(data["scores"][2], abs=1e-9)


def test_text_opens_with_the_formula_and_works_one_dot_product(recorded) -> None:  # type: ignore[no-untyped-def]
    _, record = recorded
    q, k = record["q"][11].astype(np.float64), record["k"][11].astype(np.float64)
    out = ok(run(["explain", SEED, "-l", "5", "-H", "11", "-q", "it"], width=100))
    flat = " ".join(out.split())
    assert out.startswith("Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k) · V")
    assert "the text's 12 tokens × 384 (d_model) are projected and split into 12 heads × 12 tokens × 32 (d_k)" in flat
    first = " + ".join(f"({q[8, i]:+.2f})({k[2, i]:+.2f})" for i in range(3))
    assert f"q[it] · k[cat] (the key it weighs most): = {first} + … (29 more terms)" in flat
    assert f"= {q[8, 0] * k[2, 0]:.3f} " in flat and f"= {q[8] @ k[2]:.3f}" in flat
    # the whole matrix: every query row, its numbers the engine's Q·Kᵀ
    scores = q @ k.T
    rows = {line.split()[0]: line for line in out.splitlines() if re.match(r"\s*\S+ [▶ ]\s+-?\d+\.\d\s", line)}
    assert len(rows) >= 11  # [CLS] … [SEP] (two "the"s share a key)
    it_row = next(line for line in out.splitlines() if line.lstrip().startswith("it ▶"))
    numbers = [float(x) for x in it_row.split()[2:]]
    assert numbers == pytest.approx([round(v, 1) for v in scores[8, : len(numbers)]], abs=0.051)


def test_the_score_matrix_shows_a_window_when_narrow() -> None:
    out = ok(run(["explain", SEED, "-l", "5", "-H", "11", "-q", "it"], width=60))
    assert widest(out) <= 60
    window = re.search(r"keys (\d+)-(\d+) and queries 0-11 of 12, around the followed query", " ".join(out.split()))
    assert window and int(window.group(1)) <= 8 <= int(window.group(2))  # the query's own column stays in view
    wider = ok(run(["explain", SEED, "-l", "5", "-H", "11", "-q", "it"], width=80))
    window = re.search(r"keys (\d+)-(\d+) and queries", wider)
    assert window and int(window.group(1)) <= 2 <= 8 <= int(window.group(2))  # and its top key, when both fit


def test_the_last_token_of_a_decoder_has_no_later_keys(tiny_gpt2: Path) -> None:
    data = json.loads(ok(run(["explain", "The cat sat on the mat", "--model", str(tiny_gpt2), "-q", "mat", "--json"])))
    assert data["query"] == len(data["tokens"]) - 1 and all(data["mask"])  # the last token sees every key
    out = ok(run(["explain", "The cat sat on the mat", "--model", str(tiny_gpt2), "-q", "mat"]))
    flat = " ".join(out.split())
    assert "there are no later keys to hide: nothing gets −∞ here" in flat


def test_the_picture_holds_the_models_own_numbers(recorded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    attn, record = recorded
    e = explain(record, model=attn.model, tokens=attn.tokens, layer=5, head=11, query=8, causal=False)
    drawn = render_steps(e, tmp_path / "steps.svg")
    assert [t.split(" (")[0] for t in drawn.titles] == ["Q", "Kᵀ", "Q·Kᵀ/√32", "softmax → weights", "V",
                                                        "weights·V = output"]  # fmt: skip
    q, k, v = (record[name][11].astype(np.float64) for name in ("q", "k", "v"))
    weights = record["pattern"][11].astype(np.float64)
    np.testing.assert_allclose(drawn.matrices[0], q)
    np.testing.assert_allclose(drawn.matrices[1], k.T)
    np.testing.assert_allclose(drawn.matrices[2], q @ k.T / np.sqrt(32), atol=1e-9)
    np.testing.assert_allclose(drawn.matrices[3], weights)
    np.testing.assert_allclose(drawn.matrices[3], attn.head(5, 11), atol=1e-6)  # what `show` draws
    np.testing.assert_allclose(drawn.matrices[4], v)
    np.testing.assert_allclose(drawn.matrices[5], weights @ v, atol=1e-9)
    svg = (tmp_path / "steps.svg").read_text()
    assert svg.count("stroke: #e8175d") == 4  # the "it" row outlined in Q, scores, weights, output


def test_cli_writes_the_picture(tmp_path: Path) -> None:
    for name in ("steps.png", "steps.pdf"):
        path = tmp_path / name
        result = run(["explain", SEED, "-l", "5", "-H", "11", "-q", "it", "-o", str(path)])
        assert ok(result) == "" and result.stderr == f"wrote {path}\n"
        assert path.stat().st_size > 1000
    result = run(["explain", SEED, "-o", str(tmp_path / "steps.bmp")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot write")
    assert not (tmp_path / "steps.bmp").exists()
