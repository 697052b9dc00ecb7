"""The memo store: what credproc remembers between runs to skip work, in one
format, one directory and under one request digest.

Kinds: ``answer`` (a rememberable ``get``'s stdout, remembered.py),
``source`` (the source identity decided from the AWS files, source.py),
``endpoint`` (the STS URL botocore resolved, sts_url.py) and ``config`` (the
parsed config file, config.py).

**The request digest** (:func:`inputs`) holds everything a run reads from
its surroundings, by one fail-safe rule: an input is in unless this module
says why not (:data:`ENV_PREFIXES`). It is computed once per run, before
anything else is read, and handed down; the config is parsed from the very
bytes it hashed (:class:`Inputs`). A memo is named by its kind, the digest
and what is specific to the kind (:func:`name`).

**A memo file** (``<cache dir>/memos/<kind>-<name>.memo``, 0600, written
atomically, read only when private and ours): a magic naming the key store
that sealed it, a header in the clear (what an answer's validity needs
before any key is read), then the body sealed with the cache key (aead.py),
with the kind, the name and the header as associated data. Anything that
does not authenticate is a miss. Memos older than :data:`MAX_AGE` go on
every write; ``cache clear`` removes them all (:func:`forget_all`).

An answer is a sealed copy rather than rendered from the cache entry it
repeats: rendering needs json on the fast path (benchmarks/RESULTS.md). Its
header binds it to the entry's bytes instead.

Standard library only, cheap to import: the fast path reads answers through
it (tests/test_warm_imports.py).
"""

from __future__ import annotations

import os
import sys

from . import __version__, locations, storage

TYPE_CHECKING = False  # not typing's: the fast path does without it (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# In every request digest and memo name, with credproc's release: a memo is only
# ever read by the code that wrote it. Bump it when what a memo means changes
# between commits of one release (2: 12-digit aliases refused, get's grammar
# declared once, stored source keys), so no memo of the old rule is believed.
FORMAT = 2
DIRECTORY = "memos"
SUFFIX = ".memo"
KINDS = ("answer", "source", "endpoint", "config")
MAGIC = b"CPM1"  # sealed with the key file's or CREDPROC_CACHE_KEY's key
MAGIC_KEYRING = b"CPMK"  # sealed with the key kept in the OS keychain
MAX_AGE = 13 * 3600  # longer than any session (12 h): an older memo can hold nothing still valid
# Where earlier versions kept each kind: cache clear removes them too.
OLD_DIRECTORIES = ("answers", "sources", "endpoints", "config-snapshots")
_LENGTH_BYTES = 4

# The variables in the request digest: every one credproc, botocore (AWS_*),
# the XDG locations, keyring and D-Bus may read, by prefix, so that a new one
# is in without a change here; plus the few unprefixed ones they read. Keys
# included: new keys are a new identity. Left out: the rest of the environment
# (PATH, LANG, TERM...: nothing reads it to choose an identity, a URL or a
# file) and the working directory (a relative --config is made absolute).
ENV_PREFIXES = ("AWS_", "CREDPROC_", "XDG_", "PYTHON_KEYRING", "DBUS_")
ENV_NAMES = (
    "HOME",
    *locations.USER_VARIABLES,
    "USERPROFILE",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "BOTO_CONFIG",  # botocore's BotoProvider (providers.py)
)
# Paths botocore expands $VARIABLES in: their expanded values, as the variables they name are not in.
EXPANDED = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_LOGIN_CACHE_DIRECTORY")


class Inputs:
    """A run's request digest, and the config bytes it hashed (parsed from
    these, not read again). ``changed``: an input was found to differ from
    what the digest holds during the run; nothing is remembered under it then."""

    __slots__ = ("changed", "config_bytes", "config_path", "digest")

    def __init__(self, digest: str, config_path: str, config_bytes: bytes | None) -> None:
        self.digest = digest
        self.config_path = config_path
        self.config_bytes = config_bytes
        self.changed = False


def config_path(env: Mapping[str, str], given: str | os.PathLike[str] | None) -> str | None:
    """The config file in effect as an absolute path: ``given`` (``--config``),
    else the default one; None where only platformdirs knows it."""
    path = os.fspath(given) if given else locations.config_location(env)
    return os.path.abspath(path) if path else None


def inputs_for(env: Mapping[str, str], given: str | os.PathLike[str] | None) -> Inputs:
    """The request digest of a run with ``--config`` ``given`` (None: the
    default file), asking platformdirs where only it knows the default (the
    full path's, not the fast path's: see :func:`config_path`)."""
    path = config_path(env, given) or os.path.abspath(locations.config_file(env))
    return inputs(env, path)


def inputs(env: Mapping[str, str], config: str) -> Inputs:
    """The request digest of a run whose config file is ``config`` (absolute), with ``env``."""
    config_bytes = storage.read_file(config)
    variables = sorted((key, value) for key, value in env.items() if key.startswith(ENV_PREFIXES) or key in ENV_NAMES)
    variables += [(name, locations.aws_path(env[name], "")) for name in EXPANDED if "$" in env.get(name, "")]
    # The uid and host: the {user} and {host} of session names, and whose files these are.
    uid = os.getuid() if hasattr(os, "getuid") else None
    host = locations.host_name()
    # repr, not json: the same text for the same values, without loading json and re.
    release = (FORMAT, __version__, _botocore_release())
    digest = storage.hasher(repr([release, variables, uid, host]).encode(errors="surrogateescape"))
    digest.update(config.encode(errors="surrogateescape") + b"\0")
    storage.add_contents(digest, config_bytes)  # in place: a large config is not copied
    for path in locations.aws_files(env):
        digest.update(path.encode(errors="surrogateescape") + b"\0")
        storage.add_contents(digest, storage.read_file(path))
    return Inputs(digest.hexdigest(), config, config_bytes)


def _botocore_release() -> list[object] | None:
    """The installed botocore, found as the import system would find it, not
    imported: the first ``botocore/__init__.py`` on ``sys.path``, its path,
    size and mtime (an upgrade rewrites it). A stat per ``sys.path`` entry,
    where importlib.util.find_spec builds the path finders' caches first
    (several times the cost, on the fast path). A botocore that only a custom
    import hook provides is not seen (None: all such runs share one value)."""
    for entry in sys.path:
        candidate = os.path.join(entry or os.curdir, "botocore", "__init__.py")
        try:
            status = os.stat(candidate)
        except OSError:
            continue
        return [os.path.abspath(candidate), status.st_size, status.st_mtime_ns]
    return None


def name(kind: str, digest: str, *specific: object) -> str:
    """The name of the ``kind`` memo for the request ``digest`` and what is specific to it."""
    return storage.digest(repr([FORMAT, kind, digest, list(specific)]).encode(errors="surrogateescape"))


def location(directory: str, kind: str, key: str) -> str:
    """The file of the ``kind`` memo named ``key`` in the cache ``directory``."""
    return os.path.join(directory, DIRECTORY, f"{kind}-{key[:40]}{SUFFIX}")


def read(
    directory: str,
    kind: str,
    key: str,
    env: Mapping[str, str],
    *,
    accept: Callable[[bytes], bool] | None = None,
    unseal: Callable[[bytes, bytes], bytes | None] | None = None,
    keychain: list[bytes] | None = None,
) -> tuple[bytes, bytes] | None:
    """The header and body of a memo, or None (missing, not ours, not authentic).

    ``accept`` sees the clear header first: False dismisses the memo without
    reading any key. ``unseal`` (a Cache's): the key is already at hand;
    without it the key comes from the store the memo's magic names, and
    ``keychain`` receives the OS keychain's key when it opened the memo (so
    that the caller need not ask the keychain again).
    """
    if not trusted(directory):
        return None  # the full path says why (obtain.open_cache), once
    blob = storage.read_private(location(directory, kind, key))
    if blob is None or not blob.startswith((MAGIC, MAGIC_KEYRING)):
        return None
    start = len(MAGIC) + _LENGTH_BYTES
    end = start + int.from_bytes(blob[len(MAGIC) : start], "big")
    header, sealed = blob[start:end], blob[end:]
    if len(header) != end - start or (accept is not None and not accept(header)):
        return None
    associated = _aad(kind, key, header)
    if unseal is not None:
        plain = unseal(sealed, associated)
    else:
        keys = keyring_keys() if blob.startswith(MAGIC_KEYRING) else stored_keys(env)
        plain = _unseal(sealed, associated, keys)
        if plain is not None and keychain is not None and blob.startswith(MAGIC_KEYRING):
            keychain[:] = keys
    return None if plain is None else (header, plain)


def write(
    directory: str,
    kind: str,
    key: str,
    body: bytes,
    seal: Callable[[bytes, bytes], bytes],
    *,
    keyring: bool,
    header: bytes = b"",
) -> None:
    """Store a memo (best effort, atomic, 0600) sealed by ``seal`` (a Cache's;
    ``keyring``: its key is the keychain's), then delete the memos older than :data:`MAX_AGE`."""
    import time

    from . import atomic  # writes are the full path's: a warm hit does not load it

    blob = (MAGIC_KEYRING if keyring else MAGIC) + len(header).to_bytes(_LENGTH_BYTES, "big") + header
    blob += seal(body, _aad(kind, key, header))
    target = location(directory, kind, key)
    memos = os.path.dirname(target)
    try:
        storage.make_private_dirs(memos)
        atomic.write_atomic(target, blob)
    except OSError:
        return
    horizon = time.time() - MAX_AGE
    for entry in _listing(memos):
        try:
            if entry.stat(follow_symlinks=False).st_mtime < horizon:
                os.unlink(entry.path)
        except OSError:
            pass  # gone meanwhile, or a directory someone made: not ours to remove


def forget_all(directory: str) -> int:
    """Delete every memo (``cache clear``), and whatever earlier versions kept
    in their own directories; returns how many files went. Lock files live
    elsewhere and are never touched."""
    removed = 0
    for folder in (DIRECTORY, *OLD_DIRECTORIES):
        path = os.path.join(directory, folder)
        for entry in _listing(path):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
        if folder != DIRECTORY:
            try:
                os.rmdir(path)
            except OSError:
                pass
    return removed


def _listing(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except OSError:
        return []


def _aad(kind: str, key: str, header: bytes) -> bytes:
    return f"credproc-memo-v{FORMAT}:{kind}:{key}".encode() + b"\0" + header


def trusted(directory: str) -> bool:
    """Whether the cache ``directory`` and its memo directory are the user's
    alone (storage.distrust: an lstat each), as the full path requires of them."""
    return storage.distrust(directory) is None and storage.distrust(os.path.join(directory, DIRECTORY)) is None


def stored_keys(env: Mapping[str, str]) -> list[bytes]:
    """The keys the environment and file key stores hold (never created here).
    The key file by keystore.file_key's rules: storage.read_key_file, in a
    data directory that is the user's alone."""
    keys = [storage.decode_key(env.get(storage.KEY_VARIABLE))]
    key_file = locations.key_file_location(env)
    if key_file is not None and storage.distrust(os.path.dirname(key_file)) is None:
        keys.append(storage.read_key_file(key_file)[0])
    return [key for key in keys if key is not None and len(key) == storage.KEY_BYTES]


def keyring_keys() -> list[bytes]:
    """The key kept in the OS keychain, read as keystore reads it (never created here)."""
    try:
        from .keyring_loader import load  # keyring, by its own rules for which backend (see keyring_loader.py)

        key, _ = storage.keychain_key(load())
    except Exception:  # no backend, locked: the full path explains
        return []
    return [key] if key is not None else []


def _unseal(sealed: bytes, associated: bytes, keys: list[bytes]) -> bytes | None:
    if not keys:
        return None
    from . import aead

    aesgcm = aead.aesgcm_class()
    for key in keys:
        try:
            return aead.unseal(aesgcm(key), sealed, associated)
        except Exception:  # noqa: S112 (InvalidTag: another key, or tampered; try the next)
            continue
    return None
