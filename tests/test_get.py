"""`credproc get` end to end: the installed script against the local STS,
checked with GetCallerIdentity, boto3 profiles and the AWS CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cache_support import caller_arn
from conftest import (
    DEV_ACCOUNT,
    HUB_ACCOUNT,
    HUB_ARN,
    PROD_ACCOUNT,
    TWO_HOP_CONFIG,
    Sandbox,
    assert_one_clear_error,
    credproc_executable,
    run_main,
)
from local_sts import sts_error

from credproc import source
from credproc.cli import main

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"


def test_two_hop_chain_reaches_the_target_account(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    document = sandbox.get_json("dev")
    assert document["Version"] == 1
    assert document["AccountId"] == DEV_ACCOUNT
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(document["Expiration"]))
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "AccountId"}
    assert caller_arn(sandbox, document) == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"
    hub_calls = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    dev_calls = sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)
    assert len(hub_calls) == 1 and len(dev_calls) == 1
    assert hub_calls[0].access_key_id == sandbox.env["AWS_ACCESS_KEY_ID"]
    # the second hop is made with the hub's credentials, not the source's
    assert dev_calls[0].access_key_id not in (sandbox.env["AWS_ACCESS_KEY_ID"], "")


def test_stdout_is_only_the_json_document(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("get", "prod", "--verbose")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout)["AccountId"] == PROD_ACCOUNT
    assert "hop 2/2" in result.stderr and HUB_ARN in result.stderr


def test_account_id_and_role_need_no_config(sandbox: Sandbox) -> None:
    assert not sandbox.config_path.exists()
    document = sandbox.get_json(PROD_ACCOUNT, "--role", "ReadOnly")
    assert caller_arn(sandbox, document).startswith(f"arn:aws:sts::{PROD_ACCOUNT}:assumed-role/ReadOnly/")


def test_account_id_of_a_configured_account_uses_its_settings(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    sandbox.get_json(DEV_ACCOUNT, "--role", "cdk-readOnlyRole")
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1  # went through the hub


def test_chained_hops_are_clamped_to_one_hour(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG.replace('duration = "1h"', 'duration = "12h"'))
    result = sandbox.run("get", "dev", "--verbose")
    assert result.returncode == 0, result.stderr
    assert sandbox.sts.recorder.of("AssumeRole", HUB_ARN)[0].params["DurationSeconds"] == "43200"
    assert sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)[0].params["DurationSeconds"] == "3600"
    assert "clamped to 3600 s" in result.stderr


def test_first_hop_from_a_role_source_is_retried_within_one_hour(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG.replace('duration = "1h"', 'duration = "4h"'))

    def role_source_limit(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("Action") == "AssumeRole" and int(params.get("DurationSeconds", "0")) > 3600:
            return sts_error(
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                "400 Bad Request",
            )
        return None

    sandbox.sts.recorder.faults.append(role_source_limit)
    document = sandbox.get_json("dev")
    assert document["AccountId"] == DEV_ACCOUNT
    durations = [call.params["DurationSeconds"] for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]
    assert durations == ["14400", "3600"]


def test_access_denied_names_the_hop_and_the_identity(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)

    def deny_dev(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("RoleArn") == DEV_ROLE:
            return sts_error("AccessDenied", "User is not authorized to perform: sts:AssumeRole")
        return None

    sandbox.sts.recorder.faults.append(deny_dev)
    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, DEV_ROLE, "assumed-role/hub/", "trust policy", exit_code=4)  # hub: who tried


def test_missing_source_credentials_is_an_auth_error(sandbox: Sandbox) -> None:
    result = sandbox.run(
        "get", PROD_ACCOUNT, "--role", "ReadOnly", env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    )
    assert_one_clear_error(result, "no source credentials", exit_code=4)


def _write_aws_config(sandbox: Sandbox, text: str) -> None:
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(text)


def _credproc_profile(name: str, target: str) -> str:
    return f"[profile {name}]\ncredential_process = {credproc_executable()} get {target}\nregion = us-east-1\n"


def test_boto3_profile_through_credential_process(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    _write_aws_config(sandbox, _credproc_profile("dev", "dev"))
    script = "import boto3; print(boto3.Session(profile_name='dev').client('sts').get_caller_identity()['Arn'])"
    result = subprocess.run(
        [sys.executable, "-c", script], env=sandbox.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"


def test_aws_cli_through_credential_process(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    _write_aws_config(sandbox, _credproc_profile("prod", "prod"))
    aws = Path(sys.executable).parent / "aws"
    if not aws.exists():
        pytest.fail("the AWS CLI (awscli from PyPI) is part of the test extra; install it")
    result = subprocess.run(
        [str(aws), "sts", "get-caller-identity", "--profile", "prod", "--output", "json"],
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Account"] == PROD_ACCOUNT


def test_aws_profile_pointing_at_credproc_itself_still_works(sandbox: Sandbox) -> None:
    """AWS_PROFILE=dev where dev is `credproc get dev`: the source must not be dev."""
    sandbox.write_config(TWO_HOP_CONFIG)
    _write_aws_config(sandbox, _credproc_profile("dev", "dev"))
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = default-profile-secret\n"
    )
    script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
    env = {**sandbox.env, "AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{DEV_ACCOUNT}:assumed-role/Deployer" in result.stdout
    assert sandbox.sts.recorder.of("AssumeRole", HUB_ARN)[0].access_key_id == "AKIADEFAULTPROFILE01"


def test_source_profile_that_loops_back_stops_with_a_clear_error(sandbox: Sandbox) -> None:
    sandbox.write_config(
        '[source]\nprofile = "loop"\n'
        + TWO_HOP_CONFIG.replace("[source]\n", "[ignored]\n", 1).replace("[ignored]\n", "", 1)
    )
    _write_aws_config(sandbox, _credproc_profile("loop", "dev"))
    result = sandbox.run("get", "dev", timeout=120)
    # README: a loop is exit code 7, at every level of nesting
    line = assert_one_clear_error(result, "profile loop", exit_code=7)
    assert line.count("calling itself in a loop") == 1  # not once per nested credproc


def test_a_loop_stops_at_once_where_answers_are_remembered(sandbox: Sandbox) -> None:
    """The outer `get dev` claims its request (credproc/single_flight.py) and the
    nested `get dev` its source runs is the same command line: it must not wait
    for that claim (it would until CREDPROC_LOCK_TIMEOUT, past this run's bound)."""
    sandbox.write_config(TWO_HOP_CONFIG)
    assert sandbox.run("get", "dev").returncode == 0  # answers are remembered here from now on
    sandbox.write_config('[source]\nprofile = "loop"\n' + TWO_HOP_CONFIG.replace("[source]\n", "", 1))
    _write_aws_config(sandbox, _credproc_profile("loop", "dev"))
    result = sandbox.run("get", "dev", env={"CREDPROC_LOCK_TIMEOUT": "600"}, timeout=120)
    line = assert_one_clear_error(result, "profile loop", exit_code=7)
    assert line.count("calling itself in a loop") == 1


def test_a_loop_that_strips_the_depth_variable_stops_without_the_cache(sandbox: Sandbox) -> None:
    """`env -u CREDPROC_DEPTH credproc get dev` as the source's credential_process:
    every credproc sees depth 0 and there is no lock to wait on, so only the
    process tree can bound the loop (credproc/ancestry.py). The script gives up
    by itself after 12 runs, so a credproc without that bound fails here
    instead of starting credprocs for ever."""
    runs = sandbox.root / "loop-runs.txt"
    script = sandbox.root / "strip-depth.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"echo run >> {shlex.quote(str(runs))}\n"
        f'[ "$(wc -l < {shlex.quote(str(runs))})" -le 12 ] || {{ echo "the loop ran away" >&2; exit 1; }}\n'
        f"exec env -u CREDPROC_DEPTH {shlex.quote(credproc_executable())} get dev --no-cache\n"
    )
    script.chmod(0o755)
    sandbox.write_config('[source]\nprofile = "loop"\n' + TWO_HOP_CONFIG.replace("[source]\n", "", 1))
    _write_aws_config(sandbox, f"[profile loop]\ncredential_process = {script}\n")
    result = sandbox.run("get", "dev", "--no-cache", timeout=120)
    line = assert_one_clear_error(result, "profile loop", exit_code=7)
    assert line.count("calling itself in a loop") == 1
    # the outer credproc and MAX_ANCESTORS nested ones ran; the next one stopped at once
    assert len(runs.read_text().splitlines()) == source.MAX_ANCESTORS + 1
    assert sandbox.sts.recorder.calls == []


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", " 1", "99999999999999999999", "2"])
def test_a_depth_credproc_did_not_set_stops_the_run(sandbox: Sandbox, value: str) -> None:
    """Fail safe: a CREDPROC_DEPTH that is not a small number is not read as 0."""
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("get", "dev", env={"CREDPROC_DEPTH": value})
    line = assert_one_clear_error(result, "calling itself in a loop", exit_code=7)
    assert value == "2" or "unset CREDPROC_DEPTH" in line
    assert sandbox.sts.recorder.calls == []


def test_an_empty_depth_is_no_depth(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("get", "dev", env={"CREDPROC_DEPTH": ""})
    assert result.returncode == 0, result.stderr


def test_source_profile_that_runs_credproc_with_its_own_source_works_cold_and_at_once(sandbox: Sandbox) -> None:
    """[source] profile runs credproc again, with a config whose source has keys: no
    lock the outer credprocs hold is one the inner one needs, so several cold runs
    at once all finish, with one AssumeRole per role."""
    inner = sandbox.root / "hub.toml"
    inner.write_text('[source]\nregion = "us-east-1"\n')
    sandbox.write_config(f'[source]\nprofile = "team"\nregion = "us-east-1"\n\n[accounts.dev]\nid = "{DEV_ACCOUNT}"\n')
    _write_aws_config(
        sandbox,
        f"[profile team]\ncredential_process = {credproc_executable()} get {HUB_ACCOUNT} --role hub --config {inner}\n",
    )
    bound = {"CREDPROC_LOCK_TIMEOUT": "60"}  # a deadlock would fail here, not hang
    processes = [sandbox.start("get", "dev", "--role", "Deployer", env=bound) for _ in range(5)]
    results = [process.communicate(timeout=180) for process in processes]
    assert [process.returncode for process in processes] == [0] * 5, [err for _, err in results]
    assert len({out for out, _ in results}) == 1
    assert caller_arn(sandbox, json.loads(results[0][0])).startswith(
        f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/"
    )
    [hub] = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    [dev] = sandbox.sts.recorder.of("AssumeRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer")
    assert hub.access_key_id == "AKIASHAREDSOURCE0001"  # the inner credproc's source
    assert dev.access_key_id != hub.access_key_id  # the outer one's source: the hub session


def test_main_returns_exit_code_in_process(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(capsys, "get", "not-an-alias")
    assert_one_clear_error(result, "'not-an-alias' is neither a 12-digit account id nor an alias", exit_code=3)


def test_two_gets_in_one_process_do_not_trip_the_recursion_guard(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    assert main(["get", "dev", "--no-cache"]) == 0
    assert main(["get", "prod", "--no-cache"]) == 0
    assert main(["get", "dev", "--no-cache"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["AccountId"] for line in lines] == [DEV_ACCOUNT, PROD_ACCOUNT, DEV_ACCOUNT]


def test_an_in_process_get_leaves_the_process_environment_as_it_found_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The raised depth and a passed-over AWS_PROFILE last only while botocore resolves the source."""
    sandbox.write_config(TWO_HOP_CONFIG)
    _write_aws_config(sandbox, _credproc_profile("dev", "dev"))
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = default-profile-secret\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    before = dict(os.environ)
    assert main(["get", "prod", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["AccountId"] == PROD_ACCOUNT
    # the source was the default profile, not dev (which runs credproc) ...
    assert sandbox.sts.recorder.of("AssumeRole", HUB_ARN)[0].access_key_id == "AKIADEFAULTPROFILE01"
    # ... and nothing of that is left in this process's environment
    assert dict(os.environ) == before


def test_missing_aws_profile_is_named_as_such(sandbox: Sandbox) -> None:
    result = sandbox.run("get", PROD_ACCOUNT, "--role", "ReadOnly", env={"AWS_PROFILE": "nope"})
    line = assert_one_clear_error(result, "AWS_PROFILE", "nope", exit_code=3)
    assert "[source] profile" not in line


def test_unknown_option_names_the_subcommand(sandbox: Sandbox) -> None:
    result = sandbox.run("cache", "list", "--bogus")
    line = assert_one_clear_error(result, exit_code=2)
    assert line == "credproc: cache list: unrecognized arguments: --bogus (fix: see credproc cache list --help)"


def test_an_id_shared_by_two_aliases_uses_the_first_in_the_file(sandbox: Sandbox) -> None:
    """README: a target given as an id takes the settings of the first alias with that id."""
    sandbox.write_config(
        f'[accounts.prod]\nid = "{PROD_ACCOUNT}"\nrole = "Deployer"\n\n'
        f'[accounts.prod-ro]\nid = "{PROD_ACCOUNT}"\nrole = "ReadOnly"\n'
    )
    assert sandbox.get_json(PROD_ACCOUNT)["AccountId"] == PROD_ACCOUNT
    assert [call.params["RoleArn"] for call in sandbox.sts.recorder.of("AssumeRole")] == [
        f"arn:aws:iam::{PROD_ACCOUNT}:role/Deployer"
    ]


@pytest.mark.parametrize(
    ("argv", "runs_credproc"),
    [
        (["/venv/bin/python3", "/venv/bin/credproc", "get", "dev"], True),  # the console script
        (["python3.11", "-I", "-m", "credproc", "get", "dev"], True),
        (["python3", "-X", "importtime", "/venv/bin/credproc", "get", "dev"], True),
        (["/usr/local/bin/credproc", "get", "dev"], True),  # a frozen build
        (["python3", "-c", "import credproc", "credproc"], False),
        (["python3", "-m", "pytest", "credproc"], False),
        (["/bin/sh", "/venv/bin/credproc"], False),  # its shell, not credproc
        (["sudo", "credproc", "get", "dev"], False),  # its child is; counting it too would count one twice
        ([], False),
    ],
)
def test_which_processes_count_as_credproc(argv: list[str], runs_credproc: bool) -> None:
    from credproc import ancestry

    assert ancestry.is_credproc(argv) is runs_credproc


def test_the_parent_pid_is_read_past_a_command_name_with_parentheses() -> None:
    from credproc import ancestry

    assert ancestry.parent_pid(b"4242 (a) b (c)) S 17 4242 4242 0 -1") == 17
    assert ancestry.parent_pid(b"") is None
