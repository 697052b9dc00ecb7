"""`credproc exec --server`: the command runs as credproc's child with the
endpoint's two variables (and no static keys), every AWS client reaches the
account through it, it keeps working past its first session, signals and exit
codes pass through, and no secret shows on a command line or in --verbose.
Also plain `exec`'s rule: never start a command on the second half of a session."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEV_ACCOUNT, HUB_ARN, SUPPORT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, credproc_executable
from endpoint_support import expire_after, kill_if_running, port_is_closed, request
from sdk_clients import Client, account_of, boto3_client

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"
SOURCE_SECRET = "shared-source-secret-key-0001"

# Prints its environment and the credentials the endpoint gave boto3, then
# waits for stdin to close (so tests can look at the running processes).
REPORT_AND_WAIT = """
import boto3, json, os, sys
frozen = boto3.Session().get_credentials().get_frozen_credentials()
print(json.dumps({"env": dict(os.environ), "key": frozen.access_key, "secret": frozen.secret_key,
                  "token": frozen.token}), flush=True)
sys.stdin.read()
"""

# Says "got N" for each signal it gets; on SIGTERM prints them all and exits 77.
# (It polls: a signal that lands just before signal.pause() would be missed.)
SIGNALS_THEN_77 = """
import json, signal, sys, time
seen = []
for number in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
    signal.signal(number, lambda n, _: seen.append(n))
print("ready", flush=True)
told = 0
while signal.SIGTERM not in seen:
    time.sleep(0.05)
    for number in seen[told:]:
        print(f"got {number}", flush=True)
    told = len(seen)
print(json.dumps(seen), flush=True)
sys.exit(77)
"""


def signals_seen(out: str) -> list[int]:
    return list(json.loads(out.splitlines()[-1]))


# Uses boto3 until it has seen a second session (bounded), then reports.
OUTLIVE_THE_SESSION = """
import boto3, json, time
session = boto3.Session()
credentials, sts = session.get_credentials(), session.client("sts")
keys, accounts = [], set()
deadline = time.monotonic() + 120
while time.monotonic() < deadline and len(keys) < 2:
    accounts.add(sts.get_caller_identity()["Account"])
    key = credentials.get_frozen_credentials().access_key
    if key not in keys:
        keys.append(key)
    time.sleep(0.5)
print(json.dumps({"keys": keys, "accounts": sorted(accounts)}))
"""


def exec_server(
    sandbox: Sandbox, *command: str, options: tuple[str, ...] = (), new_session: bool = False
) -> subprocess.Popen[str]:
    return sandbox.start("exec", "--server", "dev", *options, "--", *command, new_session=new_session)


def test_every_client_reaches_the_account_through_the_endpoint(sandbox: Sandbox, client: Client) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # The source keys are in credproc's environment: the command must not get them.
    result = sandbox.run("exec", "--server", "dev", "--", *client.argv(sandbox.env))
    assert account_of(result) == DEV_ACCOUNT
    assert json.loads(result.stdout)["Arn"].startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")


def test_the_command_gets_the_endpoint_not_keys_and_no_secret_is_on_any_command_line(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text("[profile shared]\nregion = us-east-1\n")
    parent = {"AWS_PROFILE": "shared", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x", "AWS_SESSION_TOKEN": "parent"}
    process = sandbox.start(
        "exec", "--server", "dev", "--", sys.executable, "-c", REPORT_AND_WAIT, env=parent, stdin=subprocess.PIPE
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        report = json.loads(process.stdout.readline())
        env = report["env"]
        assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-2"
        for gone in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "CREDPROC_DEPTH",
        ):
            assert gone not in env
        assert report["key"].startswith("ASIA") and report["key"] != sandbox.env["AWS_ACCESS_KEY_ID"]
        secrets = [env["AWS_CONTAINER_AUTHORIZATION_TOKEN"], report["secret"], report["token"], SOURCE_SECRET]
        if Path("/proc").is_dir():
            scanned = 0
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    text = cmdline.read_bytes().decode(errors="replace")
                except OSError:
                    continue  # a process that ended meanwhile
                scanned += 1
                assert not any(secret in text for secret in secrets), cmdline
            assert scanned > 2
        url = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        kill_if_running(process)
    assert port_is_closed(url)  # the endpoint ended with the command


def test_a_command_that_outlives_its_first_session_keeps_working(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # Each session of the target falls inside the 15 min margin 3 s after STS issues it.
    sandbox.sts.recorder.rewrites.append(expire_after(15 * 60 + 3, DEV_ROLE))
    result = sandbox.run("exec", "--server", "dev", "--", sys.executable, "-c", OUTLIVE_THE_SESSION, timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["keys"]) == 2, report  # a second, new session, handed over while it ran
    assert report["accounts"] == [DEV_ACCOUNT]  # and every call before and after worked
    # Only the target hop was fetched again: the hub session stayed good.
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) >= 2


def test_concurrent_cold_starts_with_get_make_one_assume_role_per_hop(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    server = exec_server(sandbox, *boto3_client().argv(sandbox.env))
    getters = [sandbox.start("get", "dev") for _ in range(8)]
    out, err = server.communicate(timeout=240)
    assert server.returncode == 0, err
    assert json.loads(out)["Account"] == DEV_ACCOUNT
    keys = set()
    for getter in getters:
        got, errors = getter.communicate(timeout=240)
        assert getter.returncode == 0, errors
        keys.add(json.loads(got)["AccessKeyId"])
    assert len(keys) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 1


def test_exit_codes_pass_through(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    assert sandbox.run("exec", "--server", "dev", "--", sys.executable, "-c", "raise SystemExit(42)").returncode == 42
    result = sandbox.run("exec", "--server", "dev", "--", "no-such-command-credproc")
    assert result.returncode == 127
    assert_one_clear_error(result, "no-such-command-credproc")


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_death_by_a_signal_is_128_plus_n(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert sandbox.run("exec", "--server", "dev", "--", sys.executable, "-c", script).returncode == 128 + 9


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGHUP])
def test_signals_sent_to_credproc_reach_the_command_once(sandbox: Sandbox, first: int) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # A new session: no controlling terminal, as under a supervisor or in CI.
    process = exec_server(sandbox, sys.executable, "-c", SIGNALS_THEN_77, new_session=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(first)
        assert process.stdout.readline() == f"got {first}\n"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        kill_if_running(process)
    assert process.returncode == 77, err
    assert signals_seen(out) == [first, signal.SIGTERM]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal via /dev/pts")
def test_ctrl_c_in_the_terminal_reaches_the_command_once(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                str(SUPPORT / "run_with_tty.py"),
                os.ttyname(slave),
                credproc_executable(),
                "exec",
                "--server",
                "dev",
                "--",
                sys.executable,
                "-c",
                SIGNALS_THEN_77,
            ],
            env=sandbox.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
            os.write(master, b"\x03")  # Ctrl-C: the terminal signals its whole foreground group
            assert process.stdout.readline() == f"got {signal.SIGINT}\n"
            # A second SIGINT passed on by credproc would come before the SIGTERM it passes on next.
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
        finally:
            kill_if_running(process)
    finally:
        os.close(master)
        os.close(slave)
    assert process.returncode == 77, err
    assert signals_seen(out) == [signal.SIGINT, signal.SIGTERM]


def test_verbose_output_never_holds_the_token_or_a_secret(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    script = (
        "import boto3, json, os, urllib.request\n"
        "frozen = boto3.Session().get_credentials().get_frozen_credentials()\n"
        "bad = urllib.request.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'], headers={'Authorization': 'x'})\n"
        "try:\n    urllib.request.urlopen(bad)\nexcept Exception:\n    pass\n"
        "print(json.dumps([os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN'], frozen.secret_key, frozen.token]))\n"
    )
    result = sandbox.run("exec", "--server", "dev", "--verbose", "--", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    assert "endpoint: serving" in result.stderr and "refused" in result.stderr
    for secret in [*json.loads(result.stdout), SOURCE_SECRET]:
        assert secret not in result.stderr


def test_a_default_profile_with_its_own_keys_is_warned_about(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    credentials = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text("[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s\n")
    result = sandbox.run("exec", "--server", "dev", "--", sys.executable, "-c", "pass")
    assert result.returncode == 0
    assert f"the default profile in {credentials} has credentials of its own" in result.stderr


def test_endpoint_options_need_server(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("exec", "dev", "--port", "8123", "--", "true")
    assert result.returncode == 2
    assert_one_clear_error(result, "--port needs --server")


def test_the_token_file_is_used_and_removed(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    token_file = tmp_path / "token"
    script = (
        "import os, json; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AWS_CONTAINER')}))"
    )
    result = sandbox.run("exec", "--server", "dev", "--token-file", str(token_file), "--", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    variables = json.loads(result.stdout)
    assert variables["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(token_file)
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in variables
    assert not token_file.exists()
    result = sandbox.run(
        "exec", "--server", "dev", "--token-file", str(token_file), "--", *boto3_client().argv(sandbox.env)
    )
    assert account_of(result) == DEV_ACCOUNT


# -- plain exec: at least half of the session left ----------------------------------------------------


def exec_key(sandbox: Sandbox, *options: str) -> tuple[str, str]:
    key, expiration, _ = exec_run(sandbox, *options)
    return key, expiration


def exec_run(sandbox: Sandbox, *options: str) -> tuple[str, str, str]:
    """``exec dev``'s key and expiration as the command saw them, and exec's stderr."""
    script = "import os; print(os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_CREDENTIAL_EXPIRATION'])"
    result = sandbox.run("exec", "dev", *options, "--", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    key, expiration = result.stdout.split()
    return key, expiration, result.stderr


def test_plain_exec_never_starts_a_command_on_the_second_half_of_a_session(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    sandbox.sts.recorder.rewrites.append(expire_after(20 * 60, DEV_ROLE))  # a 1 h session, 40 min in
    cached = sandbox.get_json("dev")
    assert sandbox.get_json("dev")["AccessKeyId"] == cached["AccessKeyId"]  # get still hands it out
    sandbox.sts.recorder.rewrites.clear()
    key, _, said = exec_run(sandbox, "--verbose")
    assert key != cached["AccessKeyId"]
    # --verbose says why: the session is handed out by get, but has less than half of its hour left.
    assert re.search(r"hop 2: the cached session has (19|20) min left, less than the 30 min this run needs", said)
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 2
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1  # only the target hop was fetched again
    # The new session is fresh: the next exec (and get) reuse it.
    assert exec_key(sandbox)[0] == key and sandbox.get_json("dev")["AccessKeyId"] == key
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 2


def test_the_endpoint_answers_while_the_command_runs(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    process = sandbox.start(
        "exec", "--server", "dev", "--", sys.executable, "-c", REPORT_AND_WAIT, stdin=subprocess.PIPE
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        env = json.loads(process.stdout.readline())["env"]
        answer = request(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
        assert answer.status == 200 and answer.body["AccountId"] == DEV_ACCOUNT
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        kill_if_running(process)
