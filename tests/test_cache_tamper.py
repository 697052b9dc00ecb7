"""Damaged, tampered, moved and orphaned cache entries: each is a miss, the
answer is still right, and the entry is replaced by a good one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cache_support import DEV_ROLE, assume_calls, caller_arn
from conftest import DEV_ACCOUNT, HUB_ARN, PROD_ACCOUNT, TWO_HOP_CONFIG, Sandbox


def entry_file(sandbox: Sandbox, account_id: str) -> Path:
    """The cache file holding the final credentials for ``account_id`` (found
    through `credproc cache list --json`, as a user would)."""
    result = sandbox.run("cache", "list", "--json")
    assert result.returncode == 0, result.stderr
    (row,) = [row for row in json.loads(result.stdout) if row["account_id"] == account_id]
    (path,) = sandbox.cache_dir.glob(row["entry"] + "*.cred")
    return path


def flip_a_byte(path: Path, sandbox: Sandbox) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))


def truncate(path: Path, sandbox: Sandbox) -> None:
    path.write_bytes(path.read_bytes()[:-20])


def empty(path: Path, sandbox: Sandbox) -> None:
    path.write_bytes(b"")


def garbage(path: Path, sandbox: Sandbox) -> None:
    path.write_bytes(b'{"AccessKeyId": "AKIAPLAINTEXT", "SecretAccessKey": "x"}')


def copy_prod_over(path: Path, sandbox: Sandbox) -> None:
    """A valid entry, under the same key, moved to another entry's name."""
    shutil.copyfile(entry_file(sandbox, PROD_ACCOUNT), path)


@pytest.mark.parametrize("damage", [flip_a_byte, truncate, empty, garbage, copy_prod_over])
def test_a_damaged_entry_is_a_miss_and_is_replaced(sandbox: Sandbox, damage: Callable[[Path, Sandbox], None]) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    original = sandbox.get_json("dev")
    sandbox.get_json("prod")
    dev_file = entry_file(sandbox, DEV_ACCOUNT)
    damage(dev_file, sandbox)
    damaged = dev_file.read_bytes()
    sandbox.sts.recorder.reset()

    result = sandbox.run("get", "dev")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert document["AccessKeyId"] != original["AccessKeyId"]  # fetched again, not the damaged entry
    assert document["AccountId"] == DEV_ACCOUNT
    assert caller_arn(sandbox, document).startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")
    assert assume_calls(sandbox, DEV_ROLE) == 1 and assume_calls(sandbox, HUB_ARN) == 0  # hub entry still good

    assert dev_file.read_bytes() != damaged
    sandbox.sts.recorder.reset()
    assert sandbox.get_json("dev") == document  # the replacement is a good entry
    assert sandbox.sts.recorder.calls == []


def _forget_keyring_key(sandbox: Sandbox) -> None:
    Path(sandbox.env["CREDPROC_TEST_KEYRING"]).write_text("{}")


def _delete_key_file(sandbox: Sandbox) -> None:
    (Path(sandbox.env["CREDPROC_DATA_DIR"]) / "cache.key").unlink()


@pytest.mark.parametrize(
    ("key_store", "forget", "notice"),
    [("keyring", _forget_keyring_key, ""), ("file", _delete_key_file, "created the cache key file")],
)
def test_an_emptied_key_store_makes_every_entry_a_miss(
    sandbox: Sandbox, key_store: str, forget: Callable[[Sandbox], None], notice: str
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + f'\n[cache]\nkey_store = "{key_store}"\n')
    original = sandbox.get_json("dev")
    before = {path.name: path.read_bytes() for path in sandbox.cache_dir.glob("*.cred")}
    forget(sandbox)
    sandbox.sts.recorder.reset()

    result = sandbox.run("get", "dev")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["AccessKeyId"] != original["AccessKeyId"]
    assert caller_arn(sandbox, document).startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")
    assert assume_calls(sandbox, HUB_ARN) == 1 and assume_calls(sandbox, DEV_ROLE) == 1
    assert (notice in result.stderr) and len(result.stderr.strip().splitlines()) == (1 if notice else 0)

    after = {path.name: path.read_bytes() for path in sandbox.cache_dir.glob("*.cred")}
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)  # re-encrypted under the new key
    sandbox.sts.recorder.reset()
    assert sandbox.get_json("dev") == document
    assert sandbox.sts.recorder.calls == []


def test_a_rotated_environment_key_makes_every_entry_a_miss(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    first_key = {"CREDPROC_CACHE_KEY": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="}
    second_key = {"CREDPROC_CACHE_KEY": "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="}
    first = json.loads(sandbox.run("get", "dev", env=first_key).stdout)
    second = json.loads(sandbox.run("get", "dev", env=second_key).stdout)
    assert first["AccessKeyId"] != second["AccessKeyId"]
    assert assume_calls(sandbox, DEV_ROLE) == 2
