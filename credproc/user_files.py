"""Rewriting a user's file safely: backup first, then an atomic replace that
keeps the file's permissions (used for ~/.aws/config and the credproc config).

Every file written beside the user's (the backup, the temp files) goes
through :func:`atomic.write_atomic`: it exists only as a 0600 temp file
until it is whole, so no other user can open it in between. A backup is never
looser than 0600 nor than the original (~/.aws/config can hold long-term keys).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from . import atomic, storage

BACKUP_SUFFIX = ".credproc-backup"


def read_text(path: Path) -> str | None:
    """The file's text exactly as stored (no newline translation), or None if missing."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def replace_text(path: Path, text: str, *, new_file_mode: int = 0o600) -> Path | None:
    """Write ``text`` to ``path`` atomically; returns the backup of the old file, if any.

    A symlinked file (dotfile managers) is written through the link, so the
    link stays. The old content goes to ``<file>.credproc-backup`` first; the
    new file gets the old one's mode (``new_file_mode`` when there was none),
    the backup the stricter of 0600 and that mode.
    """
    target = path.resolve() if path.is_symlink() else path
    # ~/.aws is the AWS tools' directory, not credproc's: its mode is theirs to
    # choose (aws configure makes it 0775 under a umask of 002).
    storage.make_private_dirs(target.parent, owner_only=False)
    backup: Path | None = None
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = new_file_mode
    else:
        backup = target.with_name(target.name + BACKUP_SUFFIX)
        _back_up(target, backup, mode)
    atomic.write_atomic(target, text.encode("utf-8"), mode=mode)
    return backup


def backup_mode(original: int) -> int:
    """The backup's permissions: never more than 0600, never more than the original's."""
    return original & 0o600


def _back_up(original: Path, backup: Path, mode: int) -> None:
    """Copy ``original`` to ``backup`` through the atomic write (not shutil.copy2,
    whose copy exists under the umask's mode until it is chmod-ed)."""
    data = original.read_bytes()
    atomic.write_atomic(backup, data, mode=backup_mode(mode))
    times = original.stat()
    try:
        os.utime(backup, ns=(times.st_atime_ns, times.st_mtime_ns))  # when the previous version was made
    except OSError:
        pass  # a timestamp is not worth failing the write for


def newline_of(text: str) -> str:
    """The text's line ending, so that added lines match the file's."""
    return "\r\n" if "\r\n" in text else "\n"
