"""Remembered answers: a repeated ``credproc get TARGET`` printed without
loading the rest of credproc (argparse, dataclasses, pathlib, the config
parser: ~40 ms of a ~60 ms warm hit).

After ``credproc get TARGET`` (no options) handed out credentials that are in
the cache, its exact stdout is stored encrypted with the cache key (AES-GCM, 0600 file
in ``<cache dir>/answers/``) under a digest of everything the answer depends
on: the command line; the environment variables credproc and botocore's
file lookup read (``AWS_*``, ``CREDPROC_*``, ``XDG_*``, ``HOME``, the user
name variables, keyring and D-Bus variables); the uid and host name (the
``{user}``/``{host}`` placeholders); the bytes of the config file and of the
AWS config and credentials files.

The next run with the same digest prints that answer only if it decrypts and
authenticates (another key or tampering: ignored), the final hop's cache
entry still holds the same bytes (``cache clear``, ``--refresh`` or a
rewritten entry invalidate it), and the credentials are fresh by the cache's
own rule (expiry minus the refresh margin, computed by the full path). In
every other case, and on any error, the full path runs as if this did not
exist. With the keyring key store the key is read from the keychain on every
call, as on the full path (only keyring's import is paid, not credproc's).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence

from . import paths

# keystore's names (importing it would load pathlib; tests check they agree)
ENV_VARIABLE = "CREDPROC_CACHE_KEY"
KEY_FILE = "cache.key"
KEY_BYTES = 32

SERVICE = "credproc"
USERNAME = "cache-key"

FORMAT = 1
MAGIC = b"CPA1"  # sealed with the key file's or CREDPROC_CACHE_KEY's key
MAGIC_KEYRING = b"CPK1"  # sealed with the key kept in the OS keychain
NONCE_BYTES = 12
DIRECTORY = "answers"
MAX_AGE = 13 * 3600  # longer than any session: older answers are deleted when one is written
_ENV_PREFIXES = ("AWS_", "CREDPROC_", "XDG_", "PYTHON_KEYRING", "DBUS_")
_ENV_NAMES = ("HOME", "USER", "LOGNAME", "LNAME", "USERNAME", "DISPLAY", "WAYLAND_DISPLAY")


def request_digest(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The digest of a ``get TARGET`` request and all it depends on; None for anything else."""
    if len(argv) != 2 or argv[0] != "get" or argv[1].startswith("-"):
        return None
    config = paths.config_location(env)
    if config is None or paths.cache_location(env) is None:
        return None  # off Linux without overrides: only platformdirs knows the paths
    home = env.get("HOME") or os.path.expanduser("~")
    aws_config = os.path.expanduser(env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"))
    aws_credentials = os.path.expanduser(
        env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
    )
    variables = sorted(
        (name, value) for name, value in env.items() if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES
    )
    uid = os.getuid() if hasattr(os, "getuid") else None
    host = os.uname().nodename if hasattr(os, "uname") else None
    digest = hashlib.sha256(json.dumps([FORMAT, list(argv), variables, uid, host]).encode())
    for path in (config, aws_config, aws_credentials):
        digest.update(path.encode() + b"\0" + _contents(path))
    return digest.hexdigest()


def answer(argv: Sequence[str], env: Mapping[str, str], now: float) -> str | None:
    """The remembered stdout for this request, or None (then run the full path)."""
    try:
        digest = request_digest(argv, env)
        if digest is None:
            return None
        blob = _read_private(_location(env, digest))
        if blob is None or not blob.startswith((MAGIC, MAGIC_KEYRING)):
            return None
        record = _decrypt(blob, digest, _keyring_keys() if blob.startswith(MAGIC_KEYRING) else _keys(env))
        if record is None:
            return None
        valid_until = record["valid_until"]
        if valid_until is not None and not now < float(valid_until):  # type: ignore[arg-type]
            return None
        entry = _read_private(str(record["entry"]))
        if entry is None or hashlib.sha256(entry).hexdigest() != record["entry_sha256"]:
            return None
        output = record["output"]
        return output if isinstance(output, str) else None
    except Exception:  # anything unexpected: the full path decides
        return None


def remember(
    digest: str,
    key: bytes,
    entry: str,
    valid_until: float | None,
    output: str,
    env: Mapping[str, str],
    from_keyring: bool = False,
) -> None:
    """Store ``output`` as the answer to the request ``digest`` (best effort, atomic, 0600)."""
    import secrets
    import tempfile
    import time

    from .aead import aesgcm_class

    entry_bytes = _read_private(entry)
    if entry_bytes is None:
        return
    record = {
        "output": output,
        "valid_until": valid_until,
        "entry": entry,
        "entry_sha256": hashlib.sha256(entry_bytes).hexdigest(),
    }
    nonce = secrets.token_bytes(NONCE_BYTES)
    blob = (
        (MAGIC_KEYRING if from_keyring else MAGIC)
        + nonce
        + aesgcm_class()(key).encrypt(nonce, json.dumps(record).encode(), _aad(digest))
    )
    target = _location(env, digest)
    directory = os.path.dirname(target)
    try:
        os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(temp, target)
        except BaseException:
            os.unlink(temp)
            raise
        horizon = time.time() - MAX_AGE
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.stat(path).st_mtime < horizon:
                os.unlink(path)
    except OSError:
        pass


def forget_all(env: Mapping[str, str]) -> None:
    """Delete every remembered answer (``cache clear``: no credentials left behind, even encrypted)."""
    location = paths.cache_location(env)
    if location is None:
        return
    directory = os.path.join(location, DIRECTORY)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def _location(env: Mapping[str, str], digest: str) -> str:
    return os.path.join(paths.cache_location(env) or "", DIRECTORY, digest[:40] + ".answer")


def _contents(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return b"-"
    return b"+%d\0" % len(data) + data


def _read_private(path: str) -> bytes | None:
    """The file's bytes if it is ours and nobody else may read or write it."""
    try:
        with open(path, "rb") as handle:
            if os.name == "posix":
                status = os.fstat(handle.fileno())
                if status.st_uid != os.geteuid() or status.st_mode & 0o077:
                    return None
            return handle.read()
    except OSError:
        return None


def _keys(env: Mapping[str, str]) -> list[bytes]:
    """The keys the file and env key stores would give (without creating one)."""
    import binascii

    keys = []
    raw = env.get(ENV_VARIABLE, "")
    if raw:
        try:
            keys.append(binascii.a2b_base64(raw, strict_mode=True))
        except (binascii.Error, ValueError):
            pass
    data = paths.data_location(env)
    if data is not None:
        try:
            with open(os.path.join(data, KEY_FILE), "rb") as handle:
                keys.append(handle.read())
        except OSError:
            pass
    return [key for key in keys if len(key) == KEY_BYTES]


def _keyring_keys() -> list[bytes]:
    """The key kept in the OS keychain, read as keystore reads it (never created here)."""
    try:
        import base64

        import keyring

        stored = keyring.get_password(SERVICE, USERNAME)
        key = base64.b64decode(stored) if stored else b""
    except Exception:  # no backend, locked, garbled: the full path explains
        return []
    return [key] if len(key) == KEY_BYTES else []


def _decrypt(blob: bytes, digest: str, keys: list[bytes]) -> dict[str, object] | None:
    if not keys:
        return None
    from .aead import aesgcm_class

    aesgcm = aesgcm_class()
    nonce, sealed = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES], blob[len(MAGIC) + NONCE_BYTES :]
    for key in keys:
        try:
            record = json.loads(aesgcm(key).decrypt(nonce, sealed, _aad(digest)))
        except Exception:  # noqa: S112 (InvalidTag: another key, or tampered; try the next)
            continue
        return record if isinstance(record, dict) else None
    return None


def _aad(digest: str) -> bytes:
    return b"credproc-answer-v1:" + digest.encode()


def print_remembered() -> bool:
    """Console-script fast path: print the remembered answer if there is one."""
    import time

    output = answer(sys.argv[1:], os.environ, time.time())
    if output is None:
        return False
    try:
        sys.stdout.write(output)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return True
