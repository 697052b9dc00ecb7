"""Single flight for whole ``get`` answers, decided before credproc is loaded.

A rememberable ``get`` (answers.py) that finds no remembered answer claims its
request: an exclusive lock on ``<cache dir>/pending/<digest>.lock``, held until
the process ends (the kernel drops it however the process ends). A process
with the same request that finds the claim taken waits for the claimer's
answer. So a cold fan-out of one command (50 tools starting at once) costs one
full run and 49 short ones, not 50 full runs, of which 49 would only wait for
the first one's lock.

How a waiter gets the answer:

- **Handed over** (Linux): the claimer listens on a Unix socket beside its
  claim, ``pending/<digest>.sock``, and once it has its answer (the one it
  remembers, commands/get.py) writes it to every waiter connected meanwhile,
  then stops listening. The waiter prints it without reading the remembered
  answer back: no key, no AES-GCM binding (a waiter is ~8.5 ms of CPU, a
  bare interpreter and a digest; 49 of them share 2 cores with the claimer:
  benchmarks/RESULTS.md). The answer crosses kernel memory only, never the
  disk; the socket is in the cache's 0700 directory, and each side checks
  that the other runs as the same user (``SO_PEERCRED``). The message
  carries the request's full digest and its length: a waiter prints only a
  whole answer to its own request.
- **Read back**: in every other case (no handover: the claimer failed, handed
  out stale credentials, or had not started listening yet; another OS; no
  ``/proc``) the waiter waits for the claim to go, then
  reads the remembered answer as a warm hit does, or takes the full path.

No deadlock: a process holds at most one claim and waits for a claim only
while it holds nothing, and a credproc nested as another's source has another
request digest (its ``CREDPROC_DEPTH`` differs), so it never waits for its
parent's claim.

Only where memos were kept before (the memo directory, memo.py, exists):
with the cache off no claimer would leave an answer to wait for.

The wait is bounded by ``CREDPROC_LOCK_TIMEOUT`` (default 120 s, as for the
cache's locks). After it the full path runs as if this did not exist. POSIX
only (``fcntl``); elsewhere every process takes the full path, whose cache
locks still make one STS call per hop.
"""

from __future__ import annotations

import os
import sys

from . import memo, storage

TYPE_CHECKING = False  # not typing's: this runs before credproc is loaded
if TYPE_CHECKING:
    from _socket import socket as any_socket  # socket.socket's base, what _receive uses
    from collections.abc import Callable, Mapping
    from socket import socket

DIRECTORY = "pending"
HANDOVER = b"credproc-handover-v1 "  # then the digest, the answer's length in bytes, a newline, the answer
_BACKLOG = 128  # waiters connected before the answer is ready (more wait in connect)
# Where the handover runs (SO_PEERCRED, /proc/self/fd); elsewhere waiters read the answer back.
_HANDOVER_HERE = sys.platform.startswith("linux")
_held: list[int] = []  # this process's claim, open until it ends
_listening: list[tuple[socket, str]] = []  # the claim's socket and its path, until handed over


def claim_or_wait(digest: str, env: Mapping[str, str]) -> str | None:
    """Claim the request ``digest``, or wait for the process that holds its claim.

    Returns the answer the claimer handed over, if it did. None: look for the
    remembered answer again before taking the full path (this process holds
    the claim now, but another may have answered and gone since the first
    look; or it waited for the claimer, which is gone; or there was nothing
    to claim).
    """
    if os.name != "posix" or _held:
        return None
    try:
        import fcntl

        location = storage.cache_location(env)
        if location is None or not os.path.isdir(os.path.join(location, memo.DIRECTORY)):
            return None  # no answer was ever remembered here (the cache is off, or this is the first run)
        directory = os.path.join(location, DIRECTORY)
        storage.make_private_dirs(directory)
        fd = os.open(os.path.join(directory, digest[:40] + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except (OSError, ImportError):
        return None
    socket_path = os.path.join(directory, digest[:40] + ".sock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # taken: wait for it below
    else:
        _held.append(fd)
        _listen(socket_path)
        return None
    try:
        import time

        limit = _wait_limit(env)
        deadline = time.monotonic() + limit  # one bound for both ways of waiting
        handed = _receive(socket_path, digest, deadline)
        if handed is None:
            _wait(fd, deadline - time.monotonic())
        return handed
    finally:
        os.close(fd)


def hand_over(digest: str, output: str) -> None:
    """Write ``output``, this process's answer to the request ``digest`` it
    claimed, to every waiter connected by now; then stop listening (waiters
    that come later read the remembered answer back). Best effort."""
    if not _listening:
        return
    listener, path = _listening.pop()
    body = output.encode()
    message = HANDOVER + digest.encode() + b" %d\n" % len(body) + body
    try:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # BlockingIOError: every waiter connected so far has been answered
                break
            with connection:
                try:
                    if _peer_uid(connection) == os.geteuid():
                        connection.settimeout(1.0)  # a waiter reads at once; one that does not is not waited for
                        connection.sendall(message)
                except OSError:
                    continue  # that waiter went away, or reads the answer back
    finally:
        listener.close()
        _unlink(path)


def _listen(path: str) -> None:
    """Listen for waiters on ``path`` (where the handover runs)."""
    if not _HANDOVER_HERE:
        return
    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _unlink(path)  # a claimer that ended before handing over left it; this process holds the claim now
        _by_short_path(path, listener.bind)
        listener.listen(_BACKLOG)
        listener.setblocking(False)
    except OSError:  # the waiters read the answer back
        listener.close()
        return
    _listening.append((listener, path))


def _receive(path: str, digest: str, deadline: float) -> str | None:
    """The answer the claimer listening on ``path`` hands over by ``deadline``
    (``time.monotonic``); None if it does not.

    ``_socket``, the C module ``socket`` is built on: the ``socket`` module's
    import costs ~2 ms (its enums), a tenth of what waiting costs in all.
    """
    import time

    if not _HANDOVER_HERE or deadline <= time.monotonic():
        return None
    import _socket

    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    chunks = []
    try:
        connection.settimeout(max(deadline - time.monotonic(), 0.001))
        _by_short_path(path, connection.connect)
        if _peer_uid(connection) != os.geteuid():
            return None
        while True:
            connection.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:  # not listening (yet, or any more), reset, timed out
        return None
    finally:
        connection.close()
    return _answer_in(b"".join(chunks), digest)


def _answer_in(message: bytes, digest: str) -> str | None:
    """The answer in a handover ``message`` if it is a whole one to the request ``digest``."""
    header, newline, body = message.partition(b"\n")
    prefix = HANDOVER + digest.encode() + b" "
    if not newline or not header.startswith(prefix) or header[len(prefix) :] != b"%d" % len(body):
        return None
    return body.decode()


def _peer_uid(connection: any_socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (Linux's SO_PEERCRED)."""
    import _socket

    try:
        credentials = connection.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # pid, uid, gid
    except (OSError, AttributeError):
        return None
    return int.from_bytes(credentials[4:8], sys.byteorder)


def _by_short_path(path: str, act: Callable[[str], None]) -> None:
    """``act`` (bind, connect) on the socket ``path`` by way of its directory's
    descriptor: a Unix socket's address holds at most 107 bytes, and a cache
    directory may be deeper than that (``/proc/self/fd/N/name`` is ~60)."""
    directory, name = os.path.split(path)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        act(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
        limit = float(env.get(storage.LOCK_TIMEOUT_VARIABLE) or storage.LOCK_TIMEOUT)
    except ValueError:
        return storage.LOCK_TIMEOUT
    return limit if 0 <= limit < float("inf") else storage.LOCK_TIMEOUT
