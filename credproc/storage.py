"""What the fast path (answers.py) and the full path share about credproc's
files: where they live, where the cache key is kept and how a stored key is
decoded, reading a file only if it is private and ours, and the one atomic
write.

Standard library only, and nothing loaded at import time but os, sys and
CPython's BLAKE2b module (:func:`hasher`): the remembered-answer path imports
this module and must stay free of pathlib, typing, json and hashlib
(tests/test_warm_imports.py).

Locations: environment variables override; else credproc's user directories
by platformdirs' rules for Linux (and the other Unixes), macOS and Windows,
computed here as plain strings (:func:`user_dir`) for the fast path and the
full path alike: importing platformdirs would cost a warm hit more than the
rest of its lookups. platformdirs itself answers only where those rules need
what the environment does not give (no absolute HOME, no LOCALAPPDATA); the
``*_location`` functions then answer None and the fast path steps aside.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~2 ms on the fast path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from hashlib import blake2b as Hash
    from pathlib import Path
    from typing import Literal

    Kind = Literal["config", "cache", "data"]  # credproc's user directories

APP = "credproc"
CONFIG_FILE = "config.toml"

# Where the cache key is kept (keystore.py creates and checks keys; answers.py only reads them).
KEY_VARIABLE = "CREDPROC_CACHE_KEY"  # base64 of the key, for the "env" store
KEY_FILE = "cache.key"  # the raw key, in the data dir, for the "file" store
KEYRING_SERVICE = "credproc"  # the OS keychain item (base64 of the key), for the "keyring" store
KEYRING_USERNAME = "cache-key"
KEY_BYTES = 32

# How long a process waits for another that is fetching the same credentials
# (cache.py's lock, inflight.py's claim): seconds, unless the variable says.
LOCK_TIMEOUT = 120.0
LOCK_TIMEOUT_VARIABLE = "CREDPROC_LOCK_TIMEOUT"

PLATFORM = sys.platform  # whose rules user_dir follows (tests try other platforms' here)
TEMP_SUFFIX = ".tmp"  # write_atomic's temp files: ".<name>.<random>.tmp" beside the file
WINDOWS = os.name == "nt"
# Windows: os.replace fails while another process has the target open (no
# FILE_SHARE_DELETE); readers hold entries for a moment only.
_SHARING_ERRORS = (5, 32)  # ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION
_REPLACE_ATTEMPTS = 8  # waits of 10, 20, ... 640 ms: about 1.3 s in all
try:
    from _blake2 import blake2b as _blake2b  # see hasher
except ImportError:
    from hashlib import blake2b as _blake2b


# -- locations ---------------------------------------------------------------------------------

# platformdirs' rules for credproc's directories (appname "credproc",
# appauthor=False, no version, not roaming; tests/test_locations.py checks
# them against platformdirs' own classes for linux, darwin and win32).
# Unix and macOS: an absolute $XDG_* wins (platformdirs honours XDG on macOS too), else under HOME.
_UNIX_DIRS = {
    "config": ("XDG_CONFIG_HOME", ".config"),
    "cache": ("XDG_CACHE_HOME", ".cache"),
    "data": ("XDG_DATA_HOME", ".local/share"),
}
_MACOS_DIRS = {
    "config": ("XDG_CONFIG_HOME", "Library/Application Support"),
    "cache": ("XDG_CACHE_HOME", "Library/Caches"),
    "data": ("XDG_DATA_HOME", "Library/Application Support"),
}
# Windows: under the Local AppData folder, the cache in an opinionated "Cache" below it.
_WINDOWS_DIRS = {"config": (APP,), "cache": (APP, "Cache"), "data": (APP,)}
# Where platformdirs has rules of its own (iOS, Android apps): it decides.
_OTHER_RULES = ("ios", "android")


def user_dir(kind: Kind, env: Mapping[str, str], platform: str | None = None) -> str | None:
    """credproc's user ``kind`` directory ("config", "cache" or "data") on
    ``platform`` (default: :data:`PLATFORM`) by platformdirs' rules, as a plain
    string with that platform's separators; None where the rule needs what
    ``env`` does not give (no absolute HOME, no LOCALAPPDATA): platformdirs
    decides then."""
    platform = PLATFORM if platform is None else platform
    if platform == "win32":
        return _windows_dir(env, _WINDOWS_DIRS[kind])
    if platform.startswith(_OTHER_RULES) or _android_app(env):
        return None
    variable, under_home = (_MACOS_DIRS if platform == "darwin" else _UNIX_DIRS)[kind]
    return _xdg_dir(env, variable, under_home)


def _xdg_dir(env: Mapping[str, str], variable: str, under_home: str) -> str | None:
    """``$VARIABLE/credproc`` (an absolute value only, as the XDG spec says),
    else ``$HOME/<under_home>/credproc``, HOME as os.path.expanduser uses it
    (trailing slashes dropped); None without an absolute HOME (platformdirs
    then asks the password database)."""
    import posixpath  # os.path itself on Linux and macOS: already loaded

    value = env.get(variable, "")
    if posixpath.isabs(value):
        return posixpath.join(value, APP)
    home = env.get("HOME", "")
    if posixpath.isabs(home):
        return posixpath.join(home.rstrip("/") + "/" + under_home, APP)
    return None


def _windows_dir(env: Mapping[str, str], parts: tuple[str, ...]) -> str | None:
    """``%LOCALAPPDATA%\\<parts>``: Windows sets the variable to the Local
    AppData known folder, which platformdirs asks the shell for. None unless it
    is a full path on a drive, or when platformdirs' own override of the folder
    is set."""
    import ntpath  # os.path itself on Windows: already loaded

    if env.get("WIN_PD_OVERRIDE_LOCAL_APPDATA", "").strip():
        return None
    base = ntpath.normpath(env.get("LOCALAPPDATA", ""))
    drive, rest = ntpath.splitdrive(base)
    if len(drive) != 2 or not rest.startswith("\\"):
        return None  # unset, relative, or a UNC path
    return ntpath.join(base, *parts)


def _android_app(env: Mapping[str, str]) -> bool:
    """Whether platformdirs might take this for an Android app (its own rules then)."""
    if not hasattr(sys, "getandroidapilevel") and (
        env.get("ANDROID_DATA") != "/data" or env.get("ANDROID_ROOT") != "/system"
    ):
        return False
    return not (env.get("SHELL") or env.get("PREFIX"))


def config_dir(env: Mapping[str, str]) -> Path:
    """The directory holding config.toml."""
    return _platform_dir("config", user_dir("config", env))


def config_file(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CONFIG``, else config.toml in the user config dir."""
    from pathlib import Path

    location = config_location(env)
    return Path(location) if location is not None else config_dir(env) / CONFIG_FILE


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_CACHE_DIR``, else the platform's user cache dir."""
    return _platform_dir("cache", cache_location(env))


def data_dir(env: Mapping[str, str]) -> Path:
    """``$CREDPROC_DATA_DIR``, else the platform's user data dir (the key file
    lives here, deliberately not next to the cache it unlocks)."""
    return _platform_dir("data", data_location(env))


def _platform_dir(kind: Kind, location: str | None) -> Path:
    """``location``, else platformdirs' answer for ``kind`` (where :func:`user_dir` cannot tell)."""
    from pathlib import Path

    if location is not None:
        return Path(location)
    import platformdirs  # imported here: only needed where user_dir cannot tell

    rule = {"config": platformdirs.user_config_dir, "cache": platformdirs.user_cache_dir}.get(kind)
    return Path((rule or platformdirs.user_data_dir)(APP, appauthor=False))


def config_location(env: Mapping[str, str]) -> str | None:
    """The config file's path as :func:`config_file` gives it; None where platformdirs decides."""
    if env.get("CREDPROC_CONFIG"):
        return os.path.expanduser(env["CREDPROC_CONFIG"])
    directory = user_dir("config", env)
    return os.path.join(directory, CONFIG_FILE) if directory is not None else None


def cache_location(env: Mapping[str, str]) -> str | None:
    """The cache dir as :func:`cache_dir` gives it; None where platformdirs decides."""
    if env.get("CREDPROC_CACHE_DIR"):
        return os.path.expanduser(env["CREDPROC_CACHE_DIR"])
    return user_dir("cache", env)


def data_location(env: Mapping[str, str]) -> str | None:
    """The data dir as :func:`data_dir` gives it; None where platformdirs decides."""
    if env.get("CREDPROC_DATA_DIR"):
        return os.path.expanduser(env["CREDPROC_DATA_DIR"])
    return user_dir("data", env)


def aws_files(env: Mapping[str, str], windows: bool = WINDOWS) -> tuple[str, str]:
    """The AWS config and shared credentials files, as botocore finds them.

    ``~`` as botocore expands it: Python ignores HOME on Windows (Git Bash sets
    one that may differ from USERPROFILE), so reading %HOME%\\.aws there would
    miss the user's profiles.
    """
    home = (env.get("USERPROFILE") if windows else env.get("HOME")) or os.path.expanduser("~")
    config = env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")
    credentials = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
    return os.path.expanduser(config), os.path.expanduser(credentials)


# -- the cache key as the stores hold it ---------------------------------------------------------


def decode_key(text: str | None) -> bytes | None:
    """The key stored as base64 text (``$CREDPROC_CACHE_KEY``, the keychain item);
    None unless it is strict base64 of exactly :data:`KEY_BYTES` bytes."""
    import binascii  # already loaded by the interpreter's start-up

    if not text:
        return None
    try:
        key = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        return None
    return key if len(key) == KEY_BYTES else None


def encode_key(key: bytes) -> str:
    """The text :func:`decode_key` reads back."""
    import binascii

    return binascii.b2a_base64(key, newline=False).decode("ascii")


def key_file_location(env: Mapping[str, str]) -> str | None:
    """The key file's path; None where platformdirs decides (see :func:`data_dir`)."""
    data = data_location(env)
    return os.path.join(data, KEY_FILE) if data is not None else None


# -- the one hash -------------------------------------------------------------------------------


def hasher(data: bytes = b"") -> Hash:
    """A 256-bit BLAKE2b hash object (``update``, ``hexdigest``): the hash of
    every digest credproc makes (cache entry names, remembered answers' request
    digests, fingerprints), so that each is computed one way.

    From CPython's own ``_blake2``, the very implementation ``hashlib.blake2b``
    hands out: ``import hashlib`` also loads OpenSSL's libcrypto for the
    algorithms credproc does not use, ~2 ms of an ~11 ms warm hit
    (benchmarks/RESULTS.md). hashlib where a build lacks the module.
    """
    return _blake2b(data, digest_size=32)


def digest(data: bytes) -> str:
    """:func:`hasher`'s hex digest of ``data``."""
    return hasher(data).hexdigest()


# -- reading and writing -----------------------------------------------------------------------


def digest_part(path: str) -> bytes:
    """A file's bytes as a part of a digest (:func:`contents_part`)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return contents_part(None)
    return contents_part(data)


def contents_part(data: bytes | None) -> bytes:
    """A file's bytes as a part of a digest: length-prefixed, or ``-`` when it
    could not be read (None), so that a missing file and an empty one differ."""
    return b"-" if data is None else b"+%d\0" % len(data) + data


def read_private(path: str | os.PathLike[str]) -> bytes | None:
    """The file's bytes if it is ours and nobody else may read or write it;
    None for a missing, unreadable, foreign or shared file (all the same to callers)."""
    try:
        with open(path, "rb") as handle:
            if os.name == "posix":
                status = os.fstat(handle.fileno())
                if status.st_uid != os.geteuid() or status.st_mode & 0o077:
                    return None
            return handle.read()
    except OSError:
        return None


def make_private_dirs(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and any missing parents, each 0700 (os.makedirs would
    give the parents the umask's mode)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        make_private_dirs(parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


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
    windows: bool = WINDOWS,
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
