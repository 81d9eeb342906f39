"""Options every command shares, and the steps every command takes before it draws."""

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attnviz.errors import AttnvizError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from attnviz.attention import Attention
    from attnviz.models.generation import GenerateOptions

MODEL_PANEL = "Model"
INPUT_PANEL = "Input"
TOKENS_PANEL = "Tokens"
OUTPUT_PANEL = "Output"
GENERATE_PANEL = "Generation and encoder-decoders"


DEBUG = threading.Event()  # set by --debug after the command name; read by the CLI's error handler


@dataclass(frozen=True)
class Common:
    """What every command needs to turn its input into an `Attention`."""

    model: str = "minilm"
    engine: str = "auto"
    file: Path | None = None
    load: Path | None = None
    device: str = "cpu"
    dtype: str = "float32"
    device_map: str | None = None
    trust_remote_code: bool = False
    max_tokens: int | None = None
    random_layers: int = 4
    random_heads: int = 4
    random_dim: int = 64
    seed: int = 0
    hide_special: bool = False
    merge_words: bool = False
    tokens: str | None = None
    no_color: bool = False
    generate: int | None = None
    sample: bool = False
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    target: str | None = None
    stack: str | None = None
    measure: str | None = None  # --measure of show, compare, find, stats (None: weights, or what --load holds)

    def extract(
        self, text: str, layers: Any = None, heads: Any = None, model: str | None = None, *, data: bool = False
    ) -> "Attention":
        """Run the model (with a spinner on a terminal) or read `--load`; one stack (`--stack`,
        else an encoder-decoder's cross-attention). `data`: stdout carries data, so the
        generated text goes to stderr."""
        from attnviz.models.run import pick_stack

        return pick_stack(self.extract_all(text, layers, heads, model, data=data), self.stack)

    def extract_all(
        self, text: str, layers: Any = None, heads: Any = None, model: str | None = None, *, data: bool = False
    ) -> "list[Attention]":
        """Every stack the run captured: one, or an encoder-decoder's encoder, decoder and cross."""
        from attnviz.models.run import RandomOptions, check_stack, extract_all

        check_stack(self.stack)
        generate = self.generation()
        if self.load is not None:
            from attnviz.analysis.select import select

            if self.model != "minilm" or self.engine != "auto":
                raise UsageError("--load renders a saved extraction: --model and --engine do not apply")
            if generate is not None or self.target is not None:
                raise UsageError("--load renders a saved extraction: --generate and --target do not apply")
            from attnviz.attention import Attention

            attn = Attention.load(self.load)
            if self.measure is not None and self.measure != attn.measure:
                raise UsageError(f"--measure {self.measure}: this file holds {attn.measure}, and --load draws that")
            return [select(attn, _held(layers, attn.layers, "layer"), _held(heads, attn.heads, "head"))]
        name = model or self.model
        with spinner(f"running {name} …", self.no_color):
            run = extract_all(
                text, model=name, engine=self.engine, layers=layers, heads=heads,
                device=self.device, dtype=self.dtype, device_map=self.device_map,
                trust_remote_code=self.trust_remote_code, max_tokens=self.max_tokens,
                random=RandomOptions(self.random_layers, self.random_heads, self.random_dim, self.seed),
                generate=generate, target=self.target, measure=self.measure or "weights",
            )  # fmt: skip
        if run.written is not None:
            announce(run.written, data)
        return list(run.stacks)

    def generation(self) -> "GenerateOptions | None":
        """--generate and its sampling flags, checked before any model runs."""
        from attnviz.models.generation import GenerateOptions

        sampling = [
            flag
            for flag, value in (("--temperature", self.temperature), ("--top-k", self.top_k), ("--top-p", self.top_p))
            if value is not None
        ]
        if self.generate is None:
            if self.sample or sampling:
                raise UsageError(f"{(['--sample'] if self.sample else sampling)[0]} applies to --generate N")
            return None
        if sampling and not self.sample:
            raise UsageError(f"{sampling[0]} applies to sampling", hint="add --sample (greedy is the default)")
        options = GenerateOptions(
            self.generate,
            sample=self.sample,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_k=self.top_k or 0,
            top_p=1.0 if self.top_p is None else self.top_p,
            seed=self.seed,
        )
        return options.check()

    def hygiene(self, attn: "Attention") -> "Attention":
        """--hide-special and --merge-words on the whole text, then --tokens crops (by the full
        text's positions), so that a zoom never changes a value."""
        from attnviz.analysis import select, tokens

        total = attn.positions[-1] + 1
        if self.tokens:
            select.parse_token_range(self.tokens, total)  # a bad range fails before any work
        if self.hide_special:
            attn = tokens.hide_special(attn)
        if self.merge_words:
            attn = tokens.merge_words(attn)
        if self.tokens:
            attn = select.token_range(attn, self.tokens, total)
        return attn

    def console(self) -> "Console":
        """Data goes to stdout; NO_COLOR and a non-terminal stdout are respected by rich."""
        from rich.console import Console

        class Stdout(Console):
            def on_broken_pipe(self) -> None:
                """rich would exit 1; a reader that stopped reading is the CLI's exit 0."""
                raise BrokenPipeError

        return Stdout(no_color=True if self.no_color else None, highlight=False, emoji=False, markup=False)


def _held(spec: Any, held: tuple[int, ...], what: str) -> list[int] | None:
    """A --layer/--head selection against what a loaded file holds (its own indices)."""
    from attnviz.analysis.select import parse_indices
    from attnviz.attention import format_indices

    if spec is None or not held:
        return None
    holds = f"this file holds {what}s {format_indices(held)}"
    try:
        chosen = parse_indices(spec, max(held) + 1, what)
    except UsageError as exc:
        raise UsageError(exc.message.split(":")[0] + f": {holds}") from None
    missing = [i for i in chosen or () if i not in held]
    if missing:
        raise UsageError(f"{what} {missing[0]} is not in this file: {holds}")
    return chosen


def announce(written: str, data: bool) -> None:
    """The text the model wrote: on stdout before a view, on stderr when stdout carries data."""
    from attnviz.render.labels import safe_label

    line = "generated: " + " ".join(safe_label(part) for part in written.splitlines() or [""])
    print(line, file=sys.stderr if data else sys.stdout, flush=True)


class spinner:
    """A status line on stderr while a model loads and runs; silent when stderr is not a terminal."""

    def __init__(self, message: str, no_color: bool = False) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, no_color=True if no_color else None)
        self.status = self.console.status(message) if self.console.is_terminal else None

    def __enter__(self) -> "spinner":
        if self.status is not None:
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)


def print_json(data: object) -> None:
    """JSON on stdout; NaN and infinity are not JSON, so they are an error, not invalid output."""
    import json

    try:
        text = json.dumps(data, allow_nan=False)
    except ValueError:
        raise AttnvizError("the result holds NaN or infinite values, which JSON cannot represent") from None
    print(text)


def read_text(text: str | None, file: Path | None) -> str:
    """TEXT, `-` for stdin, or --file PATH; strict UTF-8, one clear error otherwise."""
    if text is not None and file is not None:
        raise UsageError("give TEXT or --file, not both")
    if file is not None:
        if not file.exists():
            raise UsageError(f"cannot read '{file}': no such file")
        if file.is_dir():
            raise UsageError(f"cannot read '{file}': it is a directory")
        try:
            return _decode(file.read_bytes(), f"'{file}'")
        except OSError as exc:
            raise UsageError(f"cannot read '{file}': {exc.strerror or exc}") from exc
    if text == "-":
        return _decode(sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode(), "stdin")
    if text is None:
        raise UsageError("no text given", hint='pass it as an argument, "-" to read stdin, or --file PATH')
    return text


def _decode(data: bytes, where: str) -> str:
    if b"\x00" in data:
        raise UsageError(f"{where} contains NUL bytes: it looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{where} is not valid UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


# --- the shared options, added to a command's signature by @common_options --------------------


def _opt(*names: str, panel: str, **kw: Any) -> Any:
    return typer.Option(*names, rich_help_panel=panel, show_default=kw.pop("show_default", True), **kw)


_OPTIONS: dict[str, tuple[Any, Any]] = {
    "model": (str, _opt("--model", "-m", panel=MODEL_PANEL,
        help="minilm (packaged default), random, a local folder, or a hub id.")),
    "engine": (str, _opt("--engine", "-e", panel=MODEL_PANEL,
        help="auto (scratch where supported, else hf), scratch (our numpy), or hf (transformers).")),
    "file": (Path | None, _opt("--file", "-f", panel=INPUT_PANEL, help="Read the text from a UTF-8 file.")),
    "load": (Path | None, _opt("--load", panel=INPUT_PANEL,
        help="Render a saved .npz extraction: no model, no torch.")),
    "device": (str, _opt("--device", panel=MODEL_PANEL, help="hf engine: cpu, cuda, cuda:1 …")),
    "dtype": (str, _opt("--dtype", panel=MODEL_PANEL, help="hf engine: float32, float16 or bfloat16.")),
    "device_map": (str | None, _opt("--device-map", panel=MODEL_PANEL,
        help="hf engine: 'auto' spreads a big model over devices (needs accelerate).")),
    "trust_remote_code": (bool, _opt("--trust-remote-code", panel=MODEL_PANEL,
        help="Run code shipped with a model. Off by default: read it first.")),
    "max_tokens": (int | None, _opt("--max-tokens", panel=INPUT_PANEL,
        help="Truncate the input to this many tokens (default: the model's limit).")),
    "random_layers": (int, _opt("--random-layers", panel=MODEL_PANEL, help="Layers of --model random.")),
    "random_heads": (int, _opt("--random-heads", panel=MODEL_PANEL, help="Heads of --model random.")),
    "random_dim": (int, _opt("--random-dim", panel=MODEL_PANEL, help="Model width of --model random.")),
    "seed": (int, _opt("--seed", panel=MODEL_PANEL, help="Seed of --model random and of --sample.")),
    "generate": (int | None, _opt("--generate", panel=GENERATE_PANEL, show_default=False,
        help="Let the model write up to N tokens (greedy; stops at its end token); the view covers them too.")),
    "sample": (bool, _opt("--sample", panel=GENERATE_PANEL, help="Sample the tokens instead of greedy.")),
    "temperature": (float | None, _opt("--temperature", panel=GENERATE_PANEL, show_default=False,
        help="With --sample: divide the logits by T [default: 1].")),
    "top_k": (int | None, _opt("--top-k", panel=GENERATE_PANEL, show_default=False,
        help="With --sample: keep the K likeliest tokens [default: off].")),
    "top_p": (float | None, _opt("--top-p", panel=GENERATE_PANEL, show_default=False,
        help="With --sample: keep the likeliest tokens holding P of the mass [default: 1, off].")),
    "target": (str | None, _opt("--target", panel=GENERATE_PANEL, show_default=False,
        help="Encoder-decoders: the decoder's text (teacher forcing); the TEXT goes to the encoder.")),
    "stack": (str | None, _opt("--stack", panel=GENERATE_PANEL, show_default=False,
        help="Encoder-decoders: encoder, decoder or cross [default: all three in show, else cross].")),
    "hide_special": (bool, _opt("--hide-special", panel=TOKENS_PANEL,
        help="Drop [CLS]/[SEP]/BOS/padding and renormalise the rows.")),
    "merge_words": (bool, _opt("--merge-words", panel=TOKENS_PANEL,
        help="Merge subwords into words (sum over keys, mean over queries).")),
    "tokens": (str | None, _opt("--tokens", panel=TOKENS_PANEL,
        help="Zoom into token positions A-B (0-based, inclusive).")),
    "no_color": (bool, _opt("--no-color", panel=OUTPUT_PANEL, help="Monochrome output (NO_COLOR works too).")),
    "debug": (bool, _opt("--debug", panel=OUTPUT_PANEL, help="On errors, show the traceback and versions.")),
}  # fmt: skip


def common_options(*, without: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the shared options a command does not define itself (and does not opt out of with
    `without`); the command receives them as one `common: Common` argument."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(func)
        names = [n for n in _OPTIONS if n not in own.parameters and n not in without]
        defaults = {f.name: f.default for f in fields(Common)}
        extra = [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(n, False),
                              annotation=Annotated[_OPTIONS[n][0], _OPTIONS[n][1]])
            for n in names
        ]  # fmt: skip
        params = [p for p in own.parameters.values() if p.name != "common"]

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            if kwargs.pop("debug", False):
                DEBUG.set()
            return func(common=Common(**{n: kwargs.pop(n) for n in names if n != "debug"}), **kwargs)

        wrapper.__signature__ = own.replace(parameters=params + extra)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params + extra}
        return wrapper

    return decorate
