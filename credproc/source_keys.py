"""Where the source identity's long-term access keys are kept (``credproc source``,
``[source] stored = "NAME"``): never in plaintext.

Each stored key has a NAME. Its secret lives in one of two places:

- ``keychain``: the OS keychain through keyring (service ``credproc``, one item
  per name, user ``source:NAME``), whenever keystore.keyring_usable says a real
  keychain exists (the same decision as for the cache key);
- ``file``: where there is none (headless Linux, WSL, containers), a file
  ``<data dir>/source-keys/NAME.sealed`` sealed with AES-256-GCM (aead.py), the
  name as associated data, under a key of its own in ``source-keys/seal.key``
  (0600). Not the cache key: clearing the cache key (``cache clear --key``) or
  replacing a damaged one must never lose long-term keys, so this key is never
  replaced: a damaged or exposed one is refused with the fix.

keyring cannot list its items, so ``source-keys/index.json`` (0600, atomic
writes) holds every name with what is not secret: the access key id, the ARN
when known, when the key was created and where its secret is. The source's
fingerprint is read from it without opening the keychain; the secret itself is
read only when STS is called. The keychain item or sealed file holds the whole
record and is the truth: a stale index entry is rewritten from it.

Threat model. The keychain protects the keys against other programs of the
user where the OS enforces per-application access (macOS Keychain prompts,
Windows Credential Manager and Secret Service only while locked) and against
copies of the disk. The sealed file protects against copies of the file,
backups that leave out its key, and malware that scans well-known paths such as
``~/.aws/credentials``; it does not protect against a process of the user that
reads both the sealed file and its key, nor against one that runs credproc (or
reads credproc's memory) as the user. Nothing here protects against root.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import aead, atomic, keyring_loader, keystore, locations, locking, storage, trust
from .aws_credentials import format_time
from .errors import AuthError, CacheError
from .log import Log
from .stored_key import StoredKey, check_keys, check_name, from_index, from_record, index_entry, name_problem, record

SERVICE = storage.KEYRING_SERVICE  # "credproc": the cache key's service, another user name
DIRECTORY = "source-keys"  # under the data dir
INDEX_FILE = "index.json"
SEAL_KEY_FILE = "seal.key"
SEALED_SUFFIX = ".sealed"
LOCK_FILE = ".lock"
_MAGIC = b"credproc-source-key-1\n"  # the sealed file's first bytes: what it is, which layout


# -- locations -----------------------------------------------------------------------------------


def directory(env: Mapping[str, str]) -> Path:
    return locations.data_dir(env) / DIRECTORY


def index_path(env: Mapping[str, str]) -> Path:
    """The index (non-secret metadata); its bytes identify the stored source (source.py)."""
    return directory(env) / INDEX_FILE


def sealed_path(env: Mapping[str, str], name: str) -> Path:
    return directory(env) / (name + SEALED_SUFFIX)


def _username(name: str) -> str:
    return f"source:{name}"


def _private_directory(env: Mapping[str, str]) -> Path:
    """The source-keys directory (0700), created if missing; CacheError if it is not the user's alone."""
    path = directory(env)
    trust.make_private("data", path, trust.DATA_VARIABLE)
    return path


def _checked_directory(env: Mapping[str, str]) -> Path | None:
    """The source-keys directory if it exists and is trusted; None when missing."""
    path = directory(env)
    if not path.exists():
        return None
    refused = trust.directory_error("data", path, trust.DATA_VARIABLE)
    if refused is not None:
        raise refused
    return path


# -- the index -----------------------------------------------------------------------------------


def _read_index(env: Mapping[str, str], log: Log) -> dict[str, Any]:
    """Name -> metadata; empty when there is no index. A damaged one is a warning and empty."""
    if _checked_directory(env) is None:
        return {}
    path = index_path(env)
    data, why = storage.examine_private(path)
    if data is None and why is None:
        return {}
    if data is None:
        raise CacheError(f"the file {path} {why}", f"chmod 600 {path}, or remove it (credproc source add rebuilds it)")
    try:
        parsed = json.loads(data)
        keys = parsed["keys"] if isinstance(parsed, dict) and parsed.get("version") == 1 else None
    except (ValueError, KeyError):
        keys = None
    if not isinstance(keys, dict):
        log.warn(f"{path} is damaged; ignoring it (credproc source add NAME rewrites it)")
        return {}
    return keys


def _write_index(env: Mapping[str, str], keys: Mapping[str, Any]) -> None:
    body = json.dumps({"version": 1, "keys": dict(sorted(keys.items()))}, indent=1).encode() + b"\n"
    atomic.write_atomic(index_path(env), body)


def _update_index(env: Mapping[str, str], log: Log, name: str, key: StoredKey | None) -> None:
    keys = _read_index(env, log)
    if key is None:
        keys.pop(name, None)
    else:
        keys[name] = index_entry(key)
    _write_index(env, keys)


# -- the keychain --------------------------------------------------------------------------------


def _keychain_error(exc: Exception, doing: str) -> CacheError:
    return CacheError(
        f"the OS keychain could not be used {doing} ({type(exc).__name__})",
        "unlock the keychain and retry (credproc source list shows where each key is)",
    )


def _keychain_get(name: str) -> StoredKey | None:
    try:
        text = keyring_loader.load().get_password(SERVICE, _username(name))
    except Exception as exc:
        raise _keychain_error(exc, f"to read the source keys {name!r}") from None
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return from_record(parsed, "keychain") or _damaged(name, f"the keychain item {SERVICE}/{_username(name)}")


def _keychain_set(key: StoredKey) -> None:
    try:
        keyring_loader.load().set_password(SERVICE, _username(key.name), json.dumps(record(key)))
    except Exception as exc:
        raise _keychain_error(exc, f"to store the source keys {key.name!r}") from None


def _keychain_delete(name: str) -> bool:
    try:
        keyring = keyring_loader.load()
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(SERVICE, _username(name))
        except PasswordDeleteError:
            return False
    except Exception as exc:
        raise _keychain_error(exc, f"to delete the source keys {name!r}") from None
    return True


def _damaged(name: str, what: str) -> StoredKey:
    raise AuthError(
        f"{what} (stored source keys {name!r}) is damaged or was sealed under another key",
        f"credproc source remove {name} --yes, then credproc source add {name}",
    )


# -- the sealed file -----------------------------------------------------------------------------


def _cipher(env: Mapping[str, str], *, create: bool) -> Any:
    """AES-GCM under the seal key; None when there is none and ``create`` is false."""
    path = directory(env) / SEAL_KEY_FILE
    key, why = storage.read_key_file(path)
    if key is None and why is None and create:
        try:
            keystore.write_new_key(path, replace=False)  # never replaced: see _cipher's error below
        except OSError as exc:
            raise CacheError(f"cannot create {path} ({exc.strerror})", f"check {path.parent} is writable") from None
        key, why = storage.read_key_file(path)
    if why is not None:
        # Never replaced: what it sealed would be lost for good.
        raise CacheError(
            f"the key of the sealed source keys, {path}, {why}",
            f"chmod 600 {path} if it is your own file (then rotate the keys: it may have been read)",
        )
    return None if key is None else aead.aesgcm_class()(key)


def _sealed_get(env: Mapping[str, str], name: str) -> StoredKey | None:
    if _checked_directory(env) is None:
        return None
    path = sealed_path(env, name)
    data, why = storage.examine_private(path)
    if data is None and why is None:
        return None
    if data is None:
        raise CacheError(f"the file {path} {why}", f"chmod 600 {path} if it is your own file")
    cipher = _cipher(env, create=False)
    try:
        if cipher is None or not data.startswith(_MAGIC):
            raise ValueError("no key, or not a sealed file")
        parsed = json.loads(aead.unseal(cipher, data[len(_MAGIC) :], name.encode()))
    except Exception:  # InvalidTag, ValueError: all the same to the user
        parsed = None
    return from_record(parsed, "file") or _damaged(name, f"the sealed file {path}")


def _sealed_set(env: Mapping[str, str], key: StoredKey) -> None:
    cipher = _cipher(env, create=True)
    blob = _MAGIC + aead.seal(cipher, json.dumps(record(key)).encode(), key.name.encode())
    atomic.write_atomic(sealed_path(env, key.name), blob)


def _sealed_delete(env: Mapping[str, str], name: str) -> bool:
    try:
        sealed_path(env, name).unlink()
    except FileNotFoundError:
        return False
    return True


# -- the interface -------------------------------------------------------------------------------


def load(name: str, env: Mapping[str, str], log: Log) -> StoredKey:
    """The stored keys ``name``, secret included; AuthError (exit 4) when there are none."""
    check_name(name)
    entry = indexed(name, env, log)
    order = [entry.where] if entry is not None else []
    order += [where for where in ("keychain", "file") if where not in order]
    for where in order:
        if where == "keychain" and (entry is None or entry.where != "keychain") and not keystore.keyring_usable(env):
            continue
        found = _keychain_get(name) if where == "keychain" else _sealed_get(env, name)
        if found is None:
            continue
        if found.name != name:
            _damaged(name, f"the stored record of {name!r} names {found.name!r}: it")
        if entry is None or index_entry(found) != index_entry(entry):
            _repair_index(env, log, found)
        return found
    raise AuthError(f"no stored source keys named {name}", f"credproc source add {name}")


def indexed_key_id(name: str, env: Mapping[str, str]) -> str:
    """The access key id stored under ``name``, from the index (no keychain
    prompt); from the record itself when the index lacks it (which rewrites
    the index). AuthError (exit 4) when there are no such keys."""
    entry = indexed(name, env, Log(defer=True))
    if entry is not None:
        return entry.access_key_id
    return load(name, env, Log(defer=True)).access_key_id


def _repair_index(env: Mapping[str, str], log: Log, key: StoredKey) -> None:
    """Best effort: the index follows the record (a save interrupted between the two)."""
    try:
        _private_directory(env)
        with _locked(env):
            _update_index(env, log, key.name, key)
    except (OSError, CacheError):
        log.step(f"could not rewrite the index entry of {key.name!r}; it is read from the record meanwhile")


def save(key: StoredKey, env: Mapping[str, str], log: Log) -> StoredKey:
    """Store ``key`` (replacing one of the same name), returned with ``where`` set.

    The secret is written first, whole (one keychain call or one atomic file
    write), then the index: until the new one is written the old one still
    works. A copy left in the other place (the keychain appeared or went) is
    removed last.
    """
    check_name(key.name)
    check_keys(key.access_key_id, key.secret_access_key)
    where = "keychain" if keystore.keyring_usable(env) else "file"
    key = key._replace(where=where, created=key.created or format_time(datetime.now(UTC)))
    _private_directory(env)
    try:
        with _locked(env):
            before = indexed(key.name, env, log)
            if where == "keychain":
                _keychain_set(key)
            else:
                _sealed_set(env, key)
            _update_index(env, log, key.name, key)
            if before is not None and before.where != where:
                _delete(env, key.name, before.where)
    except OSError as exc:  # a full disk, a read-only directory: whatever was stored before still is
        raise CacheError(
            f"cannot store the source keys {key.name!r} in {directory(env)} ({exc.strerror or exc})",
            f"free some space or make {directory(env)} writable, then retry",
        ) from None
    if where == "file":
        log.notice(
            f"no OS keychain here: the source keys {key.name!r} are sealed in {sealed_path(env, key.name)} "
            "(protects against copies and path-scanning malware, not against programs running as you)"
        )
    return key


def remove(name: str, env: Mapping[str, str], log: Log) -> bool:
    """Forget the stored keys ``name`` everywhere; whether there were any."""
    check_name(name)
    keychain = keystore.keyring_usable(env)
    if _checked_directory(env) is None and not keychain:
        return False
    _private_directory(env)
    with _locked(env):
        index = _read_index(env, log)
        removed = name in index
        places = ["file"] + (["keychain"] if keychain else [])
        for where in places:
            removed = _delete(env, name, where) or removed
        if name in index:
            _update_index(env, log, name, None)
    return removed


def indexed(name: str, env: Mapping[str, str], log: Log) -> StoredKey | None:
    """The stored key ``name`` as the index lists it (secret blank), or None."""
    return from_index(name, _read_index(env, log).get(name)) if name_problem(name) is None else None


def stored(env: Mapping[str, str], log: Log) -> list[StoredKey]:
    """Every stored key by name, from the index: secrets blank (:func:`load` reads one)."""
    keys = []
    for name, entry in sorted(_read_index(env, log).items()):
        key = from_index(name, entry) if name_problem(name) is None else None
        if key is not None:
            keys.append(key)
    return keys


def _delete(env: Mapping[str, str], name: str, where: str) -> bool:
    return _keychain_delete(name) if where == "keychain" else _sealed_delete(env, name)


class _locked:
    """The source-keys lock: one writer of the index and records at a time."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._path = directory(env) / LOCK_FILE
        self._release: Any = None

    def __enter__(self) -> None:
        try:
            self._release = locking.acquire(self._path, locking.QUICK_LOCK_TIMEOUT)
        except locking.LockTimeout:
            raise CacheError(
                f"another credproc held {self._path} for {locking.QUICK_LOCK_TIMEOUT:.0f} s",
                "retry when it has finished",
            ) from None
        except storage.UntrustedError as exc:  # a symlink, or another user's file, as the lock file
            raise trust.untrusted(exc, "data", trust.DATA_VARIABLE) from None
        except OSError as exc:
            raise CacheError(
                f"cannot lock {self._path} ({exc.strerror or exc})", f"make {self._path.parent} writable, then retry"
            ) from None

    def __exit__(self, *exc: object) -> None:
        if self._release is not None:
            self._release()
