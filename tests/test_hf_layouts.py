"""The hf engine never crashes on a shape: Longformer's banded attention spread into the full
matrix, BigBird's block padding cropped, anything else one clear error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from clicheck import assert_clean_error, invoke
from conftest import _bert_tokenizer

from attnviz.errors import ModelError
from attnviz.models import hf, layouts
from attnviz.models.run import extract

TEXT = "The cat sat on the mat because it was comfortable, and the trophy did not fit in the suitcase."
SIZES = {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 64, "initializer_range": 0.3, "pad_token_id": 0}  # fmt: skip


def save_longformer(folder: Path, window: list[int]) -> Path:
    import torch
    from transformers import LongformerConfig, LongformerModel

    _bert_tokenizer(folder)
    torch.manual_seed(0)
    config = LongformerConfig(**SIZES, max_position_embeddings=130, attention_window=window, sep_token_id=3)
    LongformerModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def longformer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One-sided window w = 2: each token sees 2 neighbours on each side."""
    return save_longformer(tmp_path_factory.mktemp("longformer"), [4, 4])


@pytest.fixture(scope="module")
def bigbird(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Block-sparse attention in blocks of 2 tokens (texts over 14 tokens; full below)."""
    import torch
    from transformers import BigBirdConfig, BigBirdModel

    folder = tmp_path_factory.mktemp("bigbird")
    _bert_tokenizer(folder)
    torch.manual_seed(0)
    config = BigBirdConfig(**SIZES, max_position_embeddings=128, block_size=2, num_random_blocks=1)
    BigBirdModel(config).save_pretrained(folder)
    return folder


def _layer0_input(model, inputs: dict) -> object:
    """The hidden states layer 0's self-attention receives (padded as the model pads them)."""
    import torch

    seen = {}
    module = model.encoder.layer[0].attention.self

    def grab(_module, args, kwargs):
        seen["h"] = args[0] if args else kwargs["hidden_states"]

    handle = module.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            out = model(**inputs, output_attentions=True)
    finally:
        handle.remove()
    return seen["h"], out


def _softmax(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    scores = np.where(allowed, scores, -1e9)  # padding rows see nothing: uniform, cropped later
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _longformer_reference(model, inputs: dict, globals_: list[int]) -> tuple[np.ndarray, object]:
    """Layer 0's full (heads, n, n) attention written from its definition: each query sees
    the keys within w of it and the global tokens; a global token sees every token."""
    import torch

    n = inputs["input_ids"].shape[1]
    h, out = _layer0_input(model, inputs)
    att = model.encoder.layer[0].attention.self
    heads, d = att.num_heads, att.head_dim
    w = att.one_sided_attn_window_size
    with torch.no_grad():
        x = h[0]  # (padded, hidden)

        def split(t):
            return t.view(t.shape[0], heads, d).transpose(0, 1).double().numpy()  # (heads, padded, d)

        q, k = split(att.query(x)) / math.sqrt(d), split(att.key(x))
        qg, kg = split(att.query_global(x)) / math.sqrt(d), split(att.key_global(x))
    padded = x.shape[0]
    real = np.arange(padded) < n
    glob = np.isin(np.arange(padded), globals_)
    i, j = np.meshgrid(np.arange(padded), np.arange(padded), indexing="ij")
    local = (np.abs(i - j) <= w) & ~glob[None, :] | glob[None, :]
    weights = _softmax(q @ k.transpose(0, 2, 1), local & real[None, :])
    if globals_:
        everything = np.broadcast_to(real, (padded, padded))
        weights[:, globals_] = _softmax(qg @ kg.transpose(0, 2, 1), everything)[:, globals_]
    return weights[:, :n, :n], out


def test_longformer_band_spread_into_the_full_matrix_equals_its_definition(longformer: Path) -> None:
    attn = extract(TEXT, str(longformer), "hf")
    n = attn.n_tokens
    assert n % 4 and attn.weights.shape == (2, 4, n, n)  # not a multiple of the window: padded inside
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) > 2
    assert not attn.weights[:, :, far].any()  # nothing outside the band
    model, tokenizer = hf.load(longformer)
    inputs, _ = hf.tokenize(tokenizer, TEXT, 512)
    reference, out = _longformer_reference(model, dict(inputs), [])
    np.testing.assert_allclose(attn.weights[0], reference, atol=1e-5)
    band = out.attentions[0][0].numpy()  # transformers' own (heads, n, 2w + 1) layout
    for q in range(n):
        for c in range(5):
            if 0 <= q - 2 + c < n:
                assert attn.weights[0, :, q, q - 2 + c] == pytest.approx(band[:, q, c], abs=1e-6)


def test_longformer_global_tokens_take_their_rows_and_columns(longformer: Path) -> None:
    import torch

    model, tokenizer = hf.load(longformer)
    inputs, _ = hf.tokenize(tokenizer, TEXT, 512)
    inputs = dict(inputs)
    n = inputs["input_ids"].shape[1]
    marked = torch.zeros_like(inputs["input_ids"])
    marked[0, [0, 7]] = 1
    inputs["global_attention_mask"] = marked
    kept = hf.run(model, inputs, [0, 1], [0, 1, 2, 3])
    reference, out = _longformer_reference(model, inputs, [0, 7])
    np.testing.assert_allclose(kept[0], reference, atol=1e-5)
    for layer in (0, 1):
        assert kept[layer].shape == (4, n, n)
        np.testing.assert_allclose(kept[layer].sum(-1), 1.0, atol=1e-5)
        rows = out.global_attentions[layer][0].numpy()  # (heads, padded keys, globals)
        np.testing.assert_allclose(kept[layer][:, 7, :], rows[:, :n, 1], atol=1e-6)
        assert kept[layer][:, 20, 0] == pytest.approx(out.attentions[layer][0, :, 20, 0].numpy(), abs=1e-6)


def test_bigbird_block_padding_is_cropped(bigbird: Path) -> None:
    import torch

    attn = extract(TEXT, str(bigbird), "hf")
    n = attn.n_tokens
    assert n > 14 and n % 2 == 1 and attn.weights.shape == (2, 4, n, n)  # block-sparse, one padding token
    model, tokenizer = hf.load(bigbird)
    assert model.config.attention_type == "block_sparse"
    inputs, _ = hf.tokenize(tokenizer, TEXT, 512)
    with torch.no_grad():
        out = model(**inputs, output_attentions=True)
    own = out.attentions[1][0].numpy()
    assert own.shape == (4, n + 1, n + 1)
    assert not own[:, :n, n:].any()  # the padding key held no weight: nothing is lost by the crop
    np.testing.assert_allclose(attn.weights[1], own[:, :n, :n], atol=1e-6)
    np.testing.assert_allclose(attn.weights[:, :, :2].sum(-1), 1.0, atol=1e-5)  # the global first block
    assert (attn.weights[:, :, 6:-2] == 0).any(axis=-1).all()  # block-sparse: each middle query skips keys


def test_bigbird_short_text_switches_to_full_attention_and_is_still_captured(bigbird: Path) -> None:
    attn = extract("The cat sat.", str(bigbird), "hf")
    n = attn.n_tokens
    assert attn.weights.shape == (2, 4, n, n)
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    assert attn.weights.min() > 0  # full attention: every key seen


def test_shapes_no_layout_explains_are_one_clear_error() -> None:
    with pytest.raises(ModelError, match=r"layer 3 returned attention of shape \(4, 5, 7\), which attnviz cannot map"):
        layouts.full_matrix(np.zeros((4, 5, 7), np.float32), 5, 3)
    with pytest.raises(ModelError, match="cannot map to 6 queries × 6 keys"):
        layouts.full_matrix(np.full((2, 8, 8), 1 / 8, np.float32), 6, 0)  # the extra keys hold weight
    with pytest.raises(ModelError):
        layouts.full_matrix(np.zeros((2, 6, 4), np.float32), 6, 0, band=True)  # an even band has no centre


def test_a_model_failing_on_the_text_is_one_clear_line(tmp_path: Path) -> None:
    folder = save_longformer(tmp_path / "uneven", [4, 6])  # pads to 6, then layer 0 wants a multiple of 4
    result = invoke(["show", TEXT, "--model", str(folder), "--engine", "hf"])
    assert_clean_error(result, 1, prefix="the model failed on this text: Sequence length should be multiple of 4")
