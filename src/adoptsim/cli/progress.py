"""Progress of long commands on stderr: a bar on a terminal (tqdm), otherwise one log line
``adoptsim: NAME: done/total UNIT (P%), S s, about E s left`` at most every
:data:`LOG_EVERY` seconds and when finished, so ``adoptsim sweep ... | tee log`` is never
silent. ``--quiet`` turns both off."""

from __future__ import annotations

import sys
import time

#: Seconds between two log lines off a terminal.
LOG_EVERY = 5.0


class LogProgress:
    """A progress counter that writes periodic one-line records (for logs and pipes)."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0, stream=None, every: float = LOG_EVERY):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.t0 = self.last = time.perf_counter()
        self.n0 = initial
        self.closed = False
        self.postfix = ""

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        pct = f" ({self.n / self.total:.0%})" if self.total else ""
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        done = self.n - self.n0
        left = ""
        if 0 < done and self.n < self.total:
            left = f", about {elapsed / done * (self.total - self.n):.0f} s left"
        extra = f", {self.postfix}" if self.postfix else ""
        unit = self.unit if self.unit.endswith("s") else self.unit + "s"
        return f"adoptsim: {self.desc}: {count} {unit}{pct}{extra}, {elapsed:.0f} s{left}"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:  # the tqdm method the sweep uses
        self.postfix = text

    def set_postfix(self, *args, **kwargs) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in kwargs.items() if k != "refresh")

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NoProgress(LogProgress):
    """``--quiet``: counts, prints nothing."""

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        self.closed = True


def make_progress(quiet: bool):
    """A factory ``(total, desc, unit="month", initial=0) -> bar`` for the workflows: a tqdm bar
    on a terminal, log lines otherwise, nothing with ``quiet``."""

    def factory(total: int, desc: str, unit: str = "month", initial: int = 0):
        if quiet:
            return NoProgress(total, desc, unit, initial)
        if sys.stderr.isatty():
            from tqdm import tqdm

            return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
        return LogProgress(total, desc, unit, initial)

    return factory


def status(quiet: bool, text: str) -> None:
    """A one-line stage record on stderr (``adoptsim: drawing figures``) unless ``quiet``."""
    if not quiet:
        print(f"adoptsim: {text}", file=sys.stderr, flush=True)
