"""An exclusive OS lock on a lock file, waited for at most a given time: the
cache's per-entry locks (cache.py) and the keychain key's creation
(keystore.py).

On POSIX the lock file is opened by storage.open_lock_file (O_NOFOLLOW, the
user's own regular file, 0600) and locked with ``flock``, polled every 50 ms
as the filelock library does: the kernel drops the lock when its holder dies,
and a holder killed with SIGKILL never blocks the next run. filelock itself
opens the file without O_NOFOLLOW (and truncates it), so a symlink planted as
a lock file would make credproc create or truncate a file wherever it points.
Elsewhere (Windows: LockFileEx) filelock is used as it is; creating a
symlink takes a privilege there. inflight.py's claim takes its own lock (the
fast path cannot import this module's callers), on a descriptor from the same
storage.open_lock_file.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import storage

POLL = 0.05  # seconds between tries while another process holds the lock (filelock's default)


class LockTimeout(Exception):
    """Another process held the lock for longer than the wait allowed."""


@contextlib.contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600 when missing).

    Raises :class:`LockTimeout` after ``timeout`` seconds of waiting,
    storage.UntrustedError for a symlink or another user's file at ``path``,
    OSError when the file cannot be opened (a read-only directory, a full disk).
    """
    release = acquire(path, timeout)
    try:
        yield
    finally:
        release()


def acquire(path: Path, timeout: float) -> Callable[[], None]:
    """Take the lock (as :func:`exclusive` does); returns what releases it."""
    if os.name != "posix":
        return _acquire_filelock(path, timeout)
    import fcntl

    fd = storage.open_lock_file(path)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(str(path)) from None
                time.sleep(POLL)
    except BaseException:
        os.close(fd)
        raise
    return lambda: os.close(fd)  # closing the descriptor drops the lock


def _acquire_filelock(path: Path, timeout: float) -> Callable[[], None]:
    import filelock

    lock = filelock.FileLock(str(path), timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockTimeout(str(path)) from None
    return lambda: lock.release()
