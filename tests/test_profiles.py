"""`credproc profiles [--write]`: generated ~/.aws/config profiles that work,
written into a managed block without touching anything else in the file."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.configloader import raw_config_parse
from botocore.exceptions import ConfigParseError
from conftest import (
    DEV_ACCOUNT,
    PROD_ACCOUNT,
    TWO_HOP_CONFIG,
    Sandbox,
    assert_one_clear_error,
    credproc_executable,
)

from credproc.aws_profiles import AwsFiles
from credproc.commands.profiles import BEGIN, END, credproc_command, join_command

HAND_WRITTEN = (
    "# my AWS config: keep these comments\n"
    "[default]\n"
    "region = eu-west-1   ; inline comment\n"
    "\n"
    "[profile other]\n"
    "role_arn = arn:aws:iam::999999999999:role/x\n"
    "source_profile = default\n"
    "\n"
    "[sso-session corp]\n"
    "sso_start_url = https://example.awsapps.com/start\n"
    "# no newline at the end ->"
)


def aws_config(sandbox: Sandbox) -> Path:
    return Path(sandbox.env["AWS_CONFIG_FILE"])


def caller_arn_via_profile(sandbox: Sandbox, profile: str) -> str:
    script = f"import boto3; print(boto3.Session(profile_name={profile!r}).client('sts').get_caller_identity()['Arn'])"
    env = {**sandbox.env}
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    # credproc, run by botocore, still needs a source: the default profile's keys
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = default-secret\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_rendered_profiles_name_this_credproc_and_the_region(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("profiles", "--prefix", "corp-")
    assert result.returncode == 0, result.stderr
    assert f"[profile corp-dev]\ncredential_process = {credproc_executable()} get dev\nregion = us-east-2\n" in (
        result.stdout
    )
    assert f"[profile corp-prod]\ncredential_process = {credproc_executable()} get prod\nregion = us-east-1\n" in (
        result.stdout
    )
    assert result.stdout.startswith(BEGIN) and result.stdout.rstrip().endswith(END)
    assert not aws_config(sandbox).exists()  # no --write: nothing written


def test_write_round_trip_keeps_every_other_byte(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = aws_config(sandbox)
    path.write_text(HAND_WRITTEN)
    os.chmod(path, 0o640)

    first = sandbox.run("profiles", "--write")
    assert first.returncode == 0, first.stderr
    written = path.read_text()
    assert written.startswith(HAND_WRITTEN + "\n")
    assert written.count(BEGIN) == 1 and written.endswith(END + "\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert Path(str(path) + ".credproc-backup").read_text() == HAND_WRITTEN
    assert caller_arn_via_profile(sandbox, "dev") == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"

    again = sandbox.run("profiles", "--write")
    assert again.returncode == 0 and "up to date" in again.stderr
    assert path.read_text() == written

    # The user adds a profile after the block; the config gains an account.
    tail = "\n[profile later]\nregion = ap-south-1\n"
    path.write_text(written + tail)
    sandbox.write_config(TWO_HOP_CONFIG + '\n[accounts.tools]\nid = "444444444444"\nregion = "eu-central-1"\n')
    third = sandbox.run("profiles", "--write")
    assert third.returncode == 0, third.stderr
    updated = path.read_text()
    head, rest = updated.split(BEGIN, 1)
    block, after = rest.split(END, 1)
    assert head == written.split(BEGIN, 1)[0]
    assert after == "\n" + tail
    assert "[profile tools]" in block and "region = eu-central-1" in block


def test_hand_written_profile_of_the_same_name_is_not_clobbered(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = aws_config(sandbox)
    original = "[profile dev]\nregion = us-west-2\n"
    path.write_text(original)
    result = sandbox.run("profiles", "--write")
    assert_one_clear_error(result, f"{path}:1: a hand-written profile 'dev' is already there", "--prefix", exit_code=3)
    assert path.read_text() == original
    with_prefix = sandbox.run("profiles", "--write", "--prefix", "cp-")
    assert with_prefix.returncode == 0, with_prefix.stderr
    assert "[profile cp-dev]" in path.read_text() and path.read_text().startswith(original)


def test_damaged_block_is_refused(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = aws_config(sandbox)
    path.write_text(f"[default]\nregion = us-east-1\n{BEGIN}\n[profile dev]\n")
    result = sandbox.run("profiles", "--write")
    assert_one_clear_error(result, f"{path}:3: the credproc managed block is damaged", exit_code=3)
    assert path.read_text() == f"[default]\nregion = us-east-1\n{BEGIN}\n[profile dev]\n"


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_symlinked_config_is_written_through_the_link(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    real = sandbox.root / "dotfiles" / "aws-config"
    real.parent.mkdir()
    real.write_text("[default]\nregion = us-east-1\n")
    aws_config(sandbox).symlink_to(real)
    result = sandbox.run("profiles", "--write")
    assert result.returncode == 0, result.stderr
    assert aws_config(sandbox).is_symlink()
    assert "[profile prod]" in real.read_text()


def test_executable_path_with_spaces_is_quoted_and_works(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    spaced = sandbox.root / "my tools" / "credproc"
    spaced.parent.mkdir()
    shutil.copy2(credproc_executable(), spaced)  # the console script: its shebang is absolute
    result = sandbox.run("profiles", "--write", program=str(spaced))
    assert result.returncode == 0, result.stderr
    assert f"credential_process = '{spaced}' get prod" in aws_config(sandbox).read_text()
    assert f"{PROD_ACCOUNT}:assumed-role/Deployer/" in caller_arn_via_profile(sandbox, "prod")


def test_command_falls_back_to_python_dash_m(tmp_path: Path) -> None:
    main_module = tmp_path / "credproc" / "__main__.py"
    assert credproc_command(str(main_module), "/usr/bin/python3") == ["/usr/bin/python3", "-m", "credproc"]


def test_join_command_splits_back() -> None:
    parts = ["/opt/my tools/it's/credproc", "get", "dev"]
    assert shlex.split(join_command(parts, windows=False)) == parts
    assert join_command(["C:\\Program Files\\credproc.exe", "get", "dev"], windows=True) == (
        '"C:\\Program Files\\credproc.exe" get dev'
    )


def test_alias_that_cannot_be_a_profile_name(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + '\n[accounts."my dev"]\nid = "444444444444"\n')
    result = sandbox.run("profiles")
    assert_one_clear_error(result, "'my dev' cannot be an AWS profile name", exit_code=3)


def test_explicit_config_is_passed_on_and_shadowing_keys_are_flagged(sandbox: Sandbox) -> None:
    other = sandbox.root / "other config.toml"
    other.write_text(TWO_HOP_CONFIG)
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[prod]\naws_access_key_id = AKIASTATICPROD000001\naws_secret_access_key = static\n"
    )
    result = sandbox.run("profiles", "--config", str(other))
    assert result.returncode == 0, result.stderr
    assert f"credential_process = {credproc_executable()} get dev --config '{other}'\n" in result.stdout
    assert "profile prod: keys for it in the shared credentials file take precedence" in result.stderr
    assert "profile dev:" not in result.stderr


def test_the_aws_files_are_where_botocore_reads_them_on_windows_too(tmp_path: Path) -> None:
    """Python (and so botocore) expands ~ from USERPROFILE on Windows and ignores HOME,
    which Git Bash sets; reading or writing %HOME%\\.aws would miss the user's profiles."""
    env = {"HOME": str(tmp_path / "git-bash-home"), "USERPROFILE": str(tmp_path / "profile")}
    on_windows = AwsFiles(env, windows=True)
    assert on_windows.config_path == tmp_path / "profile" / ".aws" / "config"
    assert on_windows.credentials_path == tmp_path / "profile" / ".aws" / "credentials"
    assert AwsFiles(env, windows=False).config_path == tmp_path / "git-bash-home" / ".aws" / "config"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("[profile a]\nregion = us-east-1\n[profile a]\nregion = us-east-2\n", 3, "[profile a] appears a second time"),
        ("[default]\nregion = us-east-1\nregion = us-east-2\n", 3, "region appears a second time in [default]"),
        ("[default]\nregion = us-east-1\nthis is not ini\n", 3, "'this is not ini' is neither a [section] header"),
        ("[profile broken\nregion = us-east-1\n", 1, "the section header '[profile broken' has no closing ]"),
        ("region = us-east-1\n[default]\n", 1, "a setting before the first [section] header"),
    ],
)
def test_write_refuses_an_aws_config_botocore_cannot_parse(sandbox: Sandbox, text: str, where: int, what: str) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = aws_config(sandbox)
    path.write_text(text)
    with pytest.raises(ConfigParseError):  # every AWS tool already fails on this file
        raw_config_parse(str(path))
    result = sandbox.run("profiles", "--write")
    assert_one_clear_error(
        result, f"{path}:{where}: {what}", "left it as it was", "profiles --write again", exit_code=3
    )
    assert path.read_text() == text
    assert not Path(f"{path}.credproc-backup").exists()


def test_write_refuses_a_nested_block_botocore_cannot_parse_and_keeps_one_it_can(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    path = aws_config(sandbox)
    nested = "[default]\ns3 =\n  addressing_style = path\n"
    path.write_text(nested + "  max_concurrent_requests\n")
    refused = sandbox.run("profiles", "--write")
    assert_one_clear_error(refused, f"{path}: [default] s3: ", "'max_concurrent_requests'", exit_code=3)

    path.write_text(nested)
    written = sandbox.run("profiles", "--write")
    assert written.returncode == 0, written.stderr
    assert path.read_text().startswith(nested) and "[profile dev]" in path.read_text()
    assert raw_config_parse(str(path))["default"]["s3"] == {"addressing_style": "path"}
