"""`credproc source add|list|remove` and `[source] stored`: the chain starts
from keys kept in the (tests' own) keychain or a sealed file, against the local
STS, through the installed console script; secrets never shown."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    DEV_ACCOUNT,
    HUB_ARN,
    SUPPORT,
    TWO_HOP_CONFIG,
    Sandbox,
    assert_one_clear_error,
    credproc_executable,
)
from local_sts import sts_error

KEY_ID = "AKIASTOREDSOURCE0001"
SECRET = "stored-source-secret-key-000000000000001"
OTHER_KEY_ID = "AKIASTOREDSOURCE0002"
OTHER_SECRET = "stored-source-secret-key-000000000000002"
STORED_CONFIG = TWO_HOP_CONFIG.replace(
    '[source]\nregion = "us-east-1"', '[source]\nregion = "us-east-1"\nstored = "default"'
)


def without_env_keys(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's environment without its source keys: only the store can give them."""
    env = {k: v for k, v in sandbox.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    sandbox.env.clear()
    sandbox.env.update(env)
    return env


def run_input(
    sandbox: Sandbox, text: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed credproc with ``text`` on stdin, no controlling terminal."""
    return subprocess.run(
        [credproc_executable(), *args],
        env=env or sandbox.env,
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )


def add(
    sandbox: Sandbox, key_id: str = KEY_ID, secret: str = SECRET, *options: str
) -> subprocess.CompletedProcess[str]:
    result = run_input(sandbox, f"{key_id}\n{secret}\n", "source", "add", *options, "--stdin")
    assert result.returncode == 0, result.stderr
    return result


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        assert SECRET not in output and OTHER_SECRET not in output, output


def test_chain_from_stored_keys_and_a_new_key_is_a_new_identity(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    added = add(sandbox, KEY_ID, SECRET, "--verbose")
    assert added.stdout == ""
    assert "verified: AKIA…0001 is arn:aws:" in added.stderr
    assert "stored source keys 'default' (AKIA…0001) in the OS keychain" in added.stderr
    assert_no_secret(added.stderr)
    sandbox.write_config(STORED_CONFIG)

    first = sandbox.get_json("dev")
    [hub] = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    assert hub.access_key_id == KEY_ID
    assert first["AccountId"] == DEV_ACCOUNT
    assert sandbox.get_json("dev") == first  # cached: no new call
    verbose = sandbox.run("get", "dev", "--refresh", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "source keys 'default' (AKIA…0001) from the keychain" in verbose.stderr
    assert_no_secret(verbose.stderr)
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 2

    removed = sandbox.run("source", "remove", "default", "--yes")
    assert removed.returncode == 0, removed.stderr
    add(sandbox, OTHER_KEY_ID, OTHER_SECRET)
    second = sandbox.get_json("dev")
    hubs = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    assert [call.access_key_id for call in hubs] == [KEY_ID, KEY_ID, OTHER_KEY_ID]
    assert second["AccessKeyId"] != first["AccessKeyId"]


def test_boto3_through_a_credential_process_profile_never_sees_the_stored_keys(sandbox: Sandbox) -> None:
    env = without_env_keys(sandbox)
    add(sandbox)
    sandbox.write_config(STORED_CONFIG)
    Path(env["AWS_CONFIG_FILE"]).write_text(
        f"[profile dev]\ncredential_process = {credproc_executable()} get dev\nregion = us-east-1\n"
    )
    script = "import boto3; print(boto3.Session(profile_name='dev').client('sts').get_caller_identity()['Arn'])"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"
    # A child of credproc: neither the stored key id nor its secret in its environment.
    shown = sandbox.run("exec", "dev", "--", sys.executable, "-c", "import os; print(dict(os.environ))")
    assert shown.returncode == 0, shown.stderr
    assert KEY_ID not in shown.stdout
    assert_no_secret(shown.stdout, shown.stderr)


def test_each_over_accounts_assumed_straight_from_the_source_reads_the_stored_keys_once(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    add(sandbox)
    accounts = "".join(f'\n[accounts.direct-{n}]\nid = "{400000000000 + n}"\n' for n in range(3))
    sandbox.write_config(STORED_CONFIG.split("[accounts.dev]")[0] + accounts)
    result = sandbox.run("each", "--all", "--verbose", "--", "true")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("source keys 'default'") == 1  # one keychain read, not one per account
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 3


def test_no_keychain_seals_a_file_and_says_so(sandbox: Sandbox) -> None:
    env = without_env_keys(sandbox)
    for name in ("PYTHON_KEYRING_BACKEND", "CREDPROC_TEST_KEYRING"):
        env.pop(name)
    sandbox.env.clear()
    sandbox.env.update(env)  # a headless box: no D-Bus, no display, no backend named
    added = add(sandbox)
    notes = [line for line in added.stderr.splitlines() if "no OS keychain here" in line]
    assert len(notes) == 1, added.stderr
    sealed = Path(env["CREDPROC_DATA_DIR"]) / "source-keys" / "default.sealed"
    data = sealed.read_bytes()
    assert SECRET.encode() not in data and KEY_ID.encode() not in data
    sandbox.write_config(STORED_CONFIG)
    sandbox.get_json("dev")
    assert [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)] == [KEY_ID]
    listed = sandbox.run("source", "list")
    assert "file" in listed.stdout.split("\n")[1]


def test_add_checks_the_keys_once_and_refuses_what_sts_refuses(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)

    def refuse(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("Action") != "GetCallerIdentity":
            return None
        return sts_error("InvalidClientTokenId", "The security token included in the request is invalid.")

    sandbox.sts.recorder.faults.append(refuse)
    result = run_input(sandbox, f"{KEY_ID}\n{SECRET}\n", "source", "add", "--stdin")
    line = assert_one_clear_error(result, "AKIA…0001", "InvalidClientTokenId", exit_code=4)
    assert_no_secret(line)
    assert len(sandbox.sts.recorder.of("GetCallerIdentity")) == 1
    verbose = run_input(sandbox, f"{KEY_ID}\n{SECRET}\n", "source", "add", "--stdin", "--verbose")
    assert verbose.returncode == 4
    assert_no_secret(verbose.stdout, verbose.stderr)
    assert len(sandbox.sts.recorder.of("GetCallerIdentity")) == 2
    assert sandbox.run("source", "list", "--json").stdout == "[]\n"
    skipped = run_input(sandbox, f"{KEY_ID}\n{SECRET}\n", "source", "add", "--stdin", "--no-verify")
    assert skipped.returncode == 0, skipped.stderr
    assert len(sandbox.sts.recorder.of("GetCallerIdentity")) == 2


def test_list_masks_and_never_shows_secrets(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    add(sandbox)
    add(sandbox, OTHER_KEY_ID, OTHER_SECRET, "work")
    listed = sandbox.run("source", "list", "--verbose")
    assert listed.returncode == 0, listed.stderr
    header, default, work = listed.stdout.splitlines()
    assert header.split() == ["NAME", "ACCESS", "KEY", "ARN", "WHERE", "AGE"]
    assert default.split()[:2] == ["default", "AKIA…0001"] and "keychain" in default
    assert work.split()[:2] == ["work", "AKIA…0002"]
    assert KEY_ID not in listed.stdout
    assert_no_secret(listed.stdout, listed.stderr)
    rows = json.loads(sandbox.run("source", "list", "--json").stdout)
    assert [row["name"] for row in rows] == ["default", "work"]
    assert rows[0]["arn"].startswith("arn:aws:")


def test_add_checks_the_keys_given_whatever_aws_profile_names(sandbox: Sandbox) -> None:
    env = {**without_env_keys(sandbox), "AWS_PROFILE": "no-such-profile"}  # as rotate: the keys sign, not a profile
    result = run_input(sandbox, f"{KEY_ID}\n{SECRET}\n", "source", "add", "--stdin", env=env)
    assert result.returncode == 0, result.stderr
    assert "verified: AKIA…0001 is arn:aws:" in result.stderr
    assert [call.access_key_id for call in sandbox.sts.recorder.of("GetCallerIdentity")] == [KEY_ID]


def test_add_refuses_to_replace_stored_keys(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    add(sandbox)
    again = run_input(sandbox, f"{OTHER_KEY_ID}\n{OTHER_SECRET}\n", "source", "add", "--stdin")
    assert_one_clear_error(again, "'default' exist already (AKIA…0001)", "source remove default", exit_code=2)


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [
        ("AKIASTOREDSOURCE0001\n", "expected two lines"),
        ("AKIA\nstored-source-secret-key-000000000000001\n", "16-128 letters and digits"),
        ("ASIASTOREDSOURCE0001\nstored-source-secret-key-000000000000001\n", "temporary key"),
        (
            "AWS_ACCESS_KEY_ID=AKIASTOREDSOURCE0001\nAWS_SECRET_ACCESS_KEY=x-secret-000000000000001\n"
            "AWS_SESSION_TOKEN=token\n",
            "session token",
        ),
    ],
)
def test_bad_stdin_is_one_line_without_the_secret(sandbox: Sandbox, stdin: str, fragment: str) -> None:
    result = run_input(sandbox, stdin, "source", "add", "--stdin")
    line = assert_one_clear_error(result, fragment, exit_code=2)
    assert "secret-000" not in line


def test_aws_vault_export_lines_are_read(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    exported = f"AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\nAWS_REGION=us-east-1\n"
    result = run_input(sandbox, exported, "source", "add", "vault", "--stdin")
    assert result.returncode == 0, result.stderr
    sandbox.write_config(STORED_CONFIG.replace('stored = "default"', 'stored = "vault"'))
    sandbox.get_json("dev")
    assert [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)] == [KEY_ID]


def test_add_without_a_terminal_or_stdin_is_a_clear_error(sandbox: Sandbox) -> None:
    result = sandbox.run("source", "add", new_session=True)
    assert_one_clear_error(result, "no terminal", "--stdin", exit_code=2)


needs_pty = pytest.mark.skipif(not hasattr(os, "openpty"), reason="no pseudo-terminals on this platform")


def _wait_for(fd: int, screen: bytearray, marker: bytes) -> None:
    while marker not in screen:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no {marker!r} on the terminal; got {bytes(screen)!r}"
        screen.extend(os.read(fd, 4096))


@needs_pty
def test_add_asks_on_the_terminal_without_echo(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    master, slave = os.openpty()
    try:
        with_tty = [sys.executable, str(SUPPORT / "run_with_tty.py"), os.ttyname(slave)]
        process = sandbox.start("source", "add", prefix=with_tty)
        screen = bytearray()
        _wait_for(master, screen, b"access key id")
        os.write(master, KEY_ID.encode() + b"\n")
        _wait_for(master, screen, b"secret access key")
        os.write(master, SECRET.encode() + b"\n")
        stdout, stderr = process.communicate(timeout=120)
        ready, _, _ = select.select([master], [], [], 0)
        if ready:
            screen.extend(os.read(master, 4096))
    finally:
        os.close(master)
        os.close(slave)
    assert process.returncode == 0, stderr
    assert KEY_ID.encode() not in screen and SECRET.encode() not in screen  # never echoed
    assert stdout == ""
    assert_no_secret(stderr)
    assert "AKIA…0001" in sandbox.run("source", "list").stdout


def test_remove_with_a_planted_lock_file_is_one_line_and_exit_6(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    add(sandbox)
    lock = Path(sandbox.env["CREDPROC_DATA_DIR"], "source-keys", ".lock")
    lock.unlink(missing_ok=True)
    lock.symlink_to(sandbox.root / "elsewhere")
    result = sandbox.run("source", "remove", "default", "--yes")
    assert_one_clear_error(result, f"the file {lock} is a symbolic link", f"remove {lock}", exit_code=6)
    assert "default" in sandbox.run("source", "list").stdout  # nothing was removed


def test_remove_asks_unless_yes(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    add(sandbox)
    result = sandbox.run("source", "remove", "default", new_session=True)
    assert_one_clear_error(result, "no terminal to confirm on", "credproc source remove default --yes", exit_code=2)
    assert "default" in sandbox.run("source", "list").stdout
    sandbox.write_config(STORED_CONFIG)
    removed = sandbox.run("source", "remove", "default", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "source.stored still names them" in removed.stderr  # said, with the fix
    gone = sandbox.run("source", "remove", "default", "--yes")
    assert_one_clear_error(gone, "no stored source keys named default", exit_code=4)
    failed = sandbox.run("get", "dev")
    assert_one_clear_error(failed, "no stored source keys named default", "credproc source add default", exit_code=4)


def test_stored_and_profile_together_are_a_config_error(sandbox: Sandbox) -> None:
    sandbox.write_config('[source]\nprofile = "shared"\nstored = "default"\n\n[defaults]\nrole = "Deployer"\n')
    result = sandbox.run("get", DEV_ACCOUNT)
    assert_one_clear_error(result, f"{sandbox.config_path}:3: source.stored", "keep one", exit_code=3)


def test_a_bad_stored_name_is_a_config_error(sandbox: Sandbox) -> None:
    sandbox.write_config('[source]\nstored = "../etc"\n\n[defaults]\nrole = "Deployer"\n')
    result = sandbox.run("get", DEV_ACCOUNT)
    assert_one_clear_error(result, f"{sandbox.config_path}:2: source.stored", "credproc source list", exit_code=3)


def test_doctor_checks_the_stored_source(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    add(sandbox)
    sandbox.write_config(STORED_CONFIG)
    result = sandbox.run("doctor")
    assert "from stored keys default" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_secret(result.stdout, result.stderr)


def test_stored_keys_win_over_keys_in_the_environment(sandbox: Sandbox) -> None:
    add(sandbox)  # the sandbox's environment holds other keys: botocore's chain would pick those
    sandbox.write_config(STORED_CONFIG)
    sandbox.get_json("dev")
    assert [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)] == [KEY_ID]


def test_mfa_works_from_stored_keys(sandbox: Sandbox) -> None:
    without_env_keys(sandbox)
    add(sandbox)
    serial = "arn:aws:iam::123456789012:mfa/tester"
    code = sandbox.root / "code.py"
    code.write_text("print('493817')\n")
    mfa = f'mfa_serial = "{serial}"\nmfa_process = {json.dumps(f"{sys.executable} {code}")}'
    sandbox.write_config(STORED_CONFIG.replace('stored = "default"', f'stored = "default"\n{mfa}'))
    sandbox.get_json("dev")
    [token] = sandbox.sts.recorder.of("GetSessionToken")
    assert (token.access_key_id, token.params["SerialNumber"], token.params["TokenCode"]) == (KEY_ID, serial, "493817")
    [hub] = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    assert hub.access_key_id != KEY_ID  # signed with the MFA session's keys


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs, where mkdir fails even for root")
def test_a_data_directory_that_cannot_be_made_is_one_line_and_exit_6(sandbox: Sandbox) -> None:
    unmakeable = "/sys/credproc-test-data"  # mkdir fails there even for root
    env = {**sandbox.env, "CREDPROC_DATA_DIR": unmakeable}
    result = run_input(sandbox, f"{KEY_ID}\n{SECRET}\n", "source", "add", "--stdin", "--no-verify", env=env)
    assert result.returncode == 6 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert f"cannot create {unmakeable}/source-keys (" in line
    assert "set CREDPROC_DATA_DIR to a writable directory" in line
    assert_no_secret(result.stderr)
