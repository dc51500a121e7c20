"""Executors of sweep runs: one :mod:`concurrent.futures` interface over the calling process
(``workers=1``), a local process pool, or a Dask cluster (docs/experiments.md).

**Every wait is bounded** (docs/cli.md, "Interrupts and faults"): worker processes ignore
SIGINT (the sweep process decides) and exit when the sweep process dies; on an interrupt the
pool is not drained but its processes are terminated (:func:`stop_workers`, a few seconds at
most); a local worker that dies (killed, out of memory) breaks the pool, which is replaced and
its runs retried (:data:`MAX_ATTEMPTS`); a Dask scheduler that has no worker within
:func:`worker_timeout` seconds, or that is lost mid-sweep, ends the sweep with a message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import Executor, Future

from ..errors import AdoptsimError

#: How many times a run is started when its local worker process dies under it.
MAX_ATTEMPTS = 3
#: Seconds a Dask client may stay disconnected from its scheduler before the sweep gives up.
SCHEDULER_GRACE = 15.0


class SchedulerLost(AdoptsimError):
    """The Dask scheduler went away mid-sweep: the finished runs are stored (exit code 3)."""

    exit_code = 3


def worker_timeout() -> float:
    """Seconds to wait for a first Dask worker (``ADOPTSIM_DASK_WORKER_TIMEOUT``, default 60)."""
    try:
        return max(0.1, float(os.environ.get("ADOPTSIM_DASK_WORKER_TIMEOUT", "60")))
    except ValueError:
        raise AdoptsimError("ADOPTSIM_DASK_WORKER_TIMEOUT: expected a number of seconds, got "
                            f"{os.environ['ADOPTSIM_DASK_WORKER_TIMEOUT']!r}") from None


class InlineExecutor(Executor):
    """Runs each task in the calling process when it is submitted (``--workers 1``)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # pragma: no cover - run_task does not raise
            fut.set_exception(exc)
        return fut


def _init_worker(parent: int) -> None:
    """Worker initializer: ignore Ctrl-C (the sweep process stops the workers; no traceback
    from idle workers) and exit when the sweep process that started this worker dies (say,
    killed with SIGKILL), instead of waiting forever for work as an orphan."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

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
                               initializer=_init_worker, initargs=(os.getpid(),))


def stop_workers(timeout: float = 2.0) -> None:
    """Terminate every worker process this process started (SIGTERM, then SIGKILL after
    ``timeout`` seconds) and reap them: nothing is left running or waiting on a queue."""
    import multiprocessing as mp

    children = mp.active_children()
    for p in children:
        with contextlib.suppress(Exception):
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in children:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            with contextlib.suppress(Exception):
                p.kill()
            p.join(1.0)


@contextlib.contextmanager
def signals_ignored():
    """Ignore SIGINT and SIGTERM while cleaning up after an interrupt (a second Ctrl-C cannot
    cut the clean-up short); a no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def connect_dask(address: str):
    """Connect to a Dask scheduler that has at least one worker: ``(client, number of workers)``."""
    try:
        from distributed import Client
    except ImportError:
        raise AdoptsimError("--scheduler: Dask is not installed; install it with "
                            "pip install 'adoptsim[dask]' (or pip install 'dask[distributed]')") from None
    import logging

    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)  # a lost scheduler: our one line
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise AdoptsimError(f"--scheduler: cannot connect to the Dask scheduler at {address!r}: {exc}") from None
    wait_s = worker_timeout()
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except (TimeoutError, OSError):
        client.close(timeout=2)
        raise AdoptsimError(f"--scheduler: the Dask scheduler at {address!r} has no workers (waited {wait_s:g} s); "
                            f"start some with: dask worker {address}") from None
    return client, len(client.scheduler_info().get("workers", {})) or 1


class Workers:
    """Where runs execute: the calling process, a local pool (replaced when a worker dies) or
    a Dask cluster; ``submit`` returns a future, ``renew`` replaces a broken local pool,
    ``check`` raises :class:`SchedulerLost` when the Dask scheduler is gone."""

    def __init__(self, workers: int | None, n_tasks: int, scheduler: str | None = None, client=None,
                 n_dask: int = 1):
        self.scheduler, self.client = scheduler, client
        self.lost_since: float | None = None
        self.idle_since: float | None = None  # since when the cluster has had no worker
        self.asked = 0.0
        if client is not None:
            self.n, self.kind, self.executor = n_dask, f"dask {scheduler}", client.get_executor(pure=False)
            return
        n = max(1, min(workers or os.cpu_count() or 1, n_tasks or 1))
        self.n, self.kind = n, "in-process" if n == 1 else f"{n} processes"
        self.executor = InlineExecutor() if n == 1 else process_pool(n)

    @property
    def local_pool(self) -> bool:
        return self.client is None and not isinstance(self.executor, InlineExecutor)

    def submit(self, fn, *args) -> Future:
        return self.executor.submit(fn, *args)

    def renew(self) -> None:
        """Replace a broken local pool (a worker died) by a new one."""
        if self.local_pool:
            self.executor.shutdown(wait=False, cancel_futures=True)
            stop_workers()
            self.executor = process_pool(self.n)

    def check(self, where: str, cancelled: bool = False) -> None:
        """Raise :class:`SchedulerLost` when the Dask client has been cut off from its scheduler
        for :data:`SCHEDULER_GRACE` seconds, has given up reconnecting, or (``cancelled``) has
        seen its tasks cancelled."""
        if self.client is None:
            return
        status = str(getattr(self.client, "status", "running"))
        if status == "running" and not cancelled:
            self.lost_since = None
            self._check_workers(where)
            return
        self.lost_since = self.lost_since or time.monotonic()
        gone = status in ("closed", "closing", "failed") or time.monotonic() - self.lost_since > SCHEDULER_GRACE
        if cancelled or gone:
            raise SchedulerLost(f"--scheduler: lost the Dask scheduler at {self.scheduler!r}; finished runs are "
                                f"stored in {where}; continue with --out {where} --resume")

    def _check_workers(self, where: str) -> None:
        """Every few seconds of waiting, ask the scheduler for its workers; none for
        :func:`worker_timeout` seconds ends the sweep (no run could ever finish)."""
        now = time.monotonic()
        if now - self.asked < 5.0:
            return
        self.asked = now
        try:
            n = len(self.client.nthreads())
        except Exception:  # the scheduler is unreachable: the status check above handles it
            return
        if n:
            self.idle_since = None
            return
        self.idle_since = self.idle_since or now
        if now - self.idle_since > worker_timeout():
            raise SchedulerLost(f"--scheduler: the Dask scheduler at {self.scheduler!r} has had no workers for "
                                f"{worker_timeout():g} s; finished runs are stored in {where}; start workers and "
                                f"continue with --out {where} --resume")

    def close(self, cancel: bool) -> None:
        """Stop: ``cancel`` drops queued runs and terminates running ones at once."""
        try:
            if self.client is not None:
                if cancel:
                    with contextlib.suppress(Exception):
                        self.executor.shutdown(wait=False)
            elif self.local_pool and cancel:
                self.executor.shutdown(wait=False, cancel_futures=True)
                stop_workers()
            else:
                self.executor.shutdown(wait=True)
        finally:
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close(timeout=3)
