"""find, stats, rollout, explain: rank heads, describe them, trace attention, teach it."""

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from attnviz.analysis.compare import Panel
    from attnviz.analysis.find import HeadScore
    from attnviz.attention import Attention
from attnviz.cli import EPILOG, app, info
from attnviz.commands.common import Common, common_options, print_json, read_text
from attnviz.commands.corpus import BatchOpt, CorpusOpt, PairsOpt, WorkersOpt
from attnviz.commands.view import (
    CmapOpt,
    DpiOpt,
    GammaOpt,
    JsonOpt,
    MeasureOpt,
    OutputOpt,
    TextArg,
    check_image,
    gamma_cmap,
    with_measure,
)
from attnviz.errors import UsageError
from attnviz.render.labels import measure_label, plural

FIND_HEATMAPS = 6  # the terminal draws at most this many heatmaps under the find table


def first_word(attn: "Attention") -> int:
    """The default token to follow: the first that is not [CLS]/BOS."""
    return next((i for i in range(attn.n_tokens) if not attn.special[i]), 0)


def _prepare(
    common: Common,
    text: str | None,
    output: Path | None,
    cmap: str | None,
    dpi: int,
    hygiene: bool = True,
    data: bool = False,
) -> "Attention":
    """Validate outputs first, then extract every layer and head (one stack) and apply token
    hygiene; `data`: stdout carries data (a generated text goes to stderr)."""
    check_image(output, cmap, dpi)
    if common.load is not None and (text is not None or common.file is not None):
        raise UsageError("give TEXT or --load, not both")
    source = "" if common.load is not None else read_text(text, common.file)
    attn = common.extract(source, data=data)
    return common.hygiene(attn) if hygiene else attn


@app.command(epilog=EPILOG)
@common_options()
def find(
    text: TextArg = None,
    from_word: Annotated[
        str, typer.Option("--from", help="The word that attends (query); WORD#2 for the 2nd.", show_default=False)
    ] = "",
    to_word: Annotated[
        str, typer.Option("--to", help="The word attended to (key); WORD#2 for the 2nd.", show_default=False)
    ] = "",
    top: Annotated[int, typer.Option("--top", help="How many heads to list.")] = 10,
    sort: Annotated[
        str, typer.Option("--sort", help="Rank by score (weight minus the other words' baseline) or raw weight.")
    ] = "score",
    json_out: JsonOpt = False,
    cmap: CmapOpt = None,
    output: OutputOpt = None,
    dpi: DpiOpt = 150,
    corpus: CorpusOpt = None,
    pairs: PairsOpt = None,
    workers: WorkersOpt = None,
    batch: BatchOpt = 32,
    measure: MeasureOpt = None,
    gamma: GammaOpt = 1.0,
    *,
    common: Common,
) -> None:
    """Rank every head by how much more one word attends to another than the other words do."""
    from attnviz.analysis.find import SORTS, rank_heads
    from attnviz.analysis.tokens import find_token, mark_generated

    common = with_measure(common, measure)
    cmap = gamma_cmap(cmap, gamma)
    if corpus is not None or pairs is not None or workers is not None:
        from attnviz.commands.corpus import find_command

        _weights_only(common, "--corpus and --pairs")

        return find_command(common, text, corpus, pairs, from_word, to_word, workers=workers, batch=batch, top=top,
                            sort=sort, json_out=json_out, output=output, cmap=cmap, dpi=dpi)  # fmt: skip
    if not from_word or not to_word:
        raise UsageError("find needs --from WORD and --to WORD", hint="e.g. --from it --to cat")
    if sort not in SORTS:
        raise UsageError(f"invalid --sort '{sort}': use {' or '.join(SORTS)}")
    attn = _prepare(common, text, output, cmap, dpi, data=json_out)
    scores = rank_heads(attn, from_word, to_word, top, sort)
    if json_out:
        print_json([s.to_dict() for s in scores])
        return
    mark = (tuple(find_token(attn, from_word)), tuple(find_token(attn, to_word, keys=True)))
    attn = mark_generated(attn)  # labels only: the ranking ran on the plain tokens
    if output is not None:
        from attnviz.render import image

        image.render_panels(
            find_panels(attn, scores, mark), output, cmap=cmap, dpi=dpi, label=measure_label(attn.measure),
            title=f"heads linking {from_word} → {to_word}",
            captions=[find_caption(from_word, to_word, image=True), *measure_notes(attn)],
        )  # fmt: skip
        info(f"wrote {output} (top {plural(len(scores), 'head')})")
        return
    from attnviz.render import terminal
    from attnviz.render.reports import find_table

    console = common.console()
    console.print(
        find_table(scores, from_word, to_word, asked=top, heads=len(attn.layers) * len(attn.heads), sort=sort)
    )
    shown = scores[:FIND_HEATMAPS]
    notes = [] if len(shown) == len(scores) else [
        f"heatmaps of the top {len(shown)} heads; the table ranks all {len(scores)} (--top {len(shown)} draws each)"
    ]  # fmt: skip
    notes += [find_caption(from_word, to_word, image=False), *measure_notes(attn)]
    panels = find_panels(attn, shown, mark)
    console.print(terminal.Comparison(panels, cmap=cmap, offset=attn.positions, notes=notes))


def _weights_only(common: Common, what: str) -> None:
    if common.measure not in (None, "weights"):
        raise UsageError(f"--measure {common.measure}: {what} runs read attention weights only")


def measure_notes(attn: "Attention") -> list[str]:
    """The legend line that names a measure other than the weights."""
    from attnviz.models.value_norm import NOTE

    return [NOTE] if attn.measure == "value-norm" else []


def find_caption(source: str, target: str, *, image: bool) -> str:
    """What the marks on find's panels point out."""
    from attnviz.render.canvas import MARK_CELL
    from attnviz.render.terminal import MARK_ROW

    row, cell = ("dashed outline", "solid outline") if image else (MARK_ROW, MARK_CELL)
    return f"{row}: the {source} row; {cell}: {source} → {target}; panel titles give score (weight − baseline)"


def find_panels(
    attn: "Attention", scores: "Sequence[HeadScore]", mark: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
) -> "list[Panel]":
    """One heatmap per ranked head, titled with its rank and score; `mark` holds the from
    word's rows and the to word's columns."""
    from attnviz.analysis.compare import Panel

    return [
        Panel(f"#{rank} L{s.layer} H{s.head} {s.score:+.2f}", attn.head(s.layer, s.head), attn.tokens, attn.key_tokens,
              mark)
        for rank, s in enumerate(scores, 1)
    ]  # fmt: skip


@app.command(epilog=EPILOG)
@common_options()
def stats(
    text: TextArg = None,
    sort: Annotated[str | None, typer.Option("--sort", help="Sort by a statistic, largest first.")] = None,
    stat: Annotated[str, typer.Option("--stat", help="The statistic -o draws as layers x heads.")] = "entropy",
    json_out: JsonOpt = False,
    cmap: CmapOpt = None,
    output: OutputOpt = None,
    dpi: DpiOpt = 150,
    corpus: CorpusOpt = None,
    workers: WorkersOpt = None,
    batch: BatchOpt = 32,
    measure: MeasureOpt = None,
    *,
    common: Common,
) -> None:
    """Per-head statistics: entropy, max_weight, special_mass, prev_token, self, distance, sink."""
    from attnviz.analysis.stats import head_stats, sort_stats, stat_grid

    common = with_measure(common, measure)

    if sort is not None:
        sort_stats([], sort)  # validate before any model runs
    sort_stats([], stat)
    if corpus is not None or workers is not None:
        from attnviz.commands.corpus import stats_command

        _weights_only(common, "--corpus")

        return stats_command(common, text, corpus, workers=workers, batch=batch, sort=sort, json_out=json_out,
                             output=output, cmap=cmap, dpi=dpi)  # fmt: skip
    attn = _prepare(common, text, output, cmap, dpi, data=json_out)
    rows = head_stats(attn)
    if sort is not None:
        rows = sort_stats(rows, sort)
    if json_out:
        print_json([r.to_dict() for r in rows])
        return
    if output is not None:
        from attnviz.render import image

        of = "" if attn.measure == "weights" else f" of {attn.measure}"
        title = f"{attn.model}: {stat}{of} per head"
        image.render_layer_head_table(
            stat_grid(rows, stat), output, title=title, label=stat + of, cmap=cmap, dpi=dpi,
            layers=sorted({r.layer for r in rows}), heads=sorted({r.head for r in rows}),
        )  # fmt: skip
        info(f"wrote {output}")
        return
    from attnviz.render.reports import stats_legend, stats_table

    console = common.console()
    console.print(stats_table(rows, sort))
    console.print(stats_legend(attn.n_keys, attn.measure))


@app.command(epilog=EPILOG)
@common_options()
def rollout(
    text: TextArg = None,
    fusion: Annotated[str, typer.Option("--fusion", help="How heads are fused per layer: mean, max or min.")] = "mean",
    query: Annotated[str | None, typer.Option("--query", "-q", help="The token whose shares are shown.")] = None,
    json_out: JsonOpt = False,
    cmap: CmapOpt = None,
    output: OutputOpt = None,
    dpi: DpiOpt = 150,
    *,
    common: Common,
) -> None:
    """Attention rollout (Abnar & Zuidema 2020): how much each token draws from each input token."""
    from attnviz.analysis.rollout import FUSIONS
    from attnviz.analysis.rollout import rollout as compute
    from attnviz.analysis.select import window
    from attnviz.analysis.tokens import find_token, mark_generated

    if fusion not in FUSIONS:
        raise UsageError(f"invalid fusion '{fusion}': use {', '.join(FUSIONS)}")
    # rollout runs through every token; --tokens crops the result by the full text's positions
    raw = _prepare(common, text, output, cmap, dpi, hygiene=False, data=json_out)
    attn = common.hygiene(raw)
    whole = dataclasses.replace(common, tokens=None).hygiene(raw)
    if whole.measure != "weights":
        raise UsageError(f"rollout multiplies attention weights, and this file holds {whole.measure}")
    matrix = compute(whole, fusion)
    if common.tokens:
        import numpy as np  # here, not at the top: `attnviz --help` must not pay for numpy

        keep = window(whole, attn.positions[0], attn.positions[-1])
        matrix = matrix[np.ix_(keep, keep)]
    if json_out:
        print_json({"tokens": list(attn.tokens), "rollout": matrix.tolist()})
        return
    index = find_token(attn, query)[0] if query is not None else 0  # the contract: the first token
    attn = mark_generated(attn)
    if output is not None:
        from attnviz.render import image

        image.render_rollout(
            matrix, attn.tokens, index, output, cmap=cmap, dpi=dpi, title=f"{attn.model}: rollout ({fusion})"
        )
        info(f"wrote {output}")
        return
    from attnviz.render import terminal
    from attnviz.render.reports import share_bars

    console = common.console()
    title = f"{attn.model} · rollout over {len(attn.layers)} layers ({fusion} fusion)"
    console.print(
        terminal.Heatmap(
            matrix,
            attn.tokens,
            attn.tokens,
            title=title,
            cmap=cmap or "viridis",
            notes=attn.notes,
            scale_label="global",
            offset=attn.positions,
        )
    )
    console.print(share_bars(matrix[index], attn.tokens, f"where {attn.tokens[index]!r} draws from, after rollout"))


@app.command(epilog=EPILOG)
@common_options(
    without=(
        "engine",
        "device",
        "dtype",
        "device_map",
        "trust_remote_code",
        "load",
        "hide_special",
        "merge_words",
        "tokens",
        "target",
        "stack",
    )
)
def explain(
    text: TextArg = None,
    layer: Annotated[int, typer.Option("--layer", "-l", help="The layer (0-based).")] = 0,
    head: Annotated[int, typer.Option("--head", "-H", help="The head (0-based).")] = 0,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="The token to follow (default: the first word).")
    ] = None,
    json_out: JsonOpt = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Draw the steps as matrices side by side: .png, .svg, .pdf.")
    ] = None,
    dpi: DpiOpt = 150,
    *,
    common: Common,
) -> None:
    """softmax(Q·Kᵀ/√d_k)·V step by step, with the model's real numbers for one head."""
    from attnviz.analysis.explain import explain as build
    from attnviz.analysis.tokens import find_token
    from attnviz.models.run import RandomOptions, record_layer

    check_image(output, None, dpi)
    source = read_text(text, common.file)
    random = RandomOptions(common.random_layers, common.random_heads, common.random_dim, common.seed)
    generate = common.generation()
    attn, record = record_layer(
        source, common.model, layer, max_tokens=common.max_tokens, random=random, generate=generate
    )
    if generate is not None:
        from attnviz.commands.common import announce

        announce(attn.text[len(source) :], json_out)
    index = find_token(attn, query)[0] if query is not None else first_word(attn)
    from attnviz.analysis.tokens import mark_generated

    result = build(
        record,
        model=attn.model,
        tokens=mark_generated(attn).tokens,
        layer=attn.layers[0],
        head=head,
        query=index,
        causal=attn.causal,
    )
    if json_out:
        print_json(result.to_dict())
        return
    if output is not None:
        from attnviz.render.explain_image import render_steps

        render_steps(result, output, dpi=dpi)
        info(f"wrote {output}")
        return
    from attnviz.render.reports import explain_report

    console = common.console()
    console.print(explain_report(result, width=console.width))
