"""Single flight for whole ``get`` answers, decided before credproc is loaded.

A rememberable ``get`` that finds no remembered answer claims its request
(locking.claim on a lock file in ``<cache dir>/pending/`` named after the
request, held until the process ends); one that finds the claim taken waits
for it to go, then **reads the remembered answer back** as a warm hit does,
or takes the full path. A cold fan-out of one command (50 tools at once)
costs one full run and 49 short ones, from an empty cache directory too (the
claim makes the directories). ``--no-cache`` never claims. Without a cache
(disabled in the config, or its key store unusable) nothing will be
remembered, so ``get`` lets the claim go as soon as it knows, before any STS
call (:meth:`Claim.release`, through obtain's ``without_cache``): its
waiters fetch their own at once rather than after it.

Decision (issue 25): waiters read the answer back; the claimer no longer
hands it to them over a Unix socket (benchmarks/RESULTS.md, the 50-process
rows, says why).

No deadlock: a process claims at most once (script.py, which hands its
Claim to the full path) and waits only while it holds no claim; a nested credproc has another request name
(``CREDPROC_DEPTH``). A directory or lock file that is not the user's alone
is no claim, silently (the full path says why). The wait is bounded by
``CREDPROC_LOCK_TIMEOUT`` (locking.wait_limit). POSIX only; elsewhere the
cache's locks still make one STS call per hop.
"""

from __future__ import annotations

import os

from . import locations, locking, storage

TYPE_CHECKING = False  # not typing's: this runs before credproc is loaded
if TYPE_CHECKING:
    from collections.abc import Mapping

DIRECTORY = "pending"


class Claim:
    """This process's claim on its request: held until the process ends (the
    kernel drops the lock however it ends), or let go early by :meth:`release`."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        """Let the waiters go now: this run will remember no answer for them to read back."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def claim_or_wait(name: str, env: Mapping[str, str]) -> Claim | None:
    """Claim the request whose answer is named ``name`` (remembered.request),
    or wait until the process that holds its claim lets go; the claim if this
    process holds it now. Either way the caller looks for the remembered
    answer again before taking the full path: another process may have
    answered meanwhile. Any problem (no POSIX locks, an untrusted directory,
    a bad ``CREDPROC_LOCK_TIMEOUT``) leaves the run to the full path,
    unclaimed, which says why."""
    if os.name != "posix":
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
        fd = storage.open_private_file(os.path.join(directory, name[:40] + ".lock"))
    except OSError:  # storage.UntrustedError included
        return None
    try:
        if locking.claim(fd):
            return Claim(fd)
        locking.wait_shared(fd, locking.wait_limit(env))
    except (OSError, ValueError):  # no locks on this file system; a bad CREDPROC_LOCK_TIMEOUT (exit 3 later)
        pass
    os.close(fd)
    return None
