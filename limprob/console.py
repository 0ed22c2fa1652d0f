"""The ``limprob`` console script: SIGINT and SIGTERM are caught from limprob's first line on.

The command line (:func:`limprob.cli.main`) turns a signal into one line and exit code 130
(SIGINT) or 143 (SIGTERM). Importing it takes tens of milliseconds, and a signal in that time
would otherwise get Python's default handling: a ``KeyboardInterrupt`` traceback for SIGINT, a
silent end for SIGTERM. So this module, which imports nothing heavy, installs the handlers
(:func:`limprob.interruption.handled`) before it imports the command line. What is left
uncovered is Python's own start-up before any limprob code runs (the site packages and the
editable install's finder: up to about 40 ms on a busy 2-core machine), where a SIGTERM still
ends the process silently with 143 and a SIGINT with a traceback.
"""

from __future__ import annotations

import sys

from limprob import interruption


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return its exit code."""
    with interruption.handled():
        try:
            from limprob.cli import main as command_line
        except KeyboardInterrupt as error:
            print(interruption.interrupted_line(error), file=sys.stderr)
            return interruption.as_interrupted(error).exit_code
        return command_line(argv)
