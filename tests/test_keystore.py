"""The key stores (environment, key file, keychain), how `auto` picks one,
and what `credproc get` does when the chosen one cannot be used."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from cache_support import DEV_ROLE, assume_calls
from conftest import HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error
from credproc_test_keyring import FileKeyring
from keyring.backends import fail, null

from credproc import keystore
from credproc.errors import CacheError
from credproc.log import Log

KEY = os.urandom(32)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CREDPROC_DATA_DIR": str(tmp_path / "data"), "CREDPROC_TEST_KEYRING": str(tmp_path / "keyring.json")}


@pytest.fixture
def messages() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def use_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[keyring.backend.KeyringBackend], None]]:
    """Install a keyring backend in this process (never the real keychain)."""
    # Should keyring not be initialised yet, let it start on the test backend.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "credproc_test_keyring.FileKeyring")
    previous = keyring.get_keyring()

    def install(backend: keyring.backend.KeyringBackend) -> None:
        keyring.set_keyring(backend)

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def test_keyring(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, use_backend: Callable[[keyring.backend.KeyringBackend], None]
) -> None:
    monkeypatch.setenv("CREDPROC_TEST_KEYRING", env["CREDPROC_TEST_KEYRING"])
    use_backend(FileKeyring())


# -- the contract every store keeps ------------------------------------------------------------


@pytest.fixture(params=["env", "file", "keyring"])
def store(request: pytest.FixtureRequest, env: dict[str, str]) -> str:
    if request.param == "env":
        env["CREDPROC_CACHE_KEY"] = base64.b64encode(KEY).decode()
    if request.param == "keyring":
        request.getfixturevalue("test_keyring")
    return str(request.param)


def test_every_store_gives_the_same_32_byte_key_each_time(
    store: str, env: dict[str, str], messages: io.StringIO
) -> None:
    first, label = keystore.load_key(store, env, Log(stream=messages))
    second, _ = keystore.load_key(store, env, Log(stream=messages))
    assert len(first) == 32 and first == second
    assert label == {"env": "environment", "file": "file", "keyring": "keyring"}[store]


def test_stores_that_create_keys_make_random_ones(tmp_path: Path, messages: io.StringIO) -> None:
    one = keystore.file_key(tmp_path / "a" / "cache.key", Log(stream=messages))
    two = keystore.file_key(tmp_path / "b" / "cache.key", Log(stream=messages))
    assert one != two


# -- auto ----------------------------------------------------------------------------------


def test_auto_prefers_the_environment(env: dict[str, str], test_keyring: None, messages: io.StringIO) -> None:
    env["CREDPROC_CACHE_KEY"] = base64.b64encode(KEY).decode()
    assert keystore.load_key("auto", env, Log(stream=messages)) == (KEY, "environment")


def test_auto_uses_a_working_keychain(env: dict[str, str], test_keyring: None, messages: io.StringIO) -> None:
    # On Linux a keychain is reached over the desktop session's D-Bus; a headless
    # box without one goes straight to the key file (keystore.keyring_possible).
    env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/run/user/0/bus"
    key, label = keystore.load_key("auto", env, Log(stream=messages))
    assert label == "keyring"
    stored = json.loads(Path(env["CREDPROC_TEST_KEYRING"]).read_text())["credproc/cache-key"]
    assert base64.b64decode(stored) == key
    assert not (Path(env["CREDPROC_DATA_DIR"]) / "cache.key").exists()


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_auto_without_a_keychain_uses_the_key_file_with_a_notice(
    env: dict[str, str],
    messages: io.StringIO,
    use_backend: Callable[[keyring.backend.KeyringBackend], None],
    backend: type[keyring.backend.KeyringBackend],
) -> None:
    use_backend(backend())
    key, label = keystore.load_key("auto", env, Log(stream=messages))
    assert label == "file"
    data_dir = Path(env["CREDPROC_DATA_DIR"])
    key_file = data_dir / "cache.key"
    assert key_file.read_bytes() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert messages.getvalue() == f"credproc: created the cache key file {key_file} (no OS keychain available)\n"
    keystore.load_key("auto", env, Log(stream=messages))
    assert messages.getvalue().count("\n") == 1  # the notice is for creation only


# -- damaged and unusable stores -------------------------------------------------------------


@pytest.mark.parametrize("value", ["bm90IDMyIGJ5dGVz", "%%% not base64 %%%", "AAAA"])
def test_a_bad_environment_key_is_an_error(env: dict[str, str], messages: io.StringIO, value: str) -> None:
    env["CREDPROC_CACHE_KEY"] = value
    with pytest.raises(CacheError, match="not the base64 of 32 bytes"):
        keystore.load_key("env", env, Log(stream=messages))


def test_env_store_without_the_variable_is_an_error_with_the_fix(env: dict[str, str], messages: io.StringIO) -> None:
    with pytest.raises(CacheError) as caught:
        keystore.load_key("env", env, Log(stream=messages))
    assert "CREDPROC_CACHE_KEY is not set" in caught.value.message
    assert caught.value.hint and "export CREDPROC_CACHE_KEY=" in caught.value.hint


def test_a_damaged_key_file_is_replaced_with_a_warning(env: dict[str, str], messages: io.StringIO) -> None:
    key_file = Path(env["CREDPROC_DATA_DIR"]) / "cache.key"
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(b"short")
    key_file.chmod(0o600)  # damaged, not exposed: see the test below for a key others could read
    key, _ = keystore.load_key("file", env, Log(stream=messages))
    assert len(key) == 32 and key_file.read_bytes() == key
    assert "is damaged; replacing it" in messages.getvalue()


def test_a_filesystem_without_hard_links_still_gets_a_key_file(
    env: dict[str, str], messages: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def no_links(source: str, target: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("credproc.keystore.os.link", no_links)
    path = Path(env["CREDPROC_DATA_DIR"]) / "cache.key"
    key = keystore.file_key(path, Log(stream=messages))
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keystore.file_key(path, Log(stream=messages)) == key  # the same key next time
    assert [p.name for p in path.parent.iterdir()] == ["cache.key"]  # no temp file left behind


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_file_readable_by_others_is_replaced_with_a_new_key(env: dict[str, str], messages: io.StringIO) -> None:
    """Others may have read it: the entries it sealed are as good as theirs, so a new key, not a chmod."""
    old_key, _ = keystore.load_key("file", env, Log(stream=messages))
    key_file = Path(env["CREDPROC_DATA_DIR"]) / "cache.key"
    os.chmod(key_file, 0o644)
    key = keystore.load_key("file", env, Log(stream=messages))[0]
    assert len(key) == 32 and key != old_key and key_file.read_bytes() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "is open to other users (mode 0644); replacing it with a new key" in messages.getvalue()


def test_a_damaged_keychain_entry_is_replaced_with_a_warning(
    env: dict[str, str], test_keyring: None, messages: io.StringIO
) -> None:
    keyring.set_password("credproc", "cache-key", "!!! not a key !!!")
    key, _ = keystore.load_key("keyring", env, Log(stream=messages))
    assert len(key) == 32
    assert keyring.get_password("credproc", "cache-key") == base64.b64encode(key).decode()
    assert "is damaged; replacing it" in messages.getvalue()


def test_keyring_store_without_a_keychain_is_an_error(
    env: dict[str, str], messages: io.StringIO, use_backend: Callable[[keyring.backend.KeyringBackend], None]
) -> None:
    use_backend(fail.Keyring())
    with pytest.raises(CacheError, match="OS keychain could not be used"):
        keystore.load_key("keyring", env, Log(stream=messages))


# -- `credproc get` with a store that fails: warn, fetch, exit 0 -------------------------------------


@pytest.mark.parametrize(
    ("config", "env", "reason"),
    [
        ('key_store = "keyring"', {"CREDPROC_TEST_KEYRING": ""}, "OS keychain could not be used"),  # locked
        ('key_store = "env"', {}, "CREDPROC_CACHE_KEY is not set"),
        ('key_store = "auto"', {"CREDPROC_CACHE_KEY": "not-a-key"}, "not the base64 of 32 bytes"),
    ],
)
def test_get_with_an_unusable_key_store_warns_and_goes_on_uncached(
    sandbox: Sandbox, config: str, env: dict[str, str], reason: str
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + f"\n[cache]\n{config}\n")
    for _ in range(2):
        result = sandbox.run("get", "dev", env=env)
        assert result.returncode == 0
        assert json.loads(result.stdout)["AccessKeyId"]
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0] and "continuing without the cache" in lines[0]
    assert assume_calls(sandbox, HUB_ARN) == 2 and assume_calls(sandbox, DEV_ROLE) == 2
    assert not any(sandbox.cache_dir.glob("*.cred")) if sandbox.cache_dir.exists() else True


def test_get_on_a_machine_without_a_keychain_uses_the_key_file(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    no_keychain = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    first = sandbox.run("get", "dev", env=no_keychain)
    assert first.returncode == 0, first.stderr
    key_file = Path(sandbox.env["CREDPROC_DATA_DIR"]) / "cache.key"
    assert first.stderr == f"credproc: created the cache key file {key_file} (no OS keychain available)\n"
    sandbox.sts.recorder.reset()
    second = sandbox.run("get", "dev", env=no_keychain)
    assert second.stdout == first.stdout and second.stderr == ""
    assert sandbox.sts.recorder.calls == []


def test_an_unknown_key_store_is_a_config_error(sandbox: Sandbox) -> None:
    text = TWO_HOP_CONFIG + '\n[cache]\nkey_store = "vault"\n'
    sandbox.write_config(text)
    line = text.splitlines().index('key_store = "vault"') + 1
    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, f"{sandbox.config_path}:{line}: cache.key_store", exit_code=3)


# mkdir fails there even for root (Linux's sysfs), and nothing else in the path is wrong.
UNMAKEABLE = "/sys/credproc-test-data"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs, where mkdir fails even for root")
@pytest.mark.parametrize("key_store", ["file", "keyring"])
def test_a_data_directory_that_cannot_be_made_is_one_warning_naming_it_and_the_fix(
    sandbox: Sandbox, key_store: str
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + f'\n[cache]\nkey_store = "{key_store}"\n')
    result = sandbox.run("get", "dev", env={"CREDPROC_DATA_DIR": UNMAKEABLE})
    assert result.returncode == 0 and json.loads(result.stdout)["AccessKeyId"]
    [line] = result.stderr.strip().splitlines()
    assert f"cannot create {UNMAKEABLE} (" in line and "keychain" not in line
    assert "set CREDPROC_DATA_DIR to a writable directory" in line
