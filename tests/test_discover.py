"""`credproc accounts discover`: the organization's accounts from moto's
Organizations (ListAccounts, paginated) turned into config tables."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import SHARED_ACCOUNT, Sandbox, assert_one_clear_error
from local_sts import LocalSts

from credproc.commands.discover import OrgAccount, plan_additions, slugify
from credproc.config import Config

ORG_SIZE = 300
OTHER_MANAGEMENT = "999999999999"
ORG_READER = f"arn:aws:iam::{OTHER_MANAGEMENT}:role/OrgReader"

CONFIG = """# credproc config: comments must survive discovery
[source]
region = "us-east-1"

[defaults]
role = "Deployer"   # every discovered account uses it

[accounts.master]   # an alias the organization's "master" account also wants
id = "444444444444"
"""


@dataclass(frozen=True)
class Organization:
    accounts: dict[str, str]  # id -> name
    closed: tuple[str, ...]


def _name(index: int) -> str:
    if index % 100 == 7:
        return "Équipe Données / Prod"  # collides with itself a few times
    if index % 100 == 8:
        return "2024"  # digits only
    return f"Team {index % 250}"  # Team 0..49 appear twice


@pytest.fixture(scope="module")
def organization(sts: LocalSts) -> Iterator[Organization]:
    """An organization of the source identity's account with ORG_SIZE member accounts."""
    client = boto3.client(
        "organizations",
        region_name="us-east-1",
        endpoint_url=sts.url,
        aws_access_key_id="AKIASHAREDSOURCE0001",
        aws_secret_access_key="shared-source-secret-key-0001",
    )
    client.create_organization(FeatureSet="ALL")
    for index in range(ORG_SIZE):
        client.create_account(Email=f"team{index}@example.com", AccountName=_name(index))
    listed = [account for page in client.get_paginator("list_accounts").paginate() for account in page["Accounts"]]
    members = [account["Id"] for account in listed if account["Id"] != SHARED_ACCOUNT]
    closed = tuple(members[:2])
    for account_id in closed:
        client.close_account(AccountId=account_id)
    yield Organization({account["Id"]: account["Name"] for account in listed}, closed)


def _discovered(stdout: str) -> dict[str, Any]:
    return dict(tomllib.loads(stdout).get("accounts", {}))


def test_dry_run_lists_every_account_with_unique_aliases(sandbox: Sandbox, organization: Organization) -> None:
    sandbox.write_config(CONFIG)
    result = sandbox.run("accounts", "discover")
    assert result.returncode == 0, result.stderr
    tables = _discovered(result.stdout)
    active = set(organization.accounts) - set(organization.closed)
    assert {table["id"] for table in tables.values()} == active
    assert len(tables) == len(active)  # aliases are unique
    assert f"{ORG_SIZE + 1} account(s) in the organization: {len(active)} new" in result.stderr
    assert "2 not active (skipped)" in result.stderr and "--write" in result.stderr
    assert len(sandbox.sts.recorder.of("ListAccounts")) >= 3  # every page was read
    assert sandbox.config_path.read_text() == CONFIG  # a dry run writes nothing

    by_id = {table["id"]: alias for alias, table in tables.items()}
    assert by_id[SHARED_ACCOUNT] == f"master-{SHARED_ACCOUNT[-4:]}"  # "master" is taken in the config
    team_five = sorted(alias for alias in tables if alias.startswith("team-5"))
    assert team_five[0] == "team-5" and team_five[1].startswith("team-5-")  # "Team 5" twice: indexes 5 and 255
    assert any(alias.startswith("equipe-donnees-prod") for alias in tables)
    assert any(alias.startswith("account-2024") for alias in tables)


def test_write_appends_and_a_rerun_adds_nothing(sandbox: Sandbox, organization: Organization) -> None:
    known_id = next(account_id for account_id in organization.accounts if account_id not in organization.closed)
    original = CONFIG + f'\n[accounts.mine]\nid = "{known_id}"\nrole = "Admin"\n'
    sandbox.write_config(original)
    os.chmod(sandbox.config_path, 0o644)
    result = sandbox.run("accounts", "discover", "--write")
    assert result.returncode == 0, result.stderr
    text = sandbox.config_path.read_text()
    assert text.startswith(original)
    backup = Path(str(sandbox.config_path) + ".credproc-backup")
    assert backup.read_text() == original
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # never more open than 0600 (issue 22)
    assert stat.S_IMODE(sandbox.config_path.stat().st_mode) == 0o644  # the user's file keeps its mode
    assert "1 already configured" in result.stderr
    assert f"(skipped); added them to {sandbox.config_path} (previous version: " in result.stderr

    listing = sandbox.run("accounts", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))  # the known account was not added again
    assert {row["alias"]: row["role"] for row in rows}["mine"] == "Admin"
    assert len(rows) == 2 + ORG_SIZE + 1 - len(organization.closed) - 1

    rerun = sandbox.run("accounts", "discover", "--write")
    assert rerun.returncode == 0, rerun.stderr
    assert ": 0 new" in rerun.stderr
    assert sandbox.config_path.read_text() == text


def test_a_role_in_the_management_account_lists_its_organization(sandbox: Sandbox) -> None:
    # A second organization, run from another account, reachable through a role.
    role = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=sandbox.sts.url,
        aws_access_key_id="AKIASHAREDSOURCE0001",
        aws_secret_access_key="x",
    ).assume_role(RoleArn=ORG_READER, RoleSessionName="setup")["Credentials"]
    client = boto3.client(
        "organizations",
        region_name="us-east-1",
        endpoint_url=sandbox.sts.url,
        aws_access_key_id=role["AccessKeyId"],
        aws_secret_access_key=role["SecretAccessKey"],
        aws_session_token=role["SessionToken"],
    )
    if not _has_org(client):
        client.create_organization(FeatureSet="ALL")
        for name in ("Payments", "Data Lake", "Sandbox"):
            client.create_account(Email=f"{name}@example.com", AccountName=name)
    sandbox.write_config(CONFIG + f'\n[organizations]\nrole_arn = "{ORG_READER}"\n')
    sandbox.sts.recorder.reset()
    result = sandbox.run("accounts", "discover")
    assert result.returncode == 0, result.stderr
    tables = _discovered(result.stdout)
    assert {"payments", "data-lake", "sandbox"} <= set(tables)
    assert OTHER_MANAGEMENT in {table["id"] for table in tables.values()}
    assert len(sandbox.sts.recorder.of("AssumeRole", ORG_READER)) == 1
    assert all(call.access_key_id != "AKIASHAREDSOURCE0001" for call in sandbox.sts.recorder.of("ListAccounts"))


def _refuse_list_accounts(params: dict[str, str]) -> tuple[str, str] | None:
    if params.get("Action") != "ListAccounts":
        return None
    body = {"__type": "AccessDeniedException", "message": "You don't have permissions to access this resource."}
    return "400 Bad Request", json.dumps(body)


def _throttle_list_accounts(params: dict[str, str]) -> tuple[str, str] | None:
    if params.get("Action") != "ListAccounts":
        return None
    return "400 Bad Request", json.dumps({"__type": "TooManyRequestsException", "message": "Rate exceeded"})


def _has_org(client: Any) -> bool:
    try:
        client.describe_organization()
    except client.exceptions.AWSOrganizationsNotInUseException:
        return False
    return True


def test_write_creates_a_missing_config_and_says_a_role_is_needed(sandbox: Sandbox, organization: Organization) -> None:
    assert not sandbox.config_path.exists()
    result = sandbox.run("accounts", "discover", "--write")
    assert result.returncode == 0, result.stderr
    assert "set [defaults] role" in result.stderr
    tables = tomllib.loads(sandbox.config_path.read_text())["accounts"]
    assert len(tables) == len(organization.accounts) - len(organization.closed)


def test_refusal_by_organizations_is_one_clear_line(sandbox: Sandbox) -> None:
    sandbox.write_config(CONFIG)

    sandbox.sts.recorder.faults.append(_refuse_list_accounts)
    result = sandbox.run("accounts", "discover")
    assert_one_clear_error(
        result,
        "AccessDeniedException",
        "as the source identity (environment variables)",
        "[organizations] role_arn",
        exit_code=4,
    )


def test_throttling_by_organizations_is_unavailable_not_a_refusal(sandbox: Sandbox) -> None:
    sandbox.write_config(CONFIG)
    sandbox.sts.recorder.faults.append(_throttle_list_accounts)
    result = sandbox.run("accounts", "discover")
    throttled = "Organizations TooManyRequestsException while listing accounts"
    assert_one_clear_error(result, throttled, "retry", exit_code=5)
    assert len(sandbox.sts.recorder.of("ListAccounts")) > 1  # retried before giving up


def test_write_refuses_a_config_that_does_not_parse(sandbox: Sandbox) -> None:
    broken = CONFIG + '\n[accounts.half\nid = "555555555555"\n'
    sandbox.write_config(broken)
    result = sandbox.run("accounts", "discover", "--write")
    not_toml = f"{sandbox.config_path}: is not valid TOML"
    assert_one_clear_error(result, not_toml, "line 11", "fix the TOML syntax", exit_code=3)

    assert sandbox.config_path.read_text() == broken
    assert not Path(f"{sandbox.config_path}.credproc-backup").exists()
    assert sandbox.sts.recorder.calls == []  # refused before any account was listed


def test_bad_role_arn_is_a_config_error(sandbox: Sandbox) -> None:
    sandbox.write_config(CONFIG + '\n[organizations]\nrole_arn = "OrgReader"\n')
    result = sandbox.run("accounts", "discover")
    assert_one_clear_error(result, "config.toml:12: organizations.role_arn", exit_code=3)


def test_inline_accounts_table_is_not_appended_to(sandbox: Sandbox, organization: Organization) -> None:
    original = 'accounts = { dev = { id = "111111111111", role = "Deployer" } }\n'
    sandbox.write_config(original)
    result = sandbox.run("accounts", "discover", "--write")
    assert_one_clear_error(result, "inline table", exit_code=3)  # no "no role" warning on top of the error

    assert sandbox.config_path.read_text() == original


def test_slugify() -> None:
    assert slugify("Team Ünicode / Prod ") == "team-unicode-prod"
    assert slugify("2024") == "account-2024"
    assert slugify("***") == ""
    assert len(slugify("x" * 100)) == 48


def test_aliases_do_not_depend_on_listing_order() -> None:
    config = Config(path=Path("c.toml"), exists=True, raw_accounts={"prod": {"id": "000000000001"}})
    found = [OrgAccount("210987654321", "Prod", "ACTIVE"), OrgAccount("123456789012", "prod", "ACTIVE")]
    forward = plan_additions(config, found).new
    backward = plan_additions(config, list(reversed(found))).new
    assert forward == backward
    assert {account.alias for account in forward} == {"prod-9012", "prod-4321"}
    assert plan_additions(config, [OrgAccount("555555555555", "***", "ACTIVE")]).new[0].alias == "account"
