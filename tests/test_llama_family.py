"""The Llama family in the scratch engine: every family, checkpoint format and RoPE scaling
equal to transformers' eager attention; every config field it would compute differently refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from clicheck import assert_clean_error, invoke, ok

from attnviz.analysis.explain import explain
from attnviz.errors import UsageError
from attnviz.models import scratch
from attnviz.models.resolve import resolve
from attnviz.models.run import extract, pick_engine, record_layer
from attnviz.models.scratch.weights import INDEX, SafetensorsFile

# 55 tokens with the tiny byte-level tokenizer: longer than every sliding window below
LONG = (
    "The cat sat on the mat because it was comfortable. The trophy did not fit in the suitcase because it was too big."
)
# Each family with the pieces that make it differ switched on, windows shorter than LONG.
FAMILIES: dict[str, dict[str, object]] = {
    "llama": {"attention_bias": True, "mlp_bias": True},
    "mistral": {"sliding_window": 5},
    "qwen2": {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1},
    "qwen3": {"head_dim": 16, "attention_bias": True},
    "gemma": {"head_dim": 16},
    "gemma2": {"sliding_window": 4, "head_dim": 16, "query_pre_attn_scalar": 24, "attn_logit_softcapping": 5.0},
    "olmo2": {},
    "phi3": {"partial_rotary_factor": 0.5, "sliding_window": 6},
}
WINDOWS = {"mistral": (5, 5), "qwen2": (0, 4), "gemma2": (4, 0), "phi3": (6, 6)}  # per layer, 0: none
TOLERANCE = 1e-5


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """One tiny random model per family (4 query heads over 2 key/value heads), built once."""
    from conftest import save_tiny_llama

    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = save_tiny_llama(tmp_path_factory.mktemp(family), family, **FAMILIES[family])
        return built[family]

    return get


def assert_parity(folder: Path, text: str = LONG) -> tuple[np.ndarray, np.ndarray]:
    ours = extract(text, model=str(folder), engine="scratch")
    theirs = extract(text, model=str(folder), engine="hf")
    assert ours.engine == "scratch" and theirs.engine == "hf"
    assert ours.tokens == theirs.tokens
    assert ours.weights.shape == theirs.weights.shape
    assert ours.weights.max() > 0.5  # not near-uniform: agreement means something
    assert np.abs(ours.weights - theirs.weights).max() < TOLERANCE
    return ours.weights, theirs.weights


def copy_model(folder: Path, to: Path, **config: object) -> Path:
    """A copy of a model folder with config.json fields changed (None removes one)."""
    shutil.copytree(folder, to)
    raw = json.loads((to / "config.json").read_text())
    for key, value in config.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    (to / "config.json").write_text(json.dumps(raw))
    return to


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_equals_transformers(family: str, family_models: Callable[[str], Path]) -> None:
    folder = family_models(family)
    ours = extract(LONG, model=str(folder), engine="scratch")
    assert (ours.model_heads, ours.kv_heads, ours.kv_head(3)) == (4, 2, 1)  # grouped-query attention
    assert ours.causal and not np.triu(ours.weights, k=1).any()
    weights, _ = assert_parity(folder)
    n = weights.shape[-1]
    assert n > 2 * max(WINDOWS.get(family, (0,)))
    for layer, window in enumerate(WINDOWS.get(family, (0, 0))):
        outside = np.tril(np.ones((n, n), bool), k=-window) if window else np.zeros((n, n), bool)
        assert not weights[layer][:, outside].any()  # keys older than the window get exactly 0
        if window:
            assert weights[layer][:, ~outside & np.tril(np.ones((n, n), bool))].min() > 0


def test_auto_picks_scratch_for_the_family(family_models: Callable[[str], Path]) -> None:
    for family in ("llama", "gemma2"):
        assert extract("a cat", model=str(family_models(family))).engine == "scratch"


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_sharded_checkpoints_equal_transformers(
    family: str, family_models: Callable[[str], Path], tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    source = family_models(family)
    folder = tmp_path / f"{family}-bf16"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.bfloat16)
    model.save_pretrained(folder, max_shard_size="40KB")
    shards = sorted(folder.glob("model-*.safetensors"))
    assert (folder / INDEX).is_file() and len(shards) > 1 and not (folder / "model.safetensors").exists()
    assert {t["dtype"] for t in SafetensorsFile(shards[0]).header.values()} == {"BF16"}
    ours, _ = assert_parity(folder)
    full, _ = assert_parity(source)
    assert np.abs(ours - full).max() > 1e-4  # rounding the weights to bfloat16 did change them


def test_float16_checkpoint_without_the_model_prefix(family_models: Callable[[str], Path], tmp_path: Path) -> None:
    import torch
    from transformers import AutoModel

    source = family_models("llama")
    folder = tmp_path / "llama-f16-base"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    AutoModel.from_pretrained(str(source), dtype=torch.float16).save_pretrained(folder)  # no "model." prefix
    header = SafetensorsFile(folder / "model.safetensors").header
    assert "embed_tokens.weight" in header and header["embed_tokens.weight"]["dtype"] == "F16"
    assert_parity(folder)


ROPE_SCALING = {
    "linear": {"rope_type": "linear", "factor": 4.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 32},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32},
    "yarn, attention_factor and betas": {"rope_type": "yarn", "factor": 3.0, "original_max_position_embeddings": 40,
                                         "attention_factor": 1.3, "beta_fast": 16, "beta_slow": 2},
}  # fmt: skip


@pytest.mark.parametrize("key", ["rope_parameters", "rope_scaling"])
@pytest.mark.parametrize("kind", ROPE_SCALING)
def test_rope_scaling_equals_transformers(
    kind: str, key: str, family_models: Callable[[str], Path], tmp_path: Path
) -> None:
    source = family_models("llama")
    params = dict(ROPE_SCALING[kind])
    if key == "rope_parameters":
        changes = {"rope_parameters": {**params, "rope_theta": 500.0}}
    else:  # the older spelling: "type", with rope_theta beside it
        params["type"] = params.pop("rope_type")
        changes = {"rope_parameters": None, "rope_scaling": params, "rope_theta": 500.0}
    folder = copy_model(source, tmp_path / "scaled", **changes)
    scaled, _ = assert_parity(folder)
    plain, _ = assert_parity(copy_model(source, tmp_path / "plain", rope_parameters={"rope_type": "default",
                                                                                   "rope_theta": 500.0}))  # fmt: skip
    if kind != "dynamic":  # dynamic changes nothing within max_position_embeddings
        assert np.abs(scaled - plain).max() > 1e-3


def test_rope_functions_match_transformers() -> None:
    import torch
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from attnviz.models.scratch.rope import Rope, inverse_frequencies

    for params in ROPE_SCALING.values():
        config = LlamaConfig(
            hidden_size=256, num_attention_heads=2, max_position_embeddings=128,
            rope_parameters={**params, "rope_theta": 10000.0},
        )  # fmt: skip
        theirs, their_scaling = ROPE_INIT_FUNCTIONS[str(params["rope_type"])](config, torch.device("cpu"))
        raw = {**config.to_dict(), "model_type": "llama"}
        rope = scratch.config_from_json(raw).rope
        assert isinstance(rope, Rope) and rope.dim == 128
        ours, our_scaling = inverse_frequencies(rope, 10)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6)
        assert our_scaling == pytest.approx(their_scaling)


# A config field the engine would compute differently, and the words that name it in the refusal
REFUSED: dict[str, tuple[str, dict[str, object], str]] = {
    "longrope": ("llama", {"rope_parameters": {"rope_type": "longrope", "rope_theta": 1e4, "short_factor": [1.0] * 4,
                                               "long_factor": [1.0] * 4}}, "RoPE scaling 'longrope'"),
    "per-layer rope": ("llama", {"rope_parameters": {"full_attention": {"rope_type": "default"}}},
                       "rope_parameters per layer type"),
    "partial rotary outside phi3": ("llama", {"partial_rotary_factor": 0.5}, "partial_rotary_factor=0.5"),
    "phi3 linear rope": ("phi3", {"rope_parameters": {"rope_type": "linear", "factor": 2.0}}, "RoPE scaling 'linear'"),
    "yarn mscale": ("llama", {"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "mscale": 1.0,
                                                  "mscale_all_dim": 0.5}}, "yarn mscale and mscale_all_dim"),
    "factorless linear": ("llama", {"rope_parameters": {"rope_type": "linear"}}, "RoPE 'linear' without a factor"),
    "activation": ("llama", {"hidden_act": "relu2"}, "activation 'relu2'"),
    "bidirectional": ("gemma", {"use_bidirectional_attention": True}, "use_bidirectional_attention"),
    "pretraining_tp": ("llama", {"pretraining_tp": 2}, "pretraining_tp=2"),
    "uneven heads": ("llama", {"num_key_value_heads": 3}, "4 heads over 3 key/value heads"),
    "unknown layer type": ("gemma2", {"layer_types": ["chunked_attention", "full_attention"]},
                           "layer_types chunked_attention"),
    "sliding layer without window": ("qwen2", {"use_sliding_window": False,
                                               "layer_types": ["sliding_attention", "full_attention"]},
                                     "sliding layers without a sliding_window"),
    "layer_types count": ("gemma2", {"layer_types": ["full_attention"]}, "1 layer_types for 2 layers"),
}  # fmt: skip


@pytest.mark.parametrize(("family", "changes", "named"), REFUSED.values(), ids=REFUSED.keys())
def test_fields_computed_differently_are_refused(
    family: str, changes: dict[str, object], named: str, family_models: Callable[[str], Path]
) -> None:
    raw = {**json.loads((family_models(family) / "config.json").read_text()), **changes}
    with pytest.raises(UsageError, match="the scratch engine does not support") as caught:
        scratch.config_from_json(raw)
    assert named in caught.value.message


def test_a_refused_model_runs_on_the_hf_engine(family_models: Callable[[str], Path], tmp_path: Path) -> None:
    folder = copy_model(family_models("llama"), tmp_path / "tp", pretraining_tp=2)
    assert pick_engine(resolve(str(folder)), "auto") == "hf"
    assert extract("a cat", model=str(folder)).engine == "hf"
    result = invoke(["show", "a cat", "--model", str(folder), "--engine", "scratch"])
    assert_clean_error(
        result, 2, "the scratch engine does not support llama with pretraining_tp=2 (use --engine hf or auto)"
    )


def test_verify_runs_every_family_and_refuses_without_naming_an_option_it_lacks(
    family_models: Callable[[str], Path], tmp_path: Path
) -> None:
    for family in ("gemma2", "phi3"):
        out = ok(invoke(["verify", LONG, "--model", str(family_models(family)), "--no-color"]))
        assert out.count(" ok") == 2 and "FAIL" not in out
    folder = copy_model(family_models("llama"), tmp_path / "tp", pretraining_tp=2)
    line = assert_clean_error(invoke(["verify", "a cat", "--model", str(folder)]), 2)
    assert "pretraining_tp=2" in line and "--engine" not in line.replace("show --engine hf", "")


def test_explain_follows_windows_soft_caps_and_shared_heads(family_models: Callable[[str], Path]) -> None:
    folder = str(family_models("gemma2"))
    attn, record = record_layer(LONG, folder, 0)
    n = attn.n_tokens
    for head in range(4):
        e = explain(record, model=attn.model, tokens=attn.tokens, layer=0, head=head, query=n - 1, causal=True)
        np.testing.assert_allclose(e.weights, attn.weights[0, head, n - 1], atol=1e-6)
        assert e.window == 4 and e.softcap == 5.0 and e.capped is not None and np.abs(e.capped).max() < 5.0
    np.testing.assert_array_equal(record["k"][0], record["k"][1])  # heads 0 and 1 share key/value head 0
    assert not np.array_equal(record["k"][1], record["k"][2])
    out = ok(
        invoke(["explain", LONG, "--model", folder, "--layer", "0", "--head", "2", "--query", "big", "--no-color"])
    )
    assert "soft-cap: tanh(s / 5) · 5" in out and "sliding-window causal mask (4 keys)" in out


def test_value_norms_on_the_scratch_engine_equal_the_hf_engine(family_models: Callable[[str], Path]) -> None:
    for family in ("llama", "phi3"):  # phi3: the hf engine does not know its fused layout; scratch does
        folder = str(family_models(family))
        ours = extract(LONG, model=folder, engine="scratch", measure="value-norm")
        assert ours.measure == "value-norm" and ours.weights.max() > 0
        weights = extract(LONG, model=folder, engine="scratch")
        assert not np.allclose(ours.weights.sum(-1), 1)  # raw norms, not renormalised weights
        assert ((ours.weights > 0) == (weights.weights > 0)).all()
    theirs = extract(LONG, model=str(family_models("llama")), engine="hf", measure="value-norm")
    ours = extract(LONG, model=str(family_models("llama")), engine="scratch", measure="value-norm")
    np.testing.assert_allclose(ours.weights, theirs.weights, rtol=1e-4, atol=1e-5)
