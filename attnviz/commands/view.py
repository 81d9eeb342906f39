"""show, compare, verify: draw attention, put heads side by side, prove the engines agree."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attnviz.cli import EPILOG, app, info
from attnviz.commands.common import OUTPUT_PANEL, Common, common_options, print_json, read_text, spinner
from attnviz.errors import AttnvizError, ExitCode, UsageError
from attnviz.files import check_output_path
from attnviz.render.labels import plural, safe_label, stack_title

if TYPE_CHECKING:
    from attnviz.attention import Attention


TextArg = Annotated[str | None, typer.Argument(help="The text, or - to read stdin.", show_default=False)]
LayerOpt = Annotated[str | None, typer.Option("--layer", "-l", help="Layers: 5, 0,3, 0-3 or all.")]
HeadOpt = Annotated[str | None, typer.Option("--head", "-H", help="Heads: 11, 0,3, 0-3 or all.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write an image (.png, .svg, .pdf) or an interactive page (.html).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
CmapOpt = Annotated[
    str | None,
    typer.Option("--cmap", help="A matplotlib colormap name [default: viridis; RdBu_r for differences].",
                 rich_help_panel=OUTPUT_PANEL),
]  # fmt: skip
DpiOpt = Annotated[int, typer.Option("--dpi", help="Image resolution.", rich_help_panel=OUTPUT_PANEL)]
ValuesOpt = Annotated[bool, typer.Option("--values", help="Print the weights in the cells where they fit.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
GammaOpt = Annotated[
    float,
    typer.Option("--gamma", help="Colours on a power scale: 1 is linear, below 1 brightens small values "
                 "(long texts).", rich_help_panel=OUTPUT_PANEL),
]  # fmt: skip


def gamma_cmap(cmap: str | None, gamma: float, diverging: bool = False) -> str | None:
    """--cmap with --gamma folded in (checked); None stays None when the scale is linear."""
    from attnviz.render import colormaps

    if colormaps.check_gamma(gamma) == 1.0:
        return cmap
    default = colormaps.DIVERGING_DEFAULT if diverging else colormaps.DEFAULT
    return colormaps.with_gamma_name(cmap or default, gamma, diverging)


MeasureOpt = Annotated[
    str | None,
    typer.Option("--measure", help="weights, or value-norm: ‖α·f(x)‖, how much each key adds to the output "
                 "(Kobayashi et al. 2020). [default: weights]", show_default=False),
]  # fmt: skip


def with_measure(common: Common, measure: str | None) -> Common:
    """`common` that extracts `measure` (checked before any model runs)."""
    import dataclasses

    if measure is not None:
        from attnviz.models.run import check_measure

        check_measure(measure)
    return dataclasses.replace(common, measure=measure)


@app.command(epilog=EPILOG)
@common_options()
def show(
    text: TextArg = None,
    layer: LayerOpt = None,
    head: HeadOpt = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Rank one token's weights in every head.")] = None,
    values: ValuesOpt = False,
    cmap: CmapOpt = None,
    scale: Annotated[
        str | None,
        typer.Option(
            "--scale",
            help="Colours: global (one scale for all heads) or head (each to its own max). "
            "[default: head for the overview's thumbnails, global otherwise]",
        ),
    ] = None,
    output: OutputOpt = None,
    dpi: DpiOpt = 150,
    save: Annotated[
        Path | None, typer.Option("--save", help="Save the extraction to .npz.", rich_help_panel=OUTPUT_PANEL)
    ] = None,
    json_out: JsonOpt = False,
    measure: MeasureOpt = None,
    gamma: GammaOpt = 1.0,
    style: Annotated[
        str, typer.Option("--style", help="--query as ranked bars, or as the text coloured by its weights.")
    ] = "bars",
    *,
    common: Common,
) -> None:
    """Show the attention of every head, a layer, or one head.

    With no --layer/--head: an overview of every layer x head. With --layer L: that layer's
    heads. With --layer L --head H: one head, large.
    """
    from rich.text import Text

    from attnviz.render import terminal

    common = with_measure(common, measure)
    cmap = gamma_cmap(cmap, gamma)
    if style not in ("bars", "text"):
        raise UsageError(f"invalid --style '{style}'", hint="use bars or text")
    if style == "text" and query is None:
        raise UsageError("--style text colours the text by one token's weights: give --query WORD")
    if style == "text" and output is not None:
        raise UsageError("--style text is drawn in the terminal; an image of --query draws its ranked bars",
                         hint="drop --style text, or drop -o")  # fmt: skip
    if scale not in (None, "head", "global"):
        raise UsageError(f"invalid --scale '{scale}'", hint="use head or global")
    check_image(output, cmap, dpi, page=True)
    if save is not None:
        check_output_path(save, (".npz",))
    if common.load is not None and (text is not None or common.file is not None):
        raise UsageError("give TEXT or --load, not both")
    source = "" if common.load is not None else read_text(text, common.file)
    stacks = common.extract_all(source, layer, head, data=json_out)
    if len(stacks) > 1 and (common.stack is not None or json_out or output is not None or save is not None):
        from attnviz.models.run import pick_stack

        if common.stack is None:
            info("an encoder-decoder: the cross stack is written; --stack encoder|decoder|cross picks one")
        stacks = [pick_stack(stacks, common.stack)]
    # a bad --tokens or --query fails before --save writes anything
    shown = [common.hygiene(a) for a in stacks]
    picked = _query_rows(shown, query) if query is not None and not json_out else None
    if save is not None:
        stacks[0].save(save)
        info(f"saved {plural(len(stacks[0].layers), 'layer')} × {plural(len(stacks[0].heads), 'head')} to {save}")
    if json_out:
        print_json(shown[0].to_dict())
        return
    if output is not None and is_page(output):
        from attnviz.render import html

        attn = shown[0]
        row = None if picked is None else picked[0]
        html.write_page(html.attention_page(attn, cmap=cmap, query=row), output)
        about = "" if row is None else f', opens on query {attn.positions[row]} "{safe_label(attn.tokens[row])}"'
        info(f"wrote {output} ({plural(len(attn.layers) * len(attn.heads), 'head')}, interactive{about})")
        return
    from attnviz.analysis.tokens import mark_generated

    if output is not None:
        from attnviz.render import image

        attn = mark_generated(shown[0])
        heads = plural(len(attn.layers) * len(attn.heads), "head")
        with spinner(f"drawing {heads} …", common.no_color):
            if picked is not None:
                image.render_query(attn, picked[0], output, cmap=cmap, dpi=dpi, scale=scale or "global", values=values)
            else:
                image.render_image(attn, output, cmap=cmap, dpi=dpi, scale=scale or "global", values=values)
        if picked is not None:
            heads += f', query {attn.positions[picked[0]]} "{safe_label(attn.tokens[picked[0]])}"'
        info(f"wrote {output} ({heads})")
        return
    console = common.console()
    cmap = cmap or "viridis"
    for i, attn in enumerate(mark_generated(a) for a in shown):
        if picked is not None and picked[i] is None:
            continue  # the --query word is on the other side of this encoder-decoder
        overview = picked is None and layer is None and head is None
        if attn.stack and not overview:  # the overview's own title names its stack
            console.print(Text(stack_title(attn), style="bold"))
        if picked is not None and style == "text":
            from attnviz.render.query_text import QueryText

            console.print(QueryText(attn, picked[i], cmap=cmap))
        elif picked is not None:
            console.print(terminal.QueryBars(attn, picked[i], cmap=cmap, offset=attn.positions))
        elif len(attn.layers) == 1 and len(attn.heads) == 1:
            console.print(
                terminal.Heatmap.from_attention(
                    attn, attn.layers[0], attn.heads[0], cmap=cmap, values=values, offset=attn.positions
                )
            )
        elif overview:
            hint = _zoom_hint(attn, common.load)
            console.print(terminal.Overview(attn, cmap=cmap, hint=hint, scale=scale or "head"))
        else:
            console.print(
                terminal.HeadGrid(attn, cmap=cmap, values=values, scale=scale or "global", offset=attn.positions)
            )


def _query_rows(stacks: "list[Attention]", query: str) -> list[int | None]:
    """The --query token's row in each stack; None where it is not a query (an encoder-decoder's
    source word is not in the decoder's stacks, and the reverse); an error if it is in none."""
    from attnviz.analysis.tokens import find_token

    rows: list[int | None] = []
    first_error: UsageError | None = None
    for attn in stacks:
        try:
            rows.append(find_token(attn, query)[0])
        except UsageError as exc:
            if len(stacks) == 1 or "occurs" in exc.message:  # ambiguous: say so, whichever stack
                raise
            first_error = first_error or exc
            rows.append(None)
    if all(row is None for row in rows) and first_error is not None:
        raise first_error
    return rows


def check_image(output: Path | None, cmap: str | None, dpi: int, *, page: bool = False) -> None:
    """Bad drawing options are usage errors before any model runs; `page`: .html is allowed too."""
    if cmap is not None:
        from attnviz.render.colormaps import lookup

        lookup(cmap)
    if output is not None:
        from attnviz.render.figure import IMAGE_SUFFIXES, check_dpi

        check_output_path(output, (*IMAGE_SUFFIXES, ".html") if page else IMAGE_SUFFIXES)
        check_dpi(dpi)


def is_page(output: Path | None) -> bool:
    """-o FILE.html writes the interactive page instead of an image."""
    return output is not None and output.suffix.lower() == ".html"


def _zoom_hint(attn: "Attention", load: Path | None) -> tuple[str, ...]:
    """The hint's forms, longest first: the legend keeps the longest that fits the width."""
    source = "TEXT" if load is None else f"--load {load}"
    last = attn.layers[-1]
    return (
        f"zoom in: attnviz show {source} --layer {last} (a layer) or --layer {last} --head 0",
        f"zoom in: --layer {last} (a layer) or --layer {last} --head 0",
        f"zoom in: --layer {last} --head 0",
    )


@app.command(epilog=EPILOG)
@common_options()
def compare(
    text: TextArg = None,
    heads: Annotated[str, typer.Option("--heads", help="LAYER.HEAD pairs side by side, e.g. 5.11,0.3.")] = "",
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", metavar="MODEL", help="Give twice to put two models side by side."),
    ] = None,
    other: Annotated[str | None, typer.Option("--text", help="A second text, side by side with the first.")] = None,
    load: Annotated[
        list[Path] | None, typer.Option("--load", metavar="FILE.npz", help="Saved .npz extractions (one or two).")
    ] = None,
    diff: Annotated[bool, typer.Option("--diff", help="Draw the difference of exactly two maps.")] = False,
    values: ValuesOpt = False,
    cmap: CmapOpt = None,
    output: OutputOpt = None,
    dpi: DpiOpt = 150,
    measure: MeasureOpt = None,
    gamma: GammaOpt = 1.0,
    *,
    common: Common,
) -> None:
    """Put heads side by side: several heads, two models, or two texts."""
    from attnviz.analysis.compare import Panel, compare_panels
    from attnviz.analysis.select import parse_head_pairs
    from attnviz.render import terminal

    common = with_measure(common, measure)
    cmap = gamma_cmap(cmap, gamma, diverging=diff)
    if not heads:
        raise UsageError("compare needs --heads", hint="e.g. --heads 5.11,0.3")
    pairs = parse_head_pairs(heads)
    check_image(output, cmap, dpi, page=True)
    models = model or [common.model]
    loads = load or []
    if len(models) > 2 or len(loads) > 2:
        raise UsageError("compare takes at most two models or two --load files")
    layer_spec = ",".join(sorted({str(layer) for layer, _ in pairs}))
    head_spec = ",".join(sorted({str(h) for _, h in pairs}))
    if loads:
        if text is not None or common.file is not None or other is not None:
            raise UsageError("give TEXT (and --text) or --load, not both")
        if model or common.engine != "auto":
            raise UsageError("--load renders saved extractions: --model and --engine do not apply")
        from attnviz.attention import Attention

        sources = [Attention.load(p) for p in loads]
    else:
        first = read_text(text, common.file)
        texts = [first] if other is None else [first, other]
        if len(models) > 1 and len(texts) > 1:
            raise UsageError("compare two models or two texts, not both at once")
        sources = [common.extract(t, layer_spec, head_spec, model=m) for m in models for t in texts]
    from attnviz.analysis.tokens import mark_generated

    sources = [mark_generated(common.hygiene(a)) for a in sources]
    measures = {a.measure for a in sources}
    if len(measures) > 1:
        raise UsageError("these files hold different measures (weights and value-norm): their colours do not compare")
    panels: list[Panel] = compare_panels(sources, pairs, diff=diff)
    if output is not None and is_page(output):
        from attnviz.render import html

        html.write_page(html.panels_page(panels, diverging=diff, cmap=cmap), output)
        info(f"wrote {output} ({plural(len(panels), 'panel')}, interactive)")
        return
    if output is not None:
        from attnviz.render import image
        from attnviz.render.labels import measure_label

        label = measure_label(sources[0].measure)
        label = f"difference in {label}" if diff else label
        with spinner(f"drawing {plural(len(panels), 'panel')} …", common.no_color):
            image.render_panels(panels, output, cmap=cmap, diverging=diff, dpi=dpi, values=values, label=label)
        info(f"wrote {output} ({plural(len(panels), 'panel')})")
        return
    offset = sources[0].positions if len({a.positions for a in sources}) == 1 else 0
    from attnviz.models.value_norm import NOTE

    notes = [NOTE] if sources[0].measure == "value-norm" else []  # the measure, named in the legend
    if diff:  # which side is which: the title reads "first − second"
        first, second = panels[0].title.split(" − ", 1)
        notes.append(f"+ where {first} is higher, − where {second} is")
    common.console().print(
        terminal.Comparison(panels, cmap=cmap, diverging=diff, values=values, offset=offset, notes=notes)
    )


@app.command(epilog=EPILOG)
@common_options(
    without=("engine", "load", "hide_special", "merge_words", "tokens", "dtype", "device_map", "target", "stack")
)
def verify(
    text: TextArg = None,
    tol: Annotated[float, typer.Option("--tol", help="Largest absolute difference allowed.")] = 1e-5,
    *,
    common: Common,
) -> None:
    """Run both engines on the same weights and text; print the largest difference per layer."""
    from rich.table import Table
    from rich.text import Text

    from attnviz.models.run import extract

    if common.model == "random":
        raise UsageError(
            "verify needs a model that transformers can load too; the random model exists only in the scratch engine",
            hint="give a model folder, a hub id or minilm",
        )
    if not tol >= 0:  # also rejects nan, which every comparison would pass
        raise UsageError(f"invalid --tol {tol:g}: it must be a number ≥ 0", hint="e.g. --tol 1e-5")
    source = read_text(text, common.file)
    from attnviz.models.resolve import resolve
    from attnviz.models.run import is_encoder_decoder

    if is_encoder_decoder(resolve(common.model)):
        raise UsageError(
            f"verify does not cover encoder-decoders such as '{common.model}': it compares the scratch engine "
            "with transformers, and the scratch engine runs no encoder-decoder",
            hint="the tests check the hf engine's three stacks against transformers directly",
        )
    generate = common.generation()
    if generate is not None and generate.sample:
        raise UsageError(
            "verify --generate compares greedy generation: the engines draw samples differently", hint="drop --sample"
        )
    kwargs = {"model": common.model, "max_tokens": common.max_tokens, "generate": generate}
    try:
        ours = extract(source, engine="scratch", **kwargs)
    except UsageError as exc:
        if "scratch engine does not support" not in exc.message:
            raise
        # the engine's own hint names --engine, which verify does not have: it runs both engines
        from attnviz.models.scratch import SUPPORTED

        why = exc.message.replace("the scratch engine", "it")
        raise UsageError(
            f"verify compares the scratch engine with transformers, and {why}",
            hint=f"the scratch engine runs {', '.join(SUPPORTED)}; show --engine hf draws any model",
        ) from None
    theirs = extract(source, engine="hf", device=common.device, trust_remote_code=common.trust_remote_code, **kwargs)
    if generate is not None and ours.tokens != theirs.tokens:
        info(f"scratch wrote: {ours.text[len(source) :]!r}; hf wrote: {theirs.text[len(source) :]!r}")
        raise AttnvizError("the engines generated different tokens; their attention cannot be compared")
    if ours.tokens != theirs.tokens:
        raise UsageError("the engines tokenised the text differently; their attention cannot be compared")
    diffs = abs(ours.weights.astype("float64") - theirs.weights).max(axis=(1, 2, 3))
    from attnviz.render.labels import safe_label

    made = f" ({int(ours.generated.sum())} generated, the same in both)" if generate is not None else ""
    title = Text(f"{safe_label(ours.model)}: scratch vs hf, {ours.n_tokens} tokens{made}")
    table = Table()
    table.add_column("layer", justify="right")
    table.add_column("max |scratch − hf|", justify="right")
    table.add_column(f"≤ {tol:g}")
    for layer, d in zip(ours.layers, diffs, strict=True):
        table.add_row(str(layer), f"{d:.2e}", "ok" if d <= tol else "FAIL")
    console = common.console()
    console.print(title)
    console.print(table)
    if diffs.max() > tol:
        info(f"the engines differ by {diffs.max():.2e}, more than --tol {tol:g}")
        raise typer.Exit(ExitCode.ERROR)
