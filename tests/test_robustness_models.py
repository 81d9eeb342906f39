"""Bad and untrusted models through the CLI: missing, empty or corrupted folders, unsupported
architectures, hub ids offline, custom code, and malicious pickles.

Each case copies the session's tiny models into a temporary folder and breaks the copy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from clicheck import assert_clean_error, check_error_text, invoke, run_module, snapshot

OUT = ["-o", "out.png"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path.resolve()
    monkeypatch.chdir(folder)
    return folder


def _copy(source: Path, to: Path, change: Callable[[Path], None]) -> Path:
    shutil.copytree(source, to)
    change(to)
    return to


def _truncate(name: str, keep: int) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:keep])

    return change


def _remove(*names: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()

    return change


def _empty(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()


def _bad_config(folder: Path) -> None:
    (folder / "config.json").write_text("{not json", encoding="utf-8")


HEADER = "Error while deserializing header"

# (change to the copy of tiny_bert, --engine, exit code, the error line with {m} for the folder)
MODEL_CASES = {
    "empty folder": (_empty, "auto", 1, "'{m}' has no config.json: not a model folder"),
    "empty folder, scratch": (_empty, "scratch", 1, "'{m}' has no config.json: not a model folder"),
    "empty folder, hf": (_empty, "hf", 1, "'{m}' has no config.json: not a model folder"),
    "truncated safetensors header": (_truncate("model.safetensors", 4), "auto", 1,
        "cannot read weights '{m}/model.safetensors': " + HEADER),
    "truncated safetensors data": (_truncate("model.safetensors", 50_000), "auto", 1,
        "cannot read weights '{m}/model.safetensors': " + HEADER),
    "truncated safetensors, hf": (_truncate("model.safetensors", 50_000), "hf", 1,
        "cannot load model '{m}': " + HEADER),
    "config without weights": (_remove("model.safetensors"), "auto", 1,
        "cannot load model '{m}': Error no file named model.safetensors"),
    "config without weights, scratch": (_remove("model.safetensors"), "scratch", 1,
        "'{m}' has no model.safetensors (the scratch engine reads safetensors only)"),
    "missing tokenizer": (_remove("tokenizer.json", "tokenizer_config.json"), "auto", 1,
        "'{m}' has no usable tokenizer: its vocabulary holds only special tokens "
        "(the folder needs tokenizer.json or the model's own vocabulary files)"),
    "missing tokenizer, scratch": (_remove("tokenizer.json", "tokenizer_config.json"), "scratch", 1,
        "'{m}' has no tokenizer.json (the scratch engine needs one; try --engine hf)"),
    "config.json not JSON": (_bad_config, "auto", 1,
        "cannot load model '{m}': It looks like the config file at '{m}/config.json' is not a valid JSON file."),
    "config.json not JSON, scratch": (_bad_config, "scratch", 1,
        "cannot read '{m}/config.json': Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("change", "engine", "code", "message"), MODEL_CASES.values(), ids=MODEL_CASES.keys())
def test_broken_model_folder(
    tiny_bert: Path, workdir: Path, change: Callable[[Path], None], engine: str, code: int, message: str
) -> None:
    model = _copy(tiny_bert, workdir / "broken", change)
    before = snapshot(workdir)
    result = invoke(["show", "a cat", "--model", str(model), "--engine", engine, *OUT])
    line = assert_clean_error(result, code)
    assert line.startswith("error: " + message.format(m=model)), line
    assert snapshot(workdir) == before


@pytest.mark.slow
def test_the_intact_copy_loads(tiny_bert: Path, workdir: Path) -> None:
    """The broken-folder cases fail because of what was broken, not because copies do not load."""
    model = _copy(tiny_bert, workdir / "intact", lambda _f: None)
    for engine in ("scratch", "hf"):
        result = invoke(["show", "a cat", "--model", str(model), "--engine", engine, "--json"])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["tokens"] == ["[CLS]", "a", "cat", "[SEP]"]


def test_model_folder_that_does_not_exist(workdir: Path) -> None:
    assert_clean_error(
        invoke(["show", "a cat", "--model", "./nowhere", *OUT]), 2, "model folder './nowhere' does not exist"
    )
    assert snapshot(workdir) == set()


def test_model_that_is_a_file(workdir: Path) -> None:
    (workdir / "model.safetensors").write_bytes(b"\0" * 8)
    assert_clean_error(
        invoke(["show", "a cat", "--model", "model.safetensors", *OUT]),
        2,
        "model 'model.safetensors' is a file; pass the folder that holds config.json",
    )
    assert snapshot(workdir) == {"model.safetensors"}


# --- architectures the scratch engine does not run ----------------------------------------------


@pytest.fixture(scope="module")
def tiny_distilbert(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DistilBERT (not an architecture the scratch engine runs), with tiny_bert's tokenizer."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    folder = tmp_path_factory.mktemp("tiny-distilbert")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_bert / name, folder / name)
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64)
    DistilBertModel(config).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_unsupported_architecture_falls_back_to_hf(tiny_distilbert: Path) -> None:
    result = invoke(["show", "a cat", "--model", str(tiny_distilbert), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["engine"] == "hf"
    assert data["tokens"] == ["[CLS]", "a", "cat", "[SEP]"]


@pytest.mark.slow
def test_unsupported_architecture_on_scratch_names_the_supported_ones(tiny_distilbert: Path, workdir: Path) -> None:
    for args in (["show", "--engine", "scratch", *OUT], ["explain"]):
        result = invoke([args[0], "a cat", "--model", str(tiny_distilbert), *args[1:]])
        line = assert_clean_error(result, 2)
        assert "bert, gpt2" in line
    assert snapshot(workdir) == set()
    assert_clean_error(
        invoke(["show", "a cat", "--model", str(tiny_distilbert), "--engine", "scratch"]),
        2,
        "the scratch engine does not support model type 'distilbert' (it runs bert, gpt2, llama, mistral, qwen2, "
        "qwen3, gemma, gemma2, olmo2, phi3; use --engine hf or auto for others)",
    )


# --- hub ids while offline ----------------------------------------------------------------------


def test_hub_id_with_hf_hub_offline(tmp_path: Path, workdir: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "cache")}
    result = invoke(["show", "a cat", "--model", "someone/some-model", *OUT], env=env)
    assert_clean_error(
        result,
        1,
        "model 'someone/some-model' is not in the local cache and HF_HUB_OFFLINE is set (download it once with "
        "`hf download someone/some-model` while online, or pass a local folder)",
    )
    assert snapshot(workdir) - {"cache"} == set()


@pytest.mark.slow
def test_hub_id_when_the_hub_cannot_be_reached(tmp_path: Path) -> None:
    """No HF_HUB_OFFLINE, and a hub endpoint nothing listens on: fails at once, no hang."""
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "cache")}
    proc = run_module(
        ["show", "a cat", "--model", "someone/some-model", "-o", "out.png"], cwd=tmp_path, env=env, timeout=60
    )
    assert proc.returncode == 1
    check_error_text(
        proc.stderr.decode(),
        proc.stdout.decode(),
        "model 'someone/some-model' is not in the local cache and the hub cannot be reached (download it once with "
        "`hf download someone/some-model` while online, or pass a local folder)",
    )
    assert not (tmp_path / "out.png").exists()


# --- untrusted models: custom code and pickles ----------------------------------------------------

_CUSTOM_CONFIG = """
import pathlib
pathlib.Path({marker!r}).write_text("configuration code ran")
from transformers import PretrainedConfig


class SneakyConfig(PretrainedConfig):
    model_type = "sneaky"
"""

_CUSTOM_MODEL = """
import pathlib
pathlib.Path({marker!r}).write_text("modeling code ran")
from transformers import PreTrainedModel

from .configuration_sneaky import SneakyConfig


class SneakyModel(PreTrainedModel):
    config_class = SneakyConfig
"""


@pytest.fixture
def custom_code_model(tiny_bert: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(folder, marker): a model whose config points at shipped code that writes `marker`."""
    folder = tmp_path / "sneaky"
    folder.mkdir()
    marker = tmp_path / "MARKER"
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_bert / name, folder / name)
    config = {
        "model_type": "sneaky",
        "architectures": ["SneakyModel"],
        "auto_map": {"AutoConfig": "configuration_sneaky.SneakyConfig", "AutoModel": "modeling_sneaky.SneakyModel"},
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "configuration_sneaky.py").write_text(_CUSTOM_CONFIG.format(marker=str(marker)), encoding="utf-8")
    (folder / "modeling_sneaky.py").write_text(_CUSTOM_MODEL.format(marker=str(marker)), encoding="utf-8")
    return folder, marker


@pytest.mark.slow
def test_custom_code_never_runs_without_the_flag(custom_code_model: tuple[Path, Path], tmp_path: Path) -> None:
    folder, marker = custom_code_model
    env = {"HF_MODULES_CACHE": str(tmp_path / "modules")}
    for engine in ("auto", "hf"):
        proc = run_module(["show", "a cat", "--model", str(folder), "--engine", engine], env=env)
        assert proc.returncode == 1
        check_error_text(
            proc.stderr.decode(),
            proc.stdout.decode(),
            "model 'sneaky' needs its own code to run, which attnviz does not run by default (read that code first; "
            "then pass --trust-remote-code)",
        )
        assert not marker.exists()
    assert_clean_error(
        invoke(["explain", "a cat", "--model", str(folder)]), 2, prefix="explain needs the scratch engine"
    )
    assert not marker.exists()
    # The same folder with the flag does run the code: the marker is a real witness.
    proc = run_module(["show", "a cat", "--model", str(folder), "--trust-remote-code"], env=env)
    assert marker.exists()
    assert proc.returncode == 1  # the sneaky model has no weights, so it still fails, cleanly
    check_error_text(proc.stderr.decode(), proc.stdout.decode(), prefix=f"cannot load model '{folder}'")


class _Payload:
    """Unpickling this runs `code`: the classic malicious-pickle gadget."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (self.code,))


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_weights_never_execute(tiny_bert: Path, workdir: Path, writer: str) -> None:
    import pickle

    import torch

    marker = workdir / "PWNED"
    folder = _copy(tiny_bert, workdir / "pickled", _remove("model.safetensors"))
    payload = {
        "embeddings.word_embeddings.weight": _Payload(
            f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
        )
    }
    with open(folder / "pytorch_model.bin", "wb") as handle:
        if writer == "torch.save":
            torch.save(payload, handle)
        else:
            pickle.dump(payload, handle)
    before = snapshot(workdir)
    for engine in ("auto", "hf"):
        result = invoke(["show", "a cat", "--model", str(folder), "--engine", engine, *OUT])
        assert_clean_error(
            result,
            1,
            f"cannot load model '{folder}': its pickled .bin weights hold more than tensors, and attnviz loads "
            "pickles in safe (weights-only) mode only (use a model.safetensors copy from a source you trust)",
        )
        assert not marker.exists()
    assert snapshot(workdir) == before
    # The payload is real: an unsafe load runs it.
    with open(folder / "pytorch_model.bin", "rb") as handle:
        if writer == "torch.save":
            torch.load(handle, weights_only=False)
        else:
            pickle.load(handle)
    assert marker.read_text() == "pwned"
