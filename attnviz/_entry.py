"""The console script: Ctrl-C while attnviz itself is still importing also exits 130, quietly."""

import sys


def main() -> None:
    try:
        from attnviz.cli import main as run

        run()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
