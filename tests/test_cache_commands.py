"""`credproc cache list` and `credproc cache clear [TARGET]`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cache_support import DEV_ROLE, PROD_ROLE, assume_calls
from conftest import DEV_ACCOUNT, HUB_ACCOUNT, HUB_ARN, PROD_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error
from freezegun import freeze_time
from test_cache_get import issued_secrets

from credproc.cli import main

WAIT = 120  # seconds; a bound for hangs, never a measured duration


@pytest.fixture
def warm(sandbox: Sandbox) -> Sandbox:
    """dev and prod fetched: three entries (hub, dev, prod)."""
    sandbox.write_config(TWO_HOP_CONFIG)
    sandbox.get_json("dev")
    sandbox.get_json("prod")
    sandbox.sts.recorder.reset()
    return sandbox


def cred_files(sandbox: Sandbox) -> set[str]:
    return {path.name for path in sandbox.cache_dir.glob("*.cred")}


def assert_no_secret(sandbox: Sandbox, *texts: str) -> None:
    for secret in issued_secrets(sandbox):
        for text in texts:
            assert secret not in text


def test_list_shows_who_which_role_which_source_and_time_left(warm: Sandbox) -> None:
    result = warm.run("cache", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ACCOUNT", "ALIAS", "ROLE", "HOP", "SOURCE", "EXPIRES", "IN"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {DEV_ACCOUNT, HUB_ACCOUNT, PROD_ACCOUNT}
    assert rows[DEV_ACCOUNT][1:4] == ["dev", "Deployer", "2/2"]
    assert rows[PROD_ACCOUNT][1:4] == ["prod", "Deployer", "2/2"]
    assert rows[HUB_ACCOUNT][1:4] == ["-", "hub", "1/2"]  # shared by dev and prod
    for row in rows.values():
        assert row[4:6] == ["environment", "variables"]
        assert row[-1] in ("0h59m", "1h00m")
    assert_no_secret(warm, result.stdout, result.stderr)


def test_list_json(warm: Sandbox) -> None:
    result = warm.run("cache", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_role = {row["role_arn"]: row for row in rows}
    assert set(by_role) == {HUB_ARN, DEV_ROLE, PROD_ROLE}
    dev = by_role[DEV_ROLE]
    assert dev["alias"] == "dev" and dev["account_id"] == DEV_ACCOUNT and dev["hop"] == "2/2"
    assert dev["source"] == "environment variables"
    assert 3500 < dev["expires_in_seconds"] <= 3600
    assert dev["expires"].endswith("Z")
    assert_no_secret(warm, result.stdout)


def test_list_marks_expired_entries(warm: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    with freeze_time(datetime.now(UTC) + timedelta(hours=2)):
        assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("expired") == 3


def test_list_of_an_empty_cache(sandbox: Sandbox) -> None:
    result = sandbox.run("cache", "list")
    assert result.returncode == 0
    assert result.stdout == "the cache is empty\n"


def test_list_when_the_key_store_fails_is_an_error_not_an_empty_list(warm: Sandbox) -> None:
    warm.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "env"\n')
    result = warm.run("cache", "list")
    assert_one_clear_error(result, "CREDPROC_CACHE_KEY is not set", exit_code=6)


def test_list_when_the_cache_is_disabled(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + "\n[cache]\nenabled = false\n")
    result = sandbox.run("cache", "list")
    assert result.returncode == 0
    assert "the cache is disabled" in result.stderr


@pytest.mark.parametrize("target", ["dev", DEV_ACCOUNT])
def test_clear_one_target_keeps_the_others_and_the_shared_hub(warm: Sandbox, target: str) -> None:
    before = cred_files(warm)
    result = warm.run("cache", "clear", target)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "credproc: removed 1 cached session(s)\n"
    assert len(cred_files(warm)) == len(before) - 1
    warm.get_json("prod")
    assert warm.sts.recorder.calls == []
    warm.get_json("dev")
    assert assume_calls(warm, DEV_ROLE) == 1 and assume_calls(warm, HUB_ARN) == 0


def test_clear_everything(warm: Sandbox) -> None:
    result = warm.run("cache", "clear")
    assert result.returncode == 0
    assert result.stderr == "credproc: removed 3 cached session(s)\n"
    assert cred_files(warm) == set()
    warm.get_json("dev")
    assert assume_calls(warm, HUB_ARN) == 1 and assume_calls(warm, DEV_ROLE) == 1


def test_clear_everything_needs_no_key(warm: Sandbox) -> None:
    warm.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "env"\n')  # and no CREDPROC_CACHE_KEY
    result = warm.run("cache", "clear")
    assert result.returncode == 0, result.stderr
    assert cred_files(warm) == set()


def test_clear_an_unknown_target_is_a_usage_error(warm: Sandbox) -> None:
    result = warm.run("cache", "clear", "dve")
    assert_one_clear_error(result, "'dve' is neither", exit_code=3)  # as `get dve` says
    assert len(cred_files(warm)) == 3


def test_clear_key_forgets_the_key_file_too(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    sandbox.get_json("dev")
    key_file = Path(sandbox.env["CREDPROC_DATA_DIR"]) / "cache.key"
    old_key = key_file.read_bytes()
    result = sandbox.run("cache", "clear", "--key")
    assert result.returncode == 0, result.stderr
    assert not key_file.exists() and cred_files(sandbox) == set()
    again = sandbox.run("get", "dev")
    assert again.returncode == 0 and "created the cache key file" in again.stderr
    assert key_file.read_bytes() != old_key


def test_clear_key_forgets_the_keyring_entry(warm: Sandbox) -> None:
    keyring_file = Path(warm.env["CREDPROC_TEST_KEYRING"])
    assert "credproc/cache-key" in json.loads(keyring_file.read_text())
    assert warm.run("cache", "clear", "--key").returncode == 0
    assert "credproc/cache-key" not in json.loads(keyring_file.read_text())


def test_clear_key_with_a_target_is_a_usage_error(warm: Sandbox) -> None:
    result = warm.run("cache", "clear", "dev", "--key")
    assert_one_clear_error(result, exit_code=2)


def test_list_counts_entries_it_cannot_read(warm: Sandbox) -> None:
    damaged = sorted(warm.cache_dir.glob("*.cred"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-1])
    result = warm.run("cache", "list", "--json")
    assert result.returncode == 0
    assert len(json.loads(result.stdout)) == 2
    assert result.stderr.count("\n") == 1 and "1 cache file(s) could not be read" in result.stderr


@pytest.mark.parametrize("args", [["cache", "clear"], ["cache", "clear", "dev"]])
def test_clear_never_removes_a_lock_file(warm: Sandbox, args: list[str]) -> None:
    """A lock file may be held by a running credproc (see the next test); an empty one left behind is harmless."""
    locks = {path.name: path.stat().st_ino for path in warm.cache_dir.glob("*.lock")}
    assert len(locks) == 3
    result = warm.run(*args)
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stderr
    assert {path.name: path.stat().st_ino for path in warm.cache_dir.glob("*.lock")} == locks
    assert warm.get_json("dev")  # and the cache still works
    if args == ["cache", "clear"]:
        assert len(cred_files(warm)) == 1 + 1  # only what the get just wrote: hub and dev


def test_clear_during_a_fetch_keeps_single_flight(sandbox: Sandbox) -> None:
    """`cache clear` while a credproc holds the hub entry's lock (inside its
    AssumeRole): the next credproc still sees the lock held. Had clear removed
    the lock file, it would lock a new one and call STS a second time."""
    sandbox.write_config(TWO_HOP_CONFIG)
    arrived, release = threading.Event(), threading.Event()

    def park_the_first_hub_call(params: dict[str, str]) -> None:
        if params.get("RoleArn") == HUB_ARN and not arrived.is_set():
            arrived.set()
            release.wait(timeout=WAIT)

    sandbox.sts.recorder.faults.append(park_the_first_hub_call)
    # The parked call must not be retried.
    holder = sandbox.start("get", "dev", env={"CREDPROC_STS_TIMEOUT": str(WAIT)})
    try:
        assert arrived.wait(timeout=WAIT)  # the holder is inside the hub entry's lock
        assert sandbox.run("cache", "clear").returncode == 0
        # One look at the lock, no waiting: it is still held, so no second STS call.
        witness = sandbox.run("get", "dev", env={"CREDPROC_LOCK_TIMEOUT": "0"})
    finally:
        release.set()
    out, err = holder.communicate(timeout=WAIT)
    assert holder.returncode == 0, err
    assert json.loads(out)["AccountId"] == DEV_ACCOUNT
    assert witness.returncode == 6, witness.stderr
    assert "waited 0 s for another credproc process" in witness.stderr
    assert assume_calls(sandbox, HUB_ARN) == 1
