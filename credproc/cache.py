"""The encrypted on-disk cache: one AES-256-GCM file per hop's credentials.

- The file name is a 256-bit digest (storage.digest) of everything that makes the credentials
  differ (see :func:`entry_name`); the same name is the AEAD's associated
  data, so an entry copied over another's file fails to decrypt.
- Anything that does not decrypt and parse (truncated, tampered, foreign,
  written under a rotated key) is a miss and is overwritten by the next fetch.
- Writes are atomic (atomic.write_atomic); files are 0600 in a 0700 dir.
- Single flight: a per-entry lock file taken with an OS lock (released by the
  kernel when a process dies), so concurrent processes make one STS call. A
  live holder is waited for at most ``CREDPROC_LOCK_TIMEOUT`` seconds
  (default: locking.LOCK_TIMEOUT, or longer for a longer STS retry budget;
  obtain.open_cache decides).
  Lock files are never deleted: one may be held (see :meth:`Cache.remove`).
- The key stays inside the :class:`Cache`: what else is sealed with it (a
  memo, memo.py) is sealed by :meth:`Cache.seal`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from . import aead, atomic, locking, storage
from .aws_credentials import Credentials
from .errors import CacheError
from .locking import LOCK_TIMEOUT, LOCK_TIMEOUT_VARIABLE
from .log import Log

MAGIC = b"CPC1"
SUFFIX = ".cred"
LOCK_SUFFIX = ".lock"


def entry_name(parent: str, fields: dict[str, Any]) -> str:
    """The cache key of a hop: hash of the parent's key and the hop's fields.

    Chaining the parent's name in means a hop's entry is specific to the whole
    path from the source identity (the root ``parent`` is its fingerprint).
    """
    material = json.dumps({"parent": parent, "hop": fields}, sort_keys=True, separators=(",", ":"))
    return storage.digest(material.encode())


class Entry(NamedTuple):
    """A decrypted cache entry: the credentials plus non-secret metadata."""

    credentials: Credentials
    meta: dict[str, Any]


class Cache:
    """Dict-like access to encrypted entries in ``directory``.

    ``key_store`` names where ``key`` came from ("keyring", "file",
    "environment"): what a memo records, so that the fast path
    knows where to look for the key.
    """

    def __init__(
        self, directory: Path, key: bytes, log: Log, lock_timeout: float = LOCK_TIMEOUT, key_store: str = ""
    ) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout
        self.key_store = key_store
        self._aead = aead.aesgcm_class()(key)
        self._log = log
        self._write_warned = False

    def path(self, name: str) -> Path:
        return self.directory / (name + SUFFIX)

    def get(self, name: str) -> Entry | None:
        """The entry, or None for a miss (missing, unreadable or not authentic)."""
        try:
            blob = self.path(name).read_bytes()
        except OSError:
            return None
        return self._decode(name, blob)

    def _decode(self, name: str, blob: bytes) -> Entry | None:
        plain = self.unseal(blob[len(MAGIC) :], _aad(name)) if blob.startswith(MAGIC) else None
        if plain is None:
            return None
        try:
            data = json.loads(plain)
            return Entry(Credentials.from_dict(data["credentials"]), dict(data.get("meta", {})))
        except Exception:  # bad JSON, missing fields: a miss too
            return None

    def seal(self, plain: bytes, associated: bytes) -> bytes:
        """``plain`` sealed with the cache key (aead.seal's layout), bound to ``associated``."""
        return aead.seal(self._aead, plain, associated)

    def unseal(self, blob: bytes, associated: bytes) -> bytes | None:
        """What :meth:`seal` sealed with this key and ``associated``; None for anything else."""
        try:
            return aead.unseal(self._aead, blob, associated)
        except Exception:  # InvalidTag, too short: not ours, or not this
            return None

    def put(self, name: str, credentials: Credentials, meta: dict[str, Any]) -> bool:
        """Store an entry atomically; on a disk problem warn once and return False."""
        plain = json.dumps({"credentials": credentials.to_dict(), "meta": meta}).encode()
        blob = MAGIC + self.seal(plain, _aad(name))
        try:
            self.ensure_directory()
            atomic.write_atomic(self.path(name), blob)
        except OSError as exc:
            self._warn_write(exc)
            return False
        return True

    def _warn_write(self, exc: OSError) -> None:
        if not self._write_warned:
            self._write_warned = True
            self._log.warn(
                f"could not write the cache in {self.directory} ({exc.strerror or exc}); "
                "credentials were fetched but not cached (set CREDPROC_CACHE_DIR to a writable directory)"
            )

    def ensure_directory(self) -> None:
        """Create the cache directory 0700 (and tighten it if others may read
        it); storage.UntrustedError (an OSError) for one that is not the
        user's alone (storage.distrust)."""
        storage.make_private_dirs(self.directory)
        if os.name == "posix" and self.directory.stat().st_mode & 0o077:
            os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the entry's lock; without a writable directory, go on unlocked.

        The lock is an OS lock on an open file (locking.py: flock / LockFileEx):
        the kernel drops it when its process dies, so a crashed credproc never
        blocks the next one; the lock file left behind is harmless. A lock
        file that is a symlink or another user's file is not used (one warning;
        the credentials are fetched without that lock).
        """
        path = self.directory / (name + LOCK_SUFFIX)
        release = None
        try:
            self.ensure_directory()
            release = locking.acquire(path, self.lock_timeout)
        except locking.LockTimeout:
            raise CacheError(
                f"waited {self.lock_timeout:g} s for another credproc process that is fetching the same "
                f"credentials (lock {path})",
                "retry; if it keeps happening, look for a stuck credproc process (a hung STS call or an unanswered "
                f"MFA prompt) and stop it, or raise {LOCK_TIMEOUT_VARIABLE}",
            ) from None
        except storage.UntrustedError as exc:
            self._warn_untrusted(exc)
        except OSError as exc:
            self._warn_write(exc)
        try:
            yield
        finally:
            if release is not None:
                release()

    def _warn_untrusted(self, exc: storage.UntrustedError) -> None:
        if exc.directory:  # made untrusted since open_cache looked: nothing is written there
            self._warn_write(exc)
        elif not self._write_warned:
            self._write_warned = True
            self._log.warn(
                f"the lock file {exc.path} {exc.reason}; fetching without that lock (fix: remove {exc.path}; "
                "credproc makes a new one)"
            )

    def names(self) -> list[str]:
        """The name of every entry file, readable or not."""
        try:
            files = sorted(self.directory.glob("*" + SUFFIX))
        except OSError:
            return []
        return [path.name[: -len(SUFFIX)] for path in files if not path.name.startswith(".")]

    def entries(self) -> Iterator[tuple[str, Entry]]:
        """Every readable entry (unreadable ones are skipped)."""
        for name in self.names():
            entry = self.get(name)
            if entry is not None:
                yield name, entry

    def remove(self, name: str) -> None:
        """Delete an entry, never its lock file.

        The lock file may be held by a running credproc: with it gone, the
        next process would lock a new file of the same name while the holder
        still holds the old one, and both would call STS. Left behind, an
        empty lock file is harmless.
        """
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()

    @staticmethod
    def clear_directory(directory: Path) -> int:
        """Delete every entry, readable or not (no key needed), and the temp
        files of interrupted writes; returns how many entries. Lock files stay
        (see :meth:`remove`)."""
        count = 0
        try:
            files = list(directory.iterdir())
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise CacheError(
                f"cannot read the cache directory {directory} ({exc.strerror or exc})",
                "set CREDPROC_CACHE_DIR to a directory of credproc's own",
            ) from None
        for path in files:
            entry = path.name.endswith(SUFFIX) and not path.name.startswith(".")
            if not path.name.endswith(SUFFIX) and not _is_entry_temp(path.name):
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # a writer renamed its temp file meanwhile, or another clear was faster
            except OSError as exc:
                raise CacheError(
                    f"cannot remove {path} ({exc.strerror or exc}); removed {count} entries before it",
                    "stop the credproc or AWS command using it, or remove the file by hand, then retry",
                ) from None
            count += entry
        return count


def _is_entry_temp(name: str) -> bool:
    """A temp file atomic.write_atomic left beside an entry (its writer was killed)."""
    return name.startswith(".") and name.endswith(atomic.TEMP_SUFFIX) and SUFFIX + "." in name


def _aad(name: str) -> bytes:
    return b"credproc-cache-v1:" + name.encode()
