"""`credproc env` and `credproc get --format`: shell lines a real shell
evaluates to the account's credentials, and the JSON forms."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, credproc_executable

from credproc.aws_credentials import Credentials
from credproc.output import credential_variables, shell_lines

NASTY = "a'b\"c $HOME `id` \\ ; | & * ? ~ é\ttab ’quote"
PRINT_AWS = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AWS_')}))"


def test_sh_evaluates_env_output_to_the_accounts_credentials(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text("[profile shared]\nregion = us-east-1\n")
    script = f'eval "$("$CREDPROC" env dev)" && "$PYTHON" -c "{PRINT_AWS}"'
    result = subprocess.run(
        ["sh", "-c", script],
        env={**sandbox.env, "CREDPROC": credproc_executable(), "PYTHON": sys.executable, "AWS_PROFILE": "shared"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    document = sandbox.get_json("dev")  # served from the cache: the same credentials
    assert env["AWS_ACCESS_KEY_ID"] == document["AccessKeyId"]
    assert env["AWS_SECRET_ACCESS_KEY"] == document["SecretAccessKey"]
    assert env["AWS_SESSION_TOKEN"] == document["SessionToken"]
    assert env["AWS_CREDENTIAL_EXPIRATION"] == document["Expiration"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-2"
    assert "AWS_PROFILE" not in env


def _nasty_lines(shell: str) -> str:
    credentials = Credentials("AKIA'X", NASTY, "token\nwith newline", datetime(2030, 1, 1, tzinfo=UTC))
    values, remove = credential_variables(credentials, "eu-west-1")
    return shell_lines(values, remove, shell)


def test_sh_quoting_survives_any_value() -> None:
    script = (
        _nasty_lines("sh")
        + 'printf "%s|%s|%s|%s" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" "${AWS_PROFILE-unset}"'
    )
    result = subprocess.run(
        ["sh", "-c", script], env={"AWS_PROFILE": "x", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"AKIA'X|{NASTY}|token\nwith newline|unset"


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_quoting_survives_any_value() -> None:
    script = _nasty_lines("fish") + "printf '%s|%s|%s' $AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY $AWS_SESSION_TOKEN"
    result = subprocess.run(["fish", "-c", script], capture_output=True, text=True)
    assert result.stdout == f"AKIA'X|{NASTY}|token\nwith newline"


@pytest.mark.skipif(shutil.which("pwsh") is None, reason="PowerShell is not installed")
def test_powershell_quoting_survives_any_value() -> None:
    script = _nasty_lines("powershell") + (
        "[Console]::Out.Write($Env:AWS_ACCESS_KEY_ID + '|' + $Env:AWS_SECRET_ACCESS_KEY + '|' + $Env:AWS_SESSION_TOKEN)"
    )
    result = subprocess.run(["pwsh", "-NoProfile", "-Command", script], capture_output=True, text=True)
    assert result.stdout == f"AKIA'X|{NASTY}|token\nwith newline"


def test_fish_and_powershell_lines_set_and_unset(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fish = sandbox.run("env", "dev", "--shell", "fish")
    assert fish.returncode == 0, fish.stderr
    assert "set -gx AWS_REGION 'us-east-2'\n" in fish.stdout and "set -e AWS_PROFILE\n" in fish.stdout
    powershell = sandbox.run("env", "dev", "--shell", "powershell")
    assert "$Env:AWS_DEFAULT_REGION = 'us-east-2'\n" in powershell.stdout
    assert "Remove-Item -ErrorAction SilentlyContinue Env:AWS_DEFAULT_PROFILE\n" in powershell.stdout


def test_get_formats(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    process = sandbox.run("get", "dev")
    pretty = sandbox.run("get", "dev", "--format", "json")
    env = sandbox.run("get", "dev", "--format", "env")
    assert process.returncode == pretty.returncode == env.returncode == 0
    document = json.loads(process.stdout)
    assert process.stdout.count("\n") == 1  # credential_process: one compact line
    assert json.loads(pretty.stdout) == {**document, "Region": "us-east-2"}
    assert pretty.stdout.startswith("{\n  ")
    assert document["AccountId"] == DEV_ACCOUNT
    assert f"export AWS_ACCESS_KEY_ID={document['AccessKeyId']}\n" in env.stdout
    assert "unset AWS_PROFILE\n" in env.stdout


def test_unknown_format_or_shell_is_a_usage_error(sandbox: Sandbox) -> None:
    for args in (["get", "dev", "--format", "yaml"], ["env", "dev", "--shell", "tcsh"]):
        assert_one_clear_error(sandbox.run(*args), "invalid choice", exit_code=2)
