"""Rewriting a user's file safely: backup first, then an atomic replace that
keeps the file's permissions (used for ~/.aws/config and the credproc config)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from . import storage

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
    new file gets the old one's mode (``new_file_mode`` when there was none).
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
        shutil.copy2(target, backup)
    storage.write_atomic(target, text.encode("utf-8"), mode=mode)
    return backup


def newline_of(text: str) -> str:
    """The text's line ending, so that added lines match the file's."""
    return "\r\n" if "\r\n" in text else "\n"
