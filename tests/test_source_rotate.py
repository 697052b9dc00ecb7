"""`credproc source rotate` through the installed console script, against
moto's IAM and STS behind the tests' front: the chain moves to the new key,
the old one is gone from IAM, IAM's two-key limit is one clear line, and with
[source] mfa_serial the IAM calls go through one MFA session. (Faults at each
step: tests/test_rotation.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from conftest import (
    ADMIN_KEY_ID,
    HUB_ARN,
    SHARED_ACCOUNT,
    TWO_HOP_CONFIG,
    Sandbox,
    assert_one_clear_error,
    credproc_executable,
)

STORED_CONFIG = TWO_HOP_CONFIG.replace(
    '[source]\nregion = "us-east-1"', '[source]\nregion = "us-east-1"\nstored = "work"'
)


class User:
    """An IAM user in moto with one access key, stored by `credproc source add work`."""

    def __init__(self, sandbox: Sandbox) -> None:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            sandbox.env.pop(name)  # only the store gives the source keys
        sandbox.env["AWS_ENDPOINT_URL_IAM"] = sandbox.sts.url
        self.sandbox = sandbox
        self.name = "rotate-cli-" + uuid.uuid4().hex[:8]
        self.arn = f"arn:aws:iam::{SHARED_ACCOUNT}:user/{self.name}"
        self.iam = sandbox.admin_iam()
        self.iam.create_user(UserName=self.name)
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        self.first_key, self.first_secret = key["AccessKeyId"], key["SecretAccessKey"]
        added = subprocess.run(
            [credproc_executable(), "source", "add", "work", "--stdin"],
            env=sandbox.env,
            input=f"{self.first_key}\n{self.first_secret}\n",
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )
        assert added.returncode == 0, added.stderr
        sandbox.write_config(STORED_CONFIG)

    def keys(self) -> set[str]:
        return {key["AccessKeyId"] for key in self.iam.list_access_keys(UserName=self.name)["AccessKeyMetadata"]}

    def hub_signers(self) -> list[str]:
        return [call.access_key_id for call in self.sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]


@pytest.fixture
def user(sandbox: Sandbox) -> User:
    return User(sandbox)


def test_rotate_moves_the_chain_to_a_new_key_and_deletes_the_old(sandbox: Sandbox, user: User) -> None:
    before = sandbox.get_json("dev")
    assert user.hub_signers() == [user.first_key]

    result = sandbox.run("source", "rotate")  # the name: [source] stored
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (new_key,) = user.keys()  # the old key is gone from IAM
    assert new_key != user.first_key
    assert f"{user.first_key[:4]}…{user.first_key[-4:]} is deleted" in result.stderr
    assert f"{new_key[:4]}…{new_key[-4:]} is stored" in result.stderr
    assert user.first_secret not in result.stderr

    listed = json.loads(sandbox.run("source", "list", "--json").stdout)
    assert [(row["name"], row["access_key_id"], row["arn"]) for row in listed] == [
        ("work", f"{new_key[:4]}…{new_key[-4:]}", user.arn)
    ]
    after = sandbox.get_json("dev")  # a new key is a new identity: no session of the old one is handed out
    assert after["AccessKeyId"] != before["AccessKeyId"]
    assert user.hub_signers() == [user.first_key, new_key]


def test_a_user_with_two_keys_gets_one_line_naming_the_delete_command(sandbox: Sandbox, user: User) -> None:
    other = user.iam.create_access_key(UserName=user.name)["AccessKey"]["AccessKeyId"]
    result = sandbox.run("source", "rotate", "work")
    line = assert_one_clear_error(
        result,
        "already has two access keys",
        f"aws iam delete-access-key --user-name {user.name} --access-key-id {other}",
        exit_code=4,
    )
    assert user.first_secret not in line
    assert user.keys() == {user.first_key, other}


def test_with_mfa_serial_one_code_from_mfa_process_signs_the_iam_calls(sandbox: Sandbox, user: User) -> None:
    script = sandbox.root / "code.py"
    script.write_text("print('654321')\n")
    serial = f"arn:aws:iam::{SHARED_ACCOUNT}:mfa/{user.name}"
    sandbox.write_config(
        STORED_CONFIG.replace(
            'stored = "work"', f'stored = "work"\nmfa_serial = "{serial}"\nmfa_process = "{sys.executable} {script}"'
        )
    )
    result = sandbox.run("source", "rotate")
    assert result.returncode == 0, result.stderr
    recorder = sandbox.sts.recorder
    (session,) = recorder.of("GetSessionToken")
    assert session.params["TokenCode"] == "654321" and session.params["SerialNumber"] == serial
    (create,) = [
        call for call in recorder.of("CreateAccessKey") if call.access_key_id != ADMIN_KEY_ID
    ]  # not the setup's
    assert create.access_key_id != user.first_key  # the MFA session's key
    assert len(user.keys()) == 1 and user.first_key not in user.keys()


def test_unknown_stored_keys_are_one_line(sandbox: Sandbox, user: User) -> None:
    result = sandbox.run("source", "rotate", "nosuch")
    assert_one_clear_error(result, "no stored source keys named nosuch", "credproc source add nosuch", exit_code=4)
    assert user.keys() == {user.first_key}
