"""The hf engine writing: decoders continue a prompt, encoder-decoders translate; every stack
equals what transformers itself returns, and the cached rows equal one forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import save_tiny_seq2seq

from attnviz.models.generation import GenerateOptions
from attnviz.models.run import extract, extract_all

PROMPT = "The cat sat on the mat because"
SOURCE = "The cat sat on the mat."


@pytest.fixture(scope="session", params=["t5", "bart", "marian"])
def tiny_seq2seq(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_seq2seq(tmp_path_factory.mktemp(f"tiny-{request.param}"), request.param)


def _transformers(folder: Path, causal_lm: bool = True):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    auto = AutoModelForCausalLM if causal_lm else AutoModelForSeq2SeqLM
    model = auto.from_pretrained(str(folder), attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(str(folder))


def _full_forward(model, **inputs) -> object:
    import torch

    with torch.no_grad():
        return model(**inputs, output_attentions=True)


@pytest.mark.parametrize("fixture", ["tiny_gpt2", "tiny_llama"])
def test_hf_greedy_equals_transformers_generate_and_one_forward(fixture: str, request: pytest.FixtureRequest) -> None:
    import torch

    folder = request.getfixturevalue(fixture)
    ex = extract_all(PROMPT, str(folder), "hf", generate=GenerateOptions(8))
    (attn,) = ex.stacks
    model, tokenizer = _transformers(folder)
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = model.generate(ids, do_sample=False, max_new_tokens=8, num_beams=1)[0]
    assert attn.n_tokens == len(expected) == ids.shape[1] + 8
    assert attn.generated.tolist() == [False] * ids.shape[1] + [True] * 8
    assert attn.prompt_length == ids.shape[1]
    assert ex.written == tokenizer.decode(expected[ids.shape[1] :], skip_special_tokens=True)
    # the rows gathered step by step from the cache equal one causal forward over the whole sequence
    reference = torch.stack(_full_forward(model, input_ids=expected[None]).attentions)[:, 0].numpy()
    assert np.abs(attn.weights - reference).max() < 1e-5
    assert attn.weights[:, :, -1].max() > 0.2  # not uniform: agreement means something
    assert attn.causal and not np.triu(attn.weights[0, 0], k=1).any()


def test_hf_sampling_is_seeded(tiny_gpt2: Path) -> None:
    def run(seed: int) -> tuple[str, ...]:
        options = GenerateOptions(12, sample=True, temperature=1.5, top_k=50, top_p=0.95, seed=seed)
        return extract(PROMPT, str(tiny_gpt2), "hf", generate=options).tokens

    first = run(1)
    assert run(1) == first
    assert any(run(seed) != first for seed in (2, 3, 4))


def _reference_stacks(folder: Path, decoder_ids: list[int]) -> dict[str, np.ndarray]:
    import torch

    model, tokenizer = _transformers(folder, causal_lm=False)
    ids = tokenizer(SOURCE, return_tensors="pt").input_ids
    out = _full_forward(model, input_ids=ids, decoder_input_ids=torch.tensor([decoder_ids]))
    return {
        "encoder": torch.stack(out.encoder_attentions)[:, 0].numpy(),
        "decoder": torch.stack(out.decoder_attentions)[:, 0].numpy(),
        "cross": torch.stack(out.cross_attentions)[:, 0].numpy(),
    }


def test_seq2seq_target_stacks_equal_transformers(tiny_seq2seq: Path) -> None:
    from transformers import AutoTokenizer

    ex = extract_all(SOURCE, str(tiny_seq2seq), target="A cat sat.")
    assert ex.written is None
    encoder, decoder, cross = ex.stacks
    assert [a.stack for a in ex.stacks] == ["encoder", "decoder", "cross"]
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_seq2seq))
    source_ids = tokenizer(SOURCE).input_ids
    target_ids = tokenizer(text_target="A cat sat.").input_ids
    start = _transformers(tiny_seq2seq, causal_lm=False)[0].config.decoder_start_token_id
    reference = _reference_stacks(tiny_seq2seq, [start, *target_ids])
    for attn in ex.stacks:
        assert attn.engine == "hf" and attn.source_text == SOURCE
        assert np.abs(attn.weights - reference[attn.stack]).max() < 1e-5, attn.stack
    assert encoder.tokens == cross.key_tokens and encoder.n_tokens == len(source_ids)
    assert decoder.tokens == cross.tokens and decoder.n_tokens == len(target_ids) + 1
    assert decoder.tokens[1:] == ("A", "cat", "sat", ".", "</s>") and decoder.special[0]
    assert not cross.is_self and cross.weights.shape[-2:] == (decoder.n_tokens, encoder.n_tokens)
    assert decoder.causal and not encoder.causal and not decoder.generated.any()
    assert extract(SOURCE, str(tiny_seq2seq), target="A cat sat.").stack == "cross"  # the default stack


def test_seq2seq_generation_equals_transformers(tiny_seq2seq: Path) -> None:
    import torch

    ex = extract_all(SOURCE, str(tiny_seq2seq), generate=GenerateOptions(8))
    model, tokenizer = _transformers(tiny_seq2seq, causal_lm=False)
    ids = tokenizer(SOURCE, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = model.generate(ids, do_sample=False, max_new_tokens=8, num_beams=1)[0].tolist()
    decoder = ex.stacks[1]
    assert decoder.n_tokens == len(expected)
    assert decoder.generated.tolist() == [False] + [True] * (len(expected) - 1)
    reference = _reference_stacks(tiny_seq2seq, expected)
    for attn in ex.stacks:
        assert np.abs(attn.weights - reference[attn.stack]).max() < 1e-5, attn.stack
    assert ex.stacks[2].generated.tolist() == decoder.generated.tolist()
    assert not ex.stacks[2].key_generated.any()


def test_seq2seq_target_then_generation_continues_the_target(tiny_seq2seq: Path) -> None:
    ex = extract_all(SOURCE, str(tiny_seq2seq), target="A cat", generate=GenerateOptions(3))
    decoder = ex.stacks[1]
    assert decoder.tokens[1:3] == ("A", "cat")  # the target's </s> is dropped so the decoder can go on
    assert decoder.generated.tolist()[:3] == [False, False, False]
    assert 1 <= decoder.generated.sum() <= 3


def test_seq2seq_layer_and_head_selection(tiny_seq2seq: Path) -> None:
    full = extract_all(SOURCE, str(tiny_seq2seq), target="A cat sat.")
    part = extract_all(SOURCE, str(tiny_seq2seq), target="A cat sat.", layers="1", heads="0")
    for whole, some in zip(full.stacks, part.stacks, strict=True):
        assert some.layers == (1,) and some.heads == (0,)
        np.testing.assert_array_equal(some.weights[0, 0], whole.head(1, 0))
