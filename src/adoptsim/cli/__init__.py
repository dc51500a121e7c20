"""Command line ``adoptsim``: argument parsing (:mod:`.parser`), the commands (:mod:`.commands`,
each calls one workflow and prints) and :func:`main` (docs/cli.md).

Exit codes: 0 success, 2 bad input (every message names the file and field), 1 internal error,
3 a sweep finished but some of its runs failed (recorded in runs.parquet), 130 interrupted,
141 output pipe closed. No command prints a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import os
import sys

from ..errors import AdoptsimError, InputError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        for prob in exc.problems:
            print(f"error: {prob}", file=sys.stderr)
        return exc.exit_code
    except AdoptsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into a reader that stopped (`| head`): no traceback,
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # exit as a SIGPIPE'd tool does
        return 141
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: one line, unless --debug
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details; please report it)",
              file=sys.stderr)
        return 1
