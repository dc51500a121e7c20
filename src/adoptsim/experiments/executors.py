"""Executors of sweep runs: one :mod:`concurrent.futures` interface over the calling process
(``workers=1``), a local process pool, or a Dask cluster (docs/experiments.md)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Executor, Future

from ..errors import AdoptsimError


class InlineExecutor(Executor):
    """Runs each task in the calling process when it is submitted (``--workers 1``)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # pragma: no cover - run_task does not raise
            fut.set_exception(exc)
        return fut


def _watch_parent(parent: int) -> None:
    """Worker initializer: exit when the sweep process that started this worker dies (say,
    killed with SIGKILL), instead of waiting forever for work as an orphan."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="adoptsim-parent-watch", daemon=True).start()


def process_pool(workers: int) -> Executor:
    """Local worker processes, started with 'spawn' (direct children of the sweep: no fork of a
    threaded parent, and each one exits when the sweep process dies)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_watch_parent, initargs=(os.getpid(),))


def dask_executor(address: str):
    """Connect to a Dask scheduler: ``(client, executor, number of workers)``; tasks are
    submitted with ``pure=False``."""
    try:
        from distributed import Client
    except ImportError:
        raise AdoptsimError("--scheduler: Dask is not installed; install it with "
                            "pip install 'adoptsim[dask]' (or pip install 'dask[distributed]')") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise AdoptsimError(f"--scheduler: cannot connect to the Dask scheduler at {address!r}: {exc}") from None
    n = len(client.scheduler_info().get("workers", {})) or 1
    return client, client.get_executor(pure=False), n


def shutdown(executor: Executor, client, cancel: bool) -> None:
    """Stop an executor (``cancel``: drop queued tasks) and close the Dask client, if any."""
    try:
        if isinstance(executor, InlineExecutor) or client is not None:
            executor.shutdown(wait=not cancel)
        else:
            executor.shutdown(wait=True, cancel_futures=cancel)
    finally:
        if client is not None:
            client.close()
