"""STS options (ExternalId, SourceIdentity, session tags, session policies,
per-account duration and session name, via tables): what reaches the server,
what the cache key covers, and config errors that name the key."""

from __future__ import annotations

import json

import pytest
from conftest import DEV_ACCOUNT, HUB_ACCOUNT, HUB_ARN, PROD_ACCOUNT, Sandbox, assert_one_clear_error

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"
PROD_ROLE = f"arn:aws:iam::{PROD_ACCOUNT}:role/Deployer"
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}'

OPTIONS_CONFIG = f"""
[source]
region = "us-east-1"

[defaults]
role = "Deployer"
duration = "2h"
source_identity = "{{user}}"

[accounts.dev]
id = "{DEV_ACCOUNT}"
duration = "12h"
session_name = "deploy-{{alias}}-{{user}}"
external_id = "dev-external-id"
tags = {{ team = "platform", "cost center" = "42" }}
transitive_tags = ["team"]
policy = '''{POLICY}'''
policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::{DEV_ACCOUNT}:policy/boundary/deploy"]
via = [
  {{ role_arn = "{HUB_ARN}", external_id = "hub-external-id", tags = {{ origin = "credproc" }}, transitive_tags = ["origin"], session_name = "hub-{{user}}" }},
]

[accounts.prod]
id = "{PROD_ACCOUNT}"
via = ["{HUB_ARN}"]
"""


def test_every_option_reaches_sts_on_its_hop(sandbox: Sandbox) -> None:
    sandbox.write_config(OPTIONS_CONFIG)
    result = sandbox.run("get", "dev", env={"USER": "Ann Smith"})
    assert result.returncode == 0, result.stderr
    [hub] = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    [dev] = sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)

    assert hub.params["ExternalId"] == "hub-external-id"
    assert hub.params["RoleSessionName"] == "hub-Ann-Smith"
    assert hub.params["DurationSeconds"] == "7200"  # an intermediate hop: [defaults] duration
    # set once where the chain starts; STS carries it through later hops
    assert hub.params["SourceIdentity"] == "Ann-Smith"
    assert hub.params["Tags.member.1.Key"] == "origin"
    assert hub.params["Tags.member.1.Value"] == "credproc"
    assert hub.params["TransitiveTagKeys.member.1"] == "origin"
    assert not any(key.startswith(("Policy", "Tags.member.2")) for key in hub.params)

    assert dev.params["ExternalId"] == "dev-external-id"
    assert dev.params["RoleSessionName"] == "deploy-dev-Ann-Smith"
    assert dev.params["DurationSeconds"] == "3600"  # 12h asked, clamped: role chaining
    assert "SourceIdentity" not in dev.params
    tags = {dev.params[f"Tags.member.{n}.Key"]: dev.params[f"Tags.member.{n}.Value"] for n in (1, 2)}
    assert tags == {"team": "platform", "cost center": "42"}
    assert "Tags.member.3.Key" not in dev.params
    assert dev.params["TransitiveTagKeys.member.1"] == "team"
    assert json.loads(dev.params["Policy"]) == json.loads(POLICY)
    assert " " not in dev.params["Policy"]  # sent compact
    assert dev.params["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert dev.params["PolicyArns.member.2.arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:policy/boundary/deploy"


@pytest.mark.parametrize(
    ("variables", "user"),
    [
        ({"LOGNAME": "ann", "USER": "bob"}, "ann"),  # getpass.getuser's order: LOGNAME first
        ({"USERNAME": "carol"}, "carol"),  # what Windows sets
        ({}, "the passwd entry"),
    ],
)
def test_user_in_the_session_name_comes_from_the_environment_then_the_passwd_entry(
    sandbox: Sandbox, variables: dict[str, str], user: str
) -> None:
    import os
    import pwd

    sandbox.write_config(OPTIONS_CONFIG)
    sandbox.env = {name: value for name, value in sandbox.env.items() if name not in ("LOGNAME", "USER", "LNAME")}
    result = sandbox.run("get", "prod", env=variables)
    assert result.returncode == 0, result.stderr
    [hub] = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    expected = pwd.getpwuid(os.getuid()).pw_name if user == "the passwd entry" else user
    assert hub.params["SourceIdentity"] == expected


def test_account_without_via_gets_source_identity_and_its_own_duration(sandbox: Sandbox) -> None:
    sandbox.write_config(
        OPTIONS_CONFIG.split("via = [\n")[0] + f'\n[accounts.prod]\nid = "{PROD_ACCOUNT}"\nduration = "4h"\n'
    )
    assert sandbox.run("get", "dev").returncode == 0
    assert sandbox.run("get", "prod").returncode == 0
    [dev] = sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)
    [prod] = sandbox.sts.recorder.of("AssumeRole", PROD_ROLE)
    assert dev.params["DurationSeconds"] == "43200"  # first hop: not chaining, not clamped
    assert dev.params["SourceIdentity"] == "tester"
    assert prod.params["DurationSeconds"] == "14400"
    assert prod.params["SourceIdentity"] == "tester"
    assert "ExternalId" not in prod.params and "Tags.member.1.Key" not in prod.params


def test_options_are_part_of_the_cache_key(sandbox: Sandbox) -> None:
    sandbox.write_config(OPTIONS_CONFIG)
    assert sandbox.run("get", "dev").returncode == 0
    sandbox.write_config(OPTIONS_CONFIG.replace('team = "platform"', 'team = "security"'))
    assert sandbox.run("get", "dev").returncode == 0
    # new tags on the target: new target session, but the hub session is reused
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 2
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    sandbox.write_config(OPTIONS_CONFIG.replace('external_id = "hub-external-id"', 'external_id = "hub-rotated"'))
    assert sandbox.run("get", "dev").returncode == 0
    assert [call.params["ExternalId"] for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)] == [
        "hub-external-id",
        "hub-rotated",
    ]
    sandbox.write_config(OPTIONS_CONFIG)
    assert sandbox.run("get", "dev").returncode == 0  # the first settings again: cached
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 5


def test_a_source_identity_sets_the_hub_apart(sandbox: Sandbox) -> None:
    """The hub session of prod (SourceIdentity set) is not the one of a config without it."""
    sandbox.write_config(OPTIONS_CONFIG)
    assert sandbox.run("get", "prod").returncode == 0
    sandbox.write_config(OPTIONS_CONFIG.replace('source_identity = "{user}"\n', ""))
    assert sandbox.run("get", "prod").returncode == 0
    hub_calls = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    assert [call.params.get("SourceIdentity") for call in hub_calls] == ["tester", None]


BASE = f"""[source]
region = "us-east-1"

[defaults]
role = "Deployer"

[accounts.dev]
id = "{DEV_ACCOUNT}"
"""


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('external_id = "x"', "accounts.dev.external_id", "is 1 characters long; STS accepts 2 to 1224"),
        ('external_id = "has space"', "accounts.dev.external_id", "has characters STS does not accept"),
        ('source_identity = "{nobody}"', "accounts.dev.source_identity", "unknown placeholder"),
        ('source_identity = "!"', "accounts.dev.source_identity", "a source identity needs 2-64 characters"),
        ('tags = ["team"]', "accounts.dev.tags", "is not a table"),
        ('tags = { "aws:team" = "x" }', "accounts.dev.tags", "the aws: prefix is reserved"),
        ('tags = { team = "a\\nb" }', "accounts.dev.tags", "the value must be a string of 0-256"),
        ('tags = { team = "x", Team = "y" }', "accounts.dev.tags", "differ only in case"),
        # Characters \s matches but STS's [\p{L}\p{Z}\p{N}_.:/=+\-@] does not: refused here, not by the server.
        ('tags = { "a\\u001cb" = "x" }', "accounts.dev.tags", "must be 1-128 letters"),
        ('tags = { team = "a\\u001fb" }', "accounts.dev.tags", "the value must be a string of 0-256"),
        ('tags = { team = "a\\u0085b" }', "accounts.dev.tags", "the value must be a string of 0-256"),
        ('tags = { team = "a\\u200bb" }', "accounts.dev.tags", "the value must be a string of 0-256"),
        (
            "tags = { " + ", ".join(f't{n} = "v"' for n in range(51)) + " }",
            "accounts.dev.tags",
            "has 51 tags; STS accepts at most 50",
        ),
        (f'tags = {{ "{"k" * 129}" = "v" }}', "accounts.dev.tags", "must be 1-128"),
        (f'tags = {{ team = "{"v" * 257}" }}', "accounts.dev.tags", "0-256"),
        ('transitive_tags = ["team"]', "accounts.dev.transitive_tags", "'team' is not a key of the hop's tags"),
        ("transitive_tags = [1]", "accounts.dev.transitive_tags", "is not a list of tag keys"),
        ('policy = "{not json"', "accounts.dev.policy", "is not valid JSON"),
        ('policy = "[]"', "accounts.dev.policy", "is not a JSON object"),
        (
            'policy = \'{"Sid": "' + "x" * 2050 + "\"}'",
            "accounts.dev.policy",
            "characters even without whitespace; STS accepts 2048",
        ),
        (
            "policy_arns = [" + ", ".join('"arn:aws:iam::aws:policy/ReadOnlyAccess"' for _ in range(11)) + "]",
            "accounts.dev.policy_arns",
            "lists 11 policies; STS accepts at most 10",
        ),
        ('policy_arns = ["ReadOnlyAccess"]', "accounts.dev.policy_arns", "is not an IAM policy ARN"),
        (
            'policy_arns = ["arn:aws-cn:iam::aws:policy/ReadOnlyAccess"]',
            "accounts.dev.policy_arns",
            "is in partition aws-cn",
        ),
        ('duration = "13h"', "accounts.dev.duration", "STS accepts 900 s (15m) to 43200 s (12h)"),
        ('session_name = "{bogus}"', "accounts.dev.session_name", "unknown placeholder"),
        ('mfa_serial = "nope"', "accounts.dev.mfa_serial", "not an MFA device ARN"),
        (f'via = [{{ role = "{HUB_ARN}" }}]', "accounts.dev.via[0].role", "unknown setting (did you mean 'role_arn'?)"),
        ('via = [{ external_id = "abc" }]', "accounts.dev.via[0]", "a via table needs role_arn"),
        (
            f'via = [{{ role_arn = "{HUB_ARN}", external_id = "x" }}]',
            "accounts.dev.via[0].external_id",
            "STS accepts 2 to 1224",
        ),
        (
            f'via = ["{HUB_ARN}", {{ role_arn = "arn:aws:iam::{HUB_ACCOUNT}:role/b", transitive_tags = ["t"] }}]',
            "accounts.dev.via[1].transitive_tags",
            "'t' is not a key of the hop's tags",
        ),
        ('via = [{ role_arn = "hub" }]', "accounts.dev.via[0]", "is not an IAM role ARN"),
        ("via = [42]", "accounts.dev.via", "is neither a role ARN nor a table"),
    ],
)
def test_bad_option_names_file_line_and_key(sandbox: Sandbox, line: str, key: str, message: str) -> None:
    sandbox.write_config(BASE + line + "\n")
    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, f"{sandbox.config_path}:9: {key}: ", message, exit_code=3)
    assert sandbox.sts.recorder.calls == []


def test_defaults_options_apply_to_the_target_not_to_plain_via_hops(sandbox: Sandbox) -> None:
    sandbox.write_config(
        BASE.replace('role = "Deployer"\n', 'role = "Deployer"\nexternal_id = "defaults-xid"\ntags = { a = "b" }\n')
        + f'via = ["{HUB_ARN}"]\n'
    )
    assert sandbox.run("get", "dev").returncode == 0
    [hub] = sandbox.sts.recorder.of("AssumeRole", HUB_ARN)
    [dev] = sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)
    assert "ExternalId" not in hub.params and "Tags.member.1.Key" not in hub.params
    assert dev.params["ExternalId"] == "defaults-xid"
    assert dev.params["Tags.member.1.Key"] == "a"


def test_external_id_flag_overrides_the_config(sandbox: Sandbox) -> None:
    sandbox.write_config(BASE + 'external_id = "from-config"\n')
    assert sandbox.run("get", "dev", "--external-id", "from-flag").returncode == 0
    assert sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)[0].params["ExternalId"] == "from-flag"
    result = sandbox.run("get", "dev", "--external-id", "x", "--refresh")
    assert_one_clear_error(result, "--external-id: is 1 characters long", exit_code=3)


def test_accounts_json_lists_via_tables_as_role_arns(sandbox: Sandbox) -> None:
    sandbox.write_config(OPTIONS_CONFIG)
    result = sandbox.run("accounts", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["alias"]: row for row in json.loads(result.stdout)}
    assert rows["dev"]["via"] == [HUB_ARN]
    assert rows["prod"]["via"] == [HUB_ARN]


def test_tags_of_any_script_and_its_spaces_reach_sts(sandbox: Sandbox) -> None:
    """STS's pattern is Unicode letters, numbers and separators: an ideographic space is one."""
    sandbox.write_config(BASE + 'tags = { "équipe" = "ナ\\u3000٣ x" }\n')
    result = sandbox.run("get", "dev")
    assert result.returncode == 0, result.stderr
    [dev] = sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)
    assert (dev.params["Tags.member.1.Key"], dev.params["Tags.member.1.Value"]) == ("équipe", "ナ\u3000٣ x")
