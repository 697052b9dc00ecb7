"""What a warm cache hit loads, and the shortcuts that keep it cheap (not
about time: benchmarks/run.py measures that). Each shortcut is checked
against the slow path it replaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox

from credproc import cache, paths

# Run in a fresh interpreter: the credproc a user's AWS tool starts.
LIST_MODULES = """
import json, sys
from credproc.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump(sorted(sys.modules), out)
sys.exit(code)
"""

MISS_ONLY = ("boto3", "botocore", "urllib3", "filelock", "keyring", "jaraco", "s3transfer")


def user_environment(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox without credproc's path overrides: files in the XDG dirs, as for a user."""
    env = {
        k: v for k, v in sandbox.env.items() if k not in ("CREDPROC_CONFIG", "CREDPROC_CACHE_DIR", "CREDPROC_DATA_DIR")
    }
    config = Path(env["XDG_CONFIG_HOME"], "credproc", "config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    return env


def modules_loaded_by(sandbox: Sandbox, env: dict[str, str], *args: str) -> set[str]:
    listing = sandbox.root / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", LIST_MODULES, str(listing), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccountId"] == DEV_ACCOUNT
    return set(json.loads(listing.read_text()))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_warm_hit_imports_nothing_the_miss_needs(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    cold = modules_loaded_by(sandbox, env, "get", "dev")
    assert {"boto3", "botocore", "filelock"} <= top_level(cold)  # the check below can fail

    warm = modules_loaded_by(sandbox, env, "get", "dev")
    assert not top_level(warm) & set(MISS_ONLY)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2  # the second run was a cache hit
    assert "cryptography.hazmat.primitives.ciphers" not in warm  # the binding's AESGCM, see cache.aesgcm_class
    if sys.platform == "linux":
        assert "platformdirs" not in top_level(warm)  # XDG dirs computed in paths.py
    assert not {"socket", "traceback", "difflib", "tempfile", "configparser"} & warm


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the D-Bus rule is for Linux and the BSDs")
def test_auto_key_store_without_a_session_bus_does_not_ask_keyring(sandbox: Sandbox) -> None:
    env = user_environment(sandbox)
    config = Path(env["XDG_CONFIG_HOME"], "credproc", "config.toml")
    config.write_text(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "auto"\n')
    for name in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"):
        env.pop(name, None)

    modules_loaded_by(sandbox, env, "get", "dev")
    warm = modules_loaded_by(sandbox, env, "get", "dev")
    assert "keyring" not in top_level(warm)
    assert Path(env["XDG_DATA_HOME"], "credproc", "cache.key").stat().st_size == 32

    # A keyring backend chosen by the user is still asked (the sandbox's test keyring).
    env["PYTHON_KEYRING_BACKEND"] = sandbox.env["PYTHON_KEYRING_BACKEND"]
    chosen = modules_loaded_by(sandbox, env, "get", "dev")
    assert "keyring" in top_level(chosen)
    assert "credproc/cache-key" in json.loads(Path(env["CREDPROC_TEST_KEYRING"]).read_text())


def test_aesgcm_from_the_binding_is_the_public_class() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert cache.aesgcm_class() is AESGCM


@pytest.mark.skipif(sys.platform != "linux", reason="paths.py computes the XDG dirs on Linux only")
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"XDG_CONFIG_HOME": "/x/config", "XDG_CACHE_HOME": "/x/cache/", "XDG_DATA_HOME": "/x//data"},
        {"XDG_CONFIG_HOME": "relative/config", "XDG_CACHE_HOME": "", "XDG_DATA_HOME": "~/data"},
    ],
)
def test_linux_dirs_match_platformdirs(
    overrides: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "CREDPROC_CACHE_DIR", "CREDPROC_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ)
    assert paths.config_dir(env) == Path(platformdirs.user_config_dir("credproc", appauthor=False))
    assert paths.cache_dir(env) == Path(platformdirs.user_cache_dir("credproc", appauthor=False))
    assert paths.data_dir(env) == Path(platformdirs.user_data_dir("credproc", appauthor=False))


def large_config(count: int, role: str = "Deployer") -> str:
    parts = [f'[source]\nregion = "us-east-1"\n\n[defaults]\nrole = "{role}"\n']
    for index in range(count):
        parts.append(f'\n[accounts.acct{index:04d}]\nid = "{100000000000 + index}"\nregion = "us-east-2"\n')
    return "".join(parts)


def accounts(sandbox: Sandbox) -> dict[str, str]:
    result = sandbox.run("accounts", "--json")
    assert result.returncode == 0, result.stderr
    return {row["alias"]: row["role"] for row in json.loads(result.stdout)}


def snapshots(sandbox: Sandbox) -> list[Path]:
    return sorted((sandbox.cache_dir / "config-snapshots").glob("*.json"))


def test_large_config_snapshot_follows_every_edit(sandbox: Sandbox) -> None:
    path = sandbox.write_config(large_config(600))
    assert accounts(sandbox)["acct0599"] == "Deployer"
    [snapshot] = snapshots(sandbox)
    assert snapshot.stat().st_mode & 0o777 == 0o600
    assert (sandbox.cache_dir / "config-snapshots").stat().st_mode & 0o777 == 0o700
    assert accounts(sandbox)["acct0599"] == "Deployer"  # from the snapshot

    # Same size, same mtime, different content: still seen.
    before = path.stat()
    path.write_text(large_config(600, role="Deployes"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert accounts(sandbox)["acct0599"] == "Deployes"


def test_large_config_snapshot_not_ours_is_ignored(sandbox: Sandbox) -> None:
    sandbox.write_config(large_config(600))
    accounts(sandbox)
    [snapshot] = snapshots(sandbox)
    stored = json.loads(snapshot.read_text())
    stored["data"]["accounts"] = {"planted": {"id": "999999999999"}}
    snapshot.write_text(json.dumps(stored))
    snapshot.chmod(0o644)  # readable (so writable) by others: not trusted
    assert "planted" not in accounts(sandbox)


def test_large_config_errors_name_the_same_line_with_a_snapshot(sandbox: Sandbox) -> None:
    text = large_config(600).replace(
        '[accounts.acct0500]\nid = "100000000500"\n', '[accounts.acct0500]\nid = "100000000500"\nduration = "13h"\n'
    )
    path = sandbox.write_config(text)
    line = text.splitlines().index('duration = "13h"') + 1
    first = sandbox.run("get", "acct0500")
    assert snapshots(sandbox)  # the parse succeeded; validation failed
    second = sandbox.run("get", "acct0500")
    assert first.returncode == second.returncode == 3
    assert first.stderr == second.stderr
    assert second.stderr.startswith(f"credproc: {path}:{line}: accounts.acct0500.duration: '13h'")
    assert second.stdout == ""

    broken = text.replace("[accounts.acct0100]", "[accounts.acct0100", 1)
    path.write_text(broken)
    line = broken.splitlines().index("[accounts.acct0100") + 1
    result = sandbox.run("get", "acct0500")
    assert result.returncode == 3
    assert f"is not valid TOML: Expected ']' at the end of a table declaration (at line {line}," in result.stderr
