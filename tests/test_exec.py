"""`credproc exec`: the command gets the account's credentials in its
environment (never on a command line), and its exit status and signals are
the caller's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from conftest import DEV_ACCOUNT, PROD_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error

from credproc.commands import exec as execute
from credproc.errors import CommandError

PRINT_ENV = "import json, os, sys; print(json.dumps({'env': dict(os.environ), 'argv': sys.argv, 'ppid': os.getppid()}))"


def caller_arn(sandbox: Sandbox, env: dict[str, str]) -> str:
    client = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=sandbox.sts.url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    return str(client.get_caller_identity()["Arn"])


def test_command_sees_the_accounts_credentials_and_region(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text("[profile shared]\nregion = us-east-1\n")
    parent = {"AWS_PROFILE": "shared", "AWS_DEFAULT_PROFILE": "shared", "AWS_SECURITY_TOKEN": "stale", "KEEP_ME": "1"}
    result = sandbox.run("exec", "dev", "--", sys.executable, "-c", PRINT_ENV, "--role", "-v", env=parent)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    env = seen["env"]
    assert caller_arn(sandbox, env) == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-2"
    assert env["AWS_CREDENTIAL_EXPIRATION"].endswith("Z")
    for gone in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN", "CREDPROC_DEPTH"):
        assert gone not in env
    assert env["KEEP_ME"] == "1"
    # the command's own arguments reach it untouched, and no secret is among them
    assert seen["argv"][1:] == ["--role", "-v"]
    assert not any(env["AWS_SECRET_ACCESS_KEY"] in arg or env["AWS_SESSION_TOKEN"] in arg for arg in seen["argv"])


@pytest.mark.skipif(os.name != "posix", reason="exec replaces the process on POSIX only")
def test_credproc_replaces_itself_with_the_command(sandbox: Sandbox) -> None:
    result = sandbox.run("exec", PROD_ACCOUNT, "--role", "ReadOnly", "--", sys.executable, "-c", PRINT_ENV)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["ppid"] == os.getpid()  # no credproc process in between
    assert f"{PROD_ACCOUNT}:assumed-role/ReadOnly/" in caller_arn(sandbox, seen["env"])


def test_exit_code_passes_through(sandbox: Sandbox) -> None:
    result = sandbox.run("exec", PROD_ACCOUNT, "--role", "ReadOnly", "--", sys.executable, "-c", "raise SystemExit(42)")
    assert result.returncode == 42


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_death_by_signal_passes_through(sandbox: Sandbox) -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    result = sandbox.run("exec", PROD_ACCOUNT, "--role", "ReadOnly", "--", sys.executable, "-c", script)
    assert result.returncode == -signal.SIGTERM


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_signal_sent_to_credproc_reaches_the_command(sandbox: Sandbox) -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(77))\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = sandbox.start("exec", PROD_ACCOUNT, "--role", "ReadOnly", "--", sys.executable, "-c", script, stderr=None)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 77  # the command's handler ran
    finally:
        process.kill()
        process.wait()


def test_command_not_found_is_exit_127_with_one_line(sandbox: Sandbox) -> None:
    result = sandbox.run("exec", PROD_ACCOUNT, "--role", "ReadOnly", "--", "no-such-program-credproc-test", "x")
    line = assert_one_clear_error(result, exit_code=127)
    assert line == (
        "credproc: exec: command not found: no-such-program-credproc-test "
        "(fix: check the spelling, or give the full path of the program)"
    )


def test_missing_command_is_a_usage_error(sandbox: Sandbox) -> None:
    for args in (["exec", "dev"], ["exec", "dev", "--"]):
        assert_one_clear_error(sandbox.run(*args), "put the command after --", exit_code=2)
    without_dashes = sandbox.run("exec", "dev", "aws", "s3", "ls")
    assert_one_clear_error(without_dashes, "(fix: credproc exec dev -- aws s3 ls)", exit_code=2)


def test_no_credentials_no_command(sandbox: Sandbox) -> None:
    marker = sandbox.root / "ran"
    script = f"open({str(marker)!r}, 'w').close()"
    result = sandbox.run("exec", "no-such-alias", "--", sys.executable, "-c", script)
    assert_one_clear_error(result, "no-such-alias", exit_code=3)
    assert not marker.exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_command_starts_with_default_signal_handling(sandbox: Sandbox) -> None:
    """Python ignores SIGPIPE, and an ignored signal survives exec: the command must not inherit that."""
    result = sandbox.run("exec", PROD_ACCOUNT, "--role", "ReadOnly", "--", "sh", "-c", "yes | head -n 1")
    assert result.returncode == 0
    assert result.stdout == "y\n"
    assert result.stderr == ""  # `yes` died of SIGPIPE quietly instead of reporting a broken pipe


def test_on_windows_the_program_is_looked_up_on_the_commands_path(tmp_path: Path) -> None:
    """CreateProcess alone finds only .exe files; aws.cmd or cdk.cmd must be found the way
    a shell finds them (shutil.which honours PATHEXT there), on the command's own PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    started: list[list[str]] = []

    class Started:
        def __init__(self, argv: list[str], **kwargs: object) -> None:
            started.append(argv)

        def wait(self) -> int:
            return 3

    assert execute.run_command(["tool", "--flag"], {"PATH": str(bin_dir)}, windows=True, popen=Started) == 3
    assert started == [[str(tool), "--flag"]]

    def missing(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        raise FileNotFoundError(argv[0])

    with pytest.raises(CommandError) as raised:
        execute.run_command(["no-such-tool"], {"PATH": str(bin_dir)}, windows=True, popen=missing)
    assert raised.value.exit_code == 127
