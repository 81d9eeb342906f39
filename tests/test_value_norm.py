"""Value-weighted attention (--measure value-norm) against an independent computation from
transformers' own modules: hidden states and weights from a plain forward pass, f_h(x) from the
value projection and the output projection's weight, no hooks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clicheck import ok, run

import attnviz
from attnviz.attention import Attention
from attnviz.errors import UsageError
from attnviz.models.resolve import resolve
from attnviz.models.value_norm import value_norms

SEED = "The cat sat on the mat because it was comfortable"
TOLERANCE = 1e-5


def reference(folder: Path, text: str) -> np.ndarray:
    """(layers, heads, query, key) of α_ij · ‖f_h(x_j)‖ with transformers' modules, in float64."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    inputs = AutoTokenizer.from_pretrained(str(folder))(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs, output_attentions=True, output_hidden_states=True)
    c = model.config
    n_heads = c.num_attention_heads
    d_k = getattr(c, "head_dim", None) or c.hidden_size // n_heads
    group = n_heads // (getattr(c, "num_key_value_heads", None) or n_heads)
    layers = []
    for i in range(c.num_hidden_layers):
        x = out.hidden_states[i]
        with torch.no_grad():
            if c.model_type == "gpt2":
                block = model.h[i]
                v = block.attn.c_attn(block.ln_1(x))[0, :, 2 * c.hidden_size :]  # q | k | v
                w_o = block.attn.c_proj.weight  # Conv1D: (in, out)
            elif hasattr(model, "layers"):  # Llama-likes
                block = model.layers[i]
                v = block.self_attn.v_proj(block.input_layernorm(x))[0]
                w_o = block.self_attn.o_proj.weight.T  # Linear: (out, in)
            else:  # BERT-likes
                attention = model.encoder.layer[i].attention
                v = attention.self.value(x)[0]
                w_o = attention.output.dense.weight.T
        v, w_o = v.detach().double().numpy(), w_o.detach().double().numpy()
        weights = out.attentions[i][0].double().numpy()  # (heads, query, key)
        heads = []
        for h in range(n_heads):
            kv = h // group
            f = v[:, kv * d_k : (kv + 1) * d_k] @ w_o[h * d_k : (h + 1) * d_k]  # (key, d_model)
            norms = np.sqrt((f**2).sum(axis=1))
            heads.append(weights[h] * norms[None, :])
        layers.append(heads)
    return np.array(layers)


def check(attn: Attention, expected: np.ndarray) -> float:
    assert attn.measure == "value-norm"
    assert attn.weights.shape == expected.shape
    diff = float(np.abs(attn.weights - expected).max())
    assert diff < TOLERANCE, diff
    return diff


@pytest.fixture(scope="module")
def minilm() -> Path:
    folder = resolve("minilm").path
    assert folder is not None
    return folder


@pytest.mark.parametrize("engine", ["scratch", "hf"])
def test_minilm_equals_transformers(minilm: Path, engine: str) -> None:
    check(attnviz.extract(SEED, engine=engine, measure="value-norm"), reference(minilm, SEED))


@pytest.mark.parametrize("engine", ["scratch", "hf"])
def test_tiny_bert_and_gpt2_equal_transformers(tiny_bert: Path, tiny_gpt2: Path, engine: str) -> None:
    for folder in (tiny_bert, tiny_gpt2):
        attn = attnviz.extract(SEED, model=str(folder), engine=engine, measure="value-norm")
        check(attn, reference(folder, SEED))


def test_tiny_llama_with_grouped_kv_heads_equals_transformers(tiny_llama: Path) -> None:
    attn = attnviz.extract(SEED, model=str(tiny_llama), engine="hf", measure="value-norm")
    expected = reference(tiny_llama, SEED)
    check(attn, expected)
    assert attn.causal and not np.triu(attn.weights[0, 0], k=1).any()
    # query head h reads value head h // 2; reading h % 2 instead gives other numbers
    values = np.arange(2)[:, None, None] * np.ones((2, 3, 4)) + 1.0
    w_out = np.random.default_rng(0).normal(size=(16, 5))
    ones = np.ones((4, 3, 3))
    norms = value_norms(ones, values, w_out)[:, 0, 0]
    for h in range(4):
        f = values[h // 2, 0] @ w_out[h * 4 : (h + 1) * 4]
        assert norms[h] == pytest.approx(np.linalg.norm(f), rel=1e-6)


def test_a_selection_holds_the_same_numbers(tiny_llama: Path) -> None:
    whole = attnviz.extract(SEED, model=str(tiny_llama), engine="hf", measure="value-norm")
    part = attnviz.extract(SEED, model=str(tiny_llama), engine="hf", measure="value-norm", layers="1", heads="3")
    np.testing.assert_array_equal(part.weights[0, 0], whole.weights[1, 3])


def test_value_norms_is_weight_times_the_norm_of_the_carried_value() -> None:
    rng = np.random.default_rng(3)
    n_heads, kv_heads, d_k, d_model, n = 4, 2, 3, 5, 6
    weights = rng.random((n_heads, n, n))
    values = rng.normal(size=(kv_heads, n, d_k))
    w_out = rng.normal(size=(n_heads * d_k, d_model))
    got = value_norms(weights, values, w_out)
    for h in range(n_heads):
        for i in range(n):
            for j in range(n):
                f = sum(values[h // 2, j, a] * w_out[h * d_k + a] for a in range(d_k))
                assert got[h, i, j] == pytest.approx(np.linalg.norm(weights[h, i, j] * f), rel=1e-6)
    np.testing.assert_allclose(value_norms(weights[[3, 1]], values, w_out, heads=[3, 1]), got[[3, 1]], rtol=1e-7)


def test_a_family_without_a_known_layout_is_one_clear_error(tmp_path: Path) -> None:
    from conftest import save_tiny_llama

    folder = save_tiny_llama(tmp_path / "phi3", "phi3", num_key_value_heads=4)  # one fused qkv_proj
    with pytest.raises(UsageError) as excinfo:
        attnviz.extract(SEED, model=str(folder), engine="hf", measure="value-norm")
    assert "'phi3' is none of these" in str(excinfo.value)
    result = run(["show", SEED, "--model", str(folder), "--engine", "hf", "--measure", "value-norm"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: --measure value-norm: attnviz knows where the value and output")


# --- the CLI -----------------------------------------------------------------------------------


def test_save_records_the_measure_and_load_draws_it(tmp_path: Path) -> None:
    path = tmp_path / "vn.npz"
    ok(run(["show", SEED, "--measure", "value-norm", "--save", str(path)]))
    with np.load(path, allow_pickle=False) as data:
        assert str(data["measure"]) == "value-norm"
    loaded = Attention.load(path)
    check(loaded, reference(resolve("minilm").path, SEED))  # type: ignore[arg-type]
    out = ok(run(["show", "--load", str(path), "--layer", "5", "--head", "11"], width=120))
    assert "value-norm: ‖α_ij·f_h(x_j)‖" in out  # the legend names the measure
    result = run(["show", "--load", str(path), "--measure", "weights"])
    assert result.exit_code == 2
    assert result.stderr == "error: --measure weights: this file holds value-norm, and --load draws that\n"
    result = run(["rollout", "--load", str(path)])
    assert result.stderr == "error: rollout multiplies attention weights, and this file holds value-norm\n"


def test_find_and_stats_rank_value_norms(minilm: Path) -> None:
    expected = reference(minilm, SEED)
    it, cat = 8, 2
    data = json.loads(ok(run(["find", SEED, "--from", "it", "--to", "cat", "--measure", "value-norm", "--json"])))
    others = [q for q in range(1, 11) if q != it]
    for entry in data:
        m = expected[entry["layer"], entry["head"]]
        assert entry["weight"] == pytest.approx(m[it, cat], abs=TOLERANCE)
        assert entry["baseline"] == pytest.approx(m[others, cat].mean(), abs=TOLERANCE)
    stats = json.loads(ok(run(["stats", SEED, "--measure", "value-norm", "--json"])))
    assert [s["sink"] for s in stats] == pytest.approx(expected[:, :, :, 0].mean(-1).ravel().tolist(), abs=TOLERANCE)
    table = ok(run(["stats", SEED, "--measure", "value-norm"], width=120))
    assert "value-weighted norm on position 0" in table


def test_images_name_the_measure(tmp_path: Path) -> None:
    path = tmp_path / "head.svg"
    ok(run(["show", SEED, "--layer", "5", "--head", "11", "--measure", "value-norm", "-o", str(path)]))
    svg = path.read_text()
    assert "value-norm ‖α·f(x)‖" in svg  # the colour bar
    path = tmp_path / "cmp.svg"
    ok(run(["compare", SEED, "--heads", "5.11,0.3", "--measure", "value-norm", "-o", str(path)]))
    assert "value-norm ‖α·f(x)‖" in path.read_text()


def test_invalid_measure_and_generation() -> None:
    result = run(["show", SEED, "--measure", "norms"])
    assert result.exit_code == 2
    assert result.stderr == "error: invalid --measure 'norms' (use weights or value-norm)\n"
    result = run(["stats", "--corpus", "sample_texts/coref_pairs.jsonl", "--measure", "value-norm"])
    assert result.stderr == "error: --measure value-norm: --corpus runs read attention weights only\n"
