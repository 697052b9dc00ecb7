"""The one atomic write every credproc file goes through (cache entries,
remembered answers, memos, the key file, rewritten user files),
and the private reads the fast path trusts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from credproc import atomic, storage

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes and owners are POSIX")


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(atomic.TEMP_SUFFIX))


@posix_only
def test_write_replaces_the_file_whole_and_private(tmp_path: Path) -> None:
    target = tmp_path / "entry.cred"
    target.write_bytes(b"old")
    target.chmod(0o644)
    atomic.write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


@posix_only
def test_write_keeps_a_mode_it_is_given(tmp_path: Path) -> None:
    target = tmp_path / "config"
    atomic.write_atomic(target, b"[default]\n", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "entry.cred"
    target.mkdir()  # a rename cannot replace a directory with a file
    with pytest.raises(OSError):
        atomic.write_atomic(target, b"new")
    assert target.is_dir() and leftovers(tmp_path) == []


def test_first_writer_wins_when_asked_not_to_replace(tmp_path: Path) -> None:
    target = tmp_path / "cache.key"
    atomic.write_atomic(target, b"first", replace=False)
    with pytest.raises(FileExistsError):
        atomic.write_atomic(target, b"second", replace=False)
    assert target.read_bytes() == b"first"
    assert leftovers(tmp_path) == []


@posix_only
def test_private_directories_are_made_0700_all_the_way_down(tmp_path: Path) -> None:
    storage.make_private_dirs(tmp_path / "cache" / "credproc" / "answers")
    for path in (tmp_path / "cache", tmp_path / "cache" / "credproc", tmp_path / "cache" / "credproc" / "answers"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


@posix_only
def test_only_private_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "answer"
    atomic.write_atomic(path, b"sealed")
    assert storage.read_private(path) == b"sealed"
    path.chmod(0o640)  # others may read it: it may have been planted or seen
    assert storage.read_private(path) is None
    assert storage.read_private(tmp_path / "missing") is None


# -- Windows: another process reading the file blocks the rename for a moment ------------------


def sharing_violation() -> PermissionError:
    error = PermissionError(13, "The process cannot access the file because it is being used by another process")
    error.winerror = 32  # type: ignore[attr-defined]  # set by Windows only
    return error


def test_replace_retries_briefly_through_a_sharing_violation(tmp_path: Path) -> None:
    source, target = tmp_path / "new", tmp_path / "entry"
    source.write_bytes(b"new")
    failures = [sharing_violation(), sharing_violation()]
    waits: list[float] = []

    def rename(old: str, new: str) -> None:
        if failures:
            raise failures.pop()
        os.replace(old, new)

    atomic.replace_file(str(source), str(target), windows=True, rename=rename, pause=waits.append)
    assert target.read_bytes() == b"new"
    assert len(waits) == 2 and sum(waits) < 0.1


def test_replace_gives_up_on_a_file_that_stays_in_use(tmp_path: Path) -> None:
    waits: list[float] = []

    def rename(old: str, new: str) -> None:
        raise sharing_violation()

    with pytest.raises(PermissionError):
        atomic.replace_file("a", "b", windows=True, rename=rename, pause=waits.append)
    assert 0 < sum(waits) < 2  # bounded: then the caller's "could not write" warning


def test_replace_does_not_retry_a_real_permission_error(tmp_path: Path) -> None:
    waits: list[float] = []

    def rename(old: str, new: str) -> None:
        raise PermissionError(13, "Permission denied")

    for windows in (True, False):
        with pytest.raises(PermissionError):
            atomic.replace_file("a", "b", windows=windows, rename=rename, pause=waits.append)
    assert waits == []


# -- the cache key as the stores hold it ------------------------------------------------------


@pytest.mark.parametrize("text", ["", "not base64!", "AAAA", " " + "A" * 43 + "=", "A" * 43 + "=\n"])
def test_a_stored_key_must_be_strict_base64_of_32_bytes(text: str) -> None:
    """The same rule for the environment variable and the keychain item, on the
    full path and the fast path (which once decoded the keychain's leniently)."""
    assert storage.decode_key(text) is None


def test_a_stored_key_reads_back() -> None:
    key = os.urandom(storage.KEY_BYTES)
    assert storage.decode_key(storage.encode_key(key)) == key
