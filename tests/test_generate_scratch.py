"""The scratch engine writing with its key/value cache: the same tokens as transformers'
greedy `generate`, and the cached rows equal to one full causal forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attnviz.models import scratch
from attnviz.models.generation import GenerateOptions, Sampler
from attnviz.models.run import extract, extract_all
from attnviz.models.scratch.generate import generate
from attnviz.models.scratch.kvcache import KVCache, step_causal_mask

PROMPT = "The cat sat on the mat because"


def _expected_ids(folder: Path, prompt: str, new: int) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation="eager").eval()
    ids = AutoTokenizer.from_pretrained(str(folder))(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        return model.generate(ids, do_sample=False, max_new_tokens=new, num_beams=1)[0].tolist()


@pytest.mark.parametrize("fixture", ["tiny_gpt2", "tiny_llama"])
def test_scratch_greedy_equals_transformers_and_the_cache_equals_one_forward(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    folder = request.getfixturevalue(fixture)
    ex = extract_all(PROMPT, str(folder), "scratch", generate=GenerateOptions(8))
    (attn,) = ex.stacks
    assert attn.engine == "scratch"
    expected = _expected_ids(folder, PROMPT, 8)
    model = scratch.load(folder)
    full, _ = model.forward(np.asarray(expected), [0, 1])  # one causal pass over the final sequence
    assert attn.n_tokens == len(expected)
    assert attn.generated.sum() == 8 and attn.prompt_length == len(expected) - 8
    np.testing.assert_array_equal(attn.weights.shape, (2, 4, len(expected), len(expected)))
    assert np.abs(attn.weights - np.stack([full[0], full[1]])).max() < 1e-5
    assert attn.weights[:, :, -1].max() > 0.2  # not uniform
    hf = extract(PROMPT, str(folder), "hf", generate=GenerateOptions(8))
    assert hf.tokens == attn.tokens and np.abs(hf.weights - attn.weights).max() < 1e-5


def test_a_sliding_window_family_generates_past_its_window(tmp_path: Path) -> None:
    from conftest import save_tiny_llama

    folder = save_tiny_llama(tmp_path / "mistral", "mistral", sliding_window=4)
    attn = extract(PROMPT, str(folder), "scratch", generate=GenerateOptions(6))
    expected = _expected_ids(folder, PROMPT, 6)
    full, _ = scratch.load(folder).forward(np.asarray(expected), [1])
    assert attn.n_tokens == len(expected) and np.abs(attn.weights[1] - full[1]).max() < 1e-5
    assert not np.tril(attn.weights[1, 0], k=-4).any()  # keys 4 or more back are outside the window


def test_scratch_generation_keeps_only_the_asked_layers_and_heads(tiny_gpt2: Path) -> None:
    whole = extract(PROMPT, str(tiny_gpt2), "scratch", generate=GenerateOptions(4))
    part = extract(PROMPT, str(tiny_gpt2), "scratch", generate=GenerateOptions(4), layers="1", heads="0,3")
    assert part.layers == (1,) and part.heads == (0, 3)
    np.testing.assert_array_equal(part.weights[0], whole.weights[1, [0, 3]])


def test_scratch_sampling_is_seeded(tiny_gpt2: Path) -> None:
    def run(seed: int) -> tuple[str, ...]:
        options = GenerateOptions(12, sample=True, temperature=1.5, top_k=40, top_p=0.9, seed=seed)
        return extract(PROMPT, str(tiny_gpt2), "scratch", generate=options).tokens

    first = run(7)
    assert run(7) == first
    assert any(run(seed) != first for seed in (8, 9, 10))


def test_generation_stops_after_the_end_token(tiny_gpt2: Path) -> None:
    model = scratch.load(tiny_gpt2)
    prompt = np.asarray([5, 6, 7])
    greedy = GenerateOptions(6)
    ids, _ = generate(model, prompt, greedy, set(), [0], [0])
    ids_stop, weights = generate(model, prompt, greedy, {ids[2]}, [0], [0])
    cut = ids.index(ids[2]) + 1
    assert ids_stop == ids[:cut]  # the end token is kept, nothing after it
    assert weights.shape == (1, 1, 3 + cut, 3 + cut)


def test_one_cached_step_equals_the_last_row_of_a_full_pass(tiny_gpt2: Path) -> None:
    model = scratch.load(tiny_gpt2)
    ids = np.asarray([5, 6, 7, 8, 9])
    full, _ = model.forward(ids, [0, 1])
    c = model.config
    cache = KVCache(c.n_layer, c.n_kv, c.d_head, len(ids))
    model.step(ids[:4], [0, 1], cache)
    _, rows = model.step(ids[4:], [0, 1], cache)
    assert cache.length == 5 and rows[1].shape == (4, 1, 5)
    assert np.abs(rows[1][:, 0] - full[1][:, 4]).max() < 1e-6


def test_step_mask_is_causal_across_the_cache() -> None:
    mask = step_causal_mask(3, 2)
    assert mask.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    np.testing.assert_array_equal(step_causal_mask(0, 4), scratch.causal_mask(4))


def test_sampler_filters_like_transformers() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    top_p = Sampler(GenerateOptions(1, sample=True, top_p=0.7, seed=0))
    assert {top_p(logits) for _ in range(200)} == {0, 1}  # 0.5 + 0.3 reach 0.7; the rest never drawn
    top_k = Sampler(GenerateOptions(1, sample=True, top_k=1, seed=0))
    assert {top_k(logits) for _ in range(50)} == {0}
    cold = Sampler(GenerateOptions(1, sample=True, temperature=0.01, seed=0))
    assert {cold(logits) for _ in range(50)} == {0}
    assert Sampler(GenerateOptions(1))(logits) == 0


def test_random_and_encoder_models_cannot_generate(tiny_bert: Path) -> None:
    from attnviz.errors import UsageError

    with pytest.raises(UsageError, match="--generate needs a decoder"):
        extract(PROMPT, str(tiny_bert), "scratch", generate=GenerateOptions(2))
    with pytest.raises(UsageError, match="random model is an encoder"):
        extract(PROMPT, "random", generate=GenerateOptions(2))


def test_gemma2_logits_are_soft_capped_like_transformers(tmp_path: Path) -> None:
    """Gemma 2 squashes its next-token logits into (-cap, cap): sampling reads these logits."""
    import torch
    from conftest import save_tiny_llama
    from transformers import AutoModelForCausalLM

    folder = save_tiny_llama(tmp_path, "gemma2", head_dim=8, final_logit_softcapping=0.5, attn_logit_softcapping=50.0)
    ids = np.arange(3, 14)
    model = scratch.load(folder)
    x, _ = model.step(ids, [], KVCache(model.config.n_layer, model.config.n_kv, model.config.d_head, 32))
    got = model.lm_head()(x[-1])
    reference = AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation="eager").eval()
    with torch.no_grad():
        want = reference(torch.as_tensor(ids[None])).logits[0, -1].numpy()
    assert np.abs(want).max() <= 0.5  # the cap is in force
    np.testing.assert_allclose(got, want, atol=2e-5)
