"""Single flight for whole ``get`` answers, decided before credproc is loaded.

A rememberable ``get`` that finds no remembered answer claims its request
(locking.claim on ``<cache dir>/pending/<digest>.lock``, held until the
process ends); one that finds the claim taken waits for the claimer's
answer. A cold fan-out of one command (50 tools at once) costs one full run
and 49 short ones, from an empty cache directory too (the claim makes the
directories), and with the cache disabled too. ``--no-cache`` never claims.

A waiter gets the answer **handed over** (Linux): the claimer listens on
``pending/<digest>.sock`` and writes its answer to every waiter connected
meanwhile. The answer crosses kernel memory only; each side checks the other
is the same user (``SO_PEERCRED``), and the message carries the request's
digest and length, so a waiter prints only a whole answer to its own
request. In every other case (the claimer failed or was not listening yet,
another OS) the waiter waits for the claim to go, then **reads the
remembered answer back** as a warm hit does, or takes the full path.

No deadlock: a process holds at most one claim and waits only while it
holds none; a nested credproc has another digest (``CREDPROC_DEPTH``). A
directory or lock file that is not the user's alone is no claim, silently
(the full path says why). The wait is bounded by ``CREDPROC_LOCK_TIMEOUT``
(locking.wait_limit). POSIX only; elsewhere the cache's locks still make one
STS call per hop.
"""

from __future__ import annotations

import os
import sys

from . import locations, locking, shortcuts, storage

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
    (remembered.request): made by the console script, which claims or waits with
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
            location = locations.cache_location(env)
            if location is None:
                return None  # only platformdirs knows where the cache is: no answer to remember either
            if storage.distrust(location) is not None:
                return None  # not the user's alone: the full path says so, once (obtain.open_cache)
            directory = os.path.join(location, DIRECTORY)
            # Made here if missing, the cache dir too: on a fresh one every process
            # of a first fan-out would otherwise take the full path (module docstring).
            # make_private_dirs refuses a pending/ that is not the user's alone.
            storage.make_private_dirs(directory)
            # Never through a symlink, never another user's file (storage.open_private_file).
            fd = storage.open_private_file(os.path.join(directory, self.name[:40] + ".lock"))
        except OSError:  # storage.UntrustedError included: the full path runs, unclaimed
            return None
        self._socket_path = os.path.join(directory, self.name[:40] + ".sock")
        try:
            claimed = locking.claim(fd)
        except OSError:  # no locks on this file system: the full path runs, unclaimed
            os.close(fd)
            return None
        if claimed:
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
    (``time.monotonic``); None if it does not."""
    import time

    if not _HANDOVER_HERE or deadline <= time.monotonic():
        return None
    sockets = shortcuts.sockets()
    connection = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
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
    sockets = shortcuts.sockets()
    try:
        credentials = connection.getsockopt(sockets.SOL_SOCKET, sockets.SO_PEERCRED, 12)  # pid, uid, gid
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
