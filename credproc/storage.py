"""credproc's own files, as the fast path (remembered.py) and the full path
share them: where the cache key is kept and how a stored key is decoded, the
one hash, which directories and files credproc trusts (the user's alone to
change: :func:`distrust`), reading a file only if it is private and ours,
lock files and private directories. Where the files are is locations.py's;
the one atomic write is atomic.py's.

Standard library only, and nothing loaded at import time but os,
credproc.locations, credproc.shortcuts and CPython's BLAKE2b module
(:func:`hasher`): the remembered-answer path imports this module and must
stay free of pathlib, typing, json and (with the shortcuts) hashlib
(tests/test_warm_imports.py).
"""

from __future__ import annotations

import os

from . import locations, shortcuts

TYPE_CHECKING = False  # not typing's: the fast path does without it (benchmarks/RESULTS.md)
if TYPE_CHECKING:
    from hashlib import blake2b as Hash
    from types import ModuleType

# Where the cache key is kept (keystore.py creates and checks keys; memo.py only reads them;
# the "file" store's file is locations.key_file, in the data dir).
KEY_VARIABLE = "CREDPROC_CACHE_KEY"  # base64 of the key, for the "env" store
KEYRING_SERVICE = "credproc"  # the OS keychain item (base64 of the key), for the "keyring" store
KEYRING_USERNAME = "cache-key"
KEY_BYTES = 32

_blake2b = shortcuts.blake2b()  # see hasher


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


def add_contents(digest: Hash, data: bytes | None) -> None:
    """Add :func:`contents_part` of ``data`` to ``digest`` without copying ``data``."""
    digest.update(b"-" if data is None else b"+%d\0" % len(data))
    if data is not None:
        digest.update(data)


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
    name = locations.account_name(uid)
    return f"uid {uid}" if name is None else f"uid {uid} ({name})"


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


def open_private_file(path: str | os.PathLike[str]) -> int:
    """A descriptor of ``path`` (read and write, nothing truncated), created
    0600 when missing: a lock file to take an OS lock on, or a file to write
    output to (``each --output-dir``). The caller closes it.

    Never through a symlink (O_NOFOLLOW: a link planted there would make
    credproc create or write a file wherever it points), never blocking on a
    planted FIFO (O_NONBLOCK), and only a regular file of the user's: another
    user's lock file is one they could hold forever, stalling every run, and
    their output file one they could read. One the user's own that others may
    open is made 0600 (``flock`` needs only a descriptor: read access is
    enough to hold it). Raises :class:`UntrustedError`, or OSError.
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
