"""Command line: argument parsing, dispatch and the one-line error report.

Exit codes: 0 success, 2 bad input, misuse or environment (one line per problem, naming the
file, field or option, or the path and the cause: permission, read-only, no space, not a folder,
a size cap), 1 internal error, 3 a sweep finished but some of its runs failed (recorded in
runs.parquet) or its Dask scheduler was lost, 4 a target search found no answer inside the
factor's range, 130 interrupted (Ctrl-C or SIGTERM), 141 output pipe closed. No command prints a
traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

from ..errors import AdoptsimError, InputError
from .parser import build_parser, unknown_command

__all__ = ["build_parser", "main"]


class _Interrupts:
    """SIGINT and SIGTERM while a command runs: the first raises KeyboardInterrupt (the command
    stops its workers and says how to resume); later ones are ignored while that clean-up runs
    (it is bounded), unless it takes over :data:`FORCE_AFTER` seconds: then the process ends at
    once (exit 130) after terminating its workers. Any number of interrupts, at any spacing,
    ends a command within a few seconds."""

    FORCE_AFTER = 5.0

    def __init__(self):
        self.first: float | None = None

    def __call__(self, signum, frame) -> None:
        if self.first is None:
            self.first = time.monotonic()
            raise KeyboardInterrupt
        if time.monotonic() - self.first > self.FORCE_AFTER:
            _stop_workers()
            os._exit(130)

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():  # after an interrupt the process is ending: a late Ctrl-C
                signal.signal(s, h if self.first is None else signal.SIG_IGN)  # must not kill it


def _stop_workers() -> None:
    """Terminate any worker process left running (an interrupt may have cut a clean-up short)."""
    if "adoptsim.experiments.executors" in sys.modules:
        from ..experiments.executors import stop_workers

        stop_workers()


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
    interrupts = _Interrupts()
    with interrupts.installed():
        try:
            code = _dispatch(args)
        except KeyboardInterrupt:  # raised while an error message was printed
            code = 130
        if interrupts.first is not None:
            _stop_workers()
    return code


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
