"""A notebook executed with nbclient displays an extraction as the page, in an iframe."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from pagecheck import SEED, check_seed_page, distinct_colours, open_page

from attnviz.attention import Attention


def test_notebook_displays_the_page(browser: Any, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    npz = tmp_path / "seed.npz"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(f"import attnviz\nattn = attnviz.extract({SEED!r})\nattn.save({str(npz)!r})\nattn"),
    ]
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = notebook.cells[0].outputs
    assert [o["output_type"] for o in outputs] == ["execute_result"]
    shown = outputs[0]["data"]["text/html"]
    assert re.fullmatch(r'<iframe srcdoc="[^"]*" sandbox="allow-scripts"[^>]*></iframe>', shown)
    assert "<script" not in shown  # everything is inside the (escaped) srcdoc: nothing runs in the notebook
    attn = Attention.load(npz)
    # the output cell as a notebook front end shows it: the HTML inside a page of its own
    cell = tmp_path / "cell.html"
    cell.write_text(f"<!DOCTYPE html><html><body>{shown}</body></html>", encoding="utf-8")
    with open_page(browser, cell) as watched:
        inner = next(f for f in watched.page.frames if f != watched.page.main_frame)
        check_seed_page(inner, attn)
        assert distinct_colours(watched.page.screenshot()) > 40
        watched.check_clean()
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1)) == attn.to_html()
