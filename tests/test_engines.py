"""The engines: scratch and transformers agree, masks are exact, the formula is the formula."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from attnviz.errors import ModelError, UsageError
from attnviz.models import scratch
from attnviz.models.run import RandomOptions, extract

SEED = "The cat sat on the mat because it was comfortable"


@pytest.mark.slow
def test_scratch_equals_transformers_on_minilm_for_every_sample(sample_texts: dict[str, str]) -> None:
    assert len(sample_texts) >= 10
    for name, text in sample_texts.items():
        ours = extract(text, engine="scratch")
        theirs = extract(text, engine="hf")
        assert ours.tokens == theirs.tokens, name
        assert ours.weights.shape == (6, 12, len(ours.tokens), len(ours.tokens))
        assert np.abs(ours.weights - theirs.weights).max() < 1e-5, name


def test_minilm_layer5_head11_links_it_to_cat() -> None:
    attn = extract(SEED, layers=[5], heads=[11])
    row = attn.weights[0, 0, attn.tokens.index("it")]
    assert attn.tokens[int(row.argmax())] == "cat"
    assert row[attn.tokens.index("cat")] == pytest.approx(0.64, abs=0.02)


def test_scratch_equals_transformers_on_tiny_bert(tiny_bert: Path) -> None:
    text = "The trophy did not fit in the suitcase because it was unbelievably big."
    ours = extract(text, model=str(tiny_bert), engine="scratch")
    theirs = extract(text, model=str(tiny_bert), engine="hf")
    assert ours.tokens == theirs.tokens
    assert ours.weights.max() > 0.5  # the weights are not near-uniform, so agreement means something
    assert np.abs(ours.weights - theirs.weights).max() < 1e-5
    assert ours.special.tolist() == theirs.special.tolist() == [True] + [False] * (ours.n_tokens - 2) + [True]


def test_scratch_equals_transformers_on_tiny_gpt2_and_mask_is_exact(tiny_gpt2: Path) -> None:
    text = "The cat sat on the mat because it was comfortable."
    ours = extract(text, model=str(tiny_gpt2), engine="scratch")
    theirs = extract(text, model=str(tiny_gpt2), engine="hf")
    assert ours.tokens == theirs.tokens
    assert ours.causal and theirs.causal
    assert np.abs(ours.weights - theirs.weights).max() < 1e-5
    upper = np.triu(np.ones((ours.n_tokens, ours.n_tokens), dtype=bool), k=1)
    assert (ours.weights[..., upper] == 0).all()
    assert (theirs.weights[..., upper] == 0).all()


def test_auto_engine_picks_scratch_for_supported_models(tiny_bert: Path) -> None:
    assert extract("a cat", model=str(tiny_bert)).engine == "scratch"
    assert extract("a cat").engine == "scratch"


def test_hf_engine_selection_equals_the_full_extraction(tiny_bert: Path) -> None:
    text = "Attention is all you need."
    full = extract(text, model=str(tiny_bert), engine="hf")
    part = extract(text, model=str(tiny_bert), engine="hf", layers="0", heads="1,3")
    assert part.layers == (0,) and part.heads == (1, 3)
    np.testing.assert_array_equal(part.weights[0], full.weights[0, [1, 3]])


def test_scratch_selection_equals_the_full_extraction() -> None:
    full = extract(SEED, engine="scratch")
    part = extract(SEED, engine="scratch", layers="2-3", heads="0,11")
    np.testing.assert_array_equal(part.weights, full.weights[2:4][:, [0, 11]])


def test_rows_sum_to_one_on_every_engine(tiny_bert: Path, tiny_gpt2: Path) -> None:
    for model, engine in [("minilm", "scratch"), (str(tiny_bert), "hf"), (str(tiny_gpt2), "scratch")]:
        attn = extract(SEED, model=model, engine=engine)
        np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)


def test_attention_function_equals_torch_multihead_attention() -> None:
    import torch

    rng = np.random.default_rng(1)
    n, d, h = 7, 16, 4
    x = rng.normal(size=(n, d)).astype(np.float32)
    mha = torch.nn.MultiheadAttention(d, h, bias=True, batch_first=True)
    torch.nn.init.normal_(mha.in_proj_bias)
    w_in = mha.in_proj_weight.detach().numpy()  # (3d, d): q, k, v stacked, torch layout (out, in)
    b_in = mha.in_proj_bias.detach().numpy()
    params = {
        "wq": w_in[:d].T, "wk": w_in[d : 2 * d].T, "wv": w_in[2 * d :].T,
        "bq": b_in[:d], "bk": b_in[d : 2 * d], "bv": b_in[2 * d :],
        "wo": mha.out_proj.weight.detach().numpy().T, "bo": mha.out_proj.bias.detach().numpy(),
    }  # fmt: skip
    for causal in (False, True):
        mask = scratch.causal_mask(n) if causal else None
        out, weights = scratch.multi_head_attention(x, params, h, mask, {})
        t = torch.from_numpy(x)[None]
        torch_mask = torch.from_numpy(~mask) if causal else None  # torch: True means "may not attend"
        with torch.no_grad():
            t_out, t_weights = mha(t, t, t, need_weights=True, average_attn_weights=False, attn_mask=torch_mask)
        assert np.abs(weights - t_weights[0].numpy()).max() < 1e-6
        assert np.abs(out - t_out[0].numpy()).max() < 1e-5


def test_attention_is_the_formula() -> None:
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=(2, 5, 8)).astype(np.float32) for _ in range(3))
    out, weights = scratch.attention(q, k, v)
    scores = np.einsum("hqd,hkd->hqk", q.astype(np.float64), k) / math.sqrt(8)
    expected = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, atol=1e-6)
    np.testing.assert_allclose(out, expected @ v, atol=1e-5)


def test_erf_approximation_is_within_its_bound() -> None:
    xs = np.linspace(-6, 6, 2001)
    approx = scratch.erf(xs)
    exact = np.array([math.erf(x) for x in xs])
    assert np.abs(approx - exact).max() < 2e-7


def test_float32_erf_and_gelu_stay_float32_and_exact_to_a_few_ulps() -> None:
    xs = np.linspace(-8, 8, 40001, dtype=np.float32)
    approx = scratch.erf(xs)
    assert approx.dtype == np.float32
    exact = np.array([math.erf(x) for x in xs.astype(np.float64)])
    assert np.abs(approx - exact).max() < 6e-7
    gelu = scratch.gelu(xs, "gelu")
    exact_gelu = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in xs.astype(np.float64)])
    assert gelu.dtype == np.float32
    assert np.abs(gelu - exact_gelu).max() < 4e-6  # a few float32 ulps of 8
    assert scratch.gelu(np.float32([0.0]), "gelu")[0] == 0.0
    assert scratch.gelu(np.float32([-3.0]), "gelu")[0] < 0  # x·Φ(x) is negative below 0
    for kind in ("gelu", "gelu_new"):  # in place, over more than one block: the same numbers
        x = np.random.default_rng(1).normal(scale=3, size=(3, 100_000)).astype(np.float32)
        expected = scratch.gelu(x, kind)
        assert scratch.gelu(x, kind, out=x) is x
        assert np.array_equal(x, expected)


def test_random_model_is_seeded_and_sized() -> None:
    a = extract(SEED, model="random", random=RandomOptions(layers=3, heads=2, dim=16, seed=7))
    b = extract(SEED, model="random", random=RandomOptions(layers=3, heads=2, dim=16, seed=7))
    c = extract(SEED, model="random", random=RandomOptions(layers=3, heads=2, dim=16, seed=8))
    assert a.weights.shape == (3, 2, 12, 12)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, c.weights)
    assert a.tokens[0] == "[CLS]" and a.tokens[-1] == "[SEP]"


def test_random_model_rejects_bad_sizes() -> None:
    with pytest.raises(UsageError, match="multiple of --random-heads"):
        extract(SEED, model="random", random=RandomOptions(heads=3, dim=16))
    with pytest.raises(UsageError, match="scratch engine only"):
        extract(SEED, model="random", engine="hf")


def test_hub_id_fails_cleanly_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="not in the local cache") as info:
        extract(SEED, model="someone/some-model")
    assert "hf download someone/some-model" in str(info.value)


def test_missing_folder_and_unsupported_scratch_architecture(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        extract(SEED, model="./no/such/folder")
    (tmp_path / "config.json").write_text('{"model_type": "t5"}')
    with pytest.raises(UsageError, match="runs bert, gpt2"):
        extract(SEED, model=str(tmp_path), engine="scratch")


def test_long_input_is_truncated_with_a_warning() -> None:
    from attnviz.errors import AttnvizWarning

    with pytest.warns(AttnvizWarning, match="the last 4 tokens were dropped"):
        attn = extract(SEED, layers="0", heads="0", max_tokens=8)
    assert attn.n_tokens == 8 and attn.tokens[-1] == "[SEP]"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_hf_engine_half_precision_stays_close_to_float32(tiny_bert: Path, dtype: str) -> None:
    text = "The cat sat on the mat."
    full = extract(text, model=str(tiny_bert), engine="hf")
    half = extract(text, model=str(tiny_bert), engine="hf", dtype=dtype)
    assert half.weights.dtype == np.float32  # stored as float32 whatever the compute dtype
    difference = np.abs(half.weights - full.weights).max()
    assert 0 < difference < 0.05  # computed in lower precision, yet the same pattern
    np.testing.assert_allclose(half.weights.sum(-1), 1.0, atol=1e-2)


def test_hf_engine_rejects_bad_dtype_device_and_missing_accelerate(tiny_bert: Path) -> None:
    import importlib.util

    with pytest.raises(UsageError, match="invalid --dtype 'float8'"):
        extract(SEED, model=str(tiny_bert), engine="hf", dtype="float8")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            extract(SEED, model=str(tiny_bert), engine="hf", device="cuda")
    if importlib.util.find_spec("accelerate") is None:
        with pytest.raises(UsageError, match="needs the accelerate package"):
            extract(SEED, model=str(tiny_bert), engine="hf", device_map="auto")


def test_hf_engine_device_map_auto_gives_the_same_weights(tiny_bert: Path) -> None:
    pytest.importorskip("accelerate")  # in the test extra
    mapped = extract(SEED, model=str(tiny_bert), engine="hf", device_map="auto")
    plain = extract(SEED, model=str(tiny_bert), engine="hf")
    np.testing.assert_array_equal(mapped.weights, plain.weights)


def test_roberta_positions_after_the_padding_id_are_respected(tmp_path: Path) -> None:
    """RoBERTa's position ids start after the padding id: of 20 positions only 19 are usable, so
    a long input must be cut to 19 tokens, not crash at the 20th."""
    from conftest import save_tiny_bert

    from attnviz.errors import AttnvizWarning

    save_tiny_bert(tmp_path, "roberta", num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=20,
                   pad_token_id=0, initializer_range=0.02)  # fmt: skip
    with pytest.warns(AttnvizWarning, match="the model takes 19"):
        attn = extract("the cat sat on the mat " * 6, model=str(tmp_path))
    assert attn.engine == "hf" and attn.n_tokens == 19


@pytest.mark.parametrize(
    ("model_type", "changes"),
    [
        ("gpt2", {"activation_function": "relu"}),
        ("gpt2", {"scale_attn_by_inverse_layer_idx": True}),
        ("gpt2", {"scale_attn_weights": False}),
        ("bert", {"is_decoder": True}),
        ("bert", {"hidden_act": "silu"}),
    ],
)
def test_configs_the_scratch_engine_would_get_wrong_fall_back_to_hf(
    model_type: str, changes: dict[str, object], tiny_bert: Path, tiny_gpt2: Path, tmp_path: Path
) -> None:
    """Each of these changes the attention (verify showed differences of 0.2 to 0.98): the scratch
    engine refuses them, and auto runs transformers, which then agrees with itself."""
    import json
    import shutil

    source = tiny_gpt2 if model_type == "gpt2" else tiny_bert
    folder = tmp_path / "model"
    shutil.copytree(source, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    with pytest.raises(UsageError, match="the scratch engine does not support"):
        extract(SEED, model=str(folder), engine="scratch")
    auto = extract(SEED, model=str(folder))
    assert auto.engine == "hf"


def test_gelu_pytorch_tanh_is_the_tanh_gelu(tiny_gpt2: Path, tmp_path: Path) -> None:
    import json
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_gpt2, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "activation_function": "gelu_pytorch_tanh"}))
    ours, theirs = extract(SEED, model=str(folder), engine="scratch"), extract(SEED, model=str(folder), engine="hf")
    assert np.abs(ours.weights - theirs.weights).max() < 1e-5


def test_the_tiny_llama_fixture_is_a_grouped_query_decoder_the_hf_engine_runs(tiny_llama: Path) -> None:
    import json

    config = json.loads((tiny_llama / "config.json").read_text())
    assert (config["model_type"], config["num_attention_heads"], config["num_key_value_heads"]) == ("llama", 4, 2)
    attn = extract("The cat sat on the mat", model=str(tiny_llama), engine="hf")
    assert attn.causal and attn.weights.shape[:2] == (2, 4)
    assert not np.triu(attn.weights, k=1).any()
    assert np.allclose(attn.weights.sum(-1), 1, atol=1e-5)
    assert attn.weights.std() > 0.01  # not near-uniform: the heads differ
