"""Command line ``adoptsim``: argument parsing (:mod:`.parser`), the commands (:mod:`.commands`,
:mod:`.analysis_commands`; each calls one workflow and prints) and :func:`main` (docs/cli.md).

Exit codes: 0 success, 2 bad input or misuse (one line per problem, naming the file, field or
option), 1 internal error, 3 a sweep finished but some of its runs failed (recorded in
runs.parquet), 4 a target search found no answer inside the factor's range, 130 interrupted,
141 output pipe closed. No command prints a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import os
import sys
import time

from ..errors import AdoptsimError, InputError
from .parser import build_parser, unknown_command

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    t0 = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    typo = unknown_command(parser, argv)
    if typo:
        print(typo, file=sys.stderr)
        return 2
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error (Parser.error)
        return int(exc.code or 0)
    if extra:
        print(f"error: unrecognized arguments: {' '.join(extra)} (see 'adoptsim {args.command} --help')",
              file=sys.stderr)
        return 2
    args.t0 = t0
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
