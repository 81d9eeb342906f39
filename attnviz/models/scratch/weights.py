"""The weight reader: safetensors files (one, or shards with an index) read without torch.

A safetensors file is an 8-byte header length, a JSON header naming each tensor's dtype,
shape and byte range, then the raw bytes. Tensors are read one at a time with a seek, so a
run holds one layer's weights in memory, never the model (an 8B model is 16 GB in bfloat16).
float16 and bfloat16 are widened to float32: bfloat16 is the top half of a float32.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from attnviz.errors import ModelError

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64}
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


class SafetensorsFile:
    """One .safetensors file: its header parsed, tensors read on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                if size > 100_000_000:
                    raise ValueError(f"a header of {size} bytes")
                header = json.loads(f.read(size))
            header.pop("__metadata__", None)
            end = max((int(t["data_offsets"][1]) for t in header.values()), default=0)
            if path.stat().st_size < 8 + size + end:  # cut short: its last tensors are missing
                raise ValueError(f"the file ends before its data ({path.stat().st_size} of {8 + size + end} bytes)")
        except OSError as exc:
            raise ModelError(f"cannot read weights '{path}': {exc}") from exc
        except (ValueError, struct.error, TypeError, KeyError, IndexError, AttributeError) as exc:
            # the wording the safetensors library uses, which people search for
            raise ModelError(f"cannot read weights '{path}': Error while deserializing header ({exc})") from exc
        self.start = 8 + size
        self.header: dict[str, dict] = header

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def read(self, name: str, rows: slice | None = None, spares: Spares | None = None) -> np.ndarray:
        """The tensor (or a range of its first axis) as float32, in a spare buffer if one fits."""
        entry = self.header[name]
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            kind = entry["dtype"]
            raise ModelError(f"'{self.path.name}': tensor '{name}' is {kind}; the scratch engine reads F32, F16, BF16")
        shape = list(entry["shape"])
        begin, end = entry["data_offsets"]
        itemsize = np.dtype(dtype).itemsize
        if rows is not None:  # a slice of rows of a 2-D table: read only those bytes
            row_bytes = itemsize * int(np.prod(shape[1:], dtype=np.int64))
            begin, end = begin + rows.start * row_bytes, begin + rows.stop * row_bytes
            shape[0] = rows.stop - rows.start
        count = (end - begin) // itemsize
        if not count:
            return np.zeros(shape, np.float32)
        out = spares.take(4 * count) if spares is not None else None
        return widen(self._raw(name, self.start + begin, count, dtype), out).reshape(shape)

    def _raw(self, name: str, offset: int, count: int, dtype: type) -> np.ndarray:
        """`count` items from byte `offset`, in a buffer this thread reuses (no fresh pages to
        fault in for every tensor: an 8B model reads 16 GB), or mapped when too big for it."""
        nbytes = count * np.dtype(dtype).itemsize
        try:
            if nbytes > STAGING_MAX:
                return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=(count,))
            buffer = _staging(nbytes)
            with self.path.open("rb", buffering=0) as f:
                f.seek(offset)
                view, done = memoryview(buffer), 0
                while done < nbytes and (got := f.readinto(view[done:])):
                    done += got
        except OSError as exc:
            raise ModelError(f"cannot read tensor '{name}' from '{self.path.name}': {exc}") from None
        except ValueError:  # a map past the end of the file
            done = 0
        if done < nbytes:
            raise ModelError(f"'{self.path.name}' is truncated: tensor '{name}' is incomplete")
        return buffer.view(dtype)


STAGING_MAX = 256 * 2**20  # bytes: an 8B model's largest layer tensor is 117 MB in bfloat16
_local = threading.local()


def _staging(nbytes: int) -> np.ndarray:
    """This thread's read buffer, grown to `nbytes` when smaller (threads never share one)."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.size < nbytes:
        buffer = _local.buffer = np.empty(nbytes, np.uint8)
    return buffer[:nbytes]


def widen(data: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float32 (1-D) from float32, float16 or bfloat16 (stored as uint16 bit patterns), in
    `out` (any contiguous buffer of the right size) or a new array; never a view of `data`."""
    if data.dtype != np.uint16:
        result = np.empty(data.size, np.float32) if out is None else out.reshape(-1).view(np.float32)
        result[...] = data  # a copy: `data` may be a reused buffer or a map
        return result
    # bfloat16: its 16 bits are the high half of a float32
    if out is None:
        out = np.zeros(data.size, np.uint32)  # zeroed by the kernel as it maps the pages
    else:
        out = out.reshape(-1).view(np.uint32)
        out.fill(0)
    if sys.byteorder == "little":  # a strided copy into the high halves: faster than a shift
        out.view(np.uint16)[1::2] = data
    else:
        np.left_shift(data, 16, out=out, dtype=np.uint32)
    return out.view(np.float32)


class Spares:
    """float32 buffers of layers that have run, by size, for the next layers' weights to be
    widened into: fresh memory for every layer makes the kernel zero (and, with the page cache
    full of the checkpoint, first reclaim) 0.9 GB per layer of an 8B model: a second of system
    time each. Only buffers nothing else refers to may be handed back (see model.py)."""

    def __init__(self) -> None:
        self._free: dict[int, list[np.ndarray]] = {}

    def give(self, arrays: Iterable[np.ndarray]) -> None:
        owners = {id(o): o for a in arrays if (o := a if a.base is None else a.base) is not None}
        for owner in owners.values():
            if isinstance(owner, np.ndarray) and owner.flags.c_contiguous and owner.flags.writeable:
                self._free.setdefault(owner.nbytes, []).append(owner)

    def take(self, nbytes: int) -> np.ndarray | None:
        free = self._free.get(nbytes)
        return free.pop() if free else None


class Checkpoint:
    """Every tensor of a model folder by name: model.safetensors, or the shards that
    model.safetensors.index.json lists."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, SafetensorsFile] = {}
        self._where: dict[str, str] = {}
        self.spares: Spares | None = None  # set by the model while it runs its layers once
        index = folder / INDEX
        if (folder / SINGLE).is_file():
            single = self._open(SINGLE)
            self._where = dict.fromkeys(single.header, SINGLE)
        elif index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ModelError(f"cannot read '{index}': {exc}") from exc
            for name, shard in weight_map.items():
                if Path(shard).name != shard:  # an index must not point outside the folder
                    raise ModelError(f"'{index}' names a shard outside the folder: '{shard}'")
                self._where[name] = shard
        else:
            raise ModelError(f"'{folder}' has no {SINGLE}", hint="the scratch engine reads safetensors only")

    def _open(self, shard: str) -> SafetensorsFile:
        if shard not in self._files:
            path = self.folder / shard
            if not path.is_file():
                raise ModelError(f"weights shard '{shard}' is missing from '{self.folder}'")
            self._files[shard] = SafetensorsFile(path)
        return self._files[shard]

    def names(self) -> set[str]:
        return set(self._where)

    def _file(self, name: str) -> SafetensorsFile:
        shard = self._where.get(name)
        if shard is None:
            raise ModelError(f"weights are missing: '{name}' is not in '{self.folder.name}'")
        file = self._open(shard)
        if name not in file.header:
            raise ModelError(f"weights are missing: '{name}' is not in '{shard}'")
        return file

    def shape(self, name: str) -> tuple[int, ...]:
        return self._file(name).shape(name)

    def read(self, name: str) -> np.ndarray:
        return self._file(name).read(name, spares=self.spares)

    def rows(self, name: str, index: np.ndarray) -> np.ndarray:
        """Rows of an embedding table: only those rows are read (a 128k-word vocabulary is
        2 GB in float32; a sentence needs a few kB of it)."""
        file = self._file(name)
        n_rows = file.shape(name)[0]
        if index.size and (index.min() < 0 or index.max() >= n_rows):
            raise ModelError(f"token id {int(index.max())} is outside the embedding table '{name}' ({n_rows} rows)")
        unique, inverse = np.unique(index, return_inverse=True)
        if not unique.size:
            return np.zeros((0, *file.shape(name)[1:]), np.float32)
        rows = np.stack([file.read(name, slice(int(i), int(i) + 1))[0] for i in unique])
        return rows[inverse]
