"""`attnviz find`, `stats`, `rollout` and `explain` through the real CLI, each checked against an
independent numpy computation on the weights `attnviz.extract` returns."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from clicheck import ok, png_size, run, widest

import attnviz
from attnviz.attention import Attention

SEED = "The cat sat on the mat because it was comfortable"
SPLIT = "The unbelievably tired cat slept because it was comfortable"  # un ##bel ##ie ##va ##bly
TOKENS = ["[CLS]", "The", "cat", "sat", "on", "the", "mat", "because", "it", "was", "comfortable", "[SEP]"]
STAT_KEYS = ["entropy", "max_weight", "special_mass", "prev_token", "self", "distance", "sink"]


def usage_error(args: list[str]) -> str:
    """stderr of a run that must fail as a usage error (exit 2) with nothing on stdout."""
    result = run(args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    return result.stderr.rstrip("\n")


@pytest.fixture(scope="module")
def seed() -> Attention:
    return attnviz.extract(SEED)


@pytest.fixture(scope="module")
def split() -> Attention:
    return attnviz.extract(SPLIT)


# --- find --------------------------------------------------------------------------------------


def brute_force(
    attn: Attention, source: list[int], target: list[int], sort: str = "score"
) -> list[tuple[int, int, float, float, float]]:
    """Every (layer, head, weight, baseline, score), highest `sort` first: the weight is the mean
    over query pieces of the sum over key pieces; the baseline the same over every other
    non-special query; score = weight - baseline."""
    others = [q for q in range(attn.n_tokens) if not attn.special[q] and q not in source]
    rows = []
    for li, layer in enumerate(attn.layers):
        for hi, head in enumerate(attn.heads):
            w = attn.weights[li, hi].astype(np.float64)
            weight = float(np.mean([w[q, target].sum() for q in source]))
            baseline = float(np.mean([w[q, target].sum() for q in others]))
            rows.append((layer, head, weight, baseline, weight - baseline))
    column = 4 if sort == "score" else 2
    order = np.argsort([-r[column] for r in rows], kind="stable")
    return [rows[i] for i in order]


def word_positions(tokens: tuple[str, ...], first: str) -> list[int]:
    start = tokens.index(first)
    end = start + 1
    while end < len(tokens) and tokens[end].startswith("##"):
        end += 1
    return list(range(start, end))


def check_ranking(data: list[dict[str, object]], expected: list[tuple[int, int, float, float, float]]) -> None:
    assert all(list(entry) == ["layer", "head", "weight", "baseline", "score"] for entry in data)
    assert [(e["layer"], e["head"]) for e in data] == [r[:2] for r in expected]
    for key, column in (("weight", 2), ("baseline", 3), ("score", 4)):
        assert [e[key] for e in data] == pytest.approx([r[column] for r in expected], abs=1e-6), key


def test_find_help() -> None:
    out = ok(run(["find", "--help"]))
    assert "Rank every head by how much more one word attends to another" in out
    for option in ("--from", "--to", "--top", "--sort", "--json", "--output"):
        assert option in out, option


def test_find_needs_both_words() -> None:
    message = "error: find needs --from WORD and --to WORD (e.g. --from it --to cat)"
    assert usage_error(["find", SEED]) == message
    assert usage_error(["find", SEED, "--from", "it"]) == message


def test_find_json_is_the_brute_force_ranking(seed: Attention) -> None:
    data = json.loads(ok(run(["find", SEED, "--from", "it", "--to", "cat", "--json"])))
    assert len(data) == 10  # the default --top
    check_ranking(data, brute_force(seed, [8], [2])[:10])
    scores = [e["score"] for e in data]
    assert scores == sorted(scores, reverse=True)
    # L5 H11 puts 0.64 of "it" on "cat", but every word gives "cat" about as much: no pronoun head
    weight = json.loads(ok(run(["find", SEED, "--from", "it", "--to", "cat", "--sort", "weight", "--json"])))
    check_ranking(weight, brute_force(seed, [8], [2], sort="weight")[:10])
    assert (weight[0]["layer"], weight[0]["head"]) == (5, 11)
    assert weight[0]["weight"] == pytest.approx(0.64, abs=0.01)
    assert weight[0]["score"] < 0.05 < data[0]["score"]
    assert (5, 11) not in [(e["layer"], e["head"]) for e in data[:5]]


def test_find_top_all_heads(seed: Attention) -> None:
    data = json.loads(ok(run(["find", SEED, "--from", "cat", "--to", "it", "--top", "72", "--json"])))
    check_ranking(data, brute_force(seed, [2], [8]))


def test_find_top_past_the_head_count_lists_every_head_once() -> None:
    data = json.loads(ok(run(["find", SEED, "--from", "it", "--to", "cat", "--top", "500", "--json"])))
    assert sorted((e["layer"], e["head"]) for e in data) == [(layer, head) for layer in range(6) for head in range(12)]


@pytest.mark.parametrize(("source", "target"), [("unbelievably", "cat"), ("cat", "unbelievably")])
def test_find_split_words_mean_over_queries_sum_over_keys(split: Attention, source: str, target: str) -> None:
    pieces = word_positions(split.tokens, "un")
    assert [split.tokens[i] for i in pieces] == ["un", "##bel", "##ie", "##va", "##bly"]
    positions = {"unbelievably": pieces, "cat": [split.tokens.index("cat")]}
    data = json.loads(ok(run(["find", SPLIT, "--from", source, "--to", target, "--top", "72", "--json"])))
    check_ranking(data, brute_force(split, positions[source], positions[target]))


def test_find_second_occurrence(seed: Attention) -> None:
    data = json.loads(ok(run(["find", SEED, "--from", "it", "--to", "the#2", "--top", "5", "--json"])))
    check_ranking(data, brute_force(seed, [8], [5])[:5])


@pytest.mark.parametrize(
    ("text", "source", "target"),
    [
        ("The dog chased the ball until it was tired", "it", "dog"),
        ("The girl gave the book to her brother because she liked him", "she", "girl"),
        ("The trophy did not fit in the suitcase because it was too big", "it", "trophy"),
    ],
)
def test_find_a_head_every_word_uses_scores_zero(tmp_path: Path, text: str, source: str, target: str) -> None:
    """MiniLM on three sentences; layer 2 head 3 is replaced by a head in which every query puts
    the same weight on the --to word (the rest keeps its proportions): its weight can be high,
    its score is 0, and the JSON is a direct computation."""
    attn = attnviz.extract(text)
    src, to = attn.tokens.index(source), attn.tokens.index(target)
    weights = attn.weights.copy()
    head = weights[2, 3].astype(np.float64)
    rest = np.delete(head, to, axis=-1)
    head = np.insert(rest / rest.sum(-1, keepdims=True) * 0.6, to, 0.4, axis=-1)
    weights[2, 3] = head
    path = tmp_path / "planted.npz"
    attn.replace(weights=weights).save(path)
    args = ["find", "--load", str(path), "--from", source, "--to", target, "--top", "72", "--json"]
    data = json.loads(ok(run(args)))
    check_ranking(data, brute_force(attn.replace(weights=weights), [src], [to]))
    planted = next(e for e in data if (e["layer"], e["head"]) == (2, 3))
    assert planted["weight"] == pytest.approx(0.4, abs=1e-6)
    assert planted["baseline"] == pytest.approx(0.4, abs=1e-6)
    assert abs(planted["score"]) < 1e-6


def test_find_table_and_best_heads(seed: Attention) -> None:
    out = ok(run(["find", SEED, "--from", "it", "--to", "cat", "--top", "4"]))
    assert out.splitlines()[0].strip() == "heads linking it → cat"
    rows = re.findall(r"│\s*(\d+)\s*│\s*(\d+)\s*│\s*(\d+)\s*│\s*([\d.]+)\s*│\s*([\d.]+)\s*│\s*([-+][\d.]+)\s*│", out)
    expected = brute_force(seed, [8], [2])[:4]
    assert [(int(r[0]), int(r[1]), int(r[2])) for r in rows] == [
        (i + 1, layer, head) for i, (layer, head, *_) in enumerate(expected)
    ]
    assert [r[3:] for r in rows] == [(f"{w:.3f}", f"{b:.3f}", f"{s:+.3f}") for *_, w, b, s in expected]
    drawn = re.findall(r"#(\d+) L(\d+) H(\d+) ([-+][\d.]+)", out)  # every asked head drawn below the table
    assert [(int(r), int(a), int(b), s) for r, a, b, s in drawn] == [
        (i + 1, layer, head, f"{s:+.2f}") for i, (layer, head, _, _, s) in enumerate(expected)
    ]
    header = next(line for line in out.splitlines() if "rank" in line)
    assert [h.strip() for h in header.strip("┃ ").split("┃")][:6] == [
        "rank", "layer", "head", "weight", "baseline", "score ▼"
    ]  # fmt: skip
    assert "ranked by score; score = weight − baseline" in out


def test_find_panels_mark_the_from_row_and_the_link() -> None:
    out = ok(run(["find", SEED, "--from", "it", "--to", "cat", "--top", "2", "--no-color"], width=200))
    lines = out.splitlines()
    marked = [line for line in lines if "▶" in line and not line.startswith("notes")]
    assert len(marked) == 1 and marked[0].lstrip().startswith("it▶")  # one shared label column, the "it" row
    # each of the two panels marks the cat column of that row: header rows give the column positions
    cells = [i for i, ch in enumerate(marked[0]) if ch == "◆"]
    assert len(cells) == 2
    heading = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#1 L"))
    column_letters = lines[heading + 1]  # first letters of the vertical column labels
    assert [column_letters[i] for i in cells] == ["c", "c"]  # cat (the only other c-word is far right)
    assert all(cells[0] < column_letters.index("b") for i in cells[:1])
    assert "▶: the it row; ◆: it → cat" in out


def test_find_says_why_it_draws_fewer_heatmaps_than_asked() -> None:
    out = ok(run(["find", SEED, "--from", "it", "--to", "cat", "--top", "8"], width=250))
    assert len(re.findall(r"#\d+ L\d+ H\d+", out)) == 6
    assert "heatmaps of the top 6 heads; the table ranks all 8 (--top 6 draws each)" in out
    out = ok(run(["find", SEED, "--from", "it", "--to", "cat", "--top", "80"], width=250))
    assert "--top 80: this extraction holds only 72 heads" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "the", "--to", "cat"], '"the" occurs 2 times: use the#1 or the#2'),
        (["--from", "it", "--to", "dog"],
         '"dog" is not in this text: its words are The, cat, sat, on, mat, because, it, was, comfortable'),
        (["--from", "it", "--to", "cat#2"], '"cat" occurs once: there is no cat#2'),
        (["--from", "it", "--to", "cat#0"], "invalid word 'cat#0': occurrences count from 1 (cat#1)"),
        (["--from", "it", "--to", "cat", "--top", "0"], "invalid --top 0: it must be at least 1"),
        (["--from", "it", "--to", "cat", "-o", "x.bmp"],
         "cannot write 'x.bmp': unsupported extension '.bmp' (use one of .png, .svg, .pdf)"),
    ],
    ids=["ambiguous", "missing", "occurrence", "occurrence-0", "top", "output"],
)  # fmt: skip
def test_find_invalid_value(args: list[str], message: str) -> None:
    assert usage_error(["find", SEED, *args]) == f"error: {message}"


def test_find_in_a_causal_model_refuses_a_later_target(tiny_gpt2: Path) -> None:
    args = ["find", SEED, "--model", str(tiny_gpt2), "--from", "cat", "--to", "it"]
    assert usage_error(args) == (
        'error: in a causal model "cat" cannot attend to "it", which comes later: swap the two words'
    )
    data = json.loads(ok(run([*args[:4], "--from", "it", "--to", "cat", "--json"])))
    gpt2 = attnviz.extract(SEED, model=str(tiny_gpt2))
    cat = np.flatnonzero(gpt2.word_ids == 1).tolist()  # the second word, in however many pieces
    assert len(data) == 8  # 2 layers x 4 heads, fewer than --top 10
    check_ranking(data, brute_force(gpt2, [gpt2.tokens.index("it")], cat))


def test_find_image(tmp_path: Path) -> None:
    path = tmp_path / "find.png"
    result = run(["find", SEED, "--from", "it", "--to", "cat", "-o", str(path)])
    assert ok(result) == ""
    assert result.stderr == f"wrote {path} (top 10 heads)\n"
    width, height = png_size(path)
    assert width > height > 100


def test_find_image_draws_every_asked_head(tmp_path: Path) -> None:
    path = tmp_path / "find.svg"
    result = run(["find", SEED, "--from", "it", "--to", "cat", "--top", "5", "-o", str(path)])
    assert result.stderr == f"wrote {path} (top 5 heads)\n"
    svg = path.read_text()
    titles = re.findall(r"<!-- (#\d) L\d+ H\d+ [-+][\d.]+ -->", svg)
    assert titles == ["#1", "#2", "#3", "#4", "#5"]
    assert svg.count("stroke: #e8175d") == 10  # per panel: the dashed "it" row and the solid it → cat cell
    assert "dashed outline: the it row; solid outline: it → cat" in svg


# --- stats -------------------------------------------------------------------------------------


def reference_stats(attn: Attention) -> list[dict[str, float]]:
    """The seven statistics of every head, each a mean over query rows, computed row by row."""
    n = attn.n_tokens
    special = [i for i in range(n) if attn.special[i]]
    rows = []
    for li, layer in enumerate(attn.layers):
        for hi, head in enumerate(attn.heads):
            w = attn.weights[li, hi].astype(np.float64)
            rows.append({
                "layer": layer,
                "head": head,
                "entropy": np.mean([-sum(p * math.log(p) for p in r if p > 0) for r in w]),
                "max_weight": np.mean([max(r) for r in w]),
                "special_mass": np.mean([sum(r[j] for j in special) for r in w]),
                "prev_token": np.mean([w[i, i - 1] for i in range(1, n)]),
                "self": np.mean([w[i, i] for i in range(n)]),
                "distance": np.mean([sum(w[i, j] * abs(i - j) for j in range(n)) for i in range(n)]),
                "sink": np.mean([r[0] for r in w]),
            })  # fmt: skip
    return rows


def test_stats_help() -> None:
    out = ok(run(["stats", "--help"]))
    assert "Per-head statistics" in out
    for option in ("--sort", "--stat", "--json", "--output"):
        assert option in out, option


def test_stats_json_equals_an_independent_computation(seed: Attention) -> None:
    data = json.loads(ok(run(["stats", SEED, "--json"])))
    assert [list(row) for row in data] == [["layer", "head", "kv_head", *STAT_KEYS]] * 72
    assert all(row["kv_head"] is None for row in data)  # MiniLM: one key/value head per query head
    expected = reference_stats(seed)
    for got, want in zip(data, expected, strict=True):
        assert (got["layer"], got["head"]) == (want["layer"], want["head"])
        for key in STAT_KEYS:
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (got["layer"], got["head"], key)


def test_stats_of_hidden_specials_put_no_mass_on_them() -> None:
    data = json.loads(ok(run(["stats", SEED, "--hide-special", "--json"])))
    assert all(row["special_mass"] == 0 for row in data)
    assert max(row["max_weight"] for row in data) <= 1 + 1e-6


@pytest.mark.parametrize("key", STAT_KEYS)
def test_stats_sort_orders_largest_first(key: str) -> None:
    plain = json.loads(ok(run(["stats", SEED, "--json"])))
    data = json.loads(ok(run(["stats", SEED, "--sort", key, "--json"])))
    values = [row[key] for row in data]
    assert values == sorted(values, reverse=True)
    assert sorted(map(json.dumps, data)) == sorted(map(json.dumps, plain))  # the same rows, reordered
    assert values[0] == max(row[key] for row in plain)


def test_stats_default_is_a_table_in_layer_then_head_order(seed: Attention) -> None:
    out = ok(run(["stats", SEED], width=120))
    assert out.splitlines()[0].strip() == "per-head statistics"
    assert "▼" not in out
    rows = [line.split()[:3] for line in out.splitlines() if re.match(r"\s*\d+\s+\d+\s+[\d.]+", line)]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(layer, head) for layer in range(6) for head in range(12)]
    assert [r[2] for r in rows] == [f"{e['entropy']:.3f}" for e in reference_stats(seed)]


def test_stats_table_shows_every_head_and_marks_the_sort_column(seed: Attention) -> None:
    out = ok(run(["stats", SEED, "--sort", "self"], width=120))
    assert out.splitlines()[0].strip() == "per-head statistics, sorted by self"
    assert "self ▼" in out
    assert all(key in out for key in STAT_KEYS)  # every header readable at 120 columns
    rows = [tuple(line.split()) for line in out.splitlines() if re.match(r"\s*\d+\s+\d+(\s+[\d.]+){7}\s*$", line)]
    assert len(rows) == 72
    expected = sorted(reference_stats(seed), key=lambda r: -r["self"])
    assert [(int(r[0]), int(r[1])) for r in rows] == [(e["layer"], e["head"]) for e in expected]
    assert [r[2:] for r in rows] == [tuple(f"{e[k]:.3f}" for k in STAT_KEYS) for e in expected]


def test_stats_headers_are_readable_at_80_columns() -> None:
    out = ok(run(["stats", SEED]))
    assert all(key in out for key in STAT_KEYS)
    assert "…" not in out.split("entropy ", 2)[1].split("\nentropy")[0]  # no value cut short
    assert widest(out) <= 80


def test_stats_legend_names_each_statistic_its_range_and_unit() -> None:
    out = ok(run(["stats", SEED], width=120))
    legend = out[out.rindex("\nentropy ") + 1 :]
    assert [line.split()[0] for line in legend.splitlines() if line[:1].strip()] == STAT_KEYS
    assert "in nats: 0 (one key) to ln N = 2.485 (all N = 12 keys equal)" in legend  # ln 12
    assert "0 to N − 1 = 11" in legend and "attention sink" in legend


def test_stats_sink_is_na_when_position_0_is_hidden_or_cropped() -> None:
    hidden = json.loads(ok(run(["stats", SEED, "--hide-special", "--json"])))
    cropped = json.loads(ok(run(["stats", SEED, "--tokens", "2-6", "--json"])))
    assert all(row["sink"] is None for row in hidden + cropped)
    plain = json.loads(ok(run(["stats", SEED, "--tokens", "0-6", "--json"])))
    assert all(0 < row["sink"] <= 1 for row in plain)


def test_stats_invalid_values() -> None:
    keys = "entropy, max_weight, special_mass, prev_token, self, distance, sink"
    assert usage_error(["stats", SEED, "--sort", "nope"]) == f"error: unknown statistic 'nope': use one of {keys}"
    assert usage_error(["stats", SEED, "--stat", "nope"]) == f"error: unknown statistic 'nope': use one of {keys}"
    assert usage_error(["stats", SEED, "--cmap", "nope"]).startswith("error: unknown colormap 'nope'")


def test_stats_image(tmp_path: Path) -> None:
    path = tmp_path / "stats.png"
    result = run(["stats", SEED, "--stat", "max_weight", "-o", str(path)])
    assert ok(result) == ""
    assert result.stderr == f"wrote {path}\n"
    width, height = png_size(path)
    assert width > 200 and height > 200


# --- rollout -----------------------------------------------------------------------------------


def reference_rollout(attn: Attention, fusion: str = "mean") -> np.ndarray:
    """Abnar & Zuidema: per layer fuse the heads, A = 0.5 W + 0.5 I, rows to 1, R_l = A_l R_(l-1)."""
    n = attn.n_tokens
    result = np.eye(n)
    for li in range(len(attn.layers)):
        fused = {"mean": np.mean, "max": np.max, "min": np.min}[fusion](attn.weights[li].astype(np.float64), axis=0)
        a = 0.5 * fused + 0.5 * np.eye(n)
        a = a / a.sum(axis=1, keepdims=True)
        result = a @ result
    return result


def test_rollout_help() -> None:
    out = ok(run(["rollout", "--help"]))
    assert "Attention rollout (Abnar & Zuidema 2020)" in out
    for option in ("--fusion", "--query", "--json", "--output"):
        assert option in out, option


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_rollout_json_equals_the_reference(seed: Attention, fusion: str) -> None:
    args = ["rollout", SEED, "--json"] + ([] if fusion == "mean" else ["--fusion", fusion])
    data = json.loads(ok(run(args)))
    assert set(data) == {"tokens", "rollout"}
    assert data["tokens"] == TOKENS
    matrix = np.array(data["rollout"])
    assert matrix.shape == (12, 12)
    assert np.allclose(matrix, reference_rollout(seed, fusion), atol=1e-9)
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-9)


def test_rollout_of_a_causal_model_is_lower_triangular(tiny_gpt2: Path) -> None:
    gpt2 = attnviz.extract(SEED, model=str(tiny_gpt2))
    data = json.loads(ok(run(["rollout", SEED, "--model", str(tiny_gpt2), "--json"])))
    matrix = np.array(data["rollout"])
    assert data["tokens"] == list(gpt2.tokens)
    assert np.all(np.triu(matrix, k=1) == 0)
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-9)
    assert np.allclose(matrix, reference_rollout(gpt2), atol=1e-9)


def share_lines(out: str, title: str) -> list[tuple[str, float]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    return [(line.split()[0], float(line.split()[1])) for line in lines[start + 1 :] if line.strip()]


def test_rollout_default_shows_the_first_token_and_its_shares(seed: Attention) -> None:
    out = ok(run(["rollout", SEED]))
    assert "all-MiniLM-L6-v2 · rollout over 6 layers (mean fusion)" in out
    shares = share_lines(out, "where '[CLS]' draws from, after rollout")
    expected = reference_rollout(seed)[0]
    order = np.argsort(-expected, kind="stable")
    assert [label for label, _ in shares] == [TOKENS[i] for i in order]
    assert [value for _, value in shares] == pytest.approx(expected[order].tolist(), abs=0.0005)


def test_rollout_query_shows_that_tokens_shares(seed: Attention) -> None:
    out = ok(run(["rollout", SEED, "--query", "it", "--fusion", "max"]))
    assert "rollout over 6 layers (max fusion)" in out
    shares = share_lines(out, "where 'it' draws from, after rollout")
    expected = reference_rollout(seed, "max")[8]
    assert [value for _, value in shares] == pytest.approx(sorted(expected, reverse=True), abs=0.0005)


def test_rollout_invalid_values(tmp_path: Path) -> None:
    assert usage_error(["rollout", SEED, "--fusion", "sum"]) == "error: invalid fusion 'sum': use mean, max, min"
    assert usage_error(["rollout", SEED, "--query", "dog"]).startswith('error: "dog" is not in this text')
    partial = tmp_path / "l5.npz"
    ok(run(["show", SEED, "--layer", "5", "--save", str(partial), "--json"]))
    assert usage_error(["rollout", "--load", str(partial)]) == (
        "error: rollout needs consecutive layers from 0, but this extraction holds layers 5"
    )


def test_rollout_image(tmp_path: Path) -> None:
    path = tmp_path / "rollout.png"
    result = run(["rollout", SEED, "-o", str(path)])
    assert ok(result) == ""
    assert result.stderr == f"wrote {path}\n"
    assert min(png_size(path)) > 200


# --- explain -----------------------------------------------------------------------------------


def test_explain_help() -> None:
    out = ok(run(["explain", "--help"]))
    assert "step by step" in out
    for option in ("--layer", "--head", "--query", "--json"):
        assert option in out, option


def test_explain_json_is_the_models_own_row(seed: Attention) -> None:
    data = json.loads(ok(run(["explain", SEED, "--layer", "5", "--head", "11", "--query", "it", "--json"])))
    assert (data["layer"], data["head"], data["query"], data["query_token"]) == (5, 11, 8, "it")
    assert (data["d_k"], data["n_heads"], data["d_model"], data["causal"]) == (32, 12, 384, False)
    assert data["mask"] is None
    weights = np.array(data["weights"])
    assert np.allclose(weights, seed.head(5, 11)[8], atol=1e-5)
    assert weights[2] == pytest.approx(0.64, abs=0.01)  # "it" -> "cat"
    q, k, v = (np.array(data[name]) for name in ("q", "k", "v"))
    assert q.shape == k.shape == v.shape == (12, 32)
    assert np.allclose(np.array(data["scores"]), k @ q[8], atol=1e-4)
    assert np.allclose(np.array(data["scaled"]), np.array(data["scores"]) / math.sqrt(32), atol=1e-9)
    e = np.exp(np.array(data["scaled"]) - max(data["scaled"]))
    assert np.allclose(weights, e / e.sum(), atol=1e-9)
    assert np.allclose(np.array(data["output"]), weights @ v, atol=1e-6)
    assert data["merged_shape"] == [12, 384]


def test_explain_default_is_layer_0_head_0_first_word(seed: Attention) -> None:
    data = json.loads(ok(run(["explain", SEED, "--json"])))
    assert (data["layer"], data["head"], data["query"], data["query_token"]) == (0, 0, 1, "The")
    assert np.allclose(np.array(data["weights"]), seed.head(0, 0)[1], atol=1e-5)


def test_explain_text_walks_through_the_formula(seed: Attention) -> None:
    out = ok(run(["explain", SEED, "--layer", "5", "--head", "11", "--query", "it"]))
    flat = " ".join(out.split())
    assert widest(out) <= 80
    for step in ("1. queries, keys and values", "2. scores = Q·Kᵀ: every query against every key (12 × 12)",
                 "3. scale by √d_k = √32 = 5.657", "4. softmax → attention weights",
                 "5. weighted sum of values → this head's output"):  # fmt: skip
        assert step in flat, step
    assert "d_k = 32" in flat
    assert "causal mask" not in flat  # an encoder has none
    cat = [line.split() for line in out.splitlines() if line.split()[:1] == ["cat"]]
    assert cat[-1][2] == f"{seed.head(5, 11)[8, 2]:.3f}"  # the softmax table's weight column


def test_explain_fits_40_columns() -> None:
    out = ok(run(["explain", SEED, "--layer", "5", "--head", "11", "--query", "it"], width=40))
    assert widest(out) <= 40


def test_explain_causal_model_masks_later_keys_exactly(tiny_gpt2: Path) -> None:
    gpt2 = attnviz.extract(SEED, model=str(tiny_gpt2))
    q = gpt2.tokens.index("it")
    args = ["explain", SEED, "--model", str(tiny_gpt2), "--layer", "1", "--head", "2", "--query", "it"]
    data = json.loads(ok(run([*args, "--json"])))
    assert (data["causal"], data["query"], data["d_k"]) == (True, q, 8)
    weights = np.array(data["weights"])
    assert data["mask"] == [j <= q for j in range(gpt2.n_tokens)]
    assert np.all(weights[q + 1 :] == 0.0)  # exactly, not nearly
    assert np.all(weights[: q + 1] > 0)
    assert np.allclose(weights, gpt2.head(1, 2)[q], atol=1e-5)
    assert np.allclose(np.array(data["output"]), weights @ np.array(data["v"]), atol=1e-6)
    out = ok(run(args))
    flat = " ".join(out.split())
    hidden = gpt2.n_tokens - q - 1
    assert f"4. causal mask A decoder's token sees only itself and earlier tokens: the {hidden} later key(s)" in flat
    assert "5. softmax → attention weights" in flat
    assert widest(out) <= 80


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layer", "9"], "layer 9 is out of range: this model has layers 0-5"),
        (["--head", "12"], "head 12 is out of range: this model has heads 0-11"),
        (["--query", "dog"],
         '"dog" is not in this text: its words are The, cat, sat, on, mat, because, it, was, comfortable'),
        (["--hide-special"], "No such option: --hide-special (see 'attnviz explain --help')"),
    ],
    ids=["layer", "head", "query", "hide-special"],
)  # fmt: skip
def test_explain_invalid_value(args: list[str], message: str) -> None:
    assert usage_error(["explain", SEED, *args]) == f"error: {message}"


def test_explain_layer_must_be_an_integer() -> None:
    message = usage_error(["explain", SEED, "--layer", "x"])
    assert message.startswith("error: Invalid value for '--layer' / '-l'")
    assert message.endswith("(see 'attnviz explain --help')")


# --- widths of every analysis command ------------------------------------------------------------


@pytest.mark.parametrize("width", [40, 80, 120, 250])
@pytest.mark.parametrize(
    "args",
    [["find", SEED, "--from", "it", "--to", "cat"], ["stats", SEED], ["rollout", SEED]],
    ids=["find", "stats", "rollout"],
)
def test_analysis_output_fits_the_terminal(width: int, args: list[str]) -> None:
    out = ok(run(args, width=width))
    assert widest(out) <= width
    assert "\x1b" not in out  # a pipe gets no escape codes
