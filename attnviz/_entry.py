"""The console script: Ctrl-C while attnviz itself is still importing also exits 130, quietly;
a reader that closes the pipe early (`attnviz … | head -1`) is exit 0 and silence."""

import os
import stat
import sys


def main() -> None:
    piped = _is_pipe()
    try:
        from attnviz.cli import main as run

        run()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        _flush_stdout(exc.code)
        if exc.code == 1 and piped and _reader_gone():
            # click and rich meet a closed pipe outside our commands (help text) with a silent
            # exit 1; a reader that stopped reading is not a failure
            sys.exit(0)
        raise
    _flush_stdout(0)


def _flush_stdout(code: object) -> None:
    """Flush what is buffered for stdout now, while a closed pipe can still be handled: at
    interpreter exit it would print 'Exception ignored … BrokenPipeError' and exit 120."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(code if code not in (None, 0) else 0)


def _is_pipe() -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(1).st_mode)
    except OSError:
        return False


def _reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end is closed (or was replaced by /dev/null)."""
    import select

    try:
        here, devnull = os.fstat(1), os.stat(os.devnull)
        if (here.st_dev, here.st_ino) == (devnull.st_dev, devnull.st_ino):
            return True
        poller = select.poll()
        poller.register(1, select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, AttributeError):  # no poll() on this platform
        return False
