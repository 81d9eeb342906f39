"""stats --corpus, find --corpus, find --pairs: the corpus side of the analysis commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attnviz.cli import info
from attnviz.commands.common import Common, print_json
from attnviz.errors import UsageError

if TYPE_CHECKING:
    from attnviz.corpus.jobs import Task
    from attnviz.corpus.pool import Outcome

CORPUS_PANEL = "Corpus"
CorpusOpt = Annotated[
    Path | None,
    typer.Option("--corpus", help="Run over a corpus: one text per line, or .jsonl with a \"text\" field.",
                 rich_help_panel=CORPUS_PANEL, show_default=False),
]  # fmt: skip
PairsOpt = Annotated[
    Path | None,
    typer.Option("--pairs", help='Score heads on labelled pairs: .jsonl lines {"text", "from", "to"}.',
                 rich_help_panel=CORPUS_PANEL, show_default=False),
]  # fmt: skip
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help="Worker processes for --corpus/--pairs [default: the number of cores].",
                 rich_help_panel=CORPUS_PANEL, show_default=False),
]  # fmt: skip
BatchOpt = Annotated[
    int, typer.Option("--batch", help="Texts per batch for --corpus/--pairs.", rich_help_panel=CORPUS_PANEL)
]
SHOWN_REPORTS = 20  # report lines printed; the rest are counted


def check_corpus_options(
    common: Common, text: str | None, corpus: Path | None, *, workers: int | None, flag: str = "--corpus"
) -> None:
    """Options that make no sense with a corpus are refused before any work."""
    if corpus is None:
        if workers is not None:
            raise UsageError("--workers applies to --corpus and --pairs only")
        return
    others = (("TEXT", text is not None), ("--file", common.file is not None),
              ("--load", common.load is not None), ("--tokens", common.tokens))  # fmt: skip
    given = [name for name, used in others if used]
    if given:
        raise UsageError(f"{flag} reads its texts from the file: {', '.join(given)} does not apply")
    options = (("--generate", "generate"), ("--target", "target"), ("--stack", "stack"))
    seq2seq = [name for name, field in options if getattr(common, field, None) is not None]
    if seq2seq:
        raise UsageError(f"{flag} runs self-attention over each line's own text: {seq2seq[0]} does not apply")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, not {workers}")


def run(common: Common, path: Path, task: Task, *, workers: int | None, batch: int, flag: str) -> Outcome:
    """Every line of `path` through the model, with a progress bar on stderr; reports printed."""
    from attnviz.corpus.pool import BATCH, cores, run_corpus
    from attnviz.corpus.read import check_corpus, count_lines, read_corpus
    from attnviz.models.run import RandomOptions
    from attnviz.models.session import SessionSpec, check_spec

    if batch < 1:
        raise UsageError(f"--batch must be at least 1, not {batch}")
    check_corpus(path, flag)
    spec = SessionSpec(
        model=common.model, engine=common.engine, device=common.device, dtype=common.dtype,
        device_map=common.device_map, trust_remote_code=common.trust_remote_code, max_tokens=common.max_tokens,
        random=RandomOptions(common.random_layers, common.random_heads, common.random_dim, common.seed),
    )  # fmt: skip
    engine = check_spec(spec)
    total = count_lines(path)
    if total == 0:
        raise UsageError(f"{flag} '{path}' has no text: every line is blank")
    n_batches = -(-total // (batch or BATCH))
    chosen = min(workers or cores(), n_batches)  # never a worker without a batch to run
    if spec.device != "cpu" and chosen > 1:
        chosen = 1  # one accelerator, one process
    with _progress(f"{spec.model} ({engine}) on {path.name}", total, common.no_color) as advance:
        outcome = run_corpus(
            read_corpus(path, pairs=task.kind == "pairs"), spec, task, workers=chosen, batch=batch, progress=advance
        )
    _print_reports(outcome)
    if outcome.aggregate.texts == 0:
        why = "" if task.kind != "find" else f': no text holds both "{task.source}" and "{task.target}"'
        skipped = f"{outcome.skipped} of {outcome.lines} lines skipped"
        raise UsageError(f"{flag} '{path}': nothing to aggregate{why} ({skipped})")
    return outcome


class _progress:
    """A progress bar with rate and ETA on stderr; silent when stderr is not a terminal."""

    def __init__(self, label: str, total: int, no_color: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True, no_color=True if no_color else None, highlight=False, markup=False)
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=not console.is_terminal, transient=True,
        )  # fmt: skip
        self.task = self.progress.add_task(_safe(label), total=total, rate="")

    def __enter__(self) -> Callable[[int], None]:
        self.progress.__enter__()

        def advance(n: int) -> None:
            self.progress.advance(self.task, n)
            speed = self.progress.tasks[0].speed
            self.progress.update(self.task, rate=f"{speed:.1f} texts/s" if speed else "")

        return advance

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)


def _safe(text: str) -> str:
    from attnviz.render.labels import safe_label

    return safe_label(text)


def _print_reports(outcome: Outcome) -> None:
    """Each reported line (the first few), then how many lines were skipped."""
    for report in outcome.reports[:SHOWN_REPORTS]:
        suffix = " (skipped)" if report.skipped else ""
        info(f"warning: line {report.number}: {report.message}{suffix}")
    if outcome.reported > SHOWN_REPORTS:
        info(f"warning: … and {outcome.reported - SHOWN_REPORTS} more reports")
    if outcome.skipped:
        info(f"warning: {outcome.skipped} of {outcome.lines} lines skipped")


def stats_corpus(
    common: Common, path: Path, *, workers: int | None, batch: int, sort: str | None, json_out: bool,
    output: Path | None, cmap: str | None, dpi: int,
) -> None:  # fmt: skip
    """Per-head mean and std of every statistic over the corpus."""
    from attnviz.corpus.jobs import Task
    from attnviz.corpus.results import stats_rows

    task = Task("stats", hide_special=common.hide_special, merge_words=common.merge_words)
    outcome = run(common, path, task, workers=workers, batch=batch, flag="--corpus")
    aggregate = outcome.aggregate
    rows = stats_rows(aggregate, sort)
    if json_out:
        print_json(rows)
        return
    if output is not None:
        from attnviz.render.corpus_maps import render_stat_maps

        render_stat_maps(rows, output, title=f"{aggregate.model}: mean per head over {aggregate.texts} texts",
                         cmap=cmap, dpi=dpi)  # fmt: skip
        info(f"wrote {output}")
        return
    from attnviz.render.corpus_reports import corpus_stats_table

    common.console().print(corpus_stats_table(rows, sort))


def find_corpus(
    common: Common, path: Path, source: str, target: str, *, workers: int | None, batch: int, top: int,
    sort: str, json_out: bool, output: Path | None, cmap: str | None, dpi: int,
) -> None:  # fmt: skip
    """find's weight, baseline and score per head, averaged over the texts holding both words."""
    from attnviz.corpus.jobs import Task
    from attnviz.corpus.results import find_rows, grid

    if top < 1:
        raise UsageError(f"invalid --top {top}: it must be at least 1")
    from attnviz.analysis.find import SORTS

    if sort not in SORTS:
        raise UsageError(f"invalid --sort '{sort}': use {' or '.join(SORTS)}")
    task = Task("find", source, target, hide_special=common.hide_special, merge_words=common.merge_words)
    outcome = run(common, path, task, workers=workers, batch=batch, flag="--corpus")
    aggregate = outcome.aggregate
    info(f"{source} → {target}: both words in {aggregate.texts} of {outcome.lines} lines ({aggregate.absent} "
         "skipped: a word missing, or present more than once without WORD#N)")  # fmt: skip
    rows = find_rows(aggregate, sort)
    if json_out:
        print_json(rows[:top])
        return
    if output is not None:
        from attnviz.render.charts import render_layer_head_table

        table, layers, heads = grid(rows, f"{sort}_mean")
        render_layer_head_table(
            table, output, title=f"{aggregate.model}: {source} → {target}, mean {sort} over {aggregate.texts} texts",
            label=f"mean {sort}", layers=layers, heads=heads, cmap=cmap, dpi=dpi, diverging=sort == "score",
        )  # fmt: skip
        info(f"wrote {output}")
        return
    from attnviz.render.corpus_reports import corpus_find_table

    common.console().print(corpus_find_table(rows[:top], source, target, aggregate.texts))


def find_pairs(
    common: Common, path: Path, *, workers: int | None, batch: int, top: int, json_out: bool,
    output: Path | None, cmap: str | None, dpi: int,
) -> None:  # fmt: skip
    """Per head: how often the from-word's most-attended word is the labelled to-word."""
    from attnviz.corpus.jobs import Task
    from attnviz.corpus.results import grid, pairs_rows

    if top < 1:
        raise UsageError(f"invalid --top {top}: it must be at least 1")
    task = Task("pairs", hide_special=common.hide_special, merge_words=common.merge_words)
    outcome = run(common, path, task, workers=workers, batch=batch, flag="--pairs")
    aggregate = outcome.aggregate
    rows = pairs_rows(aggregate)
    if json_out:
        print_json(rows[:top])
        return
    if output is not None:
        from attnviz.render.charts import render_layer_head_table

        table, layers, heads = grid(rows, "accuracy")
        render_layer_head_table(
            table, output, title=f"{aggregate.model}: accuracy on {aggregate.n} pairs (chance {rows[0]['chance']:.2f})",
            label="accuracy", layers=layers, heads=heads, cmap=cmap, dpi=dpi,
        )  # fmt: skip
        info(f"wrote {output}")
        return
    from attnviz.render.corpus_reports import pairs_table

    common.console().print(pairs_table(rows[:top], aggregate.n))


def find_command(
    common: Common, text: str | None, corpus: Path | None, pairs: Path | None, source: str, target: str, *,
    workers: int | None, batch: int, top: int, sort: str, json_out: bool, output: Path | None, cmap: str | None,
    dpi: int,
) -> None:  # fmt: skip
    """`find --corpus` or `find --pairs`, after the options are checked."""
    from attnviz.commands.view import check_image

    if corpus is not None and pairs is not None:
        raise UsageError("give --corpus or --pairs, not both")
    flag = "--corpus" if corpus is not None else "--pairs"
    check_corpus_options(common, text, corpus or pairs, workers=workers, flag=flag)
    check_image(output, cmap, dpi)
    if pairs is not None:
        if source or target:
            raise UsageError("--pairs names the words on each line: --from and --to do not apply")
        find_pairs(common, pairs, workers=workers, batch=batch, top=top, json_out=json_out, output=output,
                   cmap=cmap, dpi=dpi)  # fmt: skip
        return
    assert corpus is not None
    if not source or not target:
        raise UsageError("find --corpus needs --from WORD and --to WORD", hint="e.g. --from it --to cat")
    find_corpus(common, corpus, source, target, workers=workers, batch=batch, top=top, sort=sort,
                json_out=json_out, output=output, cmap=cmap, dpi=dpi)  # fmt: skip


def stats_command(
    common: Common, text: str | None, corpus: Path | None, *, workers: int | None, batch: int, sort: str | None,
    json_out: bool, output: Path | None, cmap: str | None, dpi: int,
) -> None:  # fmt: skip
    """`stats --corpus`, after the options are checked."""
    from attnviz.commands.view import check_image

    check_corpus_options(common, text, corpus, workers=workers)
    check_image(output, cmap, dpi)
    stats_corpus(common, corpus, workers=workers, batch=batch, sort=sort, json_out=json_out, output=output,
                 cmap=cmap, dpi=dpi)  # fmt: skip
