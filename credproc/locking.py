"""Every OS lock credproc takes, and how long it waits for one.

- **Exclusive, waited for** (:func:`acquire`, polled as filelock does): a
  cache entry's (cache.py: one STS call per hop however many processes miss
  at once), the keychain key's creation (keystore.py: processes starting
  together agree on one key), the source keys' index (source_keys.py).
- **A claim** (:func:`claim`): a rememberable ``get``'s request, held until
  the process ends, never waited for (single_flight.py).
- **Waiting for a claim to go** (:func:`wait_shared`): a blocking shared
  lock, so the kernel wakes the waiter as the claimer ends and 50 waiters
  cost no CPU (a poll would); an alarm bounds it.

On POSIX each is ``flock`` on a descriptor from storage.open_private_file
(O_NOFOLLOW, the user's own regular file, 0600): the kernel drops it when the
holder dies, even by SIGKILL. filelock opens without O_NOFOLLOW (and
truncates), so a planted symlink would have credproc create or truncate a
file wherever it points; on Windows (LockFileEx, where a symlink takes a
privilege) filelock is used. Standard library only at import: the fast
path's claim takes its locks here.
"""

from __future__ import annotations

import os

from . import storage

TYPE_CHECKING = False  # not typing's: this runs before credproc is loaded
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# How long a process waits for another that is fetching the same credentials
# (cache.py's locks, single_flight.py's claim): seconds, unless the variable says.
# The cache's locks wait longer by default when CREDPROC_STS_BUDGET lets the
# holder retry for longer (obtain.open_cache). The claim keeps this default:
# the fast path does not load the retry rules, and a waiter that gives up on
# a claim takes the full path, which waits at the cache's lock for the rest.
LOCK_TIMEOUT = 120.0
LOCK_TIMEOUT_VARIABLE = "CREDPROC_LOCK_TIMEOUT"
# Locks held only for a file or keychain write (keystore.py's key creation,
# source_keys.py's index), never across an STS call or a prompt.
QUICK_LOCK_TIMEOUT = 60.0
POLL = 0.05  # seconds between tries while another process holds the lock (filelock's default)


class LockTimeout(Exception):
    """Another process held the lock for longer than the wait allowed."""


def wait_limit(env: Mapping[str, str], default: float = LOCK_TIMEOUT) -> float:
    """Seconds to wait for another process's lock or claim: ``$CREDPROC_LOCK_TIMEOUT``
    (finite, 0 or more) or ``default``; else ValueError(message, fix) naming it."""
    variable = LOCK_TIMEOUT_VARIABLE
    text = env.get(variable, "")
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ValueError(
            f"{variable}: {text!r} is not a usable number of seconds (0 or more)",
            f"unset it, or give seconds, e.g. {variable}={LOCK_TIMEOUT:g}",
        )
    return seconds


def acquire(path: str | os.PathLike[str], timeout: float) -> Callable[[], None]:
    """Take an exclusive lock on ``path`` (created 0600 when missing); returns
    what releases it.

    Raises :class:`LockTimeout` after ``timeout`` seconds of waiting,
    storage.UntrustedError for a symlink or another user's file at ``path``,
    OSError when the file cannot be opened (a read-only directory, a full disk).
    """
    if os.name != "posix":
        return _acquire_filelock(os.fspath(path), timeout)
    import time

    fd = storage.open_private_file(path)
    deadline = time.monotonic() + timeout
    try:
        while not claim(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout(os.fspath(path))
            time.sleep(POLL)
    except BaseException:
        os.close(fd)
        raise
    return lambda: os.close(fd)  # closing the descriptor drops the lock


def claim(fd: int) -> bool:
    """Whether this process now holds the exclusive lock on ``fd`` (no wait):
    False while another process holds it; OSError when the file system
    cannot lock at all (ENOLCK on some network mounts), which no wait cures."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class _Expired(Exception):
    """The wait for a lock ran out."""


def wait_shared(fd: int, limit: float) -> bool:
    """Whether the exclusive lock on ``fd`` went within ``limit`` seconds.
    An alarm that fires just as the lock is granted only says False."""
    import fcntl
    import signal

    if limit <= 0:
        return False

    def expire(signum: int, frame: object) -> None:
        raise _Expired

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread: no alarm to bound the wait with
        return False
    try:
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except (_Expired, OSError):
        return False
    finally:
        signal.signal(signal.SIGALRM, previous)


def _acquire_filelock(path: str, timeout: float) -> Callable[[], None]:
    import filelock

    lock = filelock.FileLock(path, timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockTimeout(path) from None
    return lambda: lock.release()
