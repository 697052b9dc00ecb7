"""Faults at the STS: throttling and 5xx are retried, unreachable or silent
servers fail in bounded time with a clear error, auth failures name the hop."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, start_credproc
from local_sts import sts_error

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"


class FirstN:
    """A fault answering the first ``n`` AssumeRole calls with ``answer``."""

    def __init__(self, n: int, answer: tuple[str, str]) -> None:
        self.left = n
        self.answer = answer
        self.faulted: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("Action") != "AssumeRole":
            return None
        with self.lock:
            if self.left <= 0:
                return None
            self.left -= 1
            self.faulted.append(params["RoleArn"])
        return self.answer


THROTTLED = sts_error("Throttling", "Rate exceeded", "400 Bad Request")
UNAVAILABLE = sts_error("ServiceUnavailable", "try later", "503 Service Unavailable", "Receiver")


def test_throttling_is_retried(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fault = FirstN(2, THROTTLED)
    sandbox.sts.recorder.faults.append(fault)
    document = sandbox.get_json("dev")
    assert document["AccountId"] == DEV_ACCOUNT
    assert fault.faulted == [HUB_ARN, HUB_ARN]
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 3


def test_server_errors_are_retried(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    sandbox.sts.recorder.faults.append(FirstN(1, UNAVAILABLE))
    assert sandbox.get_json("dev")["AccountId"] == DEV_ACCOUNT


def test_endless_throttling_fails_with_exit_5(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    sandbox.sts.recorder.faults.append(FirstN(1000, THROTTLED))
    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, "throttling", HUB_ARN, exit_code=5)


def test_connection_refused(sandbox: Sandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("get", "dev", env={"AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{closed_port}"})
    assert_one_clear_error(result, "could not reach STS", "AWS_ENDPOINT_URL_STS", exit_code=5)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_server_that_never_answers_fails_in_bounded_time(sandbox: Sandbox, silent_server: str) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # The subprocess timeout is the bound: 3 attempts of 1 s plus backoff, far below 60 s.
    result = sandbox.run(
        "get", "dev", env={"AWS_ENDPOINT_URL_STS": silent_server, "CREDPROC_STS_TIMEOUT": "1"}, timeout=60
    )
    assert_one_clear_error(result, "could not reach STS", exit_code=5)


def test_expired_source_token(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    source_key = sandbox.env["AWS_ACCESS_KEY_ID"]
    recorder = sandbox.sts.recorder

    def expired(params: dict[str, str]) -> tuple[str, str] | None:
        # Every call made with the source keys fails, as it does at AWS.
        with recorder.lock:
            last = recorder.calls[-1]
        if last.access_key_id == source_key:
            return sts_error("ExpiredToken", "The security token included in the request is expired")
        return None

    recorder.faults.append(expired)
    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, "ExpiredToken", HUB_ARN, "refresh them", exit_code=4)


def test_many_processes_while_sts_throttles(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fault = FirstN(2, THROTTLED)
    sandbox.sts.recorder.faults.append(fault)
    processes = [sandbox.start("get", "dev") for _ in range(12)]

    outputs = [process.communicate(timeout=180) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    documents = {json.loads(out)["AccessKeyId"] for out, _ in outputs}
    assert len(documents) == 1  # everyone got the one fetched session
    for arn in (HUB_ARN, DEV_ROLE):
        answered = len(sandbox.sts.recorder.of("AssumeRole", arn)) - fault.faulted.count(arn)
        assert answered == 1, arn


def test_a_throttling_storm_does_not_fail_the_process_everyone_waits_for(sandbox: Sandbox) -> None:
    """The first four STS calls are throttled. They all fall on the process
    holding the hub's lock (the others wait for it): it keeps retrying within
    its budget, so all 20 succeed on one AssumeRole per hop."""
    sandbox.write_config(TWO_HOP_CONFIG)
    fault = FirstN(4, THROTTLED)
    sandbox.sts.recorder.faults.append(fault)
    default_budget = {name: value for name, value in sandbox.env.items() if name != "CREDPROC_STS_BUDGET"}
    processes = [start_credproc(["get", "dev"], default_budget) for _ in range(20)]
    outputs = [process.communicate(timeout=180) for process in processes]
    assert [process.returncode for process in processes] == [0] * 20, [err for _, err in outputs]
    assert len({json.loads(out)["AccessKeyId"] for out, _ in outputs}) == 1
    assert fault.faulted == [HUB_ARN] * 4  # the leader took every throttle
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 5
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 1
