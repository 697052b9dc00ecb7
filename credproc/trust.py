"""Which of its directories credproc will use, said to the user: storage.distrust
decides (the user's alone to change, a symlink only when it and its target
are the user's), this module names the directory and the fix in a CacheError.

obtain.open_cache checks the cache directory and every directory credproc
keeps in it; a refused one is one warning line, and credproc goes on without
the cache, as with an unusable key store (the cache commands fail with exit
code 6 instead; doctor reports the same line). keystore.py checks the data
directory before it reads or creates the key file there, and makes it
private with :func:`make_private`, as source_keys.py does. The fast path
(remembered.py, single_flight.py) makes the same checks with storage.distrust and,
on a refusal, silently leaves the work to the full path, which then warns.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from . import locations, memo, single_flight, storage
from .errors import CacheError

CACHE_VARIABLE = "CREDPROC_CACHE_DIR"
DATA_VARIABLE = "CREDPROC_DATA_DIR"
# Every directory credproc keeps inside the cache directory.
CACHE_SUBDIRECTORIES = (single_flight.DIRECTORY, memo.DIRECTORY)


def cache_error(env: Mapping[str, str]) -> CacheError | None:
    """The first of the cache's directories credproc must not use, as the error to show; None when all will do."""
    directory = locations.cache_dir(env)
    for path in (directory, *(directory / name for name in CACHE_SUBDIRECTORIES)):
        error = directory_error("cache", path, CACHE_VARIABLE)
        if error is not None:
            return error
    return None


def directory_error(what: str, path: Path, variable: str) -> CacheError | None:
    """``path`` (the ``what`` directory, overridden by ``variable``) refused, or None when it will do."""
    why = storage.distrust(path)
    return None if why is None else refused(what, path, why, variable)


def refused(what: str, path: Path | str, why: str, variable: str) -> CacheError:
    """The error for a directory storage.distrust (or make_private_dirs) refused ``why``."""
    if _own_directory(path):
        fix = f"chmod 700 {path}, or set {variable} to a directory of your own"
    else:
        fix = f"set {variable} to a directory of your own"
    return CacheError(f"the {what} directory {path} {why}", fix)


def make_private(what: str, path: Path, variable: str) -> None:
    """Create the ``what`` directory ``path`` (0700, parents too) if missing,
    as storage.make_private_dirs does; CacheError naming the fix when it, or
    the directory it goes in, is not the user's alone, or cannot be made."""
    try:
        storage.make_private_dirs(path)
    except storage.UntrustedError as exc:
        raise untrusted(exc, what, variable) from None
    except OSError as exc:
        raise CacheError(
            f"cannot create {path} ({exc.strerror or exc})",
            f"set {variable} to a writable directory",
        ) from None


def untrusted(error: storage.UntrustedError, what: str, variable: str) -> CacheError:
    """The error for what storage refused: the ``what`` directory, or a file in it."""
    if error.directory:
        return refused(what, error.path, error.reason, variable)
    return CacheError(f"the file {error.path} {error.reason}", f"remove {error.path}; credproc makes a new one")


def _own_directory(path: Path | str) -> bool:
    """A real directory of the user's: only its mode is wrong, and chmod fixes that."""
    try:
        status = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.geteuid()
