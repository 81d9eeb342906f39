"""Atomic file output: every file the tool writes appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from attnviz.errors import OutputError, UsageError


def check_output_path(path: str | os.PathLike[str], suffixes: tuple[str, ...]) -> Path:
    """Validate an output path before any work is done, so errors come early."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UsageError(
            f"cannot write '{out}': unsupported extension '{out.suffix or '(none)'}'",
            hint="use one of " + ", ".join(suffixes),
        )
    # a path that cannot be written is a runtime failure (exit 1, as the README says); only the
    # wrong kind of file is a usage error
    if out.is_dir():
        raise OutputError(f"cannot write '{out}': it is a directory")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write '{out}': folder '{folder}' does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write '{out}': folder '{folder}' is not writable")
    return out


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path`; rename it into place only if the block succeeds."""
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write '{out}': {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write '{out}': {exc.strerror or exc}") from exc
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
