"""IAM Identity Center (SSO) profiles as the source: an sso-session profile and
a legacy sso_start_url profile, end to end through a fake portal of the
tests' own (tests/support/sso_portal.py) and the token botocore reads from
~/.aws/sso/cache; a missing, expired or refused token names the exact
`aws sso login`; another start URL, account or role is another identity."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import DEV_ACCOUNT, HUB_ARN, SHARED_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error
from sso_portal import Request, SsoPortal

START_URL = "https://corp.awsapps.com/start"
LEGACY_URL = "https://legacy.awsapps.com/start"
ROLE = "SharedServices"

AWS_CONFIG = f"""
[profile corp]
sso_session = corp-sso
sso_account_id = {SHARED_ACCOUNT}
sso_role_name = {ROLE}
region = us-east-1

[sso-session corp-sso]
sso_start_url = {START_URL}
sso_region = us-east-1
sso_registration_scopes = sso:account:access

[profile legacy]
sso_start_url = {LEGACY_URL}
sso_region = us-east-1
sso_account_id = {SHARED_ACCOUNT}
sso_role_name = {ROLE}

[profile admin]
role_arn = arn:aws:iam::{SHARED_ACCOUNT}:role/Admin
source_profile = corp
"""

# profile -> (what botocore names the token file after, the exact fix)
KINDS = {
    "corp": ("corp-sso", "aws sso login --sso-session corp-sso"),
    "legacy": (LEGACY_URL, "aws sso login --profile legacy"),
}


@pytest.fixture(scope="module")
def portal() -> Iterator[SsoPortal]:
    server = SsoPortal().start()
    yield server
    server.stop()


@pytest.fixture
def desk(sandbox: Sandbox, portal: SsoPortal) -> Sandbox:
    """A user whose only AWS identity is Identity Center: no keys anywhere."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        sandbox.env.pop(name)
    sandbox.env["AWS_ENDPOINT_URL_SSO"] = portal.url
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(AWS_CONFIG)
    portal.grants.clear()
    portal.requests.clear()
    return sandbox


def use_source(sandbox: Sandbox, profile: str) -> None:
    sandbox.write_config(TWO_HOP_CONFIG.replace("[source]\n", f'[source]\nprofile = "{profile}"\n', 1))


def write_token(sandbox: Sandbox, named_after: str, token: str, expires_in: timedelta) -> Path:
    """The token `aws sso login` leaves: ~/.aws/sso/cache/<sha1 of the session name or start URL>.json."""
    cache = Path(sandbox.env["HOME"], ".aws", "sso", "cache")
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / (hashlib.sha1(named_after.encode(), usedforsecurity=False).hexdigest() + ".json")
    expires = (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
    start_url = named_after if named_after.startswith("https://") else START_URL
    path.write_text(
        json.dumps({"startUrl": start_url, "region": "us-east-1", "accessToken": token, "expiresAt": expires})
    )
    return path


def hub_callers(sandbox: Sandbox) -> list[str]:
    return [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]


@pytest.mark.parametrize("profile", list(KINDS))
def test_sso_profile_as_the_source_end_to_end(desk: Sandbox, portal: SsoPortal, profile: str) -> None:
    use_source(desk, profile)
    write_token(desk, KINDS[profile][0], "token-1", timedelta(hours=8))
    key = portal.grant("token-1", SHARED_ACCOUNT, ROLE)

    document = desk.get_json("dev")
    assert document["AccountId"] == DEV_ACCOUNT
    assert portal.requests == [Request("token-1", SHARED_ACCOUNT, ROLE)]
    assert hub_callers(desk) == [key]  # the chain started from the portal's credentials

    assert desk.get_json("dev") == document  # the cache: neither the portal nor STS again
    assert len(portal.requests) == 1 and len(hub_callers(desk)) == 1

    verbose = desk.run("get", "dev", "--refresh", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "token-1" not in verbose.stderr and "sso-secret-" not in verbose.stderr


def test_role_profile_on_top_of_an_sso_profile(desk: Sandbox, portal: SsoPortal) -> None:
    use_source(desk, "admin")
    write_token(desk, "corp-sso", "token-1", timedelta(hours=8))
    key = portal.grant("token-1", SHARED_ACCOUNT, ROLE)
    assert desk.get_json("dev")["AccountId"] == DEV_ACCOUNT
    [admin] = desk.sts.recorder.of("AssumeRole", f"arn:aws:iam::{SHARED_ACCOUNT}:role/Admin")
    assert admin.access_key_id == key


@pytest.mark.parametrize("problem", ["missing", "expired", "refused"])
@pytest.mark.parametrize("profile", list(KINDS))
def test_no_usable_token_names_the_exact_login(desk: Sandbox, portal: SsoPortal, profile: str, problem: str) -> None:
    use_source(desk, profile)
    named_after, fix = KINDS[profile]
    if problem != "missing":
        write_token(desk, named_after, "token-1", timedelta(hours=-1 if problem == "expired" else 8))
    if problem != "refused":
        portal.grant("token-1", SHARED_ACCOUNT, ROLE)

    result = desk.run("get", "dev")
    assert_one_clear_error(result, f"(fix: run {fix}, then retry)", f"profile {profile}", exit_code=4)
    assert f"the source (profile {profile}) has no valid IAM Identity Center (SSO) sign-in" in result.stderr
    assert desk.sts.recorder.of("AssumeRole") == []
    assert "token-1" not in result.stderr


def test_the_login_is_found_behind_a_role_profile_and_the_default_profile(desk: Sandbox) -> None:
    use_source(desk, "admin")
    result = desk.run("get", "dev")
    assert_one_clear_error(result, "(fix: run aws sso login --sso-session corp-sso, then retry)", exit_code=4)

    desk.write_config(TWO_HOP_CONFIG)  # no [source] profile: botocore's default chain, here AWS_PROFILE
    result = desk.run("get", "dev", env={"AWS_PROFILE": "legacy"})
    assert_one_clear_error(result, "(fix: run aws sso login --profile legacy, then retry)", exit_code=4)


@pytest.mark.parametrize("profile", list(KINDS))
def test_doctor_reports_the_same_login(desk: Sandbox, portal: SsoPortal, profile: str) -> None:
    use_source(desk, profile)
    result = desk.run("doctor")
    assert result.returncode == 4
    [line] = [line for line in result.stdout.splitlines() if "source identity:" in line]
    assert line.startswith("failed")
    assert line.endswith(f"(fix: run {KINDS[profile][1]}, then retry)")

    write_token(desk, KINDS[profile][0], "token-1", timedelta(hours=8))
    key = portal.grant("token-1", SHARED_ACCOUNT, ROLE)
    result = desk.run("doctor")
    [line] = [line for line in result.stdout.splitlines() if "source identity:" in line]
    assert line.startswith("ok") and f"(from profile {profile})" in line, result.stdout
    assert [request.token for request in portal.requests] == ["token-1"]
    assert key  # the portal's credentials answered GetCallerIdentity


# --- who the cached sessions belong to: start URL, account and role


def edit_aws_config(sandbox: Sandbox, old: str, new: str) -> None:
    path = Path(sandbox.env["AWS_CONFIG_FILE"])
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


SWITCHES = {
    # what changes in ~/.aws/config, and the token/account/role the portal then sees
    "start URL": (f"sso_start_url = {START_URL}", "sso_start_url = https://other.awsapps.com/start"),
    "account": (f"sso_account_id = {SHARED_ACCOUNT}\nsso_role_name", "sso_account_id = 444444444444\nsso_role_name"),
    "role": (f"sso_role_name = {ROLE}\nregion", "sso_role_name = Auditor\nregion"),
}


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_another_identity_never_gets_the_cached_sessions(desk: Sandbox, portal: SsoPortal, switch: str) -> None:
    use_source(desk, "corp")
    token_file = write_token(desk, "corp-sso", "token-1", timedelta(hours=8))
    first_sign_in = token_file.read_bytes()
    first_key = portal.grant("token-1", SHARED_ACCOUNT, ROLE)
    first = desk.get_json("dev")

    old, new = SWITCHES[switch]
    edit_aws_config(desk, old, new)
    if switch == "start URL":
        # Another Identity Center: `aws sso login` there leaves another token in the same file.
        write_token(desk, "corp-sso", "token-2", timedelta(hours=8))
        second_key = portal.grant("token-2", SHARED_ACCOUNT, ROLE)
    elif switch == "account":
        second_key = portal.grant("token-1", "444444444444", ROLE)
    else:
        second_key = portal.grant("token-1", SHARED_ACCOUNT, "Auditor")

    second = desk.get_json("dev")
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert hub_callers(desk) == [first_key, second_key]  # the hub hop was fetched again, as the new identity

    # Back to the first identity: its own sessions are still its own.
    edit_aws_config(desk, new, old)
    if switch == "start URL":
        # The very first sign-in back in place (a sign-in again would be another
        # identity: the token's bytes are part of it, tests/test_source_identity.py).
        token_file.write_bytes(first_sign_in)
    assert desk.get_json("dev") == first
    assert len(hub_callers(desk)) == 2
