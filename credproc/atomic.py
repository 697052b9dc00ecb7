"""The one atomic write of credproc's files (cache entries, memos, the key
file, the source keys, the user's AWS and config files): readers, and a
crash at any point, see the old file or the new one, never a part.

Standard library only at import: memo.py writes through it (loaded only
when a memo is written, never on a warm hit).
"""

from __future__ import annotations

import os

from . import locations

TYPE_CHECKING = False  # not typing's: the fast path does without it (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from collections.abc import Callable

TEMP_SUFFIX = ".tmp"  # write_atomic's temp files: ".<name>.<random>.tmp" beside the file
# Windows: os.replace fails while another process has the target open (no
# FILE_SHARE_DELETE); readers hold entries for a moment only.
_SHARING_ERRORS = (5, 32)  # ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION
_REPLACE_ATTEMPTS = 8  # waits of 10, 20, ... 640 ms: about 1.3 s in all


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600, replace: bool = True) -> None:
    """Put ``data`` at ``path`` whole: readers, and a crash at any point, see the
    old file or the new one, never a part. Raises OSError; the directory must exist.

    A temp file beside ``path`` (0600, then ``mode``) is written and fsynced,
    renamed over ``path``, and the directory fsynced where the platform allows,
    so that the rename itself survives a power cut. On any failure the temp file
    is removed. ``replace=False`` publishes only if ``path`` does not exist yet
    (FileExistsError otherwise): the first of several writers wins.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    fd, temp = _create_temp(directory, os.path.basename(target))
    placed = False
    try:
        _write_all(fd, data)
        if mode != 0o600:
            os.chmod(temp, mode)
        if replace:
            replace_file(temp, target)
            placed = True
        else:
            _publish(temp, target, data)
        _sync_directory(directory)
    finally:
        if not placed:
            try:
                os.unlink(temp)
            except OSError:
                pass  # the error being raised matters more; a stray temp file is harmless


def replace_file(
    source: str,
    target: str,
    *,
    windows: bool = locations.WINDOWS,
    rename: Callable[[str, str], None] = os.replace,
    pause: Callable[[float], None] | None = None,
) -> None:
    """``os.replace``, retried briefly on Windows while another process has
    ``target`` open (a sharing violation, which would otherwise be a spurious
    "could not write" warning)."""
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            rename(source, target)
            return
        except PermissionError as error:
            if not windows or getattr(error, "winerror", None) not in _SHARING_ERRORS:
                raise
            if attempt == _REPLACE_ATTEMPTS - 1:
                raise
        if pause is None:
            import time

            pause = time.sleep
        pause(0.01 * 2**attempt)


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """A new 0600 file beside ``name``, opened for writing (O_EXCL: never an existing file or link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        temp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}{TEMP_SUFFIX}")
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name in {directory}")


def _publish(temp: str, target: str, data: bytes) -> None:
    """Put ``temp`` at ``target`` unless a file is there (FileExistsError then)."""
    try:
        os.link(temp, target)  # atomic: readers see no file or the whole one
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this filesystem (some network and FAT mounts):
        # create it in place; O_EXCL still lets only one writer win.
        _write_all(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), data)


def _write_all(fd: int, data: bytes) -> None:
    """Write, fsync and close ``fd``."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_directory(directory: str) -> None:
    """fsync a directory, so that a rename in it is on disk (POSIX only: Windows
    cannot open a directory this way, and NTFS journals the rename)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the data itself is synced
    finally:
        os.close(fd)
