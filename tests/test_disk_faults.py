"""Faults at the disk: a credproc killed with SIGKILL at any point while it
fetches and writes never leaves a cache entry that reads back corrupt, and an
entry deleted under a running credproc is simply fetched again."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox

from credproc import keystore
from credproc.cache import SUFFIX, Cache
from credproc.log import Log

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")


def open_user_cache(sandbox: Sandbox) -> Cache:
    key, _ = keystore.load_key("auto", sandbox.env, Log())
    return Cache(sandbox.cache_dir, key, Log())


def test_sigkill_while_writing_never_leaves_a_corrupt_entry(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    assert sandbox.get_json("dev")["AccountId"] == DEV_ACCOUNT  # creates the key and the entries
    chooser = random.Random(20261123)  # fixed seed: the same kill points every run
    for _ in range(25):
        process = sandbox.start("get", "dev", "--refresh", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        # Vary the kill point across start-up, the STS calls and the writes;
        # whatever it hits, the invariant below must hold.
        time.sleep(chooser.uniform(0.0, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
        cache = open_user_cache(sandbox)
        for path in sandbox.cache_dir.glob("*" + SUFFIX):
            if path.name.startswith("."):
                continue  # a temp file the killed process never renamed: not an entry
            assert cache.get(path.name[: -len(SUFFIX)]) is not None, f"corrupt entry {path.name}"
    after = sandbox.run("get", "dev")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["AccountId"] == DEV_ACCOUNT


def test_entry_deleted_between_runs_is_fetched_again(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    first = sandbox.get_json("dev")
    for path in sandbox.cache_dir.glob("*" + SUFFIX):
        path.unlink()
    second = sandbox.get_json("dev")
    assert second["AccountId"] == DEV_ACCOUNT
    assert second["AccessKeyId"] != first["AccessKeyId"]
