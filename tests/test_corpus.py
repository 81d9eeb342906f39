"""Corpus runs: `stats --corpus`, `find --corpus` and `find --pairs` equal the one-text commands
run line by line, any number of workers gives the same numbers, bad lines are told and skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from clicheck import check_error_text, ok, run, subprocess_env

import attnviz
from attnviz.analysis.find import word_weight
from attnviz.analysis.tokens import find_token, word_groups
from attnviz.corpus.moments import Moments
from attnviz.corpus.read import Line, Skipped, read_corpus
from attnviz.models.run import RandomOptions

RANDOM = ["--model", "random", "--random-layers", "3", "--random-heads", "4", "--random-dim", "32"]
TEXTS = [
    "The cat sat on the mat because it was comfortable",
    "The trophy did not fit in the suitcase because it was too big",
    "Paul tried to call George but he was not available",
    "The dog chased the ball until it was exhausted",
    "Queries keys and values",
    "The knife cut the bread because it was sharp and the bread was soft",
    "They said it again",
]
PAIRS = [
    {"text": TEXTS[0], "from": "it", "to": "cat"},
    {"text": TEXTS[1], "from": "it", "to": "trophy"},
    {"text": TEXTS[2], "from": "he", "to": "paul"},
    {"text": TEXTS[3], "from": "it", "to": "ball"},
    {"text": TEXTS[5], "from": "it", "to": "knife"},
    {"text": "Anna thanked Lucy because she had helped", "from": "she", "to": "lucy"},
]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def json_of(args: list[str]) -> list[dict]:
    return json.loads(ok(run(args)))


# --- reading -------------------------------------------------------------------------------------


def test_reading_reports_each_bad_line_with_its_number_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(
        b'{"text": "one"}\n'  # 1
        b"\n"  # 2: blank, silently skipped
        b"{not json\n"  # 3
        b'{"text": "  "}\n'  # 4
        b'{"txt": "x"}\n'  # 5
        b"[1, 2]\n"  # 6
        b'{"text": 3}\n'  # 7
        b'{"text": "caf\xc3\xa9"}\r\n'  # 8
        b'{"text": "bad \xff byte"}\n'  # 9
    )
    items = list(read_corpus(path))
    assert items[0] == Line(1, "one")
    assert [type(i).__name__ for i in items] == ["Line", "Skipped", "Skipped", "Skipped", "Skipped", "Skipped",
                                                  "Line", "Skipped"]  # fmt: skip
    skipped = {i.number: i.reason for i in items if isinstance(i, Skipped)}
    assert skipped[3].startswith("invalid JSON (")
    assert skipped[4] == 'empty "text"'
    assert skipped[5] == 'no "text" field'
    assert skipped[6] == "not a JSON object"
    assert skipped[7] == '"text" is not a string'
    assert skipped[9].startswith("not valid UTF-8 (byte 0xff")
    assert items[6] == Line(8, "café")


def test_a_plain_text_file_is_one_text_per_non_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes('\ufefffirst line\n\n   \nsecond {"text": 1}\r\nthird'.encode())
    assert list(read_corpus(path)) == [Line(1, "first line"), Line(4, 'second {"text": 1}'), Line(5, "third")]


def test_pairs_need_text_from_and_to(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "p.jsonl", [json.dumps({"text": "a b", "from": "a"}), json.dumps({**PAIRS[0]})])
    assert list(read_corpus(path, pairs=True)) == [Skipped(1, 'no "to" field'), Line(2, TEXTS[0], "it", "cat")]


# --- running moments ----------------------------------------------------------------------------


@pytest.mark.parametrize("splits", [[10], [1, 9], [3, 3, 4], [7, 1, 1, 1]])
def test_moments_merged_in_any_split_equal_numpy(splits: list[int]) -> None:
    values = np.random.default_rng(0).normal(5.0, 3.0, size=(10, 2, 3))
    total, start = Moments(), 0
    for size in splits:
        part = Moments()
        for x in values[start : start + size]:
            part.add(x)
        total.merge(part)
        start += size
    assert total.n == 10
    np.testing.assert_allclose(total.mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(total.std, values.std(axis=0), rtol=1e-12)


# --- stats --corpus -------------------------------------------------------------------------------


def test_stats_corpus_is_the_mean_and_std_of_stats_per_line(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", TEXTS)
    rows = json_of(["stats", "--corpus", str(corpus), "--json", "--workers", "1", *RANDOM])
    per_line = [json_of(["stats", text, "--json", *RANDOM]) for text in TEXTS]
    keys = [k for k in per_line[0][0] if k not in ("layer", "head", "kv_head")]
    assert len(rows) == 12 and len(keys) >= 6
    for i, row in enumerate(rows):
        assert (row["layer"], row["head"]) == (per_line[0][i]["layer"], per_line[0][i]["head"])
        assert row["n"] == len(TEXTS)
        assert set(row) == {"layer", "head", "n", *(f"{k}_{m}" for k in keys for m in ("mean", "std"))}
        for key in keys:
            values = [stats[i][key] for stats in per_line]
            assert row[f"{key}_mean"] == pytest.approx(np.mean(values), rel=1e-9, abs=1e-12)
            assert row[f"{key}_std"] == pytest.approx(np.std(values), rel=1e-7, abs=1e-12)


def test_stats_corpus_on_a_transformers_model_equals_stats_per_line(tiny_bert: Path, tmp_path: Path) -> None:
    texts = ["The cat sat on the mat because it was comfortable.", "Attention is all you need: queries and keys."]
    corpus = write_lines(tmp_path / "c.txt", texts)
    model = ["--model", str(tiny_bert), "--engine", "hf"]
    rows = json_of(["stats", "--corpus", str(corpus), "--json", "--workers", "1", "--hide-special", *model])
    per_line = [json_of(["stats", text, "--json", "--hide-special", *model]) for text in texts]
    for i, row in enumerate(rows):
        values = [stats[i]["entropy"] for stats in per_line]
        assert row["entropy_mean"] == pytest.approx(np.mean(values), rel=1e-9)
        assert row["entropy_std"] == pytest.approx(np.std(values), rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("family", ["tiny_bert", "tiny_gpt2"])
def test_stats_corpus_on_a_checkpoint_equals_stats_per_line(
    family: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The scratch engine's corpus path (tables kept in memory, texts packed) on a real checkpoint."""
    corpus = write_lines(tmp_path / "c.txt", TEXTS)
    model = ["--model", str(request.getfixturevalue(family)), "--engine", "scratch"]
    rows = json_of(["stats", "--corpus", str(corpus), "--json", "--workers", "1", *model])
    per_line = [json_of(["stats", text, "--json", *model]) for text in TEXTS]
    for i, row in enumerate(rows):
        for key in ("entropy", "max_weight", "self", "distance", "sink"):
            values = [stats[i][key] for stats in per_line]
            assert row[f"{key}_mean"] == pytest.approx(np.mean(values), rel=1e-6), key
            assert row[f"{key}_std"] == pytest.approx(np.std(values), rel=1e-4, abs=1e-7), key


def test_resident_tensors_give_the_checkpoint_rows_and_its_error(tiny_bert: Path) -> None:
    from attnviz.errors import ModelError
    from attnviz.models.scratch.tensors import Resident
    from attnviz.models.scratch.weights import Checkpoint

    checkpoint = Checkpoint(tiny_bert)
    resident = Resident(checkpoint)
    table = next(name for name in checkpoint.names() if name.endswith("word_embeddings.weight"))
    ids = np.array([5, 3, 5, 0, 17])
    for _ in range(2):  # read, then from memory
        np.testing.assert_array_equal(resident.rows(table, ids), checkpoint.rows(table, ids))
    bias = next(name for name in checkpoint.names() if name.endswith("LayerNorm.bias"))
    assert resident.read(bias) is resident.read(bias)
    too_big = np.array([checkpoint.shape(table)[0]])
    with pytest.raises(ModelError) as theirs:
        checkpoint.rows(table, too_big)
    with pytest.raises(ModelError) as ours:
        resident.rows(table, too_big)
    assert str(ours.value) == str(theirs.value)


def test_two_workers_give_exactly_the_numbers_of_one(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", TEXTS * 3)
    args = ["stats", "--corpus", str(corpus), "--json", "--batch", "2", *RANDOM]
    one, two = run([*args, "--workers", "1"]), run([*args, "--workers", "2"])
    assert ok(one) == ok(two)  # the same bytes: the same numbers to the last bit
    pairs = write_lines(tmp_path / "p.jsonl", [json.dumps(p) for p in PAIRS * 2])
    args = ["find", "--pairs", str(pairs), "--json", "--top", "12", "--batch", "3", *RANDOM]
    assert ok(run([*args, "--workers", "1"])) == ok(run([*args, "--workers", "2"]))


def test_stats_corpus_sorts_tables_and_skips_bad_lines(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.jsonl", [json.dumps({"text": TEXTS[0]}), "{oops", json.dumps({"text": ""}),
                                                 json.dumps({"text": TEXTS[1]})])  # fmt: skip
    result = run(["stats", "--corpus", str(corpus), "--json", "--sort", "entropy", "--workers", "1", *RANDOM])
    rows = json.loads(ok(result))
    assert [r["n"] for r in rows] == [2] * 12
    entropies = [r["entropy_mean"] for r in rows]
    assert entropies == sorted(entropies, reverse=True)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("warning: line 2: invalid JSON (") and lines[0].endswith("(skipped)")
    assert lines[1] == 'warning: line 3: empty "text" (skipped)'
    assert lines[2] == "warning: 2 of 4 lines skipped"
    table = ok(run(["stats", "--corpus", str(corpus), "--workers", "1", *RANDOM]))
    assert "over 2 texts, mean±std" in table
    assert max(len(line) for line in table.splitlines()) <= 80


def test_stats_corpus_draws_a_map_of_every_statistic(tmp_path: Path) -> None:
    from attnviz.analysis.stats import STAT_KEYS
    from attnviz.corpus.jobs import Aggregate
    from attnviz.corpus.results import stats_rows
    from attnviz.render.corpus_maps import render_stat_maps

    corpus = write_lines(tmp_path / "c.txt", TEXTS)
    result = run(["stats", "--corpus", str(corpus), "-o", str(tmp_path / "maps.png"), "--workers", "1", *RANDOM])
    ok(result)
    assert (tmp_path / "maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    aggregate = Aggregate("stats", layers=(0, 1), heads=(0, 1, 2))
    for x in np.random.default_rng(1).random((4, 2, 3, len(STAT_KEYS))):
        aggregate.moments.add(x)
    drawn = render_stat_maps(stats_rows(aggregate), tmp_path / "m.svg", title="t")
    assert list(drawn) == list(STAT_KEYS)
    for s, table in enumerate(drawn.values()):
        np.testing.assert_allclose(table, aggregate.moments.mean[..., s])


# --- find --corpus --------------------------------------------------------------------------------


def test_find_corpus_averages_find_over_the_texts_holding_both_words(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", TEXTS)
    result = run(["find", "--corpus", str(corpus), "--from", "it", "--to", "the#1", "--json", "--top", "12",
                  "--workers", "1", *RANDOM])  # fmt: skip
    rows = json.loads(ok(result))
    holding = [0, 1, 3, 5]  # "it" once and a first "the"; "They said it again" has no "the"
    assert "both words in 4 of 7 lines" in result.stderr
    expected = {}
    for i in holding:
        attn = attnviz.extract(TEXTS[i], model="random", random=attnviz_random())
        src, tgt = find_token(attn, "it"), find_token(attn, "the#1")
        weight = word_weight(attn, src, tgt)
        others = [q for q in range(attn.n_tokens) if not attn.special[q] and q not in src]
        baseline = np.array([[np.mean([attn.weights[li, hi, q, tgt].astype(np.float64).sum() for q in others])
                              for hi in range(4)] for li in range(3)])  # fmt: skip
        expected[i] = (weight, baseline)
    scores = [r["score_mean"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    by_weight = json_of(["find", "--corpus", str(corpus), "--from", "it", "--to", "the#1", "--json", "--top", "12",
                         "--sort", "weight", "--workers", "1", *RANDOM])  # fmt: skip
    assert [r["weight_mean"] for r in by_weight] == sorted((r["weight_mean"] for r in rows), reverse=True)
    for row in rows:
        at = row["layer"], row["head"]
        weights = [expected[i][0][at] for i in holding]
        baselines = [expected[i][1][at] for i in holding]
        assert row["n"] == 4
        assert row["weight_mean"] == pytest.approx(np.mean(weights), rel=1e-6)
        assert row["weight_std"] == pytest.approx(np.std(weights), rel=1e-5, abs=1e-9)
        assert row["baseline_mean"] == pytest.approx(np.mean(baselines), rel=1e-6)
        assert row["score_mean"] == pytest.approx(np.mean(weights) - np.mean(baselines), rel=1e-6, abs=1e-9)


def attnviz_random() -> RandomOptions:

    return RandomOptions(3, 4, 32, 0)


# --- find --pairs ---------------------------------------------------------------------------------


def direct_accuracy(pairs: list[dict]) -> np.ndarray:
    """Per (layer, head): the share of pairs whose from-word's heaviest other word is the to-word."""
    hits = np.zeros((3, 4))
    for pair in pairs:
        attn = attnviz.extract(pair["text"], model="random", random=attnviz_random())
        src, tgt = find_token(attn, pair["from"]), find_token(attn, pair["to"])
        words = [g for g in word_groups(attn) if not attn.special[g[0]] and g != src]
        for li in range(3):
            for hi in range(4):
                w = attn.weights[li, hi].astype(np.float64)
                totals = [np.mean([w[q, g].sum() for q in src]) for g in words]
                hits[li, hi] += words[int(np.argmax(totals))] == tgt
    return hits / len(pairs)


def test_find_pairs_accuracy_equals_a_direct_computation(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "p.jsonl", [json.dumps(p) for p in PAIRS])
    rows = json_of(["find", "--pairs", str(path), "--json", "--top", "12", "--workers", "1", *RANDOM])
    expected = direct_accuracy(PAIRS)
    assert len(rows) == 12
    assert [r["accuracy"] for r in rows] == sorted((r["accuracy"] for r in rows), reverse=True)
    for row in rows:
        assert set(row) == {"layer", "head", "accuracy", "mean_weight", "mean_score", "chance", "n"}
        assert row["accuracy"] == pytest.approx(expected[row["layer"], row["head"]])
        assert row["n"] == len(PAIRS)
    words = [len([w for w in p["text"].split()]) - 1 for p in PAIRS]  # every word but the from-word
    assert rows[0]["chance"] == pytest.approx(np.mean([1 / n for n in words]))


def test_find_pairs_reports_and_skips_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps(PAIRS[0]),
        "not json",
        json.dumps({"text": "", "from": "a", "to": "b"}),
        json.dumps({"text": TEXTS[0], "from": "it", "to": "dog"}),
        json.dumps({"text": TEXTS[0], "from": "the", "to": "cat"}),
        json.dumps({"text": TEXTS[0], "from": "it", "to": "it"}),
        json.dumps(PAIRS[1]),
    ]
    path = write_lines(tmp_path / "p.jsonl", lines)
    result = run(["find", "--pairs", str(path), "--json", "--top", "12", "--workers", "1", *RANDOM])
    rows = json.loads(ok(result))
    assert {r["n"] for r in rows} == {2}
    expected = direct_accuracy([PAIRS[0], PAIRS[1]])
    assert all(r["accuracy"] == pytest.approx(expected[r["layer"], r["head"]]) for r in rows)
    warnings = result.stderr.splitlines()
    assert warnings[0].startswith("warning: line 2: invalid JSON (")
    assert warnings[1] == 'warning: line 3: empty "text" (skipped)'
    assert warnings[2].startswith('warning: line 4: "dog" is not in this text: its words are ')
    assert warnings[3] == 'warning: line 5: "the" occurs 2 times: use the#1 or the#2 (skipped)'
    assert warnings[4] == 'warning: line 6: "it" and "it" are the same word (skipped)'
    assert warnings[5] == "warning: 5 of 7 lines skipped"


def test_the_shipped_pairs_are_all_usable_and_varied() -> None:
    path = Path(__file__).resolve().parent.parent / "sample_texts" / "coref_pairs.jsonl"
    items = list(read_corpus(path, pairs=True))
    assert len(items) >= 60 and all(isinstance(i, Line) for i in items)
    pronouns = {i.source.split("#")[0].lower() for i in items}
    assert {"it", "he", "she", "they"} <= pronouns
    ordered = {"before": 0, "after": 0}  # the antecedent is the first noun-like word, or a later one
    for item in items:
        attn = attnviz.extract(item.text, model="random")
        src, tgt = find_token(attn, item.source), find_token(attn, item.target)
        assert src != tgt
        ordered["before" if tgt[0] <= 2 else "after"] += 1
    assert min(ordered.values()) >= 10


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "a text", "--corpus", "c.txt"], "--corpus reads its texts from the file: TEXT does not apply"),
        (["stats", "--corpus", "missing.txt"], "cannot read --corpus 'missing.txt': no such file"),
        (["stats", "--corpus", "c.txt", "--workers", "0"], "--workers must be at least 1, not 0"),
        (["stats", "a text", "--workers", "2"], "--workers applies to --corpus and --pairs only"),
        (["stats", "--corpus", "c.txt", "--tokens", "0-3"],
         "--corpus reads its texts from the file: --tokens does not apply"),
        (["find", "--pairs", "p.jsonl", "--from", "it"],
         "--pairs names the words on each line: --from and --to do not apply"),
        (["find", "--corpus", "c.txt"], "find --corpus needs --from WORD and --to WORD (e.g. --from it --to cat)"),
        (["find", "--corpus", "c.txt", "--pairs", "p.jsonl"], "give --corpus or --pairs, not both"),
        (["stats", "--corpus", "blank.txt"], "--corpus 'blank.txt' has no text: every line is blank"),
        (["stats", "--corpus", "c.txt", "--generate", "3"],
         "--corpus runs self-attention over each line's own text: --generate does not apply"),
        (["find", "--pairs", "p.jsonl", "--stack", "cross"],
         "--pairs runs self-attention over each line's own text: --stack does not apply"),
        (["find", "--corpus", "c.txt", "--from", "zebra", "--to", "cat"],
         "--corpus 'c.txt': nothing to aggregate: no text holds both \"zebra\" and \"cat\" (0 of 2 lines skipped)"),
    ],
)  # fmt: skip
def test_corpus_usage_errors_are_one_line(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_lines(tmp_path / "c.txt", TEXTS[:2])
    write_lines(tmp_path / "p.jsonl", [json.dumps(PAIRS[0])])
    (tmp_path / "blank.txt").write_text("\n  \n")
    result = run([*args, *RANDOM])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert [line for line in result.stderr.splitlines() if not line.startswith("warning:")] == [f"error: {message}"]


# --- the packed scratch forward ---------------------------------------------------------------------


@pytest.mark.parametrize("family", ["tiny_bert", "tiny_gpt2"])
def test_packed_forward_equals_one_text_at_a_time(family: str, request: pytest.FixtureRequest) -> None:
    from attnviz.models import packed, scratch
    from attnviz.models.tokens import encode, load_tokenizer

    folder = request.getfixturevalue(family)
    model, tokenizer = scratch.load(folder), load_tokenizer(folder)
    texts = [
        "The cat sat on the mat because it was comfortable.", "def add(a, b): return a + b", "A tokenizer",
        "The mat sat on the cat because it was comfortable.", "It was comfortable because the cat sat on the mat.",
    ]  # fmt: skip
    ids = [encode(tokenizer, text, 64).ids for text in texts]
    assert len(ids[0]) == len(ids[3]) != len(ids[2])  # a run of equal lengths, stacked apart from the others
    together = packed.forward_packed(model, ids, [0, 1])
    for one, kept in zip(ids, together, strict=True):
        alone, _ = model.forward(one, [0, 1])
        for layer in (0, 1):
            assert kept[layer].shape == (4, len(one), len(one))
            np.testing.assert_allclose(kept[layer], alone[layer], rtol=0, atol=1e-6)
    only_first = packed.forward_packed(model, ids, [0])
    assert [list(k) for k in only_first] == [[0]] * len(texts)


@pytest.mark.parametrize("family", ["tiny_bert", "tiny_gpt2"])
def test_a_workspace_reused_across_groups_changes_nothing(family: str, request: pytest.FixtureRequest) -> None:
    from attnviz.models import packed, scratch
    from attnviz.models.tokens import encode, load_tokenizer

    folder = request.getfixturevalue(family)
    model, tokenizer = scratch.load(folder), load_tokenizer(folder)
    groups = [TEXTS[:4], TEXTS[4:5], TEXTS[:6]]  # larger, smaller, larger again than the workspace holds
    ids = [[encode(tokenizer, text, 64).ids for text in group] for group in groups]
    workspace = packed.Workspace()
    shared = [packed.forward_packed(model, group, [0, 1], workspace) for group in ids]
    first = [{layer: w.copy() for layer, w in kept.items()} for kept in shared[0]]
    for group, got in zip(ids, shared, strict=True):
        fresh = packed.forward_packed(model, group, [0, 1])
        for a, b in zip(got, fresh, strict=True):
            assert all(np.array_equal(a[layer], b[layer]) for layer in (0, 1))
    for before, after in zip(first, shared[0], strict=True):  # later groups did not write over returned weights
        assert all(np.array_equal(before[layer], after[layer]) for layer in (0, 1))


# --- progress and Ctrl-C --------------------------------------------------------------------------


def test_a_progress_bar_with_rate_and_eta_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", [f"the cat number {i}" for i in range(40)])
    args = ["stats", "--corpus", str(corpus), "--json", "--batch", "8", "--workers", "1", *RANDOM]
    drawn = run(args, env={"TTY_COMPATIBLE": "1"}, width=120)
    assert json.loads(ok(drawn))[0]["n"] == 40
    assert "random (scratch) on c.txt" in drawn.stderr
    assert "40/40" in drawn.stderr and "texts/s" in drawn.stderr and "ETA" in drawn.stderr
    assert run(args).stderr == ""  # not a terminal: no bar, and nothing else to say


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see the workers")
def test_ctrl_c_stops_every_worker_and_writes_nothing(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", [f"the cat number {i} sat on the mat" for i in range(200_000)])
    args = [
        sys.executable,
        "-m",
        "attnviz",
        "stats",
        "--corpus",
        str(corpus),
        "--workers",
        "2",
        "-o",
        "out.png",
        *RANDOM,
    ]
    proc = subprocess.Popen(args, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(workers := _descendants(proc.pid)) < 3:  # the fork server and two workers
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        time.sleep(0.5)  # let them load the model and run
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    check_error_text(stderr.decode(), stdout.decode(), "interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


def test_an_encoder_decoder_is_refused_before_it_loads(tmp_path: Path) -> None:
    from conftest import save_tiny_seq2seq

    folder = save_tiny_seq2seq(tmp_path / "t5")
    corpus = write_lines(tmp_path / "c.txt", TEXTS[:2])
    result = run(["stats", "--corpus", str(corpus), "--model", str(folder)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "error: corpus runs need a self-attention model (an encoder or a decoder); 't5' is an encoder-decoder, "
        "whose cross-attention links two texts\n"
    )


@pytest.mark.parametrize(("workers", "expected"), [(1, 8), (2, 4), (3, 2), (8, 1), (16, 1)])
def test_each_worker_gets_its_share_of_the_cores(workers: int, expected: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker on an 8-core machine runs its matrix products on 8 threads; 2 workers on
    4 each: never more threads in all than cores, never a core left idle by --workers 1."""
    from attnviz.corpus import pool
    from attnviz.corpus.jobs import Task
    from attnviz.models.session import SessionSpec

    seen: list[int] = []
    monkeypatch.setattr(pool, "cores", lambda: 8)
    monkeypatch.setattr(pool, "Session", lambda spec: seen.append(spec.threads))
    monkeypatch.setattr(pool, "_run_workers", lambda batches, spec, *rest: seen.append(spec.threads))
    pool.run_corpus([], SessionSpec(), Task("stats"), workers=workers)
    assert seen == [expected]


def test_a_session_runs_blas_on_its_threads() -> None:
    from threadpoolctl import threadpool_info

    from attnviz.models.session import Session, SessionSpec, threads

    session = Session(SessionSpec(model="random"))
    for n in (1, 2):
        with threads(session.loaded, n):
            assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {n}
