"""What the fast path (remembered.py) and the full path share about credproc's
files: where they live, where the cache key is kept and how a stored key is
decoded, which directories and files it trusts (the user's alone to change:
:func:`distrust`), reading a file only if it is private and ours, and the one
atomic write.

Standard library only, and nothing loaded at import time but os, sys,
credproc.shortcuts and CPython's BLAKE2b module (:func:`hasher`): the
remembered-answer path imports this module and must stay free of pathlib,
typing, json and (with the shortcuts) hashlib (tests/test_warm_imports.py).

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

from . import shortcuts

TYPE_CHECKING = False  # not typing's: the fast path does without it (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from hashlib import blake2b as Hash
    from pathlib import Path
    from types import ModuleType
    from typing import Literal

    Kind = Literal["config", "cache", "data"]  # credproc's user directories

APP = "credproc"
CONFIG_FILE = "config.toml"

# Where the cache key is kept (keystore.py creates and checks keys; remembered.py only reads them).
KEY_VARIABLE = "CREDPROC_CACHE_KEY"  # base64 of the key, for the "env" store
KEY_FILE = "cache.key"  # the raw key, in the data dir, for the "file" store
KEYRING_SERVICE = "credproc"  # the OS keychain item (base64 of the key), for the "keyring" store
KEYRING_USERNAME = "cache-key"
KEY_BYTES = 32

PLATFORM = sys.platform  # whose rules user_dir follows (tests try other platforms' here)
TEMP_SUFFIX = ".tmp"  # write_atomic's temp files: ".<name>.<random>.tmp" beside the file
WINDOWS = os.name == "nt"
# Windows: os.replace fails while another process has the target open (no
# FILE_SHARE_DELETE); readers hold entries for a moment only.
_SHARING_ERRORS = (5, 32)  # ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION
_REPLACE_ATTEMPTS = 8  # waits of 10, 20, ... 640 ms: about 1.3 s in all
_blake2b = shortcuts.blake2b()  # see hasher


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
    """The AWS config and shared credentials files, as botocore finds them:
    ``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` when set (an empty
    value is no file at all, as for botocore), ``$VARIABLES`` in them expanded
    from the process environment, then ``~`` (configloader.raw_config_parse)."""
    home = user_home(env, windows)
    config = aws_path(env.get("AWS_CONFIG_FILE"), os.path.join(home, ".aws", "config"))
    credentials = aws_path(env.get("AWS_SHARED_CREDENTIALS_FILE"), os.path.join(home, ".aws", "credentials"))
    return config, credentials


def aws_path(value: str | None, default: str) -> str:
    """A path an AWS variable names, expanded as botocore expands it; ``default`` when unset."""
    if value is None:
        return default
    return os.path.expanduser(os.path.expandvars(value) if "$" in value else value)


def user_home(env: Mapping[str, str], windows: bool = WINDOWS) -> str:
    """``~`` as botocore expands it: Python ignores HOME on Windows (Git Bash sets
    one that may differ from USERPROFILE), so reading %HOME%\\.aws there would
    miss the user's profiles and tokens."""
    return (env.get("USERPROFILE") if windows else env.get("HOME")) or os.path.expanduser("~")


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


def keychain_key(keyring: ModuleType) -> tuple[bytes | None, bool]:
    """The key in the OS keychain (``keyring``: the package, keyring_loader.load),
    and whether something unusable is stored there instead. Raises what the
    backend raises (locked, no backend)."""
    stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    key = decode_key(stored)
    return key, key is None and bool(stored)


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

    BLAKE2b as :func:`credproc.shortcuts.blake2b` finds it (without
    ``import hashlib`` where it can).
    """
    return _blake2b(data, digest_size=32)


def digest(data: bytes) -> str:
    """:func:`hasher`'s hex digest of ``data``."""
    return hasher(data).hexdigest()


# -- reading and writing -----------------------------------------------------------------------


def read_file(path: str) -> bytes | None:
    """A file's bytes; None when it is missing or cannot be read (a user's file:
    whose it is does not matter here, see :func:`read_private` for credproc's own)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def digest_part(path: str) -> bytes:
    """A file's bytes as a part of a digest (:func:`contents_part`)."""
    return contents_part(read_file(path))


def contents_part(data: bytes | None) -> bytes:
    """A file's bytes as a part of a digest: length-prefixed, or ``-`` when it
    could not be read (None), so that a missing file and an empty one differ."""
    return b"-" if data is None else b"+%d\0" % len(data) + data


def read_private(path: str | os.PathLike[str]) -> bytes | None:
    """The file's bytes if it is ours and nobody else may read or write it;
    None for a missing, unreadable, foreign, shared or symlinked file (all the
    same to callers; :func:`examine_private` says which)."""
    return examine_private(path)[0]


def examine_private(path: str | os.PathLike[str]) -> tuple[bytes | None, str | None]:
    """``(bytes, None)`` for a regular file of the user's that nobody else may
    read or write; else ``(None, why not)``, ``why`` None for a missing file.

    Opened with O_NOFOLLOW (a symlink is refused, not followed: another user's
    link could point anywhere) and O_NONBLOCK (a planted FIFO does not hang
    the read), then checked on the open descriptor, so nothing changes between
    the check and the read. Off POSIX only the read itself counts.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, _open_problem(error)
    try:
        if os.name == "posix":
            status = os.fstat(fd)
            why = _file_problem(status)
            if why is None and status.st_mode & 0o077:
                why = f"is open to other users (mode {status.st_mode & 0o7777:04o})"
            if why is not None:
                return None, why
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks), None
            chunks.append(chunk)
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    finally:
        os.close(fd)


def read_key_file(path: str | os.PathLike[str]) -> tuple[bytes | None, str | None]:
    """The cache key in the key file, read by the rules of every file the
    fast path trusts (:func:`examine_private`: a regular file of the user's,
    0600, not a symlink): ``(key, None)``; ``(None, None)`` when there is no
    key file; ``(None, why not)`` for anything else, ``"is damaged"`` for a
    private file that does not hold :data:`KEY_BYTES` bytes. The one reader of
    the key file, for both paths (remembered.py, keystore.file_key)."""
    data, why = examine_private(path)
    if data is not None and len(data) != KEY_BYTES:
        return None, "is damaged"
    return data, why


# -- trust: what credproc uses only when it is the user's alone to change ------------------------

# O_NOFOLLOW where the platform has it (not on Windows, where creating a
# symlink takes a privilege in the first place).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_LINKS = 8  # symlinks followed one after another before a directory counts as a loop


class UntrustedError(PermissionError):
    """A directory or file credproc will not use: another user could change
    it, or already has. ``filename`` names it, ``strerror`` says why
    (a phrase after the path: "is owned by uid 1001")."""

    def __init__(self, path: str, reason: str, *, directory: bool = True) -> None:
        super().__init__(1, reason, path)  # EPERM
        self.path = path
        self.reason = reason
        self.directory = directory  # False: a file (a lock file) in a directory that will do


def distrust(path: str | os.PathLike[str]) -> str | None:
    """Why credproc must not use the directory ``path`` (a phrase after the
    path: "is writable by others (mode 0777)"); None when only the user can
    change what is in it, or when it does not exist (credproc then creates it
    0700, see :func:`make_private_dirs`).

    The rule (the cache, data, pending and memo directories): ``lstat``, not
    ``stat``; the user's (effective uid) and not writable by group or others
    (read bits are cache.ensure_directory's to tighten: a 0755 directory
    shows names, which are digests, but nobody else can plant or swap a file
    in it). A symlink counts only when the link is the user's and so is what
    it points at (a directory, by this same rule, link after link), and the
    directory holding that target may be changed by nobody else
    (:func:`_distrust_parent`). The directories above ``path`` are not
    examined: /tmp is fine as the place of a private cache directory.

    Off POSIX it trusts: ownership and access are ACLs there, which this does
    not read (the profile directory is the user's by default).
    """
    if os.name != "posix":
        return None
    return _distrust(os.fspath(path), os.geteuid(), 0)


def _distrust(path: str, uid: int, links: int) -> str | None:
    import stat  # loaded by os already: free

    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None if links == 0 else "does not exist"
    except OSError as error:
        return f"cannot be examined ({error.strerror or error})"
    if stat.S_ISLNK(status.st_mode):
        if status.st_uid != uid:
            return f"is a symbolic link owned by {_who(status.st_uid)}"
        if links >= _LINKS:
            return "is a symbolic link in a loop"
        try:
            target = os.path.join(os.path.dirname(path), os.readlink(path))
        except OSError as error:  # replaced since the lstat: not to be trusted either
            return f"cannot be examined ({error.strerror or error})"
        why = _distrust(target, uid, links + 1)
        if why is None:
            holder = os.path.dirname(os.path.normpath(target))
            why = _distrust_parent(holder, uid)
            if why is not None:
                why = f"is in {holder}, which {why}"
        return None if why is None else f"is a symbolic link to {target}, which {why}"
    if not stat.S_ISDIR(status.st_mode):
        return "is not a directory"
    if status.st_uid != uid:
        return f"is owned by {_who(status.st_uid)}"
    return _mode_problem(status.st_mode)


def _distrust_parent(path: str, uid: int) -> str | None:
    """Why credproc must not create its directory inside ``path``, or trust a
    symlink's target there (a phrase after the path); None when it is the
    user's or root's and not writable by others, unless sticky (/tmp: nobody
    may remove or rename what another user made there).

    Laxer than :func:`distrust`, which the directories credproc uses are held
    to, those it creates 0700 included: group write is allowed here, as a
    umask of 002 makes ``~/.local/share`` 0775 (with the user's own private
    group). Symlinks are followed: the directories above the ones credproc
    uses are not examined link by link.
    """
    import stat

    try:
        status = os.stat(path or ".")
    except OSError:
        return None  # mkdir inside it fails and says why
    if status.st_uid not in (uid, 0):
        return f"is owned by {_who(status.st_uid)}"
    if status.st_mode & 0o002 and not status.st_mode & stat.S_ISVTX:
        return _mode_problem(status.st_mode)
    return None


def _mode_problem(mode: int) -> str | None:
    """Why a directory with ``mode`` is not the user's alone to change."""
    if not mode & 0o022:
        return None
    return f"is writable by {'others' if mode & 0o002 else 'its group'} (mode {mode & 0o7777:04o})"


def _who(uid: int) -> str:
    """``uid 1001 (alice)``, the name where the password database has one."""
    name = user_name({}, uid)
    return f"uid {uid}" if name is None else f"uid {uid} ({name})"


# Where getpass.getuser looks first, in its order.
USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


def user_name(env: Mapping[str, str], uid: int | None = None) -> str | None:
    """A user's name, the one way credproc finds it: the first of
    :data:`USER_VARIABLES` set in ``env``, as getpass.getuser looks (but in
    the env passed in), else the password database's for ``uid`` (default:
    this process's); None where there is none (Windows without USERNAME, a
    container's uid without a passwd entry)."""
    for variable in USER_VARIABLES:
        if env.get(variable):
            return env[variable]
    try:
        import pwd

        return pwd.getpwuid(os.getuid() if uid is None else uid).pw_name
    except (ImportError, KeyError):
        return None


def _file_problem(status: os.stat_result) -> str | None:
    """Why a file credproc opened is not to be used: not a regular file, or not the user's."""
    import stat

    if not stat.S_ISREG(status.st_mode):
        return "is not a regular file"
    if status.st_uid != os.geteuid():
        return f"is owned by {_who(status.st_uid)}"
    return None


def _open_problem(error: OSError) -> str:
    """What an open with O_NOFOLLOW failing says about the file."""
    import errno

    # Linux and macOS say ELOOP; FreeBSD EMLINK, NetBSD EFTYPE.
    if error.errno in (errno.ELOOP, errno.EMLINK, getattr(errno, "EFTYPE", errno.ELOOP)):
        return "is a symbolic link"
    return f"cannot be read ({error.strerror or error})"


def open_lock_file(path: str | os.PathLike[str]) -> int:
    """A descriptor of the lock file ``path``, created 0600 when missing, to
    take an OS lock on (the caller closes it, which drops the lock).

    Never through a symlink (O_NOFOLLOW: a link planted as a lock file would
    make credproc create or truncate a file wherever it points), and only a
    regular file of the user's: another user's lock file is one they could
    hold forever, stalling every run. One the user's own that others may open
    is made 0600 (``flock`` needs only a descriptor: read access is enough to
    hold it). Raises :class:`UntrustedError`, or OSError.
    """
    target = os.fspath(path)
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except OSError as error:
        if _open_problem(error) == "is a symbolic link":
            raise UntrustedError(target, "is a symbolic link", directory=False) from None
        raise
    if os.name == "posix":
        try:
            status = os.fstat(fd)
            why = _file_problem(status)
            if why is None and status.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        except OSError:
            os.close(fd)
            raise
        if why is not None:
            os.close(fd)
            raise UntrustedError(target, why, directory=False)
    return fd


def make_private_dirs(path: str | os.PathLike[str], *, owner_only: bool = True) -> None:
    """Create ``path`` and any missing parents, each 0700 (os.makedirs would
    give the parents the umask's mode).

    ``owner_only`` (credproc's own directories): an existing ``path`` is used
    only if :func:`distrust` finds nothing, and the existing directory the
    first missing one is created in only if :func:`_distrust_parent` finds
    nothing (the user's or root's, not writable by others unless sticky);
    else :class:`UntrustedError`. Without it (``~/.aws``, the AWS
    tools' directory, whose mode is theirs to choose) any directory will do.
    """
    path = os.fspath(path)
    if owner_only:
        _refuse(path, distrust(path))
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        if not os.path.isdir(parent):
            make_private_dirs(parent, owner_only=owner_only)
        elif owner_only and os.name == "posix":
            _refuse(parent, _distrust_parent(parent, os.geteuid()))
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if owner_only:
            _refuse(path, distrust(path))  # made meanwhile: by another credproc, or planted
        if not os.path.isdir(path):
            raise


def _refuse(path: str, why: str | None) -> None:
    if why is not None:
        raise UntrustedError(path, why)


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
