"""Command line ``adoptsim``: argument parsing (:mod:`.parser`), the commands (:mod:`.commands`,
each calls one workflow and prints) and :func:`main` (docs/cli.md).

Exit codes: 0 success, 2 bad input or environment (every message names the file and field,
or the path and the cause: permission, read-only, no space, not a folder, a size cap), 1
internal error, 3 a sweep finished but some of its runs failed (recorded in runs.parquet), or
its Dask scheduler was lost, 130 interrupted (Ctrl-C or SIGTERM), 141 output pipe closed. No
command prints a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from ..errors import AdoptsimError, InputError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def _terminate(signum, frame) -> None:
    """SIGTERM: stop as Ctrl-C does (workers stopped, finished runs kept)."""
    raise KeyboardInterrupt


def _stop_workers() -> None:
    """Terminate any worker process left running (a second Ctrl-C may have cut a clean-up)."""
    if "adoptsim.experiments.executors" in sys.modules:
        from ..experiments.executors import signals_ignored, stop_workers

        with signals_ignored():
            stop_workers()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:  # a second interrupt during the first one's message
        _stop_workers()
        return 130


def _dispatch(args) -> int:
    from ..io.atomic import environment_message

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
        _stop_workers()
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory: the job needs more memory than this machine has free; use fewer "
              "replicates, communities or workers (see the size estimate in docs/cli.md)", file=sys.stderr)
        return 2
    except Exception as exc:  # an environment error (exit 2) or an internal error: one line, unless --debug
        msg = environment_message(exc) if isinstance(exc, OSError) else None
        if msg is not None:
            print(f"error: {msg}", file=sys.stderr)
            return 2
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details; please report it)",
              file=sys.stderr)
        return 1
