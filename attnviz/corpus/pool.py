"""Run a corpus in batches, in this process or in worker processes, and reduce in read order.

Lines are read lazily and at most a few batches are in flight, so memory does not grow with
the corpus. Batches are folded in the order they were read whatever order they finish in:
one worker and N workers add the same numbers in the same order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from attnviz.corpus.jobs import Aggregate, Batch, Failure, Report, Task, run_batch
from attnviz.corpus.read import Line, Skipped
from attnviz.errors import ModelError, UsageError
from attnviz.models.session import Session, SessionSpec

BATCH = 32  # lines per batch: large enough to amortise a round trip to a worker
MAX_REPORTS = 1000  # kept in memory; the rest are counted


@dataclass
class Outcome:
    """The reduced aggregate, and what happened to the lines."""

    aggregate: Aggregate
    reports: list[Report] = field(default_factory=list)  # the first MAX_REPORTS, by line number
    reported: int = 0  # all reports, kept or not
    skipped: int = 0  # lines not used
    lines: int = 0  # non-blank lines read

    def note(self, reports: Iterable[Report]) -> None:
        for report in reports:
            self.reported += 1
            self.skipped += report.skipped
            if len(self.reports) < MAX_REPORTS:
                self.reports.append(report)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _batches(items: Iterable[Line | Skipped], size: int, outcome: Outcome) -> Iterator[tuple[list[Line], int]]:
    """(lines, lines covered) per batch; skipped lines are reported as they are read."""
    batch: list[Line] = []
    covered = 0
    for item in items:
        covered += 1
        if isinstance(item, Skipped):
            outcome.note([Report(item.number, item.reason)])
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch, covered
            batch, covered = [], 0
    if batch or covered:
        yield batch, covered


def run_corpus(
    items: Iterable[Line | Skipped],
    spec: SessionSpec,
    task: Task,
    *,
    workers: int = 1,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Every line through the model and `task`, reduced in read order."""
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, not {workers}")
    if batch < 1:
        raise UsageError(f"--batch must be at least 1, not {batch}")
    outcome = Outcome(Aggregate(task.kind))
    spec = replace(spec, threads=max(1, cores() // workers))  # each worker's share of the cores
    batches = _batches(items, batch, outcome)
    advance = progress or (lambda _n: None)

    def fold(result: Batch, covered: int) -> None:
        outcome.aggregate.merge(result.aggregate)
        outcome.note(result.reports)
        outcome.lines += covered
        advance(covered)

    if workers == 1:
        session = Session(spec)
        for lines, covered in batches:
            fold(run_batch(session, task, lines), covered)
    else:
        _run_workers(batches, spec, task, workers, fold)
    outcome.reports.sort(key=lambda r: r.number)
    return outcome


def _run_workers(
    batches: Iterator[tuple[list[Line], int]],
    spec: SessionSpec,
    task: Task,
    workers: int,
    fold: Callable[[Batch, int], None],
) -> None:
    """Keep 2 batches per worker in flight; fold the oldest first; stop every worker on Ctrl-C."""
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from attnviz.corpus.jobs import init_worker, worker_batch

    # forkserver: workers start from a clean process, not a fork of this one and its threads
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["attnviz.corpus.jobs"])
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker)
    pending: deque[tuple[Future, int]] = deque()
    try:
        for lines, covered in batches:
            pending.append((pool.submit(worker_batch, spec, task, lines), covered))
            if len(pending) >= 2 * workers:
                _fold_oldest(pending, fold)
        while pending:
            _fold_oldest(pending, fold)
    except BrokenProcessPool:
        raise ModelError("a worker process died (out of memory?)", hint="try fewer --workers") from None
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown(wait=True)


def _fold_oldest(pending: deque, fold: Callable[[Batch, int], None]) -> None:
    future, covered = pending.popleft()
    result = future.result()
    if isinstance(result, Failure):
        raise result.error(result.message, hint=result.hint)
    fold(result, covered)


def _terminate(pool: object) -> None:
    """Stop the workers now: an interrupted run leaves no process behind."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)  # type: ignore[attr-defined]
