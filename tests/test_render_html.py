"""The HTML page without a browser: what it embeds, how it encodes, how the CLI and API write it."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from clicheck import assert_clean_error, invoke, ok
from pagecheck import SEED, XSS, toy

from attnviz.attention import Attention
from attnviz.render import html as page_html


def data_of(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="attnviz-data">(.*?)</script>', page, re.S)
    assert match
    return json.loads(match.group(1))


def decoded(data: dict) -> list[np.ndarray]:
    """The maps as the page's script decodes them, written again in numpy."""
    dtype = np.dtype(data["encoding"]["dtype"]).newbyteorder("<")
    out = []
    for m in data["maps"]:
        raw = base64.b64decode(m["data"])
        if data["encoding"]["compression"] == "deflate":
            raw = zlib.decompress(raw)
        out.append(m["lo"] + np.frombuffer(raw, dtype).astype(np.float64).reshape(m["shape"]) * m["step"])
    return out


def test_page_is_self_contained_with_a_strict_policy() -> None:
    page = toy(["[CLS]", "a", "b", "[SEP]"]).to_html()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    policy = html.unescape(csp)
    assert "default-src 'none'" in policy and "base-uri 'none'" in policy and "unsafe" not in policy
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1  # the code; the data is the other, non-executable script
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy  # only this exact script may run
    assert not re.search(r"\s(src|href)=", page)  # nothing is loaded from anywhere
    assert page.count("</script>") == 2


def test_weights_round_trip_within_the_encoding_step() -> None:
    attn = toy(["a", "b", "c", "d", "e"])
    data = data_of(attn.to_html())
    assert data["encoding"] == {"dtype": "uint16", "compression": "none"}
    maps = decoded(data)
    assert [(m["layer"], m["head"]) for m in data["maps"]] == [(lay, h) for lay in range(2) for h in range(3)]
    for m, values, expected in zip(data["maps"], maps, attn.weights.reshape(6, 5, 5), strict=True):
        assert m["step"] <= (expected.max() - expected.min()) / 65535 * 1.0001
        assert np.abs(values - expected).max() <= m["step"] / 2 + 1e-9


def test_long_inputs_use_uint8_and_deflate_within_2e_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(page_html, "UINT16_LIMIT", 100)
    attn = toy([f"t{i}" for i in range(40)], layers=1, heads=2)
    data = data_of(page_html.attention_page(attn, compress=True))
    assert data["encoding"] == {"dtype": "uint8", "compression": "deflate"}
    for values, expected in zip(decoded(data), attn.weights[0], strict=True):
        assert np.abs(values - expected).max() <= 2e-3


def test_token_text_is_data() -> None:
    attn = toy(["[CLS]", XSS, "{{SCRIPT}}", "a & b", "[SEP]"])
    page = attn.to_html()
    assert XSS not in page and "<img" not in page  # "<" never appears inside the data
    assert page.count("</script>") == 2 and page.count("<script") == 2
    assert data_of(page)["sequences"][0]["tokens"] == list(attn.tokens)  # and reads back unchanged


def test_to_html_writes_and_repr_html_is_the_same_page_in_an_iframe(tmp_path: Path) -> None:
    attn = toy(["a", "b", "c"])
    page = attn.to_html()
    assert attn.to_html(tmp_path / "a.html") is None
    assert (tmp_path / "a.html").read_text(encoding="utf-8") == page
    frame = attn._repr_html_()
    srcdoc = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts"[^>]*></iframe>', frame)
    assert srcdoc and html.unescape(srcdoc.group(1)) == page


def test_cross_attention_keeps_its_key_side() -> None:
    rng = np.random.default_rng(1)
    weights = rng.random((1, 2, 3, 5)).astype(np.float32)
    attn = Attention(
        ["x", "y", "z"], weights, [0], [0, 1], np.zeros(3, bool), np.arange(3), stack="cross",
        key_tokens=["a", "b", "c", "d", "e"], key_special=np.zeros(5, bool), key_word_ids=np.arange(5),
    )  # fmt: skip
    data = data_of(attn.to_html())
    assert [s["tokens"] for s in data["sequences"]] == [["x", "y", "z"], ["a", "b", "c", "d", "e"]]
    assert all(m["q"] == 0 and m["k"] == 1 and m["shape"] == [3, 5] for m in data["maps"])
    assert "3 queries × 5 keys" in data["subtitle"]


@pytest.fixture(scope="module")
def seed_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "seed.npz"
    ok(invoke(["show", SEED, "--save", str(path)]))
    return path


def test_show_writes_the_page_of_what_the_options_left(seed_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "seed.html"
    result = invoke(["show", "--load", str(seed_npz), "--hide-special", "--layer", "5", "-o", str(out)])
    assert "wrote" in ok(result) + result.stderr
    data = data_of(out.read_text(encoding="utf-8"))
    attn = Attention.load(seed_npz)
    assert data["sequences"][0]["tokens"] == [t for t in attn.tokens if t not in ("[CLS]", "[SEP]")]
    assert [m["title"] for m in data["maps"]] == [f"L5 H{h}" for h in range(12)]
    assert "special tokens hidden" in data["subtitle"]


def test_compare_writes_panels(seed_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    ok(invoke(["compare", "--load", str(seed_npz), "--heads", "5.11,0.3", "-o", str(out)]))
    data = data_of(out.read_text(encoding="utf-8"))
    assert [(m["title"], m["layer"], m["head"]) for m in data["maps"]] == [("L5 H11", 5, 11), ("L0 H3", 0, 3)]
    expected = Attention.load(seed_npz).head(5, 11)
    assert np.abs(decoded(data)[0] - expected).max() <= data["maps"][0]["step"]


def test_bad_extension_names_html(tmp_path: Path) -> None:
    result = invoke(["show", SEED, "-o", str(tmp_path / "x.txt")])
    line = assert_clean_error(result, 2)
    assert ".html" in line
    assert list(tmp_path.iterdir()) == []
