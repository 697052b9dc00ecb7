"""`credproc source import --profile P`: a profile's keys move from the AWS
files into the store, every other byte of the file kept, a 0600 backup, the
chain working from the store; the source_profile guard; and the text edits
themselves (credproc/source_import.py)."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from conftest import HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error

from credproc import source_import

CI_KEY = "AKIACIPROFILEKEY0001"
CI_SECRET = "ci-profile-secret-0000000000000001"
CREDENTIALS = (
    "# keys of this laptop\n"
    "[default]\n"
    "aws_access_key_id = AKIADEFAULTPROFILE01\n"
    "aws_secret_access_key = default-profile-secret-0000000001\n"
    "\n"
    "[ci]\n"
    "region = eu-west-1\n"
    f"aws_access_key_id={CI_KEY}\n"
    f"AWS_Secret_Access_Key =  {CI_SECRET}\n"
    "; the CI user, made 2024\n"
    "\n"
    "[other]\n"
    "aws_access_key_id = AKIAOTHERPROFILE0001\n"
    "aws_secret_access_key = other-profile-secret-000000000001\n"
)
WITHOUT_CI = CREDENTIALS.replace(f"aws_access_key_id={CI_KEY}\n", "").replace(
    f"AWS_Secret_Access_Key =  {CI_SECRET}\n", ""
)
AWS_CONFIG = (
    "[profile deploy]\n"
    "role_arn = arn:aws:iam::111111111111:role/Deployer\n"
    "source_profile = other\n"
    "\n"
    "[profile ci]\n"
    "region = eu-west-1\n"
)


@pytest.fixture
def files(sandbox: Sandbox) -> tuple[Path, Path]:
    """The sandbox's AWS files, without keys in the environment."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        sandbox.env.pop(name)
    credentials = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(CREDENTIALS)
    os.chmod(credentials, 0o600)
    config = Path(sandbox.env["AWS_CONFIG_FILE"])
    config.write_text(AWS_CONFIG)
    return credentials, config


def test_import_moves_the_keys_and_the_chain_works_from_the_store(sandbox: Sandbox, files: tuple[Path, Path]) -> None:
    credentials, _ = files
    sandbox.write_config(
        TWO_HOP_CONFIG.replace('[source]\nregion = "us-east-1"', '[source]\nprofile = "ci"\nregion = "us-east-1"')
    )
    result = sandbox.run("source", "import", "--profile", "ci", "--verbose")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert CI_SECRET not in result.stderr
    assert "verified: AKIA…0001 is arn:aws:" in result.stderr
    assert credentials.read_text() == WITHOUT_CI  # every other byte kept
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    backup = credentials.with_name(credentials.name + ".credproc-backup")
    assert backup.read_text() == CREDENTIALS
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    # credproc's source was that profile: it now names the stored keys instead
    source = tomllib.loads(sandbox.config_path.read_text())["source"]
    assert source == {"stored": "ci", "region": "us-east-1"}
    assert 'credproc now uses them: [source] stored = "ci"' in result.stderr
    sandbox.get_json("dev")
    assert [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)] == [CI_KEY]
    assert "ci" in sandbox.run("source", "list").stdout


def test_import_of_a_profile_others_use_as_source_profile_needs_force(
    sandbox: Sandbox, files: tuple[Path, Path]
) -> None:
    credentials, _ = files
    refused = sandbox.run("source", "import", "--profile", "other")
    assert_one_clear_error(refused, "profiles deploy name 'other' as source_profile", "--force", exit_code=2)
    assert credentials.read_text() == CREDENTIALS
    assert sandbox.run("source", "list", "--json").stdout == "[]\n"
    forced = sandbox.run("source", "import", "--profile", "other", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "warning: profiles deploy name 'other' as source_profile" in forced.stderr
    assert "AKIAOTHERPROFILE0001" not in credentials.read_text()


def test_import_of_a_profile_that_is_not_the_source_says_what_to_set(
    sandbox: Sandbox, files: tuple[Path, Path]
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)  # the source: the default profile
    before = sandbox.config_path.read_text()
    result = sandbox.run("source", "import", "--profile", "ci", "build")
    assert result.returncode == 0, result.stderr
    assert sandbox.config_path.read_text() == before
    assert f'set stored = "build" under [source] in {sandbox.config_path}' in result.stderr
    assert "build" in sandbox.run("source", "list").stdout


def test_import_of_a_profile_without_keys_is_a_clear_error(sandbox: Sandbox, files: tuple[Path, Path]) -> None:
    result = sandbox.run("source", "import", "--profile", "deploy")
    assert_one_clear_error(result, "profile 'deploy' has no aws_access_key_id", exit_code=2)


# -- the text edits ------------------------------------------------------------------------------


def test_without_keys_keeps_line_endings_comments_and_other_sections() -> None:
    text = (
        "[profile ci]\r\n"
        "aws_access_key_id = AKIACIPROFILEKEY0001\r\n"
        "aws_secret_access_key =\r\n"
        "    continued-secret\r\n"
        "# aws_access_key_id = a comment stays\r\n"
        "region = eu-west-1\r\n"
        "[profile cix]\r\n"
        "aws_access_key_id = AKIAKEPTKEY000000001\r\n"
    )
    new = source_import.without_keys(text, "config", "ci")
    assert new == (
        "[profile ci]\r\n"
        "# aws_access_key_id = a comment stays\r\n"
        "region = eu-west-1\r\n"
        "[profile cix]\r\n"
        "aws_access_key_id = AKIAKEPTKEY000000001\r\n"
    )
    assert source_import.only_keys_removed(text, new, "config", "ci")
    assert not source_import.only_keys_removed(text, new.replace("eu-west-1", "us-east-1"), "config", "ci")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, '[source]\nstored = "ci"\n'),
        ('[defaults]\nrole = "R"\n', '[defaults]\nrole = "R"\n\n[source]\nstored = "ci"\n'),
        ('[source]\nregion = "us-east-1"\n', '[source]\nstored = "ci"\nregion = "us-east-1"\n'),
        ('[source]\nprofile = "ci"  # the CI user\nregion = "x"\n', '[source]\nstored = "ci"\nregion = "x"\n'),
        ('[source]\nstored = "ci"\n', '[source]\nstored = "ci"\n'),
        ('[source]\nprofile = "other"\n', None),
        ('[source]\nstored = "another"\n', None),
        ('source = { profile = "ci" }\n', None),
        ('source.region = "us-east-1"\n', None),
    ],
)
def test_config_with_stored_only_when_it_is_a_plain_safe_edit(before: str | None, after: str | None) -> None:
    assert source_import.config_with_stored(before, "ci", "ci") == after


def test_dependents_are_the_profiles_naming_it_as_source_profile() -> None:
    profiles = [
        ("a", {"source_profile": "ci"}),
        ("ci", {"source_profile": "ci"}),
        ("b", {}),
        ("c", {"source_profile": "x"}),
    ]
    assert source_import.dependents(profiles, "ci") == ["a"]


def test_via_steps_carry_a_role_profiles_external_id_and_mfa_device() -> None:
    from credproc.aws_profiles import RoleHop
    from credproc.source_import import via_steps

    hops = [
        RoleHop("arn:aws:iam::123456789012:role/Mid", "xid", None),
        RoleHop("arn:aws:iam::123456789012:role/Top", None, "arn:aws:iam::123456789012:mfa/me"),
    ]
    assert via_steps("base", "/c.toml", "top", hops, True) == (
        'in /c.toml set stored = "base" and mfa_serial = "arn:aws:iam::123456789012:mfa/me" under [source] '
        'in place of profile = "top", and start every chain with the roles of profile top: via = '
        '[{ role_arn = "arn:aws:iam::123456789012:role/Mid", external_id = "xid" }, '
        '"arn:aws:iam::123456789012:role/Top"] in [defaults], and the same first in every account\'s own via'
    )


def test_import_of_keys_added_before_only_cleans_up_the_file(sandbox: Sandbox, files: tuple[Path, Path]) -> None:
    """`source add ci` first (a copy), then doctor still warns: importing the
    same pair under the name removes it from the file instead of refusing;
    another pair under the name is still refused."""
    from test_source_command import run_input

    credentials, _ = files
    added = run_input(sandbox, f"{CI_KEY}\n{CI_SECRET}\n", "source", "add", "ci", "--stdin", "--no-verify")
    assert added.returncode == 0, added.stderr
    sandbox.sts.recorder.reset()
    result = sandbox.run("source", "import", "--profile", "ci")
    assert result.returncode == 0, result.stderr
    assert "the keys of the profile are stored already as 'ci' (AKIA…0001)" in result.stderr
    assert credentials.read_text() == WITHOUT_CI
    assert sandbox.sts.recorder.calls == []  # nothing stored anew, so nothing to verify
    other = run_input(
        sandbox, f"AKIAANOTHERPAIR00001\n{'x' * 40}\n", "source", "add", "default", "--stdin", "--no-verify"
    )
    assert other.returncode == 0, other.stderr
    refused = sandbox.run("source", "import", "--profile", "default")
    assert_one_clear_error(refused, "stored source keys 'default' exist already", exit_code=2)
    assert "AKIADEFAULTPROFILE01" in credentials.read_text()
