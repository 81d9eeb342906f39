"""User-facing errors and the exit codes the CLI turns them into."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit statuses (see the README)."""

    OK = 0
    ERROR = 1  # runtime failure: a model could not load, a file could not be written
    USAGE = 2  # bad option, bad layer or head, missing word
    INTERRUPTED = 130  # Ctrl-C


class AttnvizError(Exception):
    """An error with a message written for a person; the CLI prints it as one line."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(AttnvizError):
    """The user asked for something that cannot be: bad input, selection or option."""

    exit_code = ExitCode.USAGE


class ModelError(AttnvizError):
    """A model could not be found, loaded or run."""


class OutputError(AttnvizError):
    """A file could not be written or read."""


class AttnvizWarning(UserWarning):
    """Something the user should know that does not stop the run (e.g. truncated input)."""
