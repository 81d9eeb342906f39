"""The `attnviz` command: parse, call the library, print. No math lives here."""

import os
import sys
import traceback
import warnings
from typing import Annotated, Any

import typer

from attnviz import __version__
from attnviz.errors import AttnvizError, AttnvizWarning, ExitCode

EPILOG = (
    "Exit codes: 0 success, 1 runtime failure (model or file), 2 usage error, 130 interrupted. "
    "Add --debug for the traceback."
)


class _Group(typer.core.TyperGroup):
    """Turns library errors into one line on stderr and a documented exit code."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except typer.TyperException as exc:  # `attnviz --bogus`: one line, like a command's bad option
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
                raise
            error(f"{exc.format_message()} (see 'attnviz --help')")
            raise typer.Exit(getattr(exc, "exit_code", ExitCode.USAGE)) from None

    def invoke(self, ctx: typer.Context) -> Any:
        from attnviz.commands.common import DEBUG

        DEBUG.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library chatter (transformers, torch) is not for users
            warnings.simplefilter("always", AttnvizWarning)
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except AttnvizError as exc:
                _maybe_traceback(ctx)
                error(str(exc))
                raise typer.Exit(exc.exit_code) from None
            except KeyboardInterrupt:
                error("interrupted")
                raise typer.Exit(ExitCode.INTERRUPTED) from None
            except (typer.Exit, typer.Abort):
                raise
            except typer.TyperException as exc:  # a usage error from the parser
                if not hasattr(exc, "format_message"):
                    raise
                command = getattr(getattr(exc, "ctx", None), "command_path", None) or "attnviz"
                error(f"{exc.format_message()} (see '{command} --help')")
                raise typer.Exit(getattr(exc, "exit_code", ExitCode.USAGE)) from None
            except BrokenPipeError:  # `attnviz show … | head`: the reader has what it wanted
                silence_stdout()
                raise typer.Exit(ExitCode.OK) from None
            except Exception as exc:  # a bug: say so plainly, the traceback only with --debug
                if not _maybe_traceback(ctx):
                    error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
                raise typer.Exit(ExitCode.ERROR) from None


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that nothing left in its buffer fails again at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # not a real file (tests capture it)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _maybe_traceback(ctx: typer.Context) -> bool:
    from attnviz.commands.common import DEBUG

    debug = bool((ctx.obj or {}).get("debug")) or DEBUG.is_set() or os.environ.get("ATTNVIZ_DEBUG", "") not in ("", "0")
    if debug:
        import platform

        traceback.print_exc()
        print(f"attnviz {__version__}, Python {platform.python_version()}, {platform.platform()}", file=sys.stderr)
    return debug


app = typer.Typer(
    cls=_Group,
    help="See what every attention head is doing, from the terminal.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def error(message: str) -> None:
    """One line on stderr; user text inside it is shown, never interpreted."""
    print("error: " + _one_line(message), file=sys.stderr, flush=True)


def info(message: str) -> None:
    print(_one_line(message), file=sys.stderr, flush=True)


def _show_warning(message: Any, *_args: Any, **_kwargs: Any) -> None:
    print("warning: " + _one_line(str(message)), file=sys.stderr, flush=True)


def _one_line(message: str) -> str:
    from attnviz.render.labels import safe_label

    return " ".join(safe_label(part.strip()) for part in message.splitlines() if part.strip())


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"attnviz {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and versions on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """See what every attention head is doing, from the terminal."""
    ctx.obj = {"debug": debug}


def main() -> None:
    """Console-script entry point."""
    app(prog_name="attnviz")


# The commands register themselves on `app`.
from attnviz.commands import analysis, explore, view  # noqa: E402

__all__ = ["EPILOG", "analysis", "app", "error", "explore", "info", "main", "view"]
