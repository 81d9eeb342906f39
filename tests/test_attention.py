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
