"""Single flight across real processes, and locks that never outlive their
holder. Counts are taken at the local STS server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cache_support import DEV_ROLE, assume_calls, caller_arn
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, start_credproc

PROCESSES = 30
WAIT = 120  # seconds; a bound for hangs, never a measured duration


@dataclass
class Run:
    """A credproc process whose stderr is read line by line as it comes."""

    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)
    stdout: str = ""


def hold_assume_role(role_arn: str, arrived: threading.Event, release: threading.Event) -> Callable[..., None]:
    """A server-side fault that parks AssumeRole of ``role_arn`` until released."""

    def fault(params: dict[str, str]) -> None:
        if params.get("Action") == "AssumeRole" and params.get("RoleArn") == role_arn:
            arrived.set()
            release.wait(timeout=WAIT)

    return fault


def test_thirty_processes_on_a_cold_cache_make_one_sts_call_per_hop(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # The first hub call is parked until every process has missed the cache
    # and is on its way to the hop locks: without single flight, each of them
    # would then call STS.
    arrived, release = threading.Event(), threading.Event()
    sandbox.sts.recorder.faults.append(hold_assume_role(HUB_ARN, arrived, release))
    missed = threading.Condition()
    # The parked call must not time out on the client side (a retry would be
    # a second call): give STS calls as long as the test waits.
    patient = {"CREDPROC_STS_TIMEOUT": str(WAIT)}
    runs = [Run(sandbox.start("get", "dev", "--verbose", env=patient)) for _ in range(PROCESSES)]

    def read(run: Run) -> None:
        assert run.process.stderr is not None and run.process.stdout is not None
        for line in run.process.stderr:
            run.stderr_lines.append(line)
            if "source identity:" in line:  # logged after the cold-cache lookup, before the locks
                with missed:
                    missed.notify_all()
        run.stdout = run.process.stdout.read()

    readers = [threading.Thread(target=read, args=(run,)) for run in runs]
    for reader in readers:
        reader.start()
    try:
        with missed:
            all_missed = missed.wait_for(
                lambda: all(any("source identity:" in line for line in run.stderr_lines) for run in runs),
                timeout=WAIT,
            )
    finally:
        release.set()
        for reader in readers:
            reader.join(timeout=WAIT)
        for run in runs:
            run.process.wait(timeout=WAIT)
    assert all_missed, "not every process reached the locks"

    failures = [run.stderr_lines for run in runs if run.process.returncode != 0]
    assert failures == []
    outputs = {run.stdout for run in runs}
    assert len(outputs) == 1
    document = json.loads(outputs.pop())
    assert document["AccountId"] == DEV_ACCOUNT
    assert caller_arn(sandbox, document) == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"
    for secret in (document["SecretAccessKey"], document["SessionToken"]):
        assert not any(secret in line for run in runs for line in run.stderr_lines)  # --verbose included
    assert assume_calls(sandbox, HUB_ARN) == 1
    assert assume_calls(sandbox, DEV_ROLE) == 1
    waited_for_hub = [
        run for run in runs if any("hop 1: " in line and "meanwhile" in line for line in run.stderr_lines)
    ]
    assert len(waited_for_hub) == PROCESSES - 1


def test_processes_creating_the_key_file_together_agree_on_one_key(sandbox: Sandbox) -> None:
    """``--verbose``: not rememberable, so no claim (credproc/single_flight.py)
    keeps all but one away from the key store; the key file's own
    first-writer-wins is what is tested."""
    sandbox.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    processes = [sandbox.start("get", "dev", "--verbose") for _ in range(10)]
    results = [process.communicate(timeout=WAIT) for process in processes]
    assert [process.returncode for process in processes] == [0] * 10, [stderr for _, stderr in results]
    assert len({stdout for stdout, _ in results}) == 1
    assert assume_calls(sandbox, HUB_ARN) == 1 and assume_calls(sandbox, DEV_ROLE) == 1
    assert sum(stderr.count("created the cache key file") for _, stderr in results) == 1


def test_a_lock_left_by_a_killed_process_never_blocks(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    arrived, release = threading.Event(), threading.Event()
    sandbox.sts.recorder.faults.append(hold_assume_role(HUB_ARN, arrived, release))
    holder = sandbox.start("get", "dev", env={"CREDPROC_STS_TIMEOUT": str(WAIT)})
    try:
        assert arrived.wait(timeout=WAIT)  # the holder is inside the hub entry's lock
        holder.kill()
        holder.communicate(timeout=WAIT)
    finally:
        release.set()
    sandbox.sts.recorder.faults.clear()
    assert list(sandbox.cache_dir.glob("*.lock"))  # the file stays; the OS lock went with the process

    result = sandbox.run("get", "dev", env={"CREDPROC_LOCK_TIMEOUT": "5"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccountId"] == DEV_ACCOUNT


def test_a_live_lock_holder_is_waited_for_a_bounded_time(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    arrived, release = threading.Event(), threading.Event()
    sandbox.sts.recorder.faults.append(hold_assume_role(HUB_ARN, arrived, release))
    holder = sandbox.start("get", "dev", env={"CREDPROC_STS_TIMEOUT": str(WAIT)})
    try:
        assert arrived.wait(timeout=WAIT)
        result = sandbox.run("get", "dev", env={"CREDPROC_LOCK_TIMEOUT": "1"})
    finally:
        release.set()
    assert_one_clear_error(result, "waited 1 s for another credproc process", "CREDPROC_LOCK_TIMEOUT", exit_code=6)

    out, err = holder.communicate(timeout=WAIT)
    assert holder.returncode == 0, err  # the holder itself finishes normally
    assert json.loads(out)["AccountId"] == DEV_ACCOUNT


# -- a first fan-out: no cache dir, no data dir ----------------------------------------------


def imported(log: Path) -> set[str]:
    """The modules a process run with ``python -X importtime`` imported (its stderr in ``log``)."""
    lines = log.read_text().splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def other_lines(log: Path) -> list[str]:
    """What a process wrote on stderr besides ``-X importtime``'s lines."""
    return [line for line in log.read_text().splitlines() if not line.startswith("import time:")]


def start_logged(sandbox: Sandbox, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """``credproc get dev`` under ``python -X importtime``, its stderr in ``log``
    (a file, not a pipe: a full pipe would stall the process the others wait for)."""
    with open(log, "w") as stderr:
        return start_credproc(["get", "dev"], env, prefix=[sys.executable, "-X", "importtime"], stderr=stderr)


def test_a_first_fan_out_on_a_new_machine_runs_the_full_path_once(sandbox: Sandbox) -> None:
    """A new CI runner: neither the cache dir (nor its parent) nor the data
    dir exists. Of the processes started at once, one claims the request
    (credproc/single_flight.py): it alone loads botocore, reaches the key store
    (and creates the key file) and calls STS; every other one prints its
    answer, byte for byte."""
    sandbox.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    cache_dir = sandbox.root / "new-runner" / "cache"
    data_dir = Path(sandbox.env["CREDPROC_DATA_DIR"])
    env = {**sandbox.env, "CREDPROC_CACHE_DIR": str(cache_dir)}
    assert not cache_dir.parent.exists() and not data_dir.exists()
    logs = [sandbox.root / f"fan-out-{number}.log" for number in range(PROCESSES)]
    processes = [start_logged(sandbox, env, log) for log in logs]
    outputs = [process.communicate(timeout=WAIT)[0] for process in processes]

    assert [process.returncode for process in processes] == [0] * PROCESSES, [other_lines(log) for log in logs]
    assert len(set(outputs)) == 1
    document = json.loads(outputs[0])
    assert caller_arn(sandbox, document) == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"
    assert assume_calls(sandbox, HUB_ARN) == 1 and assume_calls(sandbox, DEV_ROLE) == 1
    full_path = [log for log in logs if "credproc.cli" in imported(log)]
    assert len(full_path) == 1  # the claimer; the others never loaded the CLI
    assert [log for log in logs if "botocore" in imported(log)] == full_path
    assert [log for log in logs if "credproc.keystore" in imported(log)] == full_path
    # The one line a user sees on stderr, from the one process that made the key.
    notice = f"credproc: created the cache key file {data_dir / 'cache.key'} (no OS keychain available)"
    assert [line for log in logs for line in other_lines(log)] == [notice] == other_lines(full_path[0])
    assert stat.S_IMODE((data_dir / "cache.key").stat().st_mode) == 0o600
    for directory in (cache_dir.parent, cache_dir, cache_dir / "pending", data_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    left = sorted(path.name for path in (cache_dir / "pending").iterdir())
    assert len(left) == 1 and left[0].endswith(".lock")  # the claim's empty lock file


def hold_first_assume_role(role_arn: str, arrived: threading.Event, release: threading.Event) -> Callable[..., None]:
    """A server-side fault that parks the first AssumeRole of ``role_arn`` until released; later ones pass."""
    held = threading.Lock()

    def fault(params: dict[str, str]) -> None:
        if params.get("Action") == "AssumeRole" and params.get("RoleArn") == role_arn and held.acquire(blocking=False):
            arrived.set()
            release.wait(timeout=WAIT)

    return fault


@pytest.mark.skipif(os.name != "posix", reason="claims are POSIX locks")
@pytest.mark.parametrize(
    "cache_table",
    ["enabled = false", 'key_store = "env"'],  # disabled; a key store that cannot be used (CREDPROC_CACHE_KEY unset)
    ids=["disabled", "key-store-unusable"],
)
def test_without_a_cache_waiters_are_not_held_back_and_nothing_is_kept(sandbox: Sandbox, cache_table: str) -> None:
    """A run that will use no cache remembers nothing for waiters to read
    back, so the claimer lets its claim go as soon as it knows
    (credproc/single_flight.py). Gets started while its STS call hangs fetch
    their own and finish meanwhile; nothing is kept but the claim's empty
    lock file, and no key is made."""
    sandbox.write_config(TWO_HOP_CONFIG + f"\n[cache]\n{cache_table}\n")
    arrived, release = threading.Event(), threading.Event()
    sandbox.sts.recorder.faults.append(hold_first_assume_role(HUB_ARN, arrived, release))
    patient = {**sandbox.env, "CREDPROC_STS_TIMEOUT": str(WAIT)}
    claimer = start_credproc(["get", "dev"], patient)
    others: list[subprocess.Popen[str]] = []
    try:
        try:
            assert arrived.wait(timeout=WAIT)  # the claimer's hub call hangs
            others = [start_credproc(["get", "dev"], patient) for _ in range(3)]
            finished = [process.communicate(timeout=WAIT) for process in others]
            assert claimer.poll() is None  # they did not wait for it
        finally:
            release.set()
        finished.append(claimer.communicate(timeout=WAIT))
    finally:
        for process in (claimer, *others):  # none left to call STS during the next test
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [process.returncode for process in (*others, claimer)] == [0] * 4, [err for _, err in finished]
    assert {json.loads(out)["AccountId"] for out, _ in finished} == {DEV_ACCOUNT}
    assert assume_calls(sandbox, HUB_ARN) == 4 and assume_calls(sandbox, DEV_ROLE) == 4
    kept = [path for path in sandbox.cache_dir.rglob("*") if path.is_file()]
    assert [path.parent.name for path in kept] == ["pending"] and kept[0].suffix == ".lock"
    assert kept[0].stat().st_size == 0
    assert not Path(sandbox.env["CREDPROC_DATA_DIR"]).exists()


def test_a_file_system_without_locks_is_an_error_at_once_not_a_wait(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flock failing outright (ENOLCK on some network mounts) is no other
    process holding the lock: acquire says so at once (the cache then goes on
    without the lock, with one warning) rather than waiting out the timeout."""
    import errno
    import fcntl

    from credproc import locking

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(OSError) as raised:
        locking.acquire(sandbox.root / "entry.lock", timeout=3600)
    assert raised.value.errno == errno.ENOLCK
