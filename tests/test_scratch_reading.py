"""How the scratch engine reads a checkpoint: the next layer on a second thread while the
current one computes, never more than two layers held, and no MLP weights for the last
layer asked for (nothing reads its output)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from attnviz.models.scratch.model import load

pytestmark = pytest.mark.slow  # builds models with transformers


class Recorder:
    """Which tensors a model's Checkpoint reads, on which thread."""

    def __init__(self, checkpoint: object) -> None:
        self.reads: list[tuple[str, str]] = []
        read = checkpoint.read

        def recording(name: str) -> np.ndarray:
            self.reads.append((name, threading.current_thread().name))
            return read(name)

        checkpoint.read = recording


def recorded(folder: Path) -> tuple[object, Recorder]:
    model = load(folder)
    return model, Recorder(model.tensors)


@pytest.fixture(scope="module")
def llama4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("llama4"), num_hidden_layers=4)


def ids() -> np.ndarray:
    return np.arange(1, 12)


def test_the_last_asked_layer_reads_no_mlp_weights(llama4: Path) -> None:
    model, rec = recorded(llama4)
    model.forward(ids(), [2])
    read = {name for name, _ in rec.reads}
    assert any("layers.1.mlp." in n for n in read)  # a layer below: its MLP feeds layer 2
    assert not any("layers.2.mlp." in n or "layers.2.post_attention_layernorm" in n for n in read)
    assert not any("layers.3." in n for n in read)  # above the last asked layer: never read
    assert any("layers.2.self_attn.q_proj" in n for n in read)


def test_generation_steps_read_every_mlp(llama4: Path) -> None:
    from attnviz.models.scratch.kvcache import KVCache

    model, rec = recorded(llama4)
    c = model.config
    x, _ = model.step(ids(), [3], KVCache(c.n_layer, c.n_kv, c.d_head, 32))
    assert any("layers.3.mlp.down_proj" in name for name, _ in rec.reads)
    assert x.shape == (len(ids()), model.config.d_model)


@pytest.mark.parametrize("fixture", ["llama4", "tiny_bert", "tiny_gpt2"])
def test_read_ahead_changes_no_number(fixture: str, request: pytest.FixtureRequest) -> None:
    """Layers read on a second thread, or one by one on this one: the same weights, to the bit."""
    folder = request.getfixturevalue(fixture)
    ahead, rec = recorded(folder)
    n = ahead.config.n_layer
    got, _ = ahead.forward(ids(), list(range(n)))
    assert any(thread != "MainThread" for _, thread in rec.reads)
    serial = load(folder)
    serial.keep_layers()  # a model that keeps its layers reads them on this thread
    want, _ = serial.forward(ids(), list(range(n)))
    for i in range(n):
        np.testing.assert_array_equal(got[i], want[i])


def test_read_ahead_holds_at_most_two_layers(llama4: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each layer's weights are let go once the layer has run: while layer i runs, only layers
    i and i+1 are alive (an 8B model's layer is 0.9 GB in float32)."""
    import weakref

    model = load(llama4)
    alive: list[weakref.ref] = []
    inner = model.layer

    def layer(i: int, mlp: bool = True) -> dict:
        p = inner(i, mlp)
        alive.append(weakref.ref(p["q"]))
        return p

    model.layer = layer
    peak = 0
    block = model.family.block

    def counting_block(*args: object, **kwargs: object) -> tuple:
        nonlocal peak
        peak = max(peak, sum(r() is not None for r in alive))
        return block(*args, **kwargs)

    monkeypatch.setattr(model.family, "block", counting_block)
    model.forward(ids(), [3])
    assert len(alive) == 4
    assert 1 <= peak <= 2


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
@pytest.mark.parametrize("staging_max", [0, 1 << 30], ids=["mapped", "staged"])
def test_both_read_paths_give_torch_values(
    tmp_path: Path, dtype: str, staging_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tensors too big for the reused read buffer are mapped instead: both give float32 equal
    to torch's own widening, and a later read never sees an earlier tensor's bytes."""
    import torch
    from safetensors.torch import save_file

    from attnviz.models.scratch import weights

    monkeypatch.setattr(weights, "STAGING_MAX", staging_max)
    torch.manual_seed(0)
    tensors = {"big": torch.randn(64, 48).to(getattr(torch, dtype)), "small": torch.randn(5).to(getattr(torch, dtype))}
    save_file(tensors, tmp_path / "model.safetensors")
    checkpoint = weights.Checkpoint(tmp_path)
    big = checkpoint.read("big")
    small = checkpoint.read("small")
    np.testing.assert_array_equal(big, tensors["big"].float().numpy())
    np.testing.assert_array_equal(small, tensors["small"].float().numpy())
    np.testing.assert_array_equal(
        checkpoint.rows("big", np.array([3, 1, 3])), tensors["big"].float().numpy()[[3, 1, 3]]
    )


def test_later_layers_are_widened_into_earlier_layers_buffers(llama4: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attnviz.models.scratch import weights

    taken: list[bool] = []
    take = weights.Spares.take

    def counting(self: weights.Spares, nbytes: int) -> np.ndarray | None:
        buffer = take(self, nbytes)
        taken.append(buffer is not None)
        return buffer

    monkeypatch.setattr(weights.Spares, "take", counting)
    model = load(llama4)
    model.forward(ids(), [3])
    assert sum(taken) >= 7  # layer 2 and 3's q, k, v, o (and 2's MLP) reuse layers 0 and 1's
    assert model.tensors.spares is None  # nothing kept once the pass is over


def test_the_recorded_layer_keeps_its_own_weights(llama4: Path) -> None:
    """The layer `explain` records holds its W_O after the pass: its buffers are never reused."""
    model = load(llama4)
    _, record = model.forward(ids(), [3], record_layer=0)
    np.testing.assert_array_equal(record["wo"], load(llama4).tensors.read("model.layers.0.self_attn.o_proj.weight").T)
