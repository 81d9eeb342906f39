"""Tiny models built inside the tests: random weights, saved with save_pretrained, loaded
through the real code. Nothing here reaches a model hub."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CORPUS = [
    "The cat sat on the mat because it was comfortable.",
    "The trophy did not fit in the suitcase because it was too big.",
    "Attention is all you need: queries, keys and values.",
    "A tokenizer splits unbelievably long words into pieces.",
    "def add(a, b): return a + b",
] * 20


def _words() -> list[str]:
    from tokenizers.pre_tokenizers import BertPreTokenizer

    words = {w.lower() for line in CORPUS for w, _ in BertPreTokenizer().pre_tokenize_str(line)}
    return sorted(words)


def _bert_tokenizer(folder: Path) -> None:
    """A WordPiece tokenizer with a vocabulary fixed here (trainers break ties differently from
    run to run): short corpus words whole, long ones in pieces."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = sorted({c for w in _words() for c in w})
    pieces = ["comfort", "##able", "un", "##believ", "##ably", "suit", "##case"]
    vocab = [*special, *[w for w in _words() if len(w) <= 7], *letters, *("##" + c for c in letters), *pieces]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]", mask_token="[MASK]",
    )  # fmt: skip
    fast.save_pretrained(folder)


def _gpt2_tokenizer(folder: Path) -> None:
    """A byte-level BPE with merges fixed here: every corpus word of up to 6 letters is one
    token (with its leading space), longer words fall apart into bytes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|endoftext|>": 0, **{c: i + 1 for i, c in enumerate(alphabet)}}
    merges: list[tuple[str, str]] = []
    for word in _words():
        if len(word) > 6 or not word.isascii() or not word.isalpha():
            continue
        for lead in ("", "Ġ"):
            token = lead + word[0]
            for c in word[1:]:
                if token + c not in vocab:
                    merges.append((token, c))
                    vocab[token + c] = len(vocab)
                token += c
    for c in sorted({w[0] for w in _words() if w.isascii() and w.isalpha()}):  # "Ġc" before "Ġca"
        if ("Ġ", c) not in merges:
            merges.insert(0, ("Ġ", c))
            vocab.setdefault("Ġ" + c, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    fast.save_pretrained(folder)


def save_tiny_bert(folder: Path, model: str = "bert", **config: object) -> Path:
    """A small BERT-family model (random weights, seeded) with the WordPiece tokenizer above,
    saved as a model folder; `model` is "bert" or "roberta", `config` overrides the sizes."""
    import torch
    from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

    config_class, model_class = {"bert": (BertConfig, BertModel), "roberta": (RobertaConfig, RobertaModel)}[model]
    sizes = {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 64, "max_position_embeddings": 64, "initializer_range": 0.3}  # fmt: skip
    _bert_tokenizer(folder)
    torch.manual_seed(0)
    model_class(config_class(**{**sizes, **config})).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 4-head BERT with random (but not near-uniform) attention."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 4-head GPT-2 (causal) with random weights."""
    import torch
    from transformers import GPT2Config, GPT2Model

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    _gpt2_tokenizer(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=512, n_positions=64, n_embd=32, n_layer=2, n_head=4, initializer_range=0.3)
    GPT2Model(config).save_pretrained(folder)
    return folder


def save_tiny_llama(folder: Path, model_type: str = "llama", **config: object) -> Path:
    """A small Llama-family decoder (random weights, seeded, with its language-model head) and
    the byte-level BPE tokenizer above; `model_type` is any config.json family transformers
    knows (llama, mistral, qwen2, gemma, ...), `config` overrides the sizes. 4 query heads
    share 2 key/value heads unless overridden."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    sizes = {"vocab_size": 512, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
             "initializer_range": 0.3, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}  # fmt: skip
    _gpt2_tokenizer(folder)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **{**sizes, **config})).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (causal, RoPE, RMSNorm) with 4 query heads grouped onto 2 key/value heads."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def save_tiny_seq2seq(folder: Path, model_type: str = "t5", **config: object) -> Path:
    """A small encoder-decoder (random weights, seeded, "t5", "bart" or "marian") with the
    byte-level BPE above plus <pad>, </s>, <s>, <unk>; every text ends with </s>."""
    import torch
    from tokenizers import Tokenizer, processors
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, PreTrainedTokenizerFast

    _gpt2_tokenizer(folder)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.add_special_tokens(["<pad>", "</s>", "<s>", "<unk>"])
    pad, eos, bos = (tok.token_to_id(t) for t in ("<pad>", "</s>", "<s>"))
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=True),
            processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)]),
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token="<s>", unk_token="<unk>"
    )
    fast.save_pretrained(folder)
    ids = {"vocab_size": 512, "pad_token_id": pad, "eos_token_id": eos, "bos_token_id": bos,
           "decoder_start_token_id": eos if model_type == "bart" else pad, "forced_eos_token_id": eos}  # fmt: skip
    if model_type == "t5":
        sizes = {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4,
                 "initializer_factor": 2.0}  # fmt: skip
    else:
        sizes = {"d_model": 32, "encoder_layers": 2, "decoder_layers": 3, "encoder_attention_heads": 4,
                 "decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
                 "max_position_embeddings": 64, "init_std": 0.3}  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(AutoConfig.for_model(model_type, **{**ids, **sizes, **config}))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def sample_texts() -> dict[str, str]:
    folder = Path(__file__).resolve().parent.parent / "sample_texts"
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, for the HTML page's tests (skips, or fails under CI, without it)."""
    from pagecheck import ARGS, require_browser

    path = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=ARGS)
        yield chromium
        chromium.close()
