"""Single flight for whole ``get`` answers, decided before credproc is loaded.

A rememberable ``get`` (answers.py) that finds no remembered answer claims its
request: an exclusive lock on ``<cache dir>/pending/<digest>.lock``, held until
the process ends (the kernel drops it however the process ends). A process
with the same request that finds the claim taken waits for it to go, then
prints the answer the claimer remembered meanwhile. So a cold fan-out of one
command (50 tools starting at once) costs one full run and 49 runs of the fast
path, not 50 full runs, of which 49 would only wait for the first one's lock.

No deadlock: a process holds at most one claim and waits for a claim only
while it holds nothing, and a credproc nested as another's source has another
request digest (its ``CREDPROC_DEPTH`` differs), so it never waits for its
parent's claim.

Only where answers were remembered before (the answers directory exists):
with the cache off no claimer would leave an answer to wait for.

The wait is bounded by ``CREDPROC_LOCK_TIMEOUT`` (default 120 s, as for the
cache's locks). After it, or when the claimer left no answer (it failed, or
handed out stale credentials), the full path runs as if this did not exist.
POSIX only (``fcntl``); elsewhere every process takes the full path, whose
cache locks still make one STS call per hop.
"""

from __future__ import annotations

import os

from . import answers, storage

TYPE_CHECKING = False  # not typing's: this runs before credproc is loaded
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DIRECTORY = "pending"
DEFAULT_WAIT = 120.0
_held: list[int] = []  # this process's claim, open until it ends


def claim_or_wait(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """Claim this request, or wait for the process that holds its claim.

    True: look for the remembered answer again before taking the full path
    (this process holds the claim now, but another may have answered and
    gone since the first look; or it waited for the claimer, which is gone).
    False: there is nothing to claim.
    """
    if os.name != "posix" or _held:
        return False
    try:
        import fcntl

        digest = answers.request_digest(argv, env)
        location = storage.cache_location(env)
        if digest is None or location is None:
            return False
        if not os.path.isdir(os.path.join(location, answers.DIRECTORY)):
            return False  # no answer was ever remembered here (the cache is off, or this is the first run)
        directory = os.path.join(location, DIRECTORY)
        storage.make_private_dirs(directory)
        fd = os.open(os.path.join(directory, digest[:40] + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except (OSError, ImportError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # taken: wait for it below
    else:
        _held.append(fd)
        return True
    try:
        return _wait(fd, _wait_limit(env))
    finally:
        os.close(fd)


class _Expired(Exception):
    """The wait for a claim ran out."""


def _wait(fd: int, limit: float) -> bool:
    """Whether the claim on ``fd`` went within ``limit`` seconds.

    A blocking shared lock: the kernel wakes the waiter the moment the
    claimer ends, and waiting costs no CPU (a poll every 10 ms would cost ~6
    ms a second, 50 waiters at once). An alarm bounds it; an alarm that
    fires just as the lock is granted only sends this run the full path.
    """
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


def _wait_limit(env: Mapping[str, str]) -> float:
    # The full path checks the variable and names a bad value; here it only bounds a wait.
    try:
        limit = float(env.get("CREDPROC_LOCK_TIMEOUT") or DEFAULT_WAIT)
    except ValueError:
        return DEFAULT_WAIT
    return limit if 0 <= limit < float("inf") else DEFAULT_WAIT
