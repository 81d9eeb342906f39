"""The Attention type: invariants, the .npz format, atomic writes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from attnviz.attention import Attention
from attnviz.errors import UsageError


def make(n: int = 5, layers: tuple[int, ...] = (0, 2), heads: tuple[int, ...] = (1, 3)) -> Attention:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(layers), len(heads), n, n))
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return Attention(
        tokens=["[CLS]", "日本", "x\x1b[31m", "[bold]", "[SEP]"][:n],
        weights=weights,
        layers=layers,
        heads=heads,
        special=[True, False, False, False, True][:n],
        word_ids=[-1, 0, 1, 2, -1][:n],
        causal=False,
        model="m",
        engine="scratch",
        text="some text",
        notes=("a note",),
    )


def test_npz_round_trip_is_exact_and_needs_no_pickle(tmp_path: Path) -> None:
    attn = make()
    path = tmp_path / "a.npz"
    attn.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert {"weights", "tokens", "layers", "heads"} <= set(data.files)
        assert all(data[k].dtype != object for k in data.files)
    back = Attention.load(path)
    np.testing.assert_array_equal(back.weights, attn.weights)
    assert back.weights.dtype == np.float32
    for name in ("tokens", "layers", "heads", "causal", "model", "engine", "text", "notes"):
        assert getattr(back, name) == getattr(attn, name), name
    np.testing.assert_array_equal(back.special, attn.special)
    np.testing.assert_array_equal(back.word_ids, attn.word_ids)


def test_head_uses_the_models_indices() -> None:
    attn = make()
    np.testing.assert_array_equal(attn.head(2, 3), attn.weights[1, 1])
    with pytest.raises(UsageError, match="layer 1 head 3 is not in this extraction"):
        attn.head(1, 3)


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected"):
        Attention(tokens=["a"], weights=np.zeros((1, 1, 2, 2)), layers=[0], heads=[0], special=[False], word_ids=[0])


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip at all", b"PK\x03\x04 truncated"],
    ids=["empty", "text", "truncated-zip"],
)
def test_corrupted_npz_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="cannot load"):
        Attention.load(path)


def test_foreign_npz_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "foreign.npz"
    np.savez(path, something=np.arange(3))
    with pytest.raises(UsageError, match="not an attnviz extraction"):
        Attention.load(path)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format_version=1, weights=np.zeros((1, 1, 1, 1)), tokens=np.array([object()], dtype=object))
    with pytest.raises(UsageError, match="cannot load"):
        Attention.load(pickled)


def test_truncated_real_npz_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    make().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="cannot load"):
        Attention.load(path)
    assert zipfile.is_zipfile(tmp_path / "a.npz") is False


def test_failed_save_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(KeyboardInterrupt):
        make().save(tmp_path / "a.npz")
    assert list(tmp_path.iterdir()) == []


# --- format 2: the rectangular (cross-attention) type, generated tokens, stacks, measures ---

DATA = Path(__file__).resolve().parent / "data"


def make_cross(n_query: int = 3, n_key: int = 4) -> Attention:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 2, n_query, n_key))
    return Attention(
        tokens=["<pad>", "Le", "chat"][:n_query],
        weights=np.exp(logits) / np.exp(logits).sum(-1, keepdims=True),
        layers=(0,),
        heads=(0, 1),
        special=[True, False, False][:n_query],
        word_ids=[-1, 0, 1][:n_query],
        generated=[False, True, True][:n_query],
        stack="cross",
        key_tokens=["The", "cat", "sat", "</s>"][:n_key],
        key_special=[False, False, False, True][:n_key],
        key_word_ids=[0, 1, 2, -1][:n_key],
        source_text="The cat sat",
        model="tiny-t5",
        engine="hf",
    )


def test_self_attention_key_side_mirrors_the_query_side_even_after_replace() -> None:
    attn = make()
    assert attn.is_self and attn.key_tokens == attn.tokens and attn.n_keys == attn.n_queries == 5
    assert attn.key_special is attn.special and attn.key_offset == attn.offset == 0
    cropped = attn.replace(
        tokens=attn.tokens[1:4], weights=attn.weights[:, :, 1:4, 1:4], special=attn.special[1:4],
        word_ids=attn.word_ids[1:4], generated=attn.generated[1:4], offset=1,
    )  # fmt: skip
    assert cropped.key_tokens == attn.tokens[1:4] and cropped.key_offset == 1
    assert cropped.key_word_ids.tolist() == [0, 1, 2]


def test_cross_attention_is_rectangular_and_checks_both_sides() -> None:
    attn = make_cross()
    assert not attn.is_self and (attn.n_queries, attn.n_keys) == (3, 4)
    assert attn.weights.shape == (1, 2, 3, 4) and attn.prompt_length == 1
    assert attn.key_generated.tolist() == [False] * 4
    with pytest.raises(ValueError, match="expected"):
        attn.replace(key_tokens=attn.key_tokens[:3])
    with pytest.raises(ValueError, match="needs key_tokens"):
        Attention(tokens=["a"], weights=np.ones((1, 1, 1, 1)), layers=[0], heads=[0], special=[False],
                  word_ids=[0], stack="cross")  # fmt: skip
    with pytest.raises(ValueError, match="stack"):
        make().replace(stack="sideways")
    with pytest.raises(ValueError, match="measure"):
        make().replace(measure="vibes")


def test_format_2_round_trip_keeps_the_key_side_and_every_new_field(tmp_path: Path) -> None:
    attn = make_cross().replace(measure="value-norm", model_heads=8, kv_heads=2, key_offset=5)
    attn.save(tmp_path / "x.npz")
    back = Attention.load(tmp_path / "x.npz")
    with np.load(tmp_path / "x.npz", allow_pickle=False) as data:
        assert int(data["format_version"]) == 2
    assert back.key_tokens == attn.key_tokens and back.tokens == attn.tokens
    assert np.array_equal(back.weights, attn.weights) and back.weights.shape == (1, 2, 3, 4)
    assert back.generated.tolist() == [False, True, True] and back.key_special.tolist() == attn.key_special.tolist()
    assert (back.stack, back.measure, back.model_heads, back.kv_heads) == ("cross", "value-norm", 8, 2)
    assert (back.key_offset, back.source_text) == (5, "The cat sat")
    assert back.to_dict()["key_tokens"] == list(attn.key_tokens)


def test_a_newer_format_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "future.npz"
    arrays = make()._arrays()
    np.savez(path, **{**arrays, "format_version": np.int64(99)})
    with pytest.raises(UsageError, match="format version 99"):
        Attention.load(path)


def test_a_version_1_file_written_by_the_first_release_loads_with_defaults() -> None:
    attn = Attention.load(DATA / "v1_seed_layer5.npz")
    assert attn.layers == (5,) and attn.heads == tuple(range(12)) and attn.is_self
    assert attn.generated.tolist() == [False] * attn.n_tokens and attn.measure == "weights"
    it, cat = attn.tokens.index("it"), attn.tokens.index("cat")
    assert attn.head(5, 11)[it, cat] == pytest.approx(0.635, abs=1e-3)


def test_a_version_1_file_renders_exactly_as_a_fresh_extraction() -> None:
    import io

    from rich.console import Console

    import attnviz
    from attnviz.render import terminal

    def draw(a: Attention) -> str:
        console = Console(width=100, file=io.StringIO(), color_system=None)
        console.print(terminal.Heatmap(a.head(5, 11), a.tokens, a.key_tokens, title="L5 H11"))
        return console.file.getvalue()

    old = Attention.load(DATA / "v1_seed_layer5.npz")
    fresh = attnviz.extract(old.text, layers=[5])
    assert np.abs(old.weights - fresh.weights).max() < 1e-6
    assert draw(old) == draw(fresh)


def test_kv_head_groups_query_heads_and_is_none_without_grouping() -> None:
    grouped = make().replace(model_heads=8, kv_heads=2)
    assert [grouped.kv_head(h) for h in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert make().kv_head(3) is None and make().replace(model_heads=4, kv_heads=4).kv_head(3) is None


def test_repr_is_one_line_with_the_sizes() -> None:
    text = repr(make_cross())
    assert "\n" not in text and len(text) < 200
    assert text == "Attention(model='tiny-t5', engine='hf', stack='cross', 3 tokens, 1 layers × 2 heads × 3 × 4)"
