"""What one batch of lines computes: per-text results folded into running aggregates.

Each kind of corpus run has an aggregate with `add` (one text) and `merge` (a later batch's
aggregate, folded in the order the batches were read, so that any number of worker processes
gives the same numbers).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from attnviz.analysis.stats import stat_table
from attnviz.attention import Attention
from attnviz.corpus.moments import Moments
from attnviz.corpus.read import Line
from attnviz.errors import AttnvizWarning, UsageError
from attnviz.models.session import Encoded, Session, SessionSpec

LINK_KEYS = ("weight", "baseline", "score")


@dataclass(frozen=True)
class Task:
    """What to compute per text: "stats", "find" (source -> target in every text) or "pairs"
    (each line names its own words); hide_special and merge_words as the shared options."""

    kind: str
    source: str = ""
    target: str = ""
    hide_special: bool = False
    merge_words: bool = False


@dataclass(frozen=True)
class Report:
    """Something to tell about a line: why it was skipped, or a warning while it ran."""

    number: int
    message: str
    skipped: bool = True


@dataclass
class Aggregate:
    """Running results of one kind of task; the model's layer and head indices once seen."""

    kind: str
    layers: tuple[int, ...] = ()
    heads: tuple[int, ...] = ()
    model: str = ""
    engine: str = ""
    moments: Moments = field(default_factory=Moments)  # stats: (l, h, STAT_KEYS); find: (l, h, LINK_KEYS)
    absent: int = 0  # find: texts without both words
    n: int = 0  # pairs: pairs scored
    hits: np.ndarray | None = None  # pairs: (l, h) count of pairs whose most-attended word is the to-word
    sums: np.ndarray | None = None  # pairs: (l, h, 2) sums of weight and score
    chance: float = 0.0  # pairs: sum of 1 / candidates

    def add(self, attn: Attention, line: Line, task: Task) -> None:
        """Fold in one text (raises UsageError when this text cannot be used)."""
        if self.kind == "stats":
            self.moments.add(stat_table(attn))  # (l, h, STAT_KEYS), NaN where n/a
        elif self.kind == "find":
            from attnviz.analysis.find import link
            from attnviz.analysis.pairs import locate

            try:
                src, tgt = locate(attn, task.source, task.target)
            except UsageError:
                self.absent += 1  # most texts of a corpus lack one of the words: counted, not reported
                return
            found = link(attn, src, tgt)
            self.moments.add(np.stack([found.weight, found.baseline, found.score], axis=-1))
        else:
            from attnviz.analysis.pairs import score_pair

            result = score_pair(attn, line.source, line.target)
            shape = (len(attn.layers), len(attn.heads))
            if self.hits is None or self.sums is None:
                self.hits, self.sums = np.zeros(shape, np.int64), np.zeros((*shape, 2))
            self.hits += result.hit
            self.sums += np.stack([result.link.weight, result.link.score], axis=-1)
            self.chance += result.chance
            self.n += 1

    def merge(self, other: Aggregate) -> None:
        """Fold in the aggregate of a later batch."""
        if not self.layers:
            self.layers, self.heads, self.model, self.engine = other.layers, other.heads, other.model, other.engine
        self.moments.merge(other.moments)
        self.absent += other.absent
        if other.hits is not None and other.sums is not None:
            if self.hits is None or self.sums is None:
                self.hits, self.sums = other.hits.copy(), other.sums.copy()
            else:
                self.hits += other.hits
                self.sums += other.sums
        self.chance += other.chance
        self.n += other.n

    @property
    def texts(self) -> int:
        """How many texts (or pairs) went into the results."""
        return self.n if self.kind == "pairs" else self.moments.n


@dataclass
class Batch:
    """What a batch of lines gave: its aggregate, its reports, and how many lines it covered."""

    aggregate: Aggregate
    reports: list[Report]
    lines: int


def hygiene(attn: Attention, task: Task) -> Attention:
    """--hide-special then --merge-words, as for one text."""
    from attnviz.analysis import tokens

    if task.hide_special:
        attn = tokens.hide_special(attn)
    if task.merge_words:
        attn = tokens.merge_words(attn)
    return attn


def require_self_attention(attn: Attention) -> None:
    """Corpus statistics are defined on a sequence attending to itself."""
    if not getattr(attn, "is_self", True):
        raise UsageError(
            f"corpus statistics need a self-attention model; '{attn.model}' gives cross-attention "
            "(queries and keys from different texts)"
        )


def run_batch(session: Session, task: Task, lines: list[Line]) -> Batch:
    """Run the model on each line and fold it in; a line that cannot be used is reported, not fatal."""
    aggregate = Aggregate(task.kind)
    reports: list[Report] = []
    ready: list[tuple[Line, Encoded]] = []
    for line in lines:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", AttnvizWarning)  # e.g. truncation: told per line
            try:
                ready.append((line, session.encode(line.text)))
            except UsageError as exc:
                reports.append(Report(line.number, str(exc)))
        reports.extend(Report(line.number, str(w.message), skipped=False) for w in caught)
    attentions = session.attend([encoded for _, encoded in ready])
    for (line, _), attn in zip(ready, attentions, strict=True):
        require_self_attention(attn)  # the model, not the line: fatal
        if not aggregate.layers:
            aggregate.layers, aggregate.heads = attn.layers, attn.heads
            aggregate.model, aggregate.engine = attn.model, attn.engine
        try:
            aggregate.add(hygiene(attn, task), line, task)
        except UsageError as exc:
            reports.append(Report(line.number, str(exc)))
    return Batch(aggregate, reports, len(lines))


# --- in a worker process ---------------------------------------------------------------------

_SESSION: Session | None = None


def init_worker() -> None:
    """A worker ignores Ctrl-C (the parent stops it) and runs one thread: the workers share the cores."""
    import signal

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)


@dataclass(frozen=True)
class Failure:
    """An AttnvizError raised in a worker, carried back whole (its hint would not pickle)."""

    error: type
    message: str
    hint: str | None


def worker_batch(spec: SessionSpec, task: Task, lines: list[Line]) -> Batch | Failure:
    """`run_batch` in a worker: the model loads on the first batch and stays loaded."""
    from attnviz.errors import AttnvizError

    global _SESSION
    try:
        if _SESSION is None or _SESSION.spec != spec:
            _SESSION = Session(spec)
        return run_batch(_SESSION, task, lines)
    except AttnvizError as exc:
        return Failure(type(exc), exc.message, exc.hint)
