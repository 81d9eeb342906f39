"""`attnviz show` through the real CLI: help, default, happy paths, exact errors, widths, colour,
files in and out. Everything runs on the packaged MiniLM through the scratch engine (fast)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from clicheck import ok, png_size, run, widest

import attnviz
from attnviz.attention import Attention

SEED = "The cat sat on the mat because it was comfortable"
TOKENS = ["[CLS]", "The", "cat", "sat", "on", "the", "mat", "because", "it", "was", "comfortable", "[SEP]"]
WORDS = ["The", "cat", "sat", "on", "mat", "because", "it", "was", "comfortable"]  # each once, as find_token lists them
SPLIT = "An unbelievably comfortable cat"  # MiniLM: un ##bel ##ie ##va ##bly
TITLE = re.compile(r"\bL(\d+) H(\d+)\b")
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def titles(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in TITLE.findall(text)]


def row(text: str, label: str) -> list[str]:
    """The cells of the heatmap row labelled `label` (the first such row; zoomed views put
    the token's position before it)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[0].isdigit() and parts[1] == label:
            parts = parts[1:]
        if parts and parts[0] == label:
            return parts[1:]
    raise AssertionError(f"no row {label!r} in:\n{text}")


def colour_codes(text: str) -> list[str]:
    """SGR parameters that set a foreground or background colour (not bold, dim or reset)."""
    found = []
    for params in SGR.findall(text):
        codes = [int(p) for p in params.split(";") if p]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c in (38, 48):
                found.append(params)
                break
            if 30 <= c <= 37 or 40 <= c <= 47 or 90 <= c <= 97 or 100 <= c <= 107:
                found.append(params)
                break
            i += 1
    return found


@pytest.fixture(scope="module")
def seed() -> Attention:
    return attnviz.extract(SEED)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SEED saved by `show --save` (the option under test), every layer and head."""
    path = tmp_path_factory.mktemp("saved") / "seed.npz"
    result = run(["show", SEED, "--save", str(path)])
    ok(result)
    assert result.stderr == f"saved 6 layers × 12 heads to {path}\n"
    return path


# --- help and default --------------------------------------------------------------------------


def test_help_describes_the_command_and_its_options() -> None:
    out = ok(run(["show", "--help"]))
    assert "Show the attention of every head, a layer, or one head." in out
    options = "--layer --head --query --values --cmap --scale --output --save --load --json --file"
    for option in [*options.split(), "--hide-special", "--merge-words", "--tokens", "--no-color"]:
        assert option in out, option
    assert "Exit codes: 0 success, 1 runtime failure" in out


def test_root_help_lists_every_command() -> None:
    out = ok(run(["--help"]))
    for command in ("show", "compare", "verify", "find", "stats", "rollout", "explain"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command


def test_no_text_is_a_usage_error_with_a_hint() -> None:
    result = run(["show"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == 'error: no text given (pass it as an argument, "-" to read stdin, or --file PATH)\n'


@pytest.mark.parametrize("width", [40, 80])
def test_default_is_the_overview_of_every_layer_and_head(width: int) -> None:
    out = ok(run(["show", SEED], width=width))
    title = "6 layers × 12 heads, 12 tokens" if width == 80 else "6×12 heads, 12 tokens"  # shortened, not wrapped
    assert out.splitlines()[0] == f"all-MiniLM-L6-v2  {title}"
    header_heads = [int(h) for line in out.splitlines() if line.lstrip().startswith("H0") or " H7" in line
                    for h in re.findall(r"\bH(\d+)\b", line)]  # fmt: skip
    assert sorted(header_heads) == list(range(12))
    sections = 1 if width == 80 else 2
    for layer in range(6):
        assert len(re.findall(rf"^L{layer} ", out, re.M)) == sections
    hint = "attnviz show TEXT --layer 5 (a layer) or" if width == 80 else ""
    assert f"\nzoom in: {hint} --layer 5 --head 0\n".replace("  ", " ") in out
    assert titles(out) == []  # thumbnails, not heatmaps


# --- one layer, one head, values, query -------------------------------------------------------


def test_layer_shows_its_twelve_heads_and_nothing_else() -> None:
    out = ok(run(["show", SEED, "--layer", "5"]))
    found = titles(out)
    assert sorted(found) == [(5, h) for h in range(12)]
    assert "global (all heads share it)" in out


def test_scale_head_titles_each_panel_with_its_own_max(seed: Attention) -> None:
    out = ok(run(["show", SEED, "--layer", "5", "--scale", "head"]))
    maxima = {int(h): float(v) for h, v in re.findall(r"L5 H(\d+) max (\S+)", out)}
    assert sorted(maxima) == list(range(12))
    for h, shown in maxima.items():
        assert shown == pytest.approx(float(seed.head(5, h).max()), abs=0.005), h


def test_layer_and_head_draw_one_large_heatmap(seed: Attention) -> None:
    out = ok(run(["show", SEED, "--layer", "5", "--head", "11"]))
    assert titles(out) == [(5, 11)]
    labels = [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0] in TOKENS]
    assert labels == TOKENS  # one row per token, in order
    assert f"{seed.head(5, 11).max():.3f}" in out.splitlines()[-1]  # legend runs to this head's max


def test_values_print_the_weights_of_each_row(seed: Attention) -> None:
    out = ok(run(["show", SEED, "--layer", "5", "--head", "11", "--values"]))
    cells = row(out, "it")
    assert len(cells) == 12
    assert cells[TOKENS.index("cat")] == ".64"  # MiniLM L5 H11: "it" -> "cat"
    expected = seed.head(5, 11)[TOKENS.index("it")]
    assert [float(c) for c in cells] == pytest.approx(expected.tolist(), abs=0.0051)


def test_values_stay_separated_when_a_weight_is_one() -> None:
    out = ok(run(["show", SEED, "--layer", "0", "--head", "2", "--values"]))  # L0 H2 attends to the next token
    assert len(row(out, "cat")) == 12


def test_query_ranks_each_heads_top_keys(seed: Attention) -> None:
    out = ok(run(["show", SEED, "--query", "it"], width=40))  # one head per block row: easy to read back
    lines = out.splitlines()
    assert lines[0].startswith('query 8 "it": top 5 keys of each head')
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"L\d+ H\d+", line.strip())]
    assert len(starts) == 72
    q = TOKENS.index("it")
    for start in starts:
        layer, head = titles(lines[start])[0]
        ranked = [re.match(r"\s*(\d+) (\S+)", line) for line in lines[start + 1 : start + 6]]
        positions = [int(m.group(1)) for m in ranked]  # type: ignore[union-attr]
        weights = seed.head(layer, head)[q]
        assert positions == np.argsort(-weights, kind="stable")[:5].tolist(), (layer, head)
        assert [m.group(2) for m in ranked] == [TOKENS[p] for p in positions]  # type: ignore[union-attr]
    top = lines[starts[-1] + 1]  # L5 H11
    assert titles(lines[starts[-1]]) == [(5, 11)]
    assert top.split()[:2] == ["2", "cat"] and top.split()[-1] == ".64"


# --- input: --file, stdin, --save/--load -------------------------------------------------------


def test_file_and_stdin_read_the_same_text_as_the_argument(tmp_path: Path) -> None:
    args = ["--layer", "5", "--head", "11", "--values"]
    direct = ok(run(["show", SEED, *args]))
    path = tmp_path / "seed.txt"
    path.write_text(SEED + "\n", encoding="utf-8")
    assert ok(run(["show", "--file", str(path), *args])) == direct
    assert ok(run(["show", "-", *args], input=SEED + "\n")) == direct


def test_text_and_file_together_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "seed.txt"
    path.write_text(SEED, encoding="utf-8")
    result = run(["show", SEED, "--file", str(path)])
    assert (result.exit_code, result.stderr) == (2, "error: give TEXT or --file, not both\n")


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    result = run(["show", "--file", str(missing)])
    assert (result.exit_code, result.stderr) == (2, f"error: cannot read '{missing}': no such file\n")


@pytest.mark.parametrize(
    "view",
    [
        [],
        ["--layer", "5"],
        ["--layer", "5", "--head", "11", "--values"],
        ["--query", "it"],
        ["--layer", "4-5", "--head", "0,3"],
        ["--hide-special", "--layer", "5", "--head", "11"],
    ],
    ids=["overview", "layer", "head-values", "query", "selection", "hide-special"],
)
def test_load_renders_exactly_what_the_live_run_rendered(saved: Path, view: list[str]) -> None:
    live = ok(run(["show", SEED, *view]))
    loaded = ok(run(["show", "--load", str(saved), *view]))
    # the same drawing; only the overview's zoom hint names the source it was drawn from
    if view:
        assert loaded == live
    else:  # the overview's zoom hint names its source, in a shorter form when the path is long
        hint = next(line for line in loaded.splitlines() if line.startswith("zoom in:"))
        assert hint in (f"zoom in: attnviz show --load {saved} --layer 5 (a layer) or --layer 5 --head 0",
                        "zoom in: --layer 5 (a layer) or --layer 5 --head 0")  # fmt: skip
        assert loaded.replace(hint, "") == re.sub(r"zoom in: .*", "", live)


def test_load_with_text_is_a_usage_error(saved: Path) -> None:
    result = run(["show", SEED, "--load", str(saved)])
    assert (result.exit_code, result.stderr) == (2, "error: give TEXT or --load, not both\n")


def test_load_of_a_partial_save_names_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "l5.npz"
    result = run(["show", SEED, "--layer", "5", "--save", str(path)])
    ok(result)
    assert titles(ok(run(["show", "--load", str(path), "--layer", "5", "--head", "11"]))) == [(5, 11)]
    result = run(["show", "--load", str(path), "--layer", "4"])
    assert (result.exit_code, result.stderr) == (2, "error: layer 4 is not in this file: this file holds layers 5\n")


def test_load_of_a_file_that_is_not_npz_is_one_plain_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.npz"
    path.write_bytes(b"\xff\xfe not an archive")
    result = run(["show", "--load", str(path)])
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: cannot load '{path}': not an .npz file (it is not a zip archive; was it cut short?)\n"
    )
    assert "pickle" not in result.stderr  # numpy's advice to load it unsafely is not for users


# --- token hygiene -----------------------------------------------------------------------------


def test_hide_special_drops_cls_and_sep_and_renormalises(seed: Attention) -> None:
    out = ok(run(["show", SEED, "--layer", "5", "--head", "11", "--hide-special"]))
    labels = [line.split()[:2] for line in out.splitlines() if len(line.split()) > 1 and line.split()[1] in TOKENS]
    assert labels == [[str(i + 1), t] for i, t in enumerate(TOKENS[1:-1])]  # their real positions
    assert "notes: special tokens hidden, rows renormalised" in " ".join(out.split())
    data = json.loads(ok(run(["show", SEED, "--layer", "5", "--head", "11", "--hide-special", "--json"])))
    inner = seed.head(5, 11)[1:-1, 1:-1].astype(np.float64)
    expected = inner / inner.sum(axis=1, keepdims=True)
    assert np.allclose(np.array(data["weights"])[0, 0], expected, atol=1e-6)


def test_merge_words_joins_subwords_sum_over_keys_mean_over_queries() -> None:
    raw = attnviz.extract(SPLIT)
    assert raw.tokens[2:7] == ("un", "##bel", "##ie", "##va", "##bly")
    plain = ok(run(["show", SPLIT, "--layer", "5", "--head", "11"]))
    assert "##bel" in plain
    out = ok(run(["show", SPLIT, "--layer", "5", "--head", "11", "--merge-words"]))
    assert "##" not in out
    assert row(out, "unbelievably") is not None
    data = json.loads(ok(run(["show", SPLIT, "--layer", "5", "--head", "11", "--merge-words", "--json"])))
    assert data["tokens"] == ["[CLS]", "An", "unbelievably", "comfortable", "cat", "[SEP]"]
    w = raw.head(5, 11).astype(np.float64)
    groups = [[0], [1], [2, 3, 4, 5, 6], [7], [8], [9]]
    expected = np.array([[w[np.ix_(q, k)].sum(axis=1).mean() for k in groups] for q in groups])
    assert np.allclose(np.array(data["weights"])[0, 0], expected, atol=1e-6)


def test_hide_special_and_merge_words_together() -> None:
    data = json.loads(ok(run(["show", SPLIT, "--hide-special", "--merge-words", "--json"])))
    assert data["tokens"] == ["An", "unbelievably", "comfortable", "cat"]
    assert np.allclose(np.array(data["weights"]).sum(axis=-1), 1.0, atol=1e-5)


def test_tokens_zooms_into_a_window_without_renormalising(seed: Attention) -> None:
    out = ok(run(["show", SEED, "--layer", "5", "--head", "11", "--values", "--tokens", "2-5"]))
    labels = [line.split()[1] for line in out.splitlines() if len(line.split()) > 1 and line.split()[1] in TOKENS]
    assert labels == ["cat", "sat", "on", "the"]
    assert [float(c) for c in row(out, "sat")] == pytest.approx(seed.head(5, 11)[3, 2:6].tolist(), abs=0.0051)
    assert "tokens 2-5 of 0-11 shown: a crop, values unchanged" in " ".join(out.split())


def test_zoom_never_changes_a_value_and_notes_say_exactly_what_happened(seed: Attention) -> None:
    """L5 H11 The→cat: the same weight hidden, hidden and zoomed to 1-4, hidden and zoomed to 0-3."""
    inner = seed.head(5, 11)[1:-1, 1:-1].astype(np.float64)
    expected = (inner / inner.sum(axis=1, keepdims=True))[0, 1]  # The→cat, renormalised over the text
    base = ["show", SEED, "--layer", "5", "--head", "11", "--hide-special"]
    for zoom, positions in [([], list(range(1, 11))), (["--tokens", "1-4"], [1, 2, 3, 4]),
                            (["--tokens", "0-3"], [1, 2, 3])]:  # fmt: skip
        data = json.loads(ok(run([*base, *zoom, "--json"])))
        assert data["positions"] == positions
        the, cat = data["tokens"].index("The"), data["tokens"].index("cat")
        assert data["weights"][0][0][the][cat] == pytest.approx(expected, abs=1e-6)
        notes = data["notes"]
        assert notes[0] == "special tokens hidden, rows renormalised over the whole text"
        assert " ".join(notes).count("renormalised") == 1
        if zoom:
            assert notes[1:] == [f"tokens {zoom[1]} of 0-11 shown: a crop, values unchanged"]
        out = ok(run([*base, *zoom, "--values"]))
        assert f"{expected:.2f}".lstrip("0") in row(out, "The")


def test_zoomed_views_label_rows_and_columns_with_real_positions() -> None:
    out = ok(run(["show", SEED, "--layer", "5", "--head", "11", "--tokens", "7-10"]))
    lines = out.splitlines()
    assert lines[1].split() == ["7", "8", "9", "10"]  # the position ruler over the columns
    rows = [line.split()[:2] for line in lines if re.match(r"\s*\d+ +[a-z]", line)]
    assert rows == [["7", "because"], ["8", "it"], ["9", "was"], ["10", "comfortable"]]
    grid = ok(run(["show", SEED, "--layer", "5", "--tokens", "7-10", "--hide-special"]))
    assert "10 comfortable" in grid
    bars = ok(run(["show", SEED, "--query", "it", "--tokens", "7-10"]))
    assert bars.startswith('query 8 "it"')


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("5-2", "error: invalid token range '5-2': the start comes after the end"),
        ("0-99", "error: token range 0-99 is out of range: this text has tokens 0-11"),
        ("a-b", "error: invalid token range 'a-b': use START-END, e.g. 0-7"),
    ],
)
def test_tokens_invalid_range(spec: str, message: str) -> None:
    result = run(["show", SEED, "--tokens", spec])
    assert (result.exit_code, result.stderr) == (2, message + "\n")


# --- JSON and images ---------------------------------------------------------------------------


def test_json_holds_every_weight_exactly(seed: Attention) -> None:
    data = json.loads(ok(run(["show", SEED, "--json"])))
    assert set(data) == {"model", "engine", "causal", "tokens", "special", "word_ids", "layers", "heads",
                         "weights", "notes", "offset", "positions", "stack", "measure", "generated", "key_tokens",
                         "key_special", "key_word_ids", "model_heads", "kv_heads", "key_offset"}  # fmt: skip
    assert data["key_tokens"] == data["tokens"] and data["generated"] == [False] * len(TOKENS)
    assert data["tokens"] == TOKENS
    assert (data["model"], data["engine"], data["causal"]) == ("all-MiniLM-L6-v2", "scratch", False)
    assert data["special"] == [True] + [False] * 10 + [True]
    assert (data["layers"], data["heads"]) == (list(range(6)), list(range(12)))
    assert np.array_equal(np.array(data["weights"], dtype=np.float32), seed.weights)


def test_json_of_a_selection(seed: Attention) -> None:
    data = json.loads(ok(run(["show", SEED, "--layer", "5", "--head", "11", "--json"])))
    assert (data["layers"], data["heads"]) == ([5], [11])
    assert np.array_equal(np.array(data["weights"], dtype=np.float32)[0, 0], seed.head(5, 11))


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_output_writes_a_valid_image(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"seed{suffix}"
    result = run(["show", SEED, "-o", str(path)])
    assert ok(result) == ""  # the image is the output; nothing on stdout
    assert result.stderr == f"wrote {path} (72 heads)\n"
    data = path.read_bytes()
    if suffix == ".png":
        w, h = png_size(path)
        assert w > 200 and h > 200
    elif suffix == ".svg":
        assert ET.fromstring(data).tag.endswith("svg")
    else:
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]


def test_output_dpi_scales_the_png(tmp_path: Path) -> None:
    sizes = {}
    for dpi in (50, 100):
        path = tmp_path / f"h{dpi}.png"
        ok(run(["show", SEED, "--layer", "5", "--head", "11", "-o", str(path), "--dpi", str(dpi)]))
        sizes[dpi] = png_size(path)
    assert sizes[100][0] == pytest.approx(2 * sizes[50][0], rel=0.05)
    assert sizes[100][1] == pytest.approx(2 * sizes[50][1], rel=0.05)


def test_output_with_an_unknown_extension_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "seed.jpg"
    result = run(["show", SEED, "-o", str(path)])
    assert result.exit_code == 2
    expected = f"error: cannot write '{path}': unsupported extension '.jpg' (use one of .png, .svg, .pdf, .html)\n"
    assert result.stderr == expected
    assert list(tmp_path.iterdir()) == []


# --- invalid values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layer", "9"], "layer 9 is out of range: this model has layers 0-5"),
        (["--layer", "5", "--head", "12"], "head 12 is out of range: this model has heads 0-11"),
        (
            ["--layer", "x"],
            "invalid layer 'x': use an index, a list (0,3), a range (0-3) or 'all' (this model has layers 0-5)",
        ),
        (["--layer", "3-1"], "invalid layer range '3-1': the start comes after the end (this model has layers 0-5)"),
        (["--scale", "bogus"], "invalid --scale 'bogus' (use head or global)"),
        (
            ["--cmap", "nope"],
            "unknown colormap 'nope' (built in: viridis, magma, inferno, plasma, cividis, Greys, Blues, Reds, "
            "RdBu_r, coolwarm; or any matplotlib colormap name)",
        ),
        (["--query", "dog"], '"dog" is not in this text: its words are ' + ", ".join(WORDS)),
        (["--query", "the"], '"the" occurs 2 times: use the#1 or the#2'),
        (["--query", "the#3"], '"the" occurs 2 times: there is no the#3'),
        (["--save", "x.txt"], "cannot write 'x.txt': unsupported extension '.txt' (use one of .npz)"),
        (["--bogus"], "No such option: --bogus (see 'attnviz show --help')"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_invalid_value_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(["show", SEED, *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"


def test_a_broken_model_folder_is_a_runtime_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{bad", encoding="utf-8")
    result = run(["show", SEED, "--model", str(tmp_path), "--engine", "scratch"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot read '{tmp_path / 'config.json'}': ")
    assert result.stderr.count("\n") == 1


def test_an_empty_model_folder_says_what_is_missing(tmp_path: Path) -> None:
    result = run(["show", SEED, "--model", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == f"error: '{tmp_path}' has no config.json: not a model folder\n"


def test_query_the_second_occurrence_picks_position_5(seed: Attention) -> None:
    out = ok(run(["show", SEED, "--layer", "5", "--head", "11", "--query", "the#2"]))
    assert out.startswith('query 5 "the"')
    first = out.splitlines()[2].split()
    assert int(first[0]) == int(np.argmax(seed.head(5, 11)[5]))


# --- colour and width --------------------------------------------------------------------------

VIEWS = [
    [],
    ["--layer", "5"],
    ["--layer", "5", "--head", "11", "--values"],
    ["--query", "it"],
    ["--layer", "5", "--head", "11", "--hide-special", "--merge-words"],
]


@pytest.mark.parametrize("view", VIEWS, ids=["overview", "layer", "head", "query", "hygiene"])
def test_a_pipe_gets_no_escape_codes(view: list[str]) -> None:
    out = ok(run(["show", SEED, *view]))
    assert "\x1b" not in out


FORCED = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor"}


@pytest.mark.parametrize("view", VIEWS, ids=["overview", "layer", "head", "query", "hygiene"])
def test_no_color_flag_and_env_remove_every_colour(view: list[str]) -> None:
    coloured = ok(run(["show", SEED, *view], env=FORCED))
    assert colour_codes(coloured), "a forced terminal should get colour (the check below would be vacuous)"
    flag = ok(run(["show", SEED, *view, "--no-color"], env=FORCED))
    env = ok(run(["show", SEED, *view], env={**FORCED, "NO_COLOR": "1"}))
    assert colour_codes(flag) == []
    assert colour_codes(env) == []
    assert SGR.sub("", flag) == SGR.sub("", env)


def test_no_color_also_covers_the_spinner_on_stderr() -> None:
    result = run(["show", SEED, "--layer", "5", "--head", "11", "--no-color"], env=FORCED)
    ok(result)
    assert colour_codes(result.stderr) == []


def test_cmap_changes_the_colours_and_viridis_is_the_default() -> None:
    args = ["show", SEED, "--layer", "5", "--head", "11"]
    default = ok(run(args, env=FORCED))
    assert ok(run([*args, "--cmap", "viridis"], env=FORCED)) == default
    magma = ok(run([*args, "--cmap", "magma"], env=FORCED))
    assert set(colour_codes(magma)) != set(colour_codes(default))
    assert SGR.sub("", magma) == SGR.sub("", default)


@pytest.mark.parametrize("width", [40, 80, 120, 250])
@pytest.mark.parametrize("view", VIEWS, ids=["overview", "layer", "head", "query", "hygiene"])
def test_no_line_is_wider_than_the_terminal(width: int, view: list[str]) -> None:
    out = ok(run(["show", SEED, *view], width=width))
    assert widest(out) <= width


def test_a_wider_terminal_puts_more_panels_on_a_line() -> None:
    def per_line(width: int) -> int:
        out = ok(run(["show", SEED, "--layer", "5"], width=width))
        return max(len(titles(line)) for line in out.splitlines())

    assert per_line(80) == 2
    assert per_line(250) >= 6
