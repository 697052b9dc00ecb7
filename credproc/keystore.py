"""Where the 256-bit cache key lives: the OS keychain, a 0600 key file in the
user data dir, or ``CREDPROC_CACHE_KEY`` in the environment.

``auto`` picks, in this order: the environment variable when it is set, the
OS keychain when a real backend exists, else the key file (headless Linux,
containers, CI). A key that is missing is created; a key that is damaged is
replaced (the entries it encrypted become misses and are fetched again).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from . import atomic, keyring_loader, locations, locking, storage, trust
from .errors import CacheError
from .log import Log
from .storage import KEY_VARIABLE as ENV_VARIABLE
from .storage import KEYRING_SERVICE as SERVICE
from .storage import KEYRING_USERNAME as USERNAME

LABELS = {"env": "environment", "keyring": "keyring", "file": "file"}


def stores(kind: str, env: Mapping[str, str]) -> Iterator[str]:
    """The stores ``kind`` may use ("env", "keyring", "file"), the one it uses first.

    ``auto``: the environment variable when it is set, the OS keychain when a
    real backend exists, the key file always (keys are created there when
    nothing else is usable, and one may be left from before a keychain came).
    Lazy: asking keyring is slow (its import, then its probing), and the first store is often enough.
    """
    if kind != "auto":
        yield kind
        return
    if env.get(ENV_VARIABLE):
        yield "env"
    if keyring_usable(env):
        yield "keyring"
    yield "file"


def load_key(kind: str, env: Mapping[str, str], log: Log, keychain_key: bytes | None = None) -> tuple[bytes, str]:
    """The cache key and a label of the store it came from; raises CacheError.
    ``keychain_key``: the OS keychain's key, read already in this run (the
    config's memo, memo.py), so that the keychain is asked once."""
    store = next(stores(kind, env))
    if store == "env":
        key = env_key(env)
    elif store == "keyring":
        key = keychain_key or keyring_key(locations.data_dir(env), log)
    else:
        key = file_key(locations.key_file(env), log)
    return key, LABELS[store]


def env_key(env: Mapping[str, str]) -> bytes:
    raw = env.get(ENV_VARIABLE, "")
    if not raw:
        raise CacheError(
            f'key_store is "env" but {ENV_VARIABLE} is not set',
            f"export {ENV_VARIABLE}=$(python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')",
        )
    key = storage.decode_key(raw)
    if key is None:
        raise CacheError(f"{ENV_VARIABLE} is not the base64 of 32 bytes", "generate one with: openssl rand -base64 32")
    return key


def keyring_usable(env: Mapping[str, str]) -> bool:
    """Whether a real keychain backend is available (not fail/null/plaintext).

    A plaintext backend (keyrings.alt) would keep the key in clear like the
    key file does, but somewhere less obvious; the key file is preferred.
    """
    if not keyring_possible(env):
        return False
    try:
        keyring = keyring_loader.load()
        from keyring.backends import fail, null
    except Exception:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:
        return False

    def usable(candidate: object) -> bool:
        return not isinstance(candidate, (fail.Keyring, null.Keyring)) and "Plaintext" not in type(candidate).__name__

    children = getattr(backend, "backends", None)
    if children is not None:  # the chainer: usable if any of its children is
        return any(usable(child) for child in children)
    return usable(backend)


def keyring_possible(env: Mapping[str, str]) -> bool:
    """False where asking keyring could only answer "no keychain" (asking costs
    its import, then probing every backend: benchmarks/RESULTS.md).

    On Linux and the BSDs the keychains (Secret Service, KWallet, libsecret)
    are reached over the D-Bus session bus. With no bus to be found (no
    ``DBUS_SESSION_BUS_ADDRESS``, no ``$XDG_RUNTIME_DIR/bus``, no display to
    autolaunch one) and no backend chosen by the user (``PYTHON_KEYRING_BACKEND``
    or a keyringrc.cfg), ``auto`` goes straight to the key file: headless
    servers, containers, CI. Third-party backends installed as plugins are not
    probed then; ``key_store = "keyring"`` always asks keyring.
    """
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return True
    if any(
        env.get(name) for name in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "PYTHON_KEYRING_BACKEND")
    ):
        return True
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.exists(os.path.join(runtime, "bus")):
        return True
    home = env.get("HOME") or os.path.expanduser("~")
    roots = (
        env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
        env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"),
    )
    return any(os.path.exists(os.path.join(root, "python_keyring", "keyringrc.cfg")) for root in roots)


def _stored_keyring_key() -> tuple[bytes | None, bool]:
    """The key in the keychain, and whether something unusable is stored instead."""
    return storage.keychain_key(keyring_loader.load())


def _keychain_failure(exc: Exception) -> str:
    """A keychain failure told by its type and the backend's name only: a
    keyring exception's text is whatever its backend (or a program it ran) said."""
    loaded = sys.modules.get("keyring")
    try:
        backend = loaded.get_keyring() if loaded is not None else None
        name = str(getattr(backend, "name", "")) if backend is not None else ""
    except Exception:  # no backend at all: the type says enough
        name = ""
    return f"{type(exc).__name__} from the {name} backend" if name else type(exc).__name__


def keyring_key(lock_dir: Path, log: Log) -> bytes:
    """The key from the OS keychain, created there on first use."""
    try:
        keyring = keyring_loader.load()
        key, _ = _stored_keyring_key()
        if key is not None:
            return key
        # Processes starting together on a new machine must agree on one key,
        # or they would not read each other's cache entries.
        trust.make_private("data", lock_dir, trust.DATA_VARIABLE)
        release = locking.acquire(lock_dir / "keyring.lock", locking.QUICK_LOCK_TIMEOUT)
        try:
            key, damaged = _stored_keyring_key()
            if key is None:
                if damaged:
                    log.warn(f"the cache key in the OS keychain ({SERVICE}/{USERNAME}) is damaged; replacing it")
                key = os.urandom(storage.KEY_BYTES)
                keyring.set_password(SERVICE, USERNAME, storage.encode_key(key))
        finally:
            release()
        return key
    except storage.UntrustedError as exc:
        raise trust.untrusted(exc, "data", trust.DATA_VARIABLE) from None
    except CacheError:
        raise  # the data directory's own error (trust.make_private), not the keychain's
    except Exception as exc:
        raise CacheError(
            f"the OS keychain could not be used ({_keychain_failure(exc)})",
            'unlock the keychain, or set [cache] key_store = "file" (or "env" with CREDPROC_CACHE_KEY)',
        ) from None


def file_key(path: Path, log: Log) -> bytes:
    """The key from a 0600 file, created (atomically, first writer wins) on first use.

    Read by storage.read_key_file, the fast path's reader, by the same rules:
    a regular file of the user's that nobody else may read or write. In a
    data directory that is not the user's alone, or when the key file is a
    symlink, another user's file or unreadable, this is a CacheError (the
    cache is not used: its key may be someone else's). The user's own key
    file that is damaged, or that others could read or write, is replaced by
    a new key with a warning: a key others may have read, or written, cannot
    be told from a compromised one, and a new key costs only a refetch of
    what was cached.
    """
    refused = trust.directory_error("data", path.parent, trust.DATA_VARIABLE)
    if refused is not None:
        raise refused
    key, why = storage.read_key_file(path)
    if key is not None:
        return key
    if why is not None:
        if not _own_replaceable(path, why):
            raise CacheError(
                f"the key file {path} {why}",
                f"remove {path} (credproc creates a new key), or set {trust.DATA_VARIABLE} to a directory of your own",
            )
        log.warn(f"the key file {path} {why}; replacing it with a new key (cached credentials will be fetched again)")
    trust.make_private("data", path.parent, trust.DATA_VARIABLE)
    try:
        # A damaged or exposed key is replaced; a missing one is created.
        if write_new_key(path, replace=why is not None) and why is None:
            log.notice(f"created the cache key file {path} (no OS keychain available)")
    except storage.UntrustedError as exc:
        raise trust.untrusted(exc, "data", trust.DATA_VARIABLE) from None
    except OSError as exc:
        raise CacheError(
            f"cannot create the key file {path} ({exc.strerror})", f"set {trust.DATA_VARIABLE} to a writable directory"
        ) from None
    key, why = storage.read_key_file(path)
    if key is None:
        raise CacheError(f"the key file {path} {why or 'is missing'}", f"delete {path}; credproc creates a new one")
    return key


def write_new_key(path: Path, *, replace: bool) -> bool:
    """Write a new random key to the key file ``path`` (0600, atomic); whether
    it was written. Without ``replace``, a key file another process made first
    stays: its key is the key (processes starting together agree on one)."""
    try:
        atomic.write_atomic(path, os.urandom(storage.KEY_BYTES), replace=replace)
    except FileExistsError:
        return False
    return True


def _own_replaceable(path: Path, why: str) -> bool:
    """Whether the key file that storage.read_key_file refused (``why``) is the
    user's own regular file, damaged or open to others: one to replace, not
    to refuse (a symlink, another user's file, one that cannot be read)."""
    if why != "is damaged" and not why.startswith("is open to other users"):
        return False
    try:
        status = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(status.st_mode) and (os.name != "posix" or status.st_uid == os.geteuid())


def delete_key(kind: str, env: Mapping[str, str]) -> None:
    """Forget the stored key (``cache clear --key``): in every store ``kind``
    may have used but the environment, which is not ours to change."""
    chosen = list(stores(kind, env))
    if "file" in chosen:
        refused = trust.directory_error("data", locations.data_dir(env), trust.DATA_VARIABLE)
        if refused is not None:
            raise refused
        try:
            locations.key_file(env).unlink()
        except FileNotFoundError:
            pass
    if "keyring" in chosen:
        keyring = keyring_loader.load()
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(SERVICE, USERNAME)
        except PasswordDeleteError:
            pass  # nothing stored: already forgotten
        except Exception as exc:
            raise CacheError(
                f"the OS keychain could not be used to delete the cache key ({_keychain_failure(exc)})",
                f"unlock the keychain and retry, or delete the {SERVICE} / {USERNAME} item by hand",
            ) from None
