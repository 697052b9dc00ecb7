"""The store of the source's long-term keys (credproc/source_keys.py): the
keychain (the tests' own file-backed keyring backend) and, where there is no
keychain, a sealed file that is neither plaintext nor openable with another key."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from credproc_test_keyring import FileKeyring

from credproc import source_keys
from credproc.errors import AuthError, CacheError, ExitCode
from credproc.log import Log
from credproc.stored_key import StoredKey

KEY_ID = "AKIASTOREDKEY0000001"
SECRET = "stored-secret-access-key-0000000000000001"


def pair(name: str = "default", key_id: str = KEY_ID, secret: str = SECRET) -> StoredKey:
    return StoredKey(name, key_id, secret, "arn:aws:iam::123456789012:user/alice", "", "")


@pytest.fixture
def messages() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def log(messages: io.StringIO) -> Log:
    return Log(stream=messages)


@pytest.fixture
def no_keychain(tmp_path: Path) -> dict[str, str]:
    """A headless box: no D-Bus, no display, no backend named (keystore.keyring_possible says no)."""
    return {"HOME": str(tmp_path / "home"), "CREDPROC_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def with_keychain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The tests' own keyring backend, a JSON file in tmp_path (never the real keychain)."""
    env = {
        "HOME": str(tmp_path / "home"),
        "CREDPROC_DATA_DIR": str(tmp_path / "data"),
        "PYTHON_KEYRING_BACKEND": "credproc_test_keyring.FileKeyring",
        "CREDPROC_TEST_KEYRING": str(tmp_path / "keyring.json"),
    }
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", env["PYTHON_KEYRING_BACKEND"])
    monkeypatch.setenv("CREDPROC_TEST_KEYRING", env["CREDPROC_TEST_KEYRING"])
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield env
    keyring.set_keyring(previous)


def test_keychain_round_trip_keeps_the_secret_out_of_the_data_dir(
    with_keychain: dict[str, str], log: Log, tmp_path: Path
) -> None:
    saved = source_keys.save(pair(), with_keychain, log)
    assert saved.where == "keychain"
    assert saved.created.endswith("Z")
    loaded = source_keys.load("default", with_keychain, log)
    assert (loaded.access_key_id, loaded.secret_access_key, loaded.where) == (KEY_ID, SECRET, "keychain")
    item = json.loads(Path(with_keychain["CREDPROC_TEST_KEYRING"]).read_text())["credproc/source:default"]
    assert json.loads(item)["secret_access_key"] == SECRET
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    index = source_keys.index_path(with_keychain)
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    assert [key.access_key_id for key in source_keys.stored(with_keychain, log)] == [KEY_ID]
    assert source_keys.stored(with_keychain, log)[0].secret_access_key == ""
    assert SECRET not in repr(loaded)


def test_no_keychain_seals_a_file_neither_plaintext_nor_openable_with_another_key(
    no_keychain: dict[str, str], log: Log, messages: io.StringIO, tmp_path: Path
) -> None:
    saved = source_keys.save(pair(), no_keychain, log)
    assert saved.where == "file"
    sealed = source_keys.sealed_path(no_keychain, "default")
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert stat.S_IMODE(sealed.parent.stat().st_mode) == 0o700
    data = sealed.read_bytes()
    assert SECRET.encode() not in data and KEY_ID.encode() not in data
    assert "sealed in" in messages.getvalue() and SECRET not in messages.getvalue()
    assert source_keys.load("default", no_keychain, log).secret_access_key == SECRET
    # Another key: the same file does not open.
    key_file = sealed.parent / source_keys.SEAL_KEY_FILE
    key_file.write_bytes(os.urandom(32))
    with pytest.raises(AuthError) as raised:
        source_keys.load("default", no_keychain, log)
    assert "sealed under another key" in raised.value.message
    assert raised.value.exit_code == ExitCode.AUTH


def test_a_sealed_file_copied_to_another_name_does_not_open(no_keychain: dict[str, str], log: Log) -> None:
    source_keys.save(pair("work"), no_keychain, log)
    work = source_keys.sealed_path(no_keychain, "work")
    source_keys.sealed_path(no_keychain, "home").write_bytes(work.read_bytes())
    os.chmod(source_keys.sealed_path(no_keychain, "home"), 0o600)
    with pytest.raises(AuthError):
        source_keys.load("home", no_keychain, log)


@pytest.mark.parametrize("store", ["no_keychain", "with_keychain"])
def test_replace_then_remove(store: str, request: pytest.FixtureRequest, log: Log) -> None:
    env: dict[str, str] = request.getfixturevalue(store)
    source_keys.save(pair(), env, log)
    source_keys.save(pair(key_id="AKIASTOREDKEY0000002", secret="another-secret-0000000000002"), env, log)
    assert source_keys.load("default", env, log).access_key_id == "AKIASTOREDKEY0000002"
    assert [key.access_key_id for key in source_keys.stored(env, log)] == ["AKIASTOREDKEY0000002"]
    assert source_keys.remove("default", env, log) is True
    assert source_keys.remove("default", env, log) is False
    assert source_keys.stored(env, log) == []
    with pytest.raises(AuthError) as raised:
        source_keys.load("default", env, log)
    assert raised.value.one_line() == (
        "credproc: no stored source keys named default (fix: credproc source add default)"
    )


def test_a_lost_index_is_rebuilt_from_the_keychain(with_keychain: dict[str, str], log: Log) -> None:
    source_keys.save(pair(), with_keychain, log)
    source_keys.index_path(with_keychain).unlink()
    assert source_keys.load("default", with_keychain, log).secret_access_key == SECRET
    assert [key.name for key in source_keys.stored(with_keychain, log)] == ["default"]


def test_a_locked_keychain_is_one_clear_error(
    with_keychain: dict[str, str], log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDPROC_TEST_KEYRING")  # the test backend then acts locked
    with pytest.raises(CacheError) as raised:
        source_keys.save(pair(), with_keychain, log)
    assert "unlock the keychain" in raised.value.one_line()
    assert SECRET not in raised.value.one_line()


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a b", "x" * 65])
def test_bad_names_are_refused(name: str, no_keychain: dict[str, str], log: Log) -> None:
    with pytest.raises(Exception) as raised:
        source_keys.save(pair(name), no_keychain, log)
    assert getattr(raised.value, "exit_code", None) == ExitCode.USAGE


def test_bad_keys_are_refused_without_quoting_the_secret(no_keychain: dict[str, str], log: Log) -> None:
    bad: list[Callable[[], StoredKey]] = [
        lambda: pair(key_id="AKIA"),
        lambda: pair(secret="short secret with spaces"),
    ]
    for make in bad:
        with pytest.raises(Exception) as raised:
            source_keys.save(make(), no_keychain, log)
        assert getattr(raised.value, "exit_code", None) == ExitCode.USAGE
        assert "short secret" not in str(raised.value)
    assert not source_keys.sealed_path(no_keychain, "default").exists()


def _no_room() -> None:
    """No file can grow (RLIMIT_FSIZE 0: the kernel answers EFBIG, as a full disk answers ENOSPC)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


REPLACE = """
import sys
from credproc import source_keys, stored_key
from credproc.errors import CredprocError
from credproc.log import Log
env = {"HOME": sys.argv[1], "CREDPROC_DATA_DIR": sys.argv[2]}
key = stored_key.StoredKey("default", "AKIASTOREDKEY0000002", "another-secret-0000000000002", None, "", "")
try:
    source_keys.save(key, env, Log())
except CredprocError as error:
    print(error.exit_code, error.one_line())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="resource limits of a child: POSIX")
def test_a_replacement_that_cannot_be_written_leaves_the_old_key_working(no_keychain: dict[str, str], log: Log) -> None:
    import subprocess
    import sys

    source_keys.save(pair(), no_keychain, log)
    result = subprocess.run(
        [sys.executable, "-c", REPLACE, no_keychain["HOME"], no_keychain["CREDPROC_DATA_DIR"]],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_no_room,  # only setrlimit and a signal: safe
        check=False,
    )
    code, line = result.stdout.strip().split(" ", 1)
    assert int(code) == ExitCode.CACHE, result.stdout + result.stderr
    assert "cannot store the source keys 'default'" in line and "(fix: " in line
    assert "another-secret" not in result.stdout + result.stderr
    loaded = source_keys.load("default", no_keychain, log)
    assert (loaded.access_key_id, loaded.secret_access_key) == (KEY_ID, SECRET)
    leftovers = [path.name for path in source_keys.directory(no_keychain).iterdir() if path.name.endswith(".tmp")]
    assert leftovers == []
