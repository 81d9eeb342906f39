"""Start-up in fresh interpreters: the installed entry points work, and the fast paths never import
torch, transformers, textual or (without an image to write) matplotlib."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import attnviz
from attnviz.cli import app

pytestmark = pytest.mark.slow  # every test here starts Python processes

SEED = "The cat sat on the mat because it was comfortable"
HEAVY = ("torch", "transformers", "matplotlib", "textual")  # textual: `explore` only

# Runs the CLI exactly as `python -m attnviz` does, then reports which heavy modules it loaded.
PROBE = textwrap.dedent(
    """
    import json, runpy, sys
    sys.argv = ["attnviz", *json.loads(sys.argv[1])]
    code = 0
    try:
        runpy.run_module("attnviz", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    finally:
        heavy = {"torch", "transformers", "matplotlib", "textual"}
        loaded = sorted({name.split(".")[0] for name in sys.modules} & heavy)
        print("PROBE " + json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
    """
)


def clean_env(width: int = 80) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "ATTNVIZ_DEBUG")}
    env.update(COLUMNS=str(width), PYTHONIOENCODING="utf-8", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def probe(args: list[str], cwd: Path) -> tuple[int, list[str], subprocess.CompletedProcess[str]]:
    """(exit code, heavy modules loaded, the process) of `attnviz ARGS` in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True, text=True, encoding="utf-8", env=clean_env(), cwd=cwd, timeout=120,
    )  # fmt: skip
    line = next(x for x in reversed(proc.stderr.splitlines()) if x.startswith("PROBE "))
    report = json.loads(line.removeprefix("PROBE "))
    return report["code"] or 0, report["loaded"], proc


def entry_point() -> str:
    found = Path(sys.executable).parent / "attnviz"
    if found.is_file():
        return str(found)
    which = shutil.which("attnviz")
    assert which is not None, "the attnviz console script is not installed"
    return which


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("startup") / "seed.npz"
    attnviz.extract(SEED).save(path)
    return path


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = f"import sys, attnviz.cli; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_help_loads_neither_numpy_nor_rich_console() -> None:
    """`attnviz --help` starts within 2x of `import typer, rich`: numpy alone costs more than that."""
    code = "import sys, attnviz.cli; print(sorted(m for m in ('numpy', 'rich.console') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_help_loads_no_heavy_module(tmp_path: Path) -> None:
    code, loaded, proc = probe(["--help"], tmp_path)
    assert code == 0
    assert "Usage: attnviz [OPTIONS] COMMAND [ARGS]..." in proc.stdout
    assert loaded == []


def test_scratch_show_loads_neither_torch_nor_matplotlib(tmp_path: Path) -> None:
    code, loaded, proc = probe(["show", SEED, "--layer", "5", "--head", "11", "--values"], tmp_path)
    assert code == 0, proc.stderr
    assert ".64" in proc.stdout  # it really ran the model
    assert loaded == []


@pytest.mark.parametrize(
    "args", [["show"], ["show", "--query", "it"], ["stats"], ["rollout"], ["find", "--from", "it", "--to", "cat"]]
)
def test_load_renders_without_any_heavy_module(saved: Path, tmp_path: Path, args: list[str]) -> None:
    code, loaded, proc = probe([*args, "--load", str(saved)], tmp_path)
    assert code == 0, proc.stderr
    assert proc.stdout.strip()
    assert loaded == []


def test_writing_an_image_loads_matplotlib_and_still_not_torch(saved: Path, tmp_path: Path) -> None:
    # the control: the probe does see an import when one happens
    code, loaded, proc = probe(["show", "--load", str(saved), "-o", str(tmp_path / "x.png")], tmp_path)
    assert code == 0, proc.stderr
    assert loaded == ["matplotlib"]
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


def test_the_hf_engine_is_what_loads_torch(tmp_path: Path) -> None:
    code, loaded, proc = probe(["show", SEED, "--engine", "hf", "--layer", "5", "--head", "11", "--json"], tmp_path)
    assert code == 0, proc.stderr
    assert {"torch", "transformers"} <= set(loaded)


def imported_by_entry_point(args: list[str], cwd: Path) -> set[str]:
    """Top-level modules the installed `attnviz` script imports, from Python's -X importtime log."""
    env = {**clean_env(), "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(
        [entry_point(), *args], capture_output=True, text=True, encoding="utf-8", env=env, cwd=cwd, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "no import-time log: the check would be vacuous"
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}


@pytest.mark.parametrize(
    "args", [["--help"], ["show", SEED], ["explain", SEED, "--layer", "5", "--head", "11", "--query", "it"]]
)
def test_installed_entry_point_imports_no_heavy_module(tmp_path: Path, args: list[str]) -> None:
    imported = imported_by_entry_point(args, tmp_path)
    assert "attnviz" in imported
    if args[0] != "--help":
        assert "numpy" in imported and "tokenizers" in imported  # the model really ran (no safetensors: read by hand)
    assert imported.isdisjoint(HEAVY)


def test_installed_entry_point_matches_the_in_process_cli(tmp_path: Path) -> None:
    args = ["show", SEED, "--layer", "5", "--head", "11", "--values"]
    proc = subprocess.run(
        [entry_point(), *args], capture_output=True, text=True, encoding="utf-8", env=clean_env(), cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    env = {"COLUMNS": "80", "NO_COLOR": None, "FORCE_COLOR": None, "ATTNVIZ_DEBUG": None}
    in_process = CliRunner().invoke(app, args, env=env, prog_name="attnviz")
    assert proc.stdout == in_process.stdout
    assert "\x1b" not in proc.stdout  # a pipe gets plain text
    assert proc.stderr == ""  # no spinner, no warnings when stderr is not a terminal


def test_installed_entry_point_reports_errors_with_exit_codes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [entry_point(), "show", SEED, "--layer", "9"], capture_output=True, text=True, encoding="utf-8",
        env=clean_env(), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "error: layer 9 is out of range: this model has layers 0-5\n"


def test_python_dash_m(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "attnviz", "--version"], capture_output=True, text=True, env=clean_env(),
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, f"attnviz {attnviz.__version__}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "attnviz", "find", SEED, "--from", "it", "--to", "cat", "--top", "1",
         "--sort", "weight", "--json"],
        capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [best] = json.loads(proc.stdout)
    assert (best["layer"], best["head"]) == (5, 11)


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    """`attnviz show … --json | head -c 20`: the reader goes away mid-output (the JSON is ~200 kB, more
    than a pipe holds); no traceback, no error line, exit 0."""
    script = f"'{entry_point()}' show '{SEED}' --json | head -c 20; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, encoding="utf-8", env=clean_env(), cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert proc.stdout == '{"model": "all-MiniL'
    assert proc.stderr == ""
    assert proc.returncode == 0
