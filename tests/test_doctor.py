"""`credproc doctor`: a healthy setup is all ok; each kind of problem gives
its line with the fix, and a failed check sets the exit code."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import DEV_ACCOUNT, HUB_ARN, PROD_ACCOUNT, TWO_HOP_CONFIG, Sandbox, credproc_executable
from local_sts import sts_error

from credproc.commands import doctor, doctor_checks
from credproc.log import Log

CHECKS = [
    "config",
    "aws profiles",
    "source keys",
    "key store",
    "cache directory",
    "refresh margin",
    "source identity",
    "clock",
]


def lines_of(stdout: str) -> dict[str, tuple[str, str]]:
    """check name -> (status, rest of the line)."""
    found = {}
    for line in stdout.splitlines():
        status, rest = line.split(None, 1)
        name, detail = rest.split(": ", 1)
        found[name] = (status, detail)
    return found


def test_healthy_sandbox_is_all_ok(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines_of(result.stdout)
    assert list(found) == CHECKS
    assert all(status == "ok" for status, _ in found.values()), result.stdout
    assert found["source identity"][1].startswith("arn:aws:sts::123456789012:")
    assert "2 account(s)" in found["config"][1]


def test_deep_assumes_every_accounts_role(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("doctor", "--deep")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines_of(result.stdout)
    assert found["role dev"][0] == found["role prod"][0] == "ok"
    for account in (DEV_ACCOUNT, PROD_ACCOUNT):
        assert len(sandbox.sts.recorder.of("AssumeRole", f"arn:aws:iam::{account}:role/Deployer")) == 1


def test_deep_reports_the_role_that_cannot_be_assumed(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    prod_role = f"arn:aws:iam::{PROD_ACCOUNT}:role/Deployer"

    def deny_prod(params: dict[str, str]) -> tuple[str, str] | None:
        return sts_error("AccessDenied", "not authorized") if params.get("RoleArn") == prod_role else None

    sandbox.sts.recorder.faults.append(deny_prod)
    result = sandbox.run("doctor", "--deep")
    assert result.returncode == 4
    found = lines_of(result.stdout)
    assert found["role dev"][0] == "ok"
    status, detail = found["role prod"]
    assert status == "failed" and prod_role in detail and "(fix: check the role's trust policy" in detail


def test_deep_fails_a_role_denied_since_its_session_was_cached(sandbox: Sandbox) -> None:
    """`get` falls back to a still-valid cached session when STS refuses; --deep must not call that ok."""
    sandbox.write_config(TWO_HOP_CONFIG)
    assert sandbox.run("get", "prod").returncode == 0
    prod_role = f"arn:aws:iam::{PROD_ACCOUNT}:role/Deployer"
    sandbox.sts.recorder.faults.append(
        lambda params: sts_error("AccessDenied", "not authorized") if params.get("RoleArn") == prod_role else None
    )
    result = sandbox.run("doctor", "--deep")
    assert result.returncode == 4, result.stdout
    status, detail = lines_of(result.stdout)["role prod"]
    assert status == "failed" and "AccessDenied" in detail and prod_role in detail


def test_source_identity_failure_fails_with_its_exit_code(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)

    def invalid_key(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("Action") == "GetCallerIdentity":
            return sts_error("InvalidClientTokenId", "The security token included in the request is invalid.")
        return None

    sandbox.sts.recorder.faults.append(invalid_key)
    result = sandbox.run("doctor")
    assert result.returncode == 4
    found = lines_of(result.stdout)
    assert found["source identity"][0] == "failed"
    assert "InvalidClientTokenId" in found["source identity"][1] and "(fix:" in found["source identity"][1]
    assert found["clock"][0] == "warning"
    assert found["key store"][0] == "ok"  # the other checks still ran


def test_account_without_a_role_fails_the_config_check(sandbox: Sandbox) -> None:
    sandbox.write_config('[accounts.orphan]\nid = "444444444444"\n')
    result = sandbox.run("doctor")
    assert result.returncode == 3
    status, detail = lines_of(result.stdout)["config"]
    assert status == "failed" and "no role for orphan" in detail


def test_unparsable_config_stops_after_the_config_line(sandbox: Sandbox) -> None:
    sandbox.write_config("[defaults\nrole = 1\n")
    result = sandbox.run("doctor")
    assert result.returncode == 3
    assert list(lines_of(result.stdout)) == ["config"]


def test_source_profile_that_runs_credproc_is_a_loop(sandbox: Sandbox) -> None:
    sandbox.write_config(
        '[source]\nprofile = "loop"\n' + TWO_HOP_CONFIG.replace('[source]\nregion = "us-east-1"\n', "")
    )
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile loop]\ncredential_process = {credproc_executable()} get dev\n"
    )
    result = sandbox.run("doctor")
    assert result.returncode == 7
    status, detail = lines_of(result.stdout)["aws profiles"]
    assert status == "failed" and "source.profile = 'loop'" in detail and "start credproc again" in detail
    assert "(fix: point [source] profile at a profile with its own credentials" in detail
    assert lines_of(result.stdout)["source identity"][0] == "warning"  # not tried: it would loop


def test_default_profile_that_runs_credproc_is_a_loop(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[default]\ncredential_process = {credproc_executable()} get dev\n"
    )
    result = sandbox.run("doctor", env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert result.returncode == 7
    status, detail = lines_of(result.stdout)["aws profiles"]
    assert status == "failed" and "profile 'default' (the source: no [source] profile is set)" in detail


def test_profile_whose_own_config_sources_from_itself_is_a_loop(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    other = sandbox.root / "team.toml"
    other.write_text('[source]\nprofile = "team"\n[defaults]\nrole = "Deployer"\n')
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile team]\ncredential_process = {credproc_executable()} get {DEV_ACCOUNT} --config {other}\n"
    )
    result = sandbox.run("doctor")
    assert result.returncode == 7
    status, detail = lines_of(result.stdout)["aws profiles"]
    assert status == "failed" and f"profile 'team' runs credproc with {other}" in detail
    assert lines_of(result.stdout)["source identity"][0] == "ok"  # this config's source is fine


def test_warnings_do_not_fail(sandbox: Sandbox) -> None:
    sandbox.write_config(
        TWO_HOP_CONFIG.replace('duration = "1h"', 'duration = "15m"')
        + '\n[accounts.tools]\nid = "444444444444"\nduration = "4h"\nvia = ["arn:aws:iam::222222222222:role/hub"]\n'
    )
    sandbox.cache_dir.mkdir(mode=0o755)
    os.chmod(sandbox.cache_dir, 0o755)  # noqa: S103 (the loose mode doctor must flag)
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        "[profile old]\ncredential_process = /nonexistent/bin/credproc get dev\n"
    )
    result = sandbox.run("doctor")
    assert result.returncode == 0, result.stdout
    found = lines_of(result.stdout)
    assert found["cache directory"][0] == "warning" and "chmod 700" in found["cache directory"][1]
    assert found["refresh margin"][0] == "warning"
    assert "dev: 900 s sessions are shorter than twice refresh_margin" in found["refresh margin"][1]
    assert "clamped to 3600 s" in found["refresh margin"][1]
    assert found["aws profiles"][0] == "warning" and "/nonexistent/bin/credproc" in found["aws profiles"][1]


def test_unusable_key_store_fails(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + '\n[cache]\nkey_store = "env"\n')
    result = sandbox.run("doctor")
    assert result.returncode == 6
    status, detail = lines_of(result.stdout)["key store"]
    assert status == "failed" and "CREDPROC_CACHE_KEY" in detail


def test_clock_skew_against_the_local_sts(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    results = doctor.run_checks(None, os.environ, Log(), clock=lambda: ahead)
    clock = next(check for check in results if check.name == "clock")
    assert clock.status == "failed" and "ahead of STS" in clock.detail
    assert doctor.exit_code(results) == 4


def test_clock_thresholds() -> None:
    server = "Tue, 24 Nov 2026 00:00:00 GMT"
    base = datetime(2026, 11, 24, tzinfo=UTC)
    assert doctor_checks.check_clock(server, base + timedelta(seconds=5)).status == "ok"
    behind = doctor_checks.check_clock(server, base - timedelta(minutes=2))
    assert behind.status == "warning" and "120 s behind" in behind.detail
    assert doctor_checks.check_clock(server, base + timedelta(minutes=6)).status == "failed"
    assert doctor_checks.check_clock(None, base).status == "warning"


def test_an_aws_config_file_botocore_cannot_parse_fails_the_profiles_check(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    aws_config = Path(sandbox.env["AWS_CONFIG_FILE"])
    aws_config.write_text("[profile a]\nregion = us-east-1\n[profile a]\nregion = us-east-2\n")  # a duplicate
    result = sandbox.run("doctor")
    assert result.returncode == 3
    status, detail = lines_of(result.stdout)["aws profiles"]
    assert status == "failed" and str(aws_config) in detail and "INI syntax" in detail


NO_ENV_KEYS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
PLAINTEXT = "aws_access_key_id = AKIAPLAINTEXTKEY0001\naws_secret_access_key = plaintext-secret\n"


def _source_keys(sandbox: Sandbox, source_profile: str | None = None) -> tuple[int, str, str]:
    """doctor's exit code and its source keys line (status, detail with the fix)."""
    config = TWO_HOP_CONFIG
    if source_profile:
        config = config.replace("[source]\n", f'[source]\nprofile = "{source_profile}"\n', 1)
    sandbox.write_config(config)
    result = sandbox.run("doctor", env=NO_ENV_KEYS)
    status, detail = lines_of(result.stdout)["source keys"]
    assert "plaintext-secret" not in result.stdout + result.stderr
    return result.returncode, status, detail


def test_long_term_keys_in_the_credentials_file_are_a_warning_naming_the_import(sandbox: Sandbox) -> None:
    credentials = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text("[default]\n" + PLAINTEXT)
    code, status, detail = _source_keys(sandbox)
    assert code == 0  # a warning: the chain still works
    assert status == "warning" and f"access key of profile 'default', in plaintext in {credentials}" in detail
    assert detail.endswith("(fix: credproc source import --profile default)")


def test_keys_behind_the_source_role_profile_are_the_ones_named(sandbox: Sandbox) -> None:
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/Deploy\nsource_profile = middle\n"
        "[profile middle]\nrole_arn = arn:aws:iam::123456789012:role/Middle\nsource_profile = base\n"
    )
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text("[base]\n" + PLAINTEXT)
    _code, status, detail = _source_keys(sandbox, "deploy")
    assert status == "warning" and "(fix: credproc source import --profile base --force " in detail


MIDDLE_ARN = "arn:aws:iam::123456789012:role/Middle"
DEPLOY_ARN = "arn:aws:iam::123456789012:role/Deploy"


def test_the_fix_for_keys_behind_a_role_profile_keeps_its_roles_in_the_chain(sandbox: Sandbox) -> None:
    """import refuses a profile other profiles source from, and [source] stored
    alone would drop the role profile's roles: the fix says both, exactly, and
    following it gives the same chain from the stored keys."""
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile deploy]\nrole_arn = {DEPLOY_ARN}\nsource_profile = middle\n"
        f"[profile middle]\nrole_arn = {MIDDLE_ARN}\nsource_profile = base\nexternal_id = mid-xid\n"
    )
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text("[base]\n" + PLAINTEXT)
    _code, _status, detail = _source_keys(sandbox, "deploy")
    middle = f'{{ role_arn = "{MIDDLE_ARN}", external_id = "mid-xid" }}'
    steps = (
        f'set stored = "base" under [source] in place of profile = "deploy", and start every chain with the roles '
        f'of profile deploy: via = [{middle}, "{DEPLOY_ARN}"] in [defaults], '
        "and the same first in every account's own via"
    )
    assert "(fix: credproc source import --profile base --force " in detail and steps in detail
    imported = sandbox.run("source", "import", "--profile", "base", "--force", env=NO_ENV_KEYS)
    assert imported.returncode == 0, imported.stderr
    assert steps in imported.stderr  # import says the same, not a bare stored = "base"
    sandbox.write_config(
        TWO_HOP_CONFIG.replace("[source]\n", '[source]\nstored = "base"\n', 1)
        .replace('role = "Deployer"', f'role = "Deployer"\nvia = [{middle}, "{DEPLOY_ARN}"]', 1)
        .replace(f'via = ["{HUB_ARN}"]', f'via = [{middle}, "{DEPLOY_ARN}", "{HUB_ARN}"]')
    )
    sandbox.sts.recorder.reset()
    result = sandbox.run("get", "dev", env=NO_ENV_KEYS)
    assert result.returncode == 0, result.stderr
    calls = sandbox.sts.recorder.of("AssumeRole")
    assert [call.params["RoleArn"] for call in calls][:3] == [MIDDLE_ARN, DEPLOY_ARN, HUB_ARN]
    assert calls[0].access_key_id == "AKIAPLAINTEXTKEY0001"  # signed with the stored keys
    assert calls[0].params.get("ExternalId") == "mid-xid"  # the role profile's external_id came along
    backup = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"] + ".credproc-backup")
    assert f"its backup {backup} still holds them in plaintext: delete it once credproc works" in imported.stderr
    status, detail = lines_of(sandbox.run("doctor", env=NO_ENV_KEYS).stdout)["source keys"]
    assert status == "warning" and detail.startswith(f"{backup}, the backup credproc source import left, still holds")
    assert detail.endswith(f"delete it: rm {backup})")
    backup.unlink()
    status, _detail = lines_of(sandbox.run("doctor", env=NO_ENV_KEYS).stdout)["source keys"]
    assert status == "ok"


def test_keys_in_the_config_file_name_that_file(sandbox: Sandbox) -> None:
    config = Path(sandbox.env["AWS_CONFIG_FILE"])
    config.write_text("[profile 'my keys']\n".replace("'", '"') + PLAINTEXT)
    _code, status, detail = _source_keys(sandbox, "my keys")
    assert status == "warning" and f"in plaintext in {config}" in detail
    assert detail.endswith("(fix: credproc source import --profile 'my keys')")


def test_other_sources_are_no_plaintext_keys(sandbox: Sandbox) -> None:
    """Keys in the environment, temporary keys in the file, keys not on the
    source's path, a credential_process: no warning."""
    sandbox.write_config(TWO_HOP_CONFIG)
    found = lines_of(sandbox.run("doctor").stdout)  # the sandbox's keys in the environment
    assert found["source keys"][0] == "ok"
    credentials = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(
        "[default]\naws_access_key_id = ASIATEMPORARYKEY0001\naws_secret_access_key = s\naws_session_token = t\n"
        "[unused]\n" + PLAINTEXT
    )
    assert _source_keys(sandbox)[1] == "ok"
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text("[profile proc]\ncredential_process = /bin/false\n")
    credentials.write_text("[proc]\n" + PLAINTEXT.replace("aws_", "x_aws_"))
    assert _source_keys(sandbox, "proc")[1] == "ok"


def test_a_profile_assuming_its_role_with_its_own_keys_keeps_the_role(sandbox: Sandbox) -> None:
    """[self] with keys, role_arn and source_profile = self: import must not set
    stored = "self" in place of the profile (the role would be skipped)."""
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[self]\n{PLAINTEXT}role_arn = {DEPLOY_ARN}\nsource_profile = self\n"
    )
    _code, _status, detail = _source_keys(sandbox, "self")
    steps = f'in place of profile = "self", and start every chain with the role of profile self: via = ["{DEPLOY_ARN}"]'
    assert "(fix: credproc source import --profile self, then in " in detail and steps in detail
    before = sandbox.config_path.read_text()
    imported = sandbox.run("source", "import", "--profile", "self", env=NO_ENV_KEYS)
    assert imported.returncode == 0, imported.stderr
    assert steps in imported.stderr
    assert sandbox.config_path.read_text() == before  # not rewritten into a chain without the role
