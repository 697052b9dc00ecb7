"""Remembered answers: a repeated ``credproc get TARGET [options]`` printed
without loading the rest of credproc (argparse, pathlib, json, the config
parser, botocore: most of a warm hit's time).

After a rememberable ``get`` (:func:`request_digest` decides: the options
that only select what is asked for, in any order) handed out credentials
that are in the cache, its exact stdout is stored sealed by the cache (AES-GCM with the
cache key, 0600 file in ``<cache dir>/answers/``) under a digest of
everything the answer depends on: the exact command line; the
environment variables credproc and botocore's file lookup read (``AWS_*``,
``CREDPROC_*``, ``XDG_*``, ``HOME``, the user name variables, keyring and
D-Bus variables); the uid and host name (the ``{user}``/``{host}``
placeholders); the bytes of the config file (``--config``'s, else the
default one) and of the AWS config and credentials files.

The next run with the same digest prints that answer only if it decrypts and
authenticates (another key or tampering: ignored), the final hop's cache
entry still holds the same bytes (``cache clear``, ``--refresh`` or a
rewritten entry invalidate it), and the credentials are still fresh by the
cache's own rule (freshness.still_fresh). In every other case, and on any
error, the full path runs as if this did not exist; so it does when the
cache directory, its answers directory or the key file's data directory is
not the user's alone (storage.distrust: an lstat each), and the full path
then says why, once (trust.py). With the keyring key
store the key is read from the keychain on every call, as on the full path,
from the backend keyring picks: only keyring's import is paid, not credproc's,
and of it only what a keychain call needs (keychain.py says what is put off,
and why nothing about the key or the backend is remembered instead).

What this shares with the full path (locations, key stores, private reads,
the atomic write) comes from storage.py; the rule of freshness from
freshness.py; the sealed layout from aead.py. All three load nothing heavy.
"""

from __future__ import annotations

import os
import sys

from . import freshness, storage

TYPE_CHECKING = False  # not typing's: importing typing costs ~2 ms on the fast path
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .obtain import AnswerTicket

FORMAT = 3
MAGIC = b"CPA3"  # sealed with the key file's or CREDPROC_CACHE_KEY's key
MAGIC_KEYRING = b"CPK3"  # sealed with the key kept in the OS keychain
DIRECTORY = "answers"
SUFFIX = ".answer"
MAX_AGE = 13 * 3600  # longer than any session: older answers are deleted when one is written
# `get`'s options that only select what is asked for (``--refresh``, ``--no-cache``
# and ``--verbose`` ask for the full path's work, and take it).
PURE_OPTIONS = (
    "--role",
    "--via",
    "--region",
    "--duration",
    "--session-name",
    "--external-id",
    "--config",
    "--format",
)
_ENV_PREFIXES = ("AWS_", "CREDPROC_", "XDG_", "PYTHON_KEYRING", "DBUS_")
_ENV_NAMES = ("HOME", "USER", "LOGNAME", "LNAME", "USERNAME", "USERPROFILE", "DISPLAY", "WAYLAND_DISPLAY")


def _pure_options(argv: Sequence[str]) -> dict[str, str] | None:
    """The options of a ``get`` whose output is a pure function of its inputs
    (each option's last value, as argparse keeps it); None for anything else.

    ``get TARGET`` with any of :data:`PURE_OPTIONS` (``--name value`` or
    ``--name=value``), in any order. Anything else (``--refresh``,
    ``--no-cache``, ``--verbose``, an abbreviation, a value that looks like an
    option) takes the full path. The exact command line is part of the digest,
    so a remembered answer is only ever printed for the very words the full
    path answered.
    """
    if argv[:1] != ["get"]:
        return None
    target, options = None, {}
    words = iter(argv[1:])
    for word in words:
        if not word.startswith("-"):
            if target is not None:
                return None  # a second TARGET: argparse's error to explain
            target = word
            continue
        name, equals, value = word.partition("=")
        if name not in PURE_OPTIONS:
            return None
        if not equals:
            value = next(words, "-")
            if value.startswith("-"):
                return None
        options[name] = value
    return options if target is not None else None


def request_digest(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The digest of a rememberable request and all it depends on; None for
    anything else: the one place that decides, for the fast path and
    commands/get.py alike."""
    options = _pure_options(argv)
    if options is None:
        return None
    # --config's file, relative to the working directory as config.load opens it
    config = os.path.abspath(options["--config"]) if "--config" in options else storage.config_location(env)
    if config is None or storage.cache_location(env) is None:
        return None  # no absolute HOME (no LOCALAPPDATA on Windows): only platformdirs knows the paths
    aws_config, aws_credentials = storage.aws_files(env)
    variables = sorted(
        (name, value) for name, value in env.items() if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES
    )
    uid = os.getuid() if hasattr(os, "getuid") else None
    host = os.uname().nodename if hasattr(os, "uname") else None
    # repr, not json: the same text for the same values, without loading json and re (~5 ms).
    digest = storage.hasher(repr([FORMAT, list(argv), variables, uid, host]).encode(errors="surrogateescape"))
    for path in (config, aws_config, aws_credentials):
        digest.update(path.encode(errors="surrogateescape") + b"\0" + storage.digest_part(path))
    return digest.hexdigest()


def digest_or_none(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """:func:`request_digest`, or None on any error (the full path then explains it)."""
    try:
        return request_digest(argv, env)
    except Exception:
        return None


def answer_for(digest: str, env: Mapping[str, str], now: float) -> str | None:
    """The remembered stdout for the request ``digest``, or None.

    What decides whether the answer still holds (its freshness, the entry's
    bytes) is read from the blob's clear header before anything is decrypted:
    a stale answer costs no key and no AES-GCM binding (a cold fan-out after
    expiry: 50 processes). The header is authenticated with the output.
    """
    try:
        if not _trusted(env):
            return None  # the full path says why (obtain.open_cache), once
        blob = storage.read_private(_location(env, digest))
        if blob is None or not blob.startswith((MAGIC, MAGIC_KEYRING)):
            return None
        header, sealed = _split(blob)
        valid_until, entry_path, entry_digest, source_files = _parse_header(header)
        if not freshness.still_fresh(valid_until, now):
            return None
        entry = storage.read_private(entry_path)
        if entry is None or storage.digest(entry) != entry_digest:
            return None
        for path, part_digest in source_files:  # a token the source's identity depends on (providers.py)
            if storage.digest(storage.digest_part(path)) != part_digest:
                return None
        keys = _keyring_keys() if blob.startswith(MAGIC_KEYRING) else _keys(env)
        plain = _unseal(sealed, _aad(digest, header), keys)
        return None if plain is None else plain.decode()
    except Exception:  # anything unexpected: the full path decides
        return None


def remember(digest: str, ticket: AnswerTicket, output: str, env: Mapping[str, str]) -> None:
    """Store ``output`` as the answer to the request ``digest`` (best effort, atomic, 0600)."""
    import time

    entry_bytes = storage.read_private(ticket.entry)
    if entry_bytes is None:
        return
    header = _header(ticket.valid_until, ticket.entry, storage.digest(entry_bytes), ticket.source_files)
    magic = MAGIC_KEYRING if ticket.cache.key_store == "keyring" else MAGIC
    sealed = ticket.cache.seal(output.encode(), _aad(digest, header))
    blob = magic + len(header).to_bytes(_LENGTH_BYTES, "big") + header + sealed
    target = _location(env, digest)
    directory = os.path.dirname(target)
    try:
        storage.make_private_dirs(directory)
        storage.write_atomic(target, blob)
        horizon = time.time() - MAX_AGE
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.stat(path).st_mtime < horizon:
                os.unlink(path)
    except OSError:
        pass


def forget_all(env: Mapping[str, str]) -> None:
    """Delete every remembered answer (``cache clear``: no credentials left behind, even encrypted)."""
    location = storage.cache_location(env)
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
    return os.path.join(storage.cache_location(env) or "", DIRECTORY, digest[:40] + SUFFIX)


def _trusted(env: Mapping[str, str]) -> bool:
    """Whether the cache directory and its answers directory are the user's
    alone (storage.distrust: an lstat each), as the full path requires of them."""
    location = storage.cache_location(env)
    return (
        location is not None
        and storage.distrust(location) is None
        and storage.distrust(os.path.join(location, DIRECTORY)) is None
    )


def _keys(env: Mapping[str, str]) -> list[bytes]:
    """The keys the environment and file key stores hold (never created here).
    The key file by keystore.file_key's rules: storage.read_key_file, in a
    data directory that is the user's alone."""
    keys = [storage.decode_key(env.get(storage.KEY_VARIABLE))]
    key_file = storage.key_file_location(env)
    if key_file is not None and storage.distrust(os.path.dirname(key_file)) is None:
        keys.append(storage.read_key_file(key_file)[0])
    return [key for key in keys if key is not None and len(key) == storage.KEY_BYTES]


def _keyring_keys() -> list[bytes]:
    """The key kept in the OS keychain, decoded as keystore decodes it (never created here)."""
    try:
        from .keychain import load  # keyring, by its own rules for which backend (see keychain.py)

        key = storage.decode_key(load().get_password(storage.KEYRING_SERVICE, storage.KEYRING_USERNAME))
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


# A remembered answer's file: the magic, the header's length (4 bytes, big
# endian), the header in the clear (fields joined by NUL, which no path holds:
# valid until, the entry's path, the entry's digest, then a path and a digest
# for each file the source's fingerprint read), then the output sealed with
# the request digest and the header as associated data.
_LENGTH_BYTES = 4


def _header(valid_until: float | None, entry: str, entry_digest: str, files: Sequence[tuple[str, str]] = ()) -> bytes:
    until = "-" if valid_until is None else repr(valid_until)
    fields = [until, entry, entry_digest, *(field for pair in files for field in pair)]
    return "\0".join(fields).encode(errors="surrogateescape")


def _split(blob: bytes) -> tuple[bytes, bytes]:
    """A remembered answer's header and sealed output."""
    start = len(MAGIC) + _LENGTH_BYTES
    end = start + int.from_bytes(blob[len(MAGIC) : start], "big")
    return blob[start:end], blob[end:]


def _parse_header(header: bytes) -> tuple[float | None, str, str, list[tuple[str, str]]]:
    """:func:`_header`'s fields back: valid until, the entry's path and digest, the source's files."""
    until, entry, entry_digest, *files = header.decode(errors="surrogateescape").split("\0")
    pairs = list(zip(files[::2], files[1::2], strict=True))
    return (None if until == "-" else float(until)), entry, entry_digest, pairs


def _aad(digest: str, header: bytes) -> bytes:
    return b"credproc-answer-v2:" + digest.encode() + b"\0" + header


def print_remembered(digest: str) -> str | None:
    """Console-script fast path: print the remembered answer to ``digest``, if
    there is one; it is returned (None: nothing was printed)."""
    import time

    output = answer_for(digest, os.environ, time.time())
    if output is not None:
        print_output(output)
    return output


def print_output(output: str) -> None:
    """Write an answer to stdout (a reader that went away is not an error)."""
    try:
        sys.stdout.write(output)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
