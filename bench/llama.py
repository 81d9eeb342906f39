"""Llama-family benchmarks: the scratch engine against the hf engine, in the same run.

    python bench/llama.py [--skip-8b] [--scratch-only-8b] [--repeat 3]

(a) A Llama the size of all-MiniLM-L6-v2 (6 layers, 384 wide, 12 heads over 4 key/value heads),
    `show SEED`, every head: scratch time / hf time, target <= 0.15x.
(b) Llama-3-8B's shapes (32 layers, d_model 4096, 32 heads, 8 key/value heads, MLP 14336,
    vocabulary 128256, llama3 RoPE scaling), random bfloat16 weights in sharded safetensors
    (built once, shard by shard, cached under bench/out/), 128 tokens, all layers to .npz:
    scratch peak memory < 4 GB, and scratch time / hf `--dtype bfloat16` time <= 1.0x, each run
    after reading the shards once (both start with the checkpoint in the page cache). The hf
    side holds the 16 GB of weights: it runs only when 20 GB are available (else it is skipped
    and the table says so).

Each command is its own process (bench/measure.py: wall time from spawn to exit, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
from pathlib import Path

import numpy as np
from measure import ATTNVIZ, GB, OUT, SEED, Samples, log, run_once, shown  # bench/measure.py, beside this file
from models import SAMPLES, _build, _key, exact_text  # bench/models.py

MINI = {  # all-MiniLM-L6-v2's size as a Llama with grouped key/value heads
    "model_type": "llama", "vocab_size": 8000, "hidden_size": 384, "intermediate_size": 1536,
    "num_hidden_layers": 6, "num_attention_heads": 12, "num_key_value_heads": 4, "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
}  # fmt: skip
LLAMA3_8B = {  # Meta-Llama-3.1-8B's config.json shapes
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False,
    "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "bfloat16",
    "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
}  # fmt: skip
SHARD_BYTES = 2 * 2**30  # bytes of tensor data per shard, like published checkpoints (≈ 5 GB there)
MIN_FREE_FOR_HF = 20 * 2**30


# --- fixtures ----------------------------------------------------------------------------------


def tokenizer_into(folder: Path, vocab: int = 8000) -> None:
    """A byte-level BPE trained on sample_texts/ (deterministic), saved as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<|begin_of_text|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator([p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))], trainer)
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
              "eos_token": "<|begin_of_text|>", "model_max_length": 131072}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


def cached(name: str, params: dict, write) -> Path:
    """Built once under bench/out/models by bench/models.py's atomic builder."""
    return _build(OUT / "models" / f"{name}-{_key(params)}", params, write)


def _write_mini(folder: Path, params: dict) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer_into(folder)
    torch.manual_seed(0)
    config = {k: v for k, v in params.items() if k != "model_type"}
    AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **config)).save_pretrained(folder)


def _tensors_8b(p: dict) -> list[tuple[str, tuple[int, ...]]]:
    """Every tensor of LlamaModel with these shapes, in checkpoint order (no lm_head: attention needs none)."""
    d, f, v = p["hidden_size"], p["intermediate_size"], p["vocab_size"]
    kv = p["num_key_value_heads"] * d // p["num_attention_heads"]
    names = [("model.embed_tokens.weight", (v, d))]
    for i in range(p["num_hidden_layers"]):
        base = f"model.layers.{i}."
        names += [
            (base + "input_layernorm.weight", (d,)), (base + "self_attn.q_proj.weight", (d, d)),
            (base + "self_attn.k_proj.weight", (kv, d)), (base + "self_attn.v_proj.weight", (kv, d)),
            (base + "self_attn.o_proj.weight", (d, d)), (base + "post_attention_layernorm.weight", (d,)),
            (base + "mlp.gate_proj.weight", (f, d)), (base + "mlp.up_proj.weight", (f, d)),
            (base + "mlp.down_proj.weight", (d, f)),
        ]  # fmt: skip
    return [*names, ("model.norm.weight", (d,))]


def _write_8b(folder: Path, params: dict) -> None:
    """Random bfloat16 weights, written shard by shard and tensor by tensor in slices of a
    fixed random pool: the builder holds a few hundred MB, never the 16 GB model."""
    rng = np.random.default_rng(0)
    pool = (rng.standard_normal(1 << 24, dtype=np.float32) * 0.02).view(np.uint32)
    pool = (pool >> 16).astype(np.uint16)  # bfloat16 bit patterns (float32 truncated)
    one = np.uint16(0x3F80)  # 1.0 in bfloat16: RMSNorm weights
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in _tensors_8b(params):
        nbytes = 2 * int(np.prod(shape))
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    weight_map = {}
    for k, tensors in enumerate(shards):
        file = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {}, 0
        for name, shape in tensors:
            n = 2 * int(np.prod(shape))
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
            offset += n
            weight_map[name] = file
        blob = json.dumps(header).encode()
        blob += b" " * (-len(blob) % 8)
        log(f"  writing {file} ({offset / GB:.1f} GB)")
        with open(folder / file, "wb") as out:
            out.write(struct.pack("<Q", len(blob)) + blob)
            for _name, shape in tensors:
                count = int(np.prod(shape))
                if len(shape) == 1:
                    np.full(count, one, np.uint16).tofile(out)
                    continue
                start = int(rng.integers(len(pool)))
                while count > 0:  # the pool from a random start, wrapping, until the tensor is full
                    part = pool[start : start + count]
                    part.tofile(out)
                    count -= len(part)
                    start = 0
    index = {"metadata": {"total_size": sum(2 * int(np.prod(s)) for _, s in _tensors_8b(params))},
             "weight_map": weight_map}  # fmt: skip
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(params, indent=1), encoding="utf-8")
    tokenizer_into(folder)


# --- measuring ---------------------------------------------------------------------------------


def measure(argv: list[str], repeat: int) -> Samples:
    log(f"running {shown(argv)} ×{repeat}")
    samples = Samples()
    for _ in range(repeat):
        wall, peak, _ = run_once(argv)
        samples.add(wall, peak)
        log(f"  {wall:.2f} s, peak {peak / GB:.2f} GB")
    return samples


def warm(folder: Path) -> None:
    """Read every shard once, so that each engine starts with the checkpoint in the page
    cache: whichever ran second would otherwise find the first one's reads there."""
    for shard in sorted(folder.glob("*.safetensors")):
        with shard.open("rb", buffering=0) as f:
            while f.read(1 << 24):
                pass


def available_memory() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024


def row(bench: str, subject: str, reference: str, ratio: float | None, target: str, ok: bool | None) -> str:
    shown_ratio = "—" if ratio is None else f"{ratio:.2f}×"
    status = "—" if ok is None else "pass" if ok else "FAIL"
    return f"| {bench} | {subject} | {reference} | {shown_ratio} | {target} | {status} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each MiniLM-sized command (median)")
    parser.add_argument("--skip-8b", action="store_true", help="skip the Llama-3-8B-shaped run")
    parser.add_argument("--scratch-only-8b", action="store_true", help="run the 8B model on the scratch engine only")
    args = parser.parse_args()
    rows = []

    mini = cached("llama-mini", MINI, _write_mini)
    show = [ATTNVIZ, "show", SEED, "--model", str(mini), "--no-color"]
    scratch = measure([*show, "--engine", "scratch"], args.repeat)
    hf = measure([*show, "--engine", "hf"], args.repeat)
    ratio = scratch.median / hf.median
    rows.append(row("MiniLM-sized Llama, show SEED", f"scratch {scratch.median:.2f} s",
                    f"hf {hf.median:.2f} s", ratio, "≤ 0.15×", ratio <= 0.15))  # fmt: skip

    if not args.skip_8b:
        log("building (once) the Llama-3-8B-shaped checkpoint, 16 GB of bfloat16 …")
        big = cached("llama3-8b-shapes", LLAMA3_8B, _write_8b)
        text = exact_text(big, 128)
        out = OUT / "llama8b"
        out.mkdir(parents=True, exist_ok=True)
        run = [ATTNVIZ, "show", "--file", str(text), "--model", str(big), "--max-tokens", "128"]
        warm(big)
        scratch = measure([*run, "--engine", "scratch", "--save", str(out / "scratch.npz")], 1)
        rows.append(row("Llama-3-8B shapes, 128 tokens → .npz, peak memory", f"scratch {scratch.peak / GB:.2f} GB",
                        "4 GB", scratch.peak / (4 * GB), "< 1.0× (4 GB)", scratch.peak < 4 * GB))  # fmt: skip
        free = available_memory()
        if args.scratch_only_8b or free < MIN_FREE_FOR_HF:
            why = "--scratch-only-8b" if args.scratch_only_8b else f"only {free / 2**30:.0f} GiB available"
            log(f"hf side of the 8B run skipped: {why}")
            rows.append(row("Llama-3-8B shapes, 128 tokens → .npz, time", f"scratch {scratch.median:.1f} s",
                            f"hf bf16 not run ({why})", None, "≤ 1.0×", None))  # fmt: skip
        else:
            warm(big)
            hf = measure([*run, "--engine", "hf", "--dtype", "bfloat16", "--save", str(out / "hf.npz")], 1)
            ratio = scratch.median / hf.median
            rows.append(row("Llama-3-8B shapes, 128 tokens → .npz, time", f"scratch {scratch.median:.1f} s",
                            f"hf bf16 {hf.median:.1f} s (peak {hf.peak / GB:.1f} GB)", ratio, "≤ 1.0×",
                            ratio <= 1.0))  # fmt: skip
    print("| benchmark | subject | reference | ratio | target | status |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n(cores: {os.cpu_count()}; each figure is one process from spawn to exit)")


if __name__ == "__main__":
    main()
