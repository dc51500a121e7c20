"""Atomic writes: files via a temporary file and a rename, folders via a temporary folder.

Every output of adoptsim is written so that an interrupted command never leaves a
half-written file or results folder behind (docs/outputs.md).

**Locking** (docs/cli.md, "Output folders"): a command writing a folder ``--out`` holds an
exclusive ``flock`` on ``.<name>.lock`` beside it while it works (:func:`out_lock`); a second
writer of the same folder fails at once with exit 2, "being written by another process (pid
N)". The kernel drops the lock when its holder dies, so a killed command never blocks the next
one, and the holder of the lock removes the temporary ``.<name>.*.tmp`` / ``.*.old`` leftovers
of killed writers (:func:`clean_stale`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from ..errors import AdoptsimError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_public(path: str | Path, folder: bool = False) -> None:
    """Give a temporary file or folder the permissions a plain open()/mkdir would (mkstemp and
    mkdtemp make them private to the user)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        make_public(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: Path, write: Callable[[str], None]) -> Path:
    """Write ``path`` by calling ``write(tmp_name)`` on a temporary file beside it, then an
    atomic rename; the temporary file is removed on any failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        make_public(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_out_dir(out: Path, allowed: bool, hint: str) -> bool:
    """Check an ``--out`` folder before anything is written: it must be a folder (or not exist
    yet; missing parents are created later), and an existing non-empty one is an error unless
    ``allowed`` (``--overwrite``, ``--resume``); ``hint`` says how to allow it. Returns whether
    the folder already holds something."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AdoptsimError(f"{out}: --out: exists and is not a folder")
    busy = out.exists() and any(out.iterdir())
    if busy and not allowed:
        raise AdoptsimError(f"{out}: --out: folder exists and is not empty; {hint}, or choose another --out")
    return busy


def prepare_out_dir(out: Path | None, default: Path, overwrite: bool) -> Path:
    """Where to write: ``out`` if given (an existing non-empty folder needs ``overwrite``),
    else ``default``, or ``default-2``, ``-3``… if it exists: never silently overwrite."""
    if out is not None:
        check_out_dir(out, overwrite, "pass --overwrite to replace it")
        return Path(out)
    candidate, k = Path(default), 2
    while candidate.exists():
        candidate = Path(f"{default}-{k}")
        k += 1
    return candidate


def publish_dir(build: Callable[[Path], None], out: Path) -> Path:
    """Build a folder with ``build(tmp)`` in a temporary folder beside ``out`` and move it into
    place atomically (an existing ``out`` is replaced only after the new one is complete),
    holding the lock of ``out`` throughout."""
    out = Path(out)
    with out_lock(out):
        return _publish(build, out)


def _publish(build: Callable[[Path], None], out: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        build(tmp)
        make_public(tmp, folder=True)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ---- the --out checks and lock ----------------------------------------------------------------

def _existing_ancestor(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def check_writable(out: Path, need: int = 1 << 20) -> None:
    """Check before any work that ``out`` can be created and written: its nearest existing
    ancestor is a writable folder on a writable file system with at least ``need`` bytes free.
    Raises one AdoptsimError naming the path and the cause."""
    out = Path(out)
    base = _existing_ancestor(out)
    if not base.is_dir():
        raise AdoptsimError(f"{out}: --out: {base} is not a folder")
    st = os.statvfs(base)
    if st.f_flag & getattr(os, "ST_RDONLY", 1):
        raise AdoptsimError(f"{out}: --out: {base} is on a read-only file system")
    if not os.access(base, os.W_OK | os.X_OK):
        raise AdoptsimError(f"{out}: --out: permission denied: cannot write in {base}")
    free = st.f_bavail * st.f_frsize
    if free < need:
        raise AdoptsimError(f"{out}: --out: not enough free space in {base}: {free} bytes free, "
                            f"about {need} bytes needed")


def lock_path(out: Path) -> Path:
    """The lock file of the folder ``out``: ``.<name>.lock`` beside it."""
    out = Path(out)
    return out.parent / f".{out.name}.lock"


_HELD: dict[str, int] = {}  # lock files this process holds -> depth (the lock is re-entrant)


def _acquire(path: Path) -> int:
    """Open and lock ``path`` (without waiting); the fd, or AdoptsimError naming the holder."""
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            out = path.parent / path.name[1:-len(".lock")]
            raise AdoptsimError(f"{out}: --out: being written by another process (pid {pid}); wait for it "
                                "to finish or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a lock file its previous holder removed meanwhile
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)


@contextlib.contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of the folder ``out`` (creating its parents), remove the stale
    temporary leftovers of killed writers, and release (removing the lock file) at the end."""
    out = Path(out)
    path = lock_path(out)
    key = os.path.abspath(path)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path)
    _HELD[key] = 1
    try:
        clean_stale(out)
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.[^.]+\.(?:tmp|old)$")  # .NAME.XXXXXXXX.tmp / .old


def _unused(out: Path) -> bool:
    """Whether no live process holds the lock of the folder ``out`` (so its leftovers are
    stale): no lock file, or one naming a process that is gone. (Not probed with ``flock``,
    which could make a starting writer see the folder busy.)"""
    path = lock_path(out)
    if os.path.abspath(path) in _HELD:
        return False
    try:
        pid = int(path.read_text(encoding="ascii").strip() or 0)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False  # a writer between creating the file and writing its pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def clean_stale(out: Path) -> list[Path]:
    """Remove the temporary folders a killed writer left beside ``out``: its own
    (``.<name>.XXXX.tmp``, ``.<name>.XXXX.old``, and such files) and those of any sibling
    folder no process is writing now. Call only while holding :func:`out_lock` of ``out``."""
    out = Path(out)
    removed = []
    for p in out.parent.iterdir():
        m = _LEFTOVER.match(p.name)
        if not m or not (m.group("name") == out.name or (p.is_dir() and _unused(out.parent / m.group("name")))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed.append(p)
    return removed


#: errno values that are the environment's fault, not adoptsim's: reported as user errors.
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
                      errno.EISDIR, errno.ENOENT, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.EMFILE,
                      errno.ENFILE, errno.EFBIG, errno.EIO, errno.ENOTEMPTY, errno.EXDEV, errno.EBUSY}


def environment_message(exc: OSError) -> str | None:
    """One line naming the path and the cause of an environment OSError (permission,
    read-only, no space, not a folder...), or None for another error."""
    if exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    path = exc.filename if exc.filename is not None else "output"
    cause = exc.strerror or os.strerror(exc.errno)
    hint = {errno.ENOSPC: "; free some space or choose another --out",
            errno.EDQUOT: "; free some space or choose another --out",
            errno.EROFS: "; choose another --out", errno.EACCES: "", errno.EPERM: ""}.get(exc.errno, "")
    return f"{path}: {cause}{hint}"
