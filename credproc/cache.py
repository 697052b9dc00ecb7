"""The encrypted on-disk cache: one AES-256-GCM file per hop's credentials.

- The file name is the SHA-256 of everything that makes the credentials
  differ (see :func:`entry_name`); the same name is the AEAD's associated
  data, so an entry copied over another's file fails to decrypt.
- Anything that does not decrypt and parse (truncated, tampered, foreign,
  written under a rotated key) is a miss and is overwritten by the next fetch.
- Writes are atomic (temp file, fsync, rename); files are 0600 in a 0700 dir.
- Single flight: a per-entry lock file taken with an OS lock (released by the
  kernel when a process dies), so concurrent processes make one STS call.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aead import aesgcm_class
from .credentials import Credentials
from .errors import CacheError
from .log import Log

MAGIC = b"CPC1"
NONCE_BYTES = 12
SUFFIX = ".cred"
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT = 120.0


def entry_name(parent: str, fields: dict[str, Any]) -> str:
    """The cache key of a hop: hash of the parent's key and the hop's fields.

    Chaining the parent's name in means a hop's entry is specific to the whole
    path from the source identity (the root ``parent`` is its fingerprint).
    """
    material = json.dumps({"parent": parent, "hop": fields}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """A decrypted cache entry: the credentials plus non-secret metadata."""

    credentials: Credentials
    meta: dict[str, Any]


class Cache:
    """Dict-like access to encrypted entries in ``directory``."""

    def __init__(self, directory: Path, key: bytes, log: Log) -> None:
        self.directory = directory
        self._aead = aesgcm_class()(key)
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
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
            return None
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], _aad(name))
            data = json.loads(plain)
            return Entry(Credentials.from_dict(data["credentials"]), dict(data.get("meta", {})))
        except Exception:  # InvalidTag, bad JSON, missing fields: all a miss
            return None

    def put(self, name: str, credentials: Credentials, meta: dict[str, Any]) -> bool:
        """Store an entry atomically; on a disk problem warn once and return False."""
        import secrets  # here, not at the top: the warm hit never writes
        import tempfile

        plain = json.dumps({"credentials": credentials.to_dict(), "meta": meta}).encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = MAGIC + nonce + self._aead.encrypt(nonce, plain, _aad(name))
        try:
            self.ensure_directory()
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=SUFFIX)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(blob)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path(name))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
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
        """Create the cache directory 0700 (and tighten it if it is looser)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and self.directory.stat().st_mode & 0o077:
            os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the entry's lock; without a writable directory, go on unlocked."""
        import filelock

        try:
            self.ensure_directory()
            lock = filelock.FileLock(str(self.directory / (name + LOCK_SUFFIX)), timeout=timeout, mode=0o600)
            lock.acquire()
        except filelock.Timeout:
            raise CacheError(
                f"waited {timeout:.0f} s for another credproc process to fetch the same credentials",
                f"if no other credproc is running, delete {self.directory / (name + LOCK_SUFFIX)}",
            ) from None
        except OSError as exc:
            self._warn_write(exc)
            yield
            return
        try:
            yield
        finally:
            lock.release()

    def entries(self) -> Iterator[tuple[str, Entry]]:
        """Every readable entry (unreadable ones are skipped)."""
        try:
            files = sorted(self.directory.glob("*" + SUFFIX))
        except OSError:
            return
        for path in files:
            if path.name.startswith("."):
                continue
            name = path.name[: -len(SUFFIX)]
            entry = self.get(name)
            if entry is not None:
                yield name, entry

    def remove(self, name: str) -> None:
        for path in (self.path(name), self.directory / (name + LOCK_SUFFIX)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @staticmethod
    def clear_directory(directory: Path) -> int:
        """Delete every entry, readable or not (no key needed); returns how many."""
        count = 0
        try:
            files = list(directory.iterdir())
        except FileNotFoundError:
            return 0
        for path in files:
            if path.name.endswith((SUFFIX, LOCK_SUFFIX)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    count += path.name.endswith(SUFFIX)
        return count


def _aad(name: str) -> bytes:
    return b"credproc-cache-v1:" + name.encode()
