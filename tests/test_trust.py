"""Trust only the owner: a cache, data or pending directory another user can
change (theirs, group- or world-writable, a symlink that is not all the
user's), a lock file replaced by a symlink, a key file that is not the
user's own private file: each is refused with one warning line naming it and
the fix, nothing is written there or through the link, and `get` still
prints fresh credentials. The cache commands fail with exit code 6 instead,
and doctor says the same."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cache_support import DEV_ROLE, assume_calls, caller_arn
from conftest import DEV_ACCOUNT, Sandbox, assert_one_clear_error

from credproc import storage

pytestmark = pytest.mark.skipif(os.name != "posix", reason="owners and modes are POSIX (credproc trusts elsewhere)")

OTHER_USER = "credproc-other"

ONE_HOP_CONFIG = f"""
[source]
region = "us-east-1"

[defaults]
role = "Deployer"
duration = "1h"

[accounts.dev]
id = "{DEV_ACCOUNT}"

[cache]
key_store = "file"
"""


@pytest.fixture(scope="module")
def other_uid() -> Iterator[int]:
    """The uid of another local user, created for these tests (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a directory owned by another user needs root to chown it (run the tests as root)")
    created = False
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
            capture_output=True,
            text=True,
        )
        created = made.returncode == 0
        if not created:
            try:
                pwd.getpwnam(OTHER_USER)  # another test run made it meanwhile
            except KeyError:
                pytest.skip(f"useradd {OTHER_USER} failed: {made.stderr.strip()}")
    yield pwd.getpwnam(OTHER_USER).pw_uid
    if created:
        subprocess.run(["userdel", OTHER_USER], capture_output=True, check=False)


@pytest.fixture
def one_hop(sandbox: Sandbox) -> Sandbox:
    sandbox.write_config(ONE_HOP_CONFIG)
    return sandbox


def data_dir(sandbox: Sandbox) -> Path:
    return Path(sandbox.env["CREDPROC_DATA_DIR"])


def listing(directory: Path) -> list[str]:
    """Every path under ``directory``, relative to it (symlinks not followed)."""
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def assert_fresh_credentials_and_one_warning(
    sandbox: Sandbox, result: subprocess.CompletedProcess[str], *fragments: str
) -> str:
    """`get` succeeded with credentials STS issued just now; stderr is one warning holding ``fragments``."""
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert datetime.fromisoformat(str(document["Expiration"])) > datetime.now(UTC)
    assert caller_arn(sandbox, document).startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")
    assert "Traceback" not in result.stderr
    line, newline, rest = result.stderr.partition("\n")
    assert newline and rest == "", result.stderr
    assert line.startswith("credproc: warning: ") and "(fix: " in line, line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def get_twice_uncached(sandbox: Sandbox, *fragments: str) -> str:
    """Two `get dev` runs, each fetching fresh (nothing is cached) and each warning alike."""
    lines = set()
    for run in (1, 2):
        result = sandbox.run("get", "dev")
        lines.add(assert_fresh_credentials_and_one_warning(sandbox, result, *fragments))
        assert assume_calls(sandbox, DEV_ROLE) == run  # a real AssumeRole each time: the cache is not used
    assert len(lines) == 1
    return lines.pop()


# -- the cache directory ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "who"), [(0o777, "others"), (0o770, "its group"), (0o1777, "others")], ids=["0777", "0770", "1777"]
)
def test_a_cache_directory_others_can_write_in_is_not_used(one_hop: Sandbox, mode: int, who: str) -> None:
    cache = one_hop.cache_dir
    cache.mkdir()
    os.chmod(cache, mode)
    line = get_twice_uncached(one_hop, f"the cache directory {cache} is writable by {who} (mode {mode:04o})")
    assert f"continuing without the cache (fix: chmod 700 {cache}, or set CREDPROC_CACHE_DIR" in line
    assert listing(cache) == []  # no entry, lock or memo (answer, config, source, endpoint)
    assert stat.S_IMODE(cache.stat().st_mode) == mode  # not silently "fixed" either
    assert not (data_dir(one_hop) / "cache.key").exists()  # no key made for a cache that is not used


def test_a_cache_directory_of_another_user_is_not_used(one_hop: Sandbox, other_uid: int) -> None:
    cache = one_hop.cache_dir
    cache.mkdir(mode=0o700)
    os.chown(cache, other_uid, -1)
    line = get_twice_uncached(one_hop, f"the cache directory {cache} is owned by uid {other_uid}")
    assert "set CREDPROC_CACHE_DIR to a directory of your own" in line and "chmod" not in line
    assert listing(cache) == []


@pytest.mark.parametrize("subdirectory", ["pending", "memos"])
def test_a_directory_inside_the_cache_that_others_can_write_in_is_not_used(one_hop: Sandbox, subdirectory: str) -> None:
    inside = one_hop.cache_dir / subdirectory
    inside.mkdir(parents=True)
    os.chmod(one_hop.cache_dir, 0o700)
    os.chmod(inside, 0o777)  # noqa: S103 (the mode under test)
    get_twice_uncached(one_hop, f"the cache directory {inside} is writable by others")
    assert listing(inside) == []
    assert not any(one_hop.cache_dir.glob("*.cred")) and not any(one_hop.cache_dir.glob("*.lock"))


def test_a_pending_directory_of_another_user_is_not_used(one_hop: Sandbox, other_uid: int) -> None:
    """Another user's pending/ could hold a claim lock of theirs, held for ever: every
    `get` would wait for the lock timeout. Refused, and no claim is made there."""
    first = one_hop.run("get", "dev")  # an answer is remembered: the next run would print it
    assert first.returncode == 0, first.stderr
    pending = one_hop.cache_dir / "pending"
    pending.mkdir(mode=0o700, exist_ok=True)
    for lock in pending.iterdir():
        lock.unlink()
    os.chown(pending, other_uid, -1)
    for answer in (one_hop.cache_dir / "memos").glob("answer-*"):  # no remembered answer: the claim would be made
        answer.unlink()
    result = one_hop.run("get", "dev")
    assert_fresh_credentials_and_one_warning(one_hop, result, f"the cache directory {pending} is owned by uid")
    assert listing(pending) == []


def test_a_symlinked_cache_directory_of_the_users_own_is_used(one_hop: Sandbox) -> None:
    real = one_hop.root / "real-cache"
    real.mkdir(mode=0o700)
    one_hop.cache_dir.symlink_to(real)
    first = one_hop.run("get", "dev")
    assert first.returncode == 0, first.stderr
    assert "warning" not in first.stderr
    second = one_hop.run("get", "dev")
    assert second.stdout == first.stdout and second.stderr == ""
    assert assume_calls(one_hop, DEV_ROLE) == 1  # cached through the link
    assert any(real.glob("*.cred"))


def test_a_symlinked_cache_directory_pointing_at_a_directory_others_can_write_in_is_not_used(
    one_hop: Sandbox,
) -> None:
    shared = one_hop.root / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 (the mode under test)
    one_hop.cache_dir.symlink_to(shared)
    get_twice_uncached(
        one_hop, f"the cache directory {one_hop.cache_dir} is a symbolic link to {shared}, which is writable by others"
    )
    assert listing(shared) == []


def test_a_symlinked_cache_directory_pointing_at_another_users_directory_is_not_used(
    one_hop: Sandbox, other_uid: int
) -> None:
    theirs = one_hop.root / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, other_uid, -1)
    one_hop.cache_dir.symlink_to(theirs)
    get_twice_uncached(one_hop, f"is a symbolic link to {theirs}, which is owned by uid {other_uid}")
    assert listing(theirs) == []


def test_a_cache_directory_symlink_of_another_user_is_not_used(one_hop: Sandbox, other_uid: int) -> None:
    """The target is the user's own private directory, but the link is theirs: they can repoint it at will."""
    real = one_hop.root / "real-cache"
    real.mkdir(mode=0o700)
    one_hop.cache_dir.symlink_to(real)
    os.lchown(one_hop.cache_dir, other_uid, -1)
    get_twice_uncached(one_hop, f"the cache directory {one_hop.cache_dir} is a symbolic link owned by uid {other_uid}")
    assert listing(real) == []


# -- the data directory and the key file ------------------------------------------------------------


def test_a_data_directory_others_can_write_in_is_not_used(one_hop: Sandbox) -> None:
    data = data_dir(one_hop)
    data.mkdir()
    os.chmod(data, 0o777)  # noqa: S103 (the mode under test)
    line = get_twice_uncached(one_hop, f"the data directory {data} is writable by others (mode 0777)")
    assert "set CREDPROC_DATA_DIR to a directory of your own" in line
    assert listing(data) == []  # no key file, no lock


def test_a_data_directory_of_another_user_is_not_used(one_hop: Sandbox, other_uid: int) -> None:
    data = data_dir(one_hop)
    data.mkdir(mode=0o700)
    os.chown(data, other_uid, -1)
    get_twice_uncached(one_hop, f"the data directory {data} is owned by uid {other_uid}")
    assert listing(data) == []


def test_a_key_file_of_another_user_is_not_used(one_hop: Sandbox, other_uid: int) -> None:
    """A 0644 key of theirs: they could read every entry sealed with it. Neither used nor replaced."""
    data = data_dir(one_hop)
    data.mkdir(mode=0o700)
    key_file = data / "cache.key"
    planted = os.urandom(32)
    key_file.write_bytes(planted)
    os.chmod(key_file, 0o644)
    os.chown(key_file, other_uid, -1)
    line = get_twice_uncached(one_hop, f"the key file {key_file} is owned by uid {other_uid}")
    assert f"remove {key_file}" in line
    assert key_file.read_bytes() == planted and key_file.stat().st_uid == other_uid
    assert not any(one_hop.cache_dir.glob("*.cred"))


def test_a_symlinked_key_file_is_not_followed(one_hop: Sandbox) -> None:
    data = data_dir(one_hop)
    data.mkdir(mode=0o700)
    elsewhere = one_hop.root / "elsewhere.key"
    elsewhere.write_bytes(os.urandom(32))
    elsewhere.chmod(0o600)
    (data / "cache.key").symlink_to(elsewhere)
    get_twice_uncached(one_hop, f"the key file {data / 'cache.key'} is a symbolic link")
    assert (data / "cache.key").is_symlink()


def test_the_fast_path_does_not_read_a_key_file_it_would_refuse(one_hop: Sandbox) -> None:
    """A remembered answer sealed with the key; the key file is then made world-readable:
    the answer is not printed from it, and the full path replaces the key (others may have it)."""
    first = one_hop.run("get", "dev")
    assert first.returncode == 0, first.stderr
    key_file = data_dir(one_hop) / "cache.key"
    old_key = key_file.read_bytes()
    os.chmod(key_file, 0o644)
    result = one_hop.run("get", "dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout != first.stdout  # fetched again: everything sealed with the old key is a miss
    assert result.stderr == (
        f"credproc: warning: the key file {key_file} is open to other users (mode 0644); "
        "replacing it with a new key (cached credentials will be fetched again)\n"
    )
    assert key_file.read_bytes() != old_key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert assume_calls(one_hop, DEV_ROLE) == 2


# -- lock files ----------------------------------------------------------------------------------


def test_a_lock_file_replaced_by_a_symlink_is_not_followed(one_hop: Sandbox) -> None:
    first = one_hop.run("get", "dev")
    assert first.returncode == 0, first.stderr
    cleared = one_hop.run("cache", "clear")
    assert cleared.returncode == 0, cleared.stderr
    (lock,) = one_hop.cache_dir.glob("*.lock")
    target = one_hop.root / "planted" / "target"
    target.parent.mkdir()
    lock.unlink()
    lock.symlink_to(target)
    result = one_hop.run("get", "dev")
    line = assert_fresh_credentials_and_one_warning(
        one_hop, result, f"the lock file {lock} is a symbolic link; fetching without that lock"
    )
    assert f"(fix: remove {lock}" in line
    assert not target.exists() and lock.is_symlink()  # nothing created through the link
    assert assume_calls(one_hop, DEV_ROLE) == 2
    assert len(list(one_hop.cache_dir.glob("*.cred"))) == 1  # the directory is the user's: still cached


def test_a_lock_file_of_another_user_is_not_waited_for(one_hop: Sandbox, other_uid: int) -> None:
    first = one_hop.run("get", "dev")
    assert first.returncode == 0, first.stderr
    assert one_hop.run("cache", "clear").returncode == 0
    (lock,) = one_hop.cache_dir.glob("*.lock")
    os.chown(lock, other_uid, -1)
    result = one_hop.run("get", "dev")
    assert_fresh_credentials_and_one_warning(one_hop, result, f"the lock file {lock} is owned by uid {other_uid}")


def test_a_claim_lock_replaced_by_a_symlink_is_not_followed(one_hop: Sandbox) -> None:
    """The fast path's claim (pending/*.lock) refuses it silently and leaves the work to
    the full path, which has nothing to say about it: the credentials, no warning."""
    for _ in range(2):  # the runs claim their request
        assert one_hop.run("get", "dev").returncode == 0
        assert one_hop.run("cache", "clear").returncode == 0  # no remembered answer: the next run claims
    (claim,) = (one_hop.cache_dir / "pending").glob("*.lock")
    target = one_hop.root / "planted" / "target"
    target.parent.mkdir()
    claim.unlink()
    claim.symlink_to(target)
    result = one_hop.run("get", "dev")
    assert result.returncode == 0, result.stderr
    assert caller_arn(one_hop, json.loads(result.stdout)).startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/")
    assert result.stderr == ""
    assert not target.exists() and claim.is_symlink()


# -- the cache commands and doctor -----------------------------------------------------------------


def test_cache_commands_fail_on_a_cache_directory_others_can_write_in(one_hop: Sandbox) -> None:
    first = one_hop.run("get", "dev")
    assert first.returncode == 0, first.stderr
    before = listing(one_hop.cache_dir)
    os.chmod(one_hop.cache_dir, 0o777)  # noqa: S103 (the mode under test)
    for args in (["cache", "list"], ["cache", "clear"], ["cache", "clear", "dev"]):
        result = one_hop.run(*args)
        assert_one_clear_error(
            result, f"the cache directory {one_hop.cache_dir} is writable by others", "chmod 700", exit_code=6
        )
    assert listing(one_hop.cache_dir) == before  # `cache clear` deleted nothing there


def test_cache_clear_key_fails_on_a_data_directory_others_can_write_in(one_hop: Sandbox) -> None:
    first = one_hop.run("get", "dev")
    assert first.returncode == 0, first.stderr
    os.chmod(data_dir(one_hop), 0o777)  # noqa: S103 (the mode under test)
    result = one_hop.run("cache", "clear", "--key")
    assert_one_clear_error(result, f"the data directory {data_dir(one_hop)} is writable by others", exit_code=6)
    assert (data_dir(one_hop) / "cache.key").exists()


def test_doctor_reports_the_refused_directory(one_hop: Sandbox) -> None:
    one_hop.cache_dir.mkdir()
    os.chmod(one_hop.cache_dir, 0o777)  # noqa: S103 (the mode under test)
    warned = one_hop.run("get", "dev").stderr
    result = one_hop.run("doctor")
    assert result.returncode == 6
    line = next(line for line in result.stdout.splitlines() if "cache directory:" in line)
    assert line.startswith("failed")
    message = f"the cache directory {one_hop.cache_dir} is writable by others (mode 0777)"
    assert message in line and message in warned
    assert f"(fix: chmod 700 {one_hop.cache_dir}" in line


def test_storage_refuses_what_others_can_change(tmp_path: Path) -> None:
    """The rules themselves, on the functions every caller goes through."""
    mine = tmp_path / "mine"
    storage.make_private_dirs(mine / "pending")
    assert storage.distrust(mine) is None and storage.distrust(mine / "pending") is None
    assert storage.distrust(tmp_path / "missing") is None  # created 0700 when needed
    os.chmod(mine, 0o775)  # noqa: S103 (the mode under test)
    assert storage.distrust(mine) == "is writable by its group (mode 0775)"
    with pytest.raises(storage.UntrustedError):
        storage.make_private_dirs(mine)
    os.chmod(mine, 0o777)  # noqa: S103 (the mode under test)
    with pytest.raises(storage.UntrustedError):
        storage.make_private_dirs(mine / "answers")  # not created inside a directory others can write in
    assert not (mine / "answers").exists()
    storage.make_private_dirs(mine / "answers", owner_only=False)  # ~/.aws: the AWS tools' to choose
    (tmp_path / "file").write_bytes(b"")
    assert storage.distrust(tmp_path / "file") == "is not a directory"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert storage.distrust(loop) is not None

    lock = tmp_path / "x.lock"
    lock.symlink_to(tmp_path / "through")
    with pytest.raises(storage.UntrustedError, match="is a symbolic link"):
        storage.open_private_file(lock)
    assert not (tmp_path / "through").exists()
    loose = tmp_path / "loose.lock"
    loose.write_bytes(b"")
    loose.chmod(0o644)
    os.close(storage.open_private_file(loose))
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600  # nobody else may hold it

    key = tmp_path / "cache.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)
    assert storage.read_key_file(key) == (b"k" * 32, None)
    key.chmod(0o640)
    assert storage.read_key_file(key) == (None, "is open to other users (mode 0640)")
    key.chmod(0o600)
    key.write_bytes(b"short")
    assert storage.read_key_file(key) == (None, "is damaged")
    assert storage.read_key_file(tmp_path / "none") == (None, None)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    assert storage.read_key_file(fifo) == (None, "is not a regular file")  # and the read did not hang
