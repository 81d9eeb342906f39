"""Ctrl-C and failing writes: exit 130 or 1 with one line, and never a partial output file.

Ctrl-C is a real SIGINT sent to a real `python -m attnviz` process at a moment the test
observes from outside: while the hf engine is importing torch (its shared library is mapped),
and while an image is being written (its temporary file has appeared).
"""

from __future__ import annotations

import errno
import glob
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from clicheck import assert_clean_error, check_error_text, invoke, snapshot, subprocess_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _interrupt_when(args: list[str], cwd: Path, ready: Callable[[int], bool], timeout: float = 60) -> tuple[int, str]:
    """Start attnviz, wait until `ready(pid)`, send SIGINT; (exit code, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnviz", *args],
        cwd=cwd,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while not ready(proc.pid):
            assert proc.poll() is None, f"attnviz finished before it could be interrupted: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "the moment to interrupt never came"
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stdout == b""
    return proc.returncode, stderr.decode()


def _torch_is_loading(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see torch load")
def test_ctrl_c_while_the_model_loads(tiny_bert: Path, tmp_path: Path) -> None:
    args = ["show", "a cat sat", "--model", str(tiny_bert), "--engine", "hf", "-o", "out.png", "--save", "out.npz"]
    code, stderr = _interrupt_when(args, tmp_path, _torch_is_loading)
    assert code == 130
    check_error_text(stderr, "", "interrupted")
    assert snapshot(tmp_path) == set()


def _writing(folder: Path, name: str) -> Callable[[int], bool]:
    return lambda _pid: bool(glob.glob(str(folder / f".{name}.*.part")))


@pytest.mark.slow
def test_ctrl_c_while_the_image_is_written(tmp_path: Path) -> None:
    (tmp_path / "out.png").write_bytes(b"the previous image")
    text = " ".join(f"w{i}" for i in range(150))  # 64 heads of 152 tokens: seconds to write
    args = ["show", text, "--model", "random", "--random-layers", "8", "--random-heads", "8", "-o", "out.png"]
    code, stderr = _interrupt_when(args, tmp_path, _writing(tmp_path, "out.png"))
    assert code == 130
    check_error_text(stderr, "", "interrupted")
    assert snapshot(tmp_path) == {"out.png"}  # no temporary file left
    assert (tmp_path / "out.png").read_bytes() == b"the previous image"  # and the old file untouched


# --- every file goes to a temporary file in the same folder, renamed into place -----------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["show", "a cat", "--model", "random", "-o", "out/a.png", "--save", "out/a.npz"], ["a.npz", "a.png"]),
        (["show", "a cat", "--model", "random", "--layer", "0", "-o", "out/b.svg"], ["b.svg"]),
        (["compare", "a cat", "--model", "random", "--heads", "0.0,1.1", "-o", "out/c.pdf"], ["c.pdf"]),
        (["find", "a cat", "--model", "random", "--from", "a", "--to", "cat", "-o", "out/d.png"], ["d.png"]),
        (["stats", "a cat", "--model", "random", "-o", "out/e.png"], ["e.png"]),
        (["rollout", "a cat", "--model", "random", "-o", "out/f.svg"], ["f.svg"]),
    ],
    ids=["show png+npz", "show svg", "compare pdf", "find png", "stats png", "rollout svg"],
)
def test_every_output_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], names: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        src_path, dst_path = Path(src), Path(dst)
        assert not dst_path.exists()  # the final name appears only by the rename
        assert src_path.stat().st_size > 0  # the temporary file holds the whole output
        renames.append((src_path.resolve(), dst_path.resolve()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    result = invoke(args)
    assert result.exit_code == 0, result.stderr
    assert sorted(dst.name for _, dst in renames) == names
    for src, dst in renames:
        assert src.parent == dst.parent == out.resolve()
        assert src.name.startswith(f".{dst.name}.") and src.name.endswith(".part")
    assert sorted(p.name for p in out.iterdir()) == names  # and no temporary file stays behind
    assert oct((out / names[0]).stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_write_that_fails_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up while the image is written: exit 1, one line, the old file intact."""
    from matplotlib.figure import Figure

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.png").write_bytes(b"the previous image")

    def savefig(self: Figure, handle: object, **_kw: object) -> None:
        handle.write(b"\x89PNG half an image")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", savefig)
    result = invoke(["show", "a cat", "--model", "random", "-o", "out.png"])
    assert_clean_error(result, 1, f"cannot write 'out.png': {os.strerror(errno.ENOSPC)}")
    assert snapshot(tmp_path) == {"out.png"}
    assert (tmp_path / "out.png").read_bytes() == b"the previous image"


def test_a_save_that_fails_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    def savez(handle: object, **_arrays: object) -> None:
        handle.write(b"PK\x03\x04 half an archive")  # type: ignore[attr-defined]
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(np, "savez_compressed", savez)
    result = invoke(["show", "a cat", "--model", "random", "--save", "x.npz", "-o", "x.png"])
    assert_clean_error(result, 1, f"cannot write 'x.npz': {os.strerror(errno.EIO)}")
    assert snapshot(tmp_path) == set()


def test_ctrl_c_inside_the_library_is_exit_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path as a real Ctrl-C, in-process: KeyboardInterrupt while a file is written."""
    monkeypatch.chdir(tmp_path)

    def savez(handle: object, **_arrays: object) -> None:
        handle.write(b"PK\x03\x04")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", savez)
    result = invoke(["show", "a cat", "--model", "random", "--save", "x.npz"])
    assert_clean_error(result, 130, "interrupted")
    assert snapshot(tmp_path) == set()
