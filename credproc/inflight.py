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
  answer back: no key, no AES-GCM binding (a waiter costs a bare interpreter and a
  digest; 49 of them share 2 cores with the claimer:
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

Also from an empty or missing cache directory (a new CI runner or container,
a first day): the claim makes the private directories it needs (0700), so the
first fan-out single-flights too, and only the claimer reaches the key store
(on a fresh data dir: creates the key file) and STS. With ``[cache] enabled =
false`` (the config is not read here) the claim is taken all the same and the
claimer hands its answer over (commands/get.py): nothing is written but the
lock file and the transient socket, neither holding a credential, and the
answer goes only to processes of the same user asking the same request while
it is fetched: single flight, not a cache (nothing outlives the claimer).
Without a cache there are no hop locks either, so this is what keeps such a
fan-out at one STS call per hop. Waiters the handover misses take the full
path (there is no answer to read back). ``--no-cache`` runs are not
rememberable and never claim.

Only in a cache directory and ``pending/`` that are the user's alone
(storage.distrust), on a lock file that is the user's own regular file, never
opened through a symlink (storage.open_lock_file): another user's claim could
be held for ever. Anything else is no claim, silently; the full path says
why, once.

The wait is bounded by ``CREDPROC_LOCK_TIMEOUT`` (default 120 s, as for the
cache's locks). After it the full path runs as if this did not exist. POSIX
only (locking.py); elsewhere every process takes the full path, whose cache
locks still make one STS call per hop.
"""

from __future__ import annotations

import os
import sys

from . import locking, storage

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


class Flight:
    """One run's single flight for the request whose answer is named ``name``
    (answers.request): made by the console script, which claims or waits with
    it, and handed to commands/get.py, which hands the answer over with it.
    A process holds at most one claim, the one its Flight took."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.claimed = False  # holds the claim, until the process ends (its descriptor is never closed)
        self._listener: socket | None = None  # the claim's socket, until handed over
        self._socket_path = ""

    def claim_or_wait(self, env: Mapping[str, str]) -> str | None:
        """Claim the request, or wait for the process that holds its claim.

        Returns the answer the claimer handed over, if it did. None: look for
        the remembered answer again before taking the full path (this process
        holds the claim now, but another may have answered and gone since the
        first look; or it waited for the claimer, which is gone; or there was
        nothing to claim).
        """
        if os.name != "posix" or self.claimed:
            return None
        try:
            location = storage.cache_location(env)
            if location is None:
                return None  # only platformdirs knows where the cache is: no answer to remember either
            if storage.distrust(location) is not None:
                return None  # not the user's alone: the full path says so, once (obtain.open_cache)
            directory = os.path.join(location, DIRECTORY)
            # Made here if missing, the cache dir too: on a fresh one every process
            # of a first fan-out would otherwise take the full path (module docstring).
            # make_private_dirs refuses a pending/ that is not the user's alone.
            storage.make_private_dirs(directory)
            # Never through a symlink, never another user's file (storage.open_lock_file).
            fd = storage.open_lock_file(os.path.join(directory, self.name[:40] + ".lock"))
        except OSError:  # storage.UntrustedError included: the full path runs, unclaimed
            return None
        self._socket_path = os.path.join(directory, self.name[:40] + ".sock")
        if locking.claim(fd):
            self.claimed = True
            self._listener = _listen(self._socket_path)
            return None
        try:
            import time

            deadline = time.monotonic() + locking.wait_limit(env)  # one bound for both ways of waiting
            handed = _receive(self._socket_path, self.name, deadline)
            if handed is None:
                locking.wait_shared(fd, deadline - time.monotonic())
            return handed
        except ValueError:  # a bad CREDPROC_LOCK_TIMEOUT: the full path names it (exit 3), unwaited
            return None
        finally:
            os.close(fd)

    def hand_over(self, output: str) -> None:
        """Write ``output``, this process's answer to the request it claimed,
        to every waiter connected by now; then stop listening (waiters that
        come later read the remembered answer back). Best effort."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        body = output.encode()
        message = HANDOVER + self.name.encode() + b" %d\n" % len(body) + body
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
            _unlink(self._socket_path)


def _listen(path: str) -> socket | None:
    """A socket listening for waiters on ``path`` (where the handover runs)."""
    if not _HANDOVER_HERE:
        return None
    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _unlink(path)  # a claimer that ended before handing over left it; this process holds the claim now
        _by_short_path(path, listener.bind)
        listener.listen(_BACKLOG)
        listener.setblocking(False)
    except OSError:  # the waiters read the answer back
        listener.close()
        return None
    return listener


def _receive(path: str, digest: str, deadline: float) -> str | None:
    """The answer the claimer listening on ``path`` hands over by ``deadline``
    (``time.monotonic``); None if it does not.

    ``_socket``, the C module ``socket`` is built on: the ``socket`` module's
    import (its enums) is a large share of what waiting costs (benchmarks/RESULTS.md).
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
