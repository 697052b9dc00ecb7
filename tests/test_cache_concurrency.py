"""Single flight across real processes, and locks that never outlive their
holder. Counts are taken at the local STS server."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from cache_support import DEV_ROLE, assume_calls, caller_arn
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error

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
    sandbox.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "file"\n')
    processes = [sandbox.start("get", "dev") for _ in range(10)]
    results = [process.communicate(timeout=WAIT) for process in processes]
    assert [process.returncode for process in processes] == [0] * 10
    assert len({stdout for stdout, _ in results}) == 1
    assert assume_calls(sandbox, HUB_ARN) == 1 and assume_calls(sandbox, DEV_ROLE) == 1
    notices = [stderr for _, stderr in results if stderr]
    assert len(notices) == 1 and notices[0].count("\n") == 1
    assert "created the cache key file" in notices[0]


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
