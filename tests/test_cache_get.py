"""The cache seen through `credproc get`: the installed script against the
local STS (server-side call counts), and `credproc.cli.main` in-process under
freezegun where time has to move."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cache_support import DEV_ROLE, PROD_ROLE, assume_calls, caller_arn
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, run_main
from freezegun import freeze_time
from local_sts import sts_error
from moto.sts.models import sts_backends

ENV_KEY = {"CREDPROC_CACHE_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}  # base64 of 32 bytes


def throttle_everything(params: dict[str, str]) -> tuple[str, str] | None:
    return sts_error("Throttling", "Rate exceeded", "400 Bad Request")


@pytest.fixture
def two_hops(sandbox: Sandbox) -> Sandbox:
    sandbox.write_config(TWO_HOP_CONFIG)
    return sandbox


# -- hits, misses and time ---------------------------------------------------------------------


def tree(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` (relative path -> bytes)."""
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_second_get_within_the_hour_makes_no_sts_call(two_hops: Sandbox) -> None:
    first = two_hops.run("get", "dev")
    assert first.returncode == 0, first.stderr
    two_hops.sts.recorder.reset()
    second = two_hops.run("get", "dev")
    assert second.returncode == 0, second.stderr
    assert two_hops.sts.recorder.calls == []
    assert second.stdout == first.stdout and second.stderr == ""


def run_main_at(moment: datetime, *args: str, capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess[str]:
    """`credproc ARGS` in-process with the clock at ``moment`` (the local STS
    runs in this process, so it sees the same time)."""
    with freeze_time(moment, tick=True):
        return run_main(capsys, *args)


def test_get_refreshes_once_50_minutes_have_passed(two_hops: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    start = datetime.now(UTC)
    result = run_main_at(start, "get", "dev", capsys=capsys)
    assert result.returncode == 0
    first = json.loads(result.stdout)
    two_hops.sts.recorder.reset()

    result = run_main_at(start + timedelta(minutes=30), "get", "dev", capsys=capsys)
    assert result.returncode == 0 and json.loads(result.stdout) == first
    assert two_hops.sts.recorder.calls == []

    result = run_main_at(start + timedelta(minutes=50), "get", "dev", capsys=capsys)
    assert result.returncode == 0, result.stderr
    refreshed = json.loads(result.stdout)
    assert refreshed["AccessKeyId"] != first["AccessKeyId"]
    assert refreshed["Expiration"] > first["Expiration"]
    # only the target hop: the hub session (10 min left) still serves one AssumeRole
    assert assume_calls(two_hops, DEV_ROLE) == 1 and assume_calls(two_hops, HUB_ARN) == 0
    assert caller_arn(two_hops, refreshed) == f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/credproc-tester"


def test_refresh_after_expiry_with_sts_down_fails_cleanly(
    two_hops: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime.now(UTC)
    assert run_main_at(start, "get", "dev", capsys=capsys).returncode == 0
    two_hops.sts.recorder.faults.append(throttle_everything)
    result = run_main_at(start + timedelta(hours=2), "get", "dev", capsys=capsys)
    line = assert_one_clear_error(result, exit_code=5)
    assert "throttling" in line.lower()


def test_failed_refresh_hands_out_the_still_valid_entry(two_hops: Sandbox) -> None:
    first = two_hops.get_json("dev")
    two_hops.sts.recorder.faults.append(throttle_everything)
    result = two_hops.run("get", "dev", "--refresh")
    assert result.returncode == 0
    assert json.loads(result.stdout) == first
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "warning" in lines[0] and "handing out cached credentials that expire at" in lines[0]
    assert assume_calls(two_hops, HUB_ARN) >= 1  # it did try


def test_refresh_flag_fetches_every_hop_and_stores_the_result(two_hops: Sandbox) -> None:
    first = two_hops.get_json("dev")
    two_hops.sts.recorder.reset()
    refreshed = two_hops.get_json("dev", "--refresh")
    assert refreshed["AccessKeyId"] != first["AccessKeyId"]
    assert assume_calls(two_hops, HUB_ARN) == 1 and assume_calls(two_hops, DEV_ROLE) == 1
    two_hops.sts.recorder.reset()
    assert two_hops.get_json("dev") == refreshed
    assert two_hops.sts.recorder.calls == []


def test_no_cache_flag_neither_reads_nor_writes(two_hops: Sandbox) -> None:
    two_hops.get_json("dev")
    before = tree(two_hops.cache_dir)
    two_hops.sts.recorder.reset()
    two_hops.get_json("dev", "--no-cache")
    assert assume_calls(two_hops, HUB_ARN) == 1 and assume_calls(two_hops, DEV_ROLE) == 1
    assert tree(two_hops.cache_dir) == before


def test_cache_disabled_in_the_config(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + "\n[cache]\nenabled = false\n")
    sandbox.get_json("dev")
    sandbox.get_json("dev")
    assert assume_calls(sandbox, HUB_ARN) == 2 and assume_calls(sandbox, DEV_ROLE) == 2
    # Nothing is kept: no entry, answer or memo; only the empty lock file of
    # the request's claim (credproc/single_flight.py).
    kept = tree(sandbox.cache_dir)
    assert all(name.startswith("pending/") and name.endswith(".lock") and not data for name, data in kept.items()), kept
    assert not Path(sandbox.env["CREDPROC_TEST_KEYRING"]).exists()  # no key made either
    assert not Path(sandbox.env["CREDPROC_DATA_DIR"]).exists()


# -- what the cache key tells apart --------------------------------------------------------


def test_dev_and_prod_behind_the_same_hub_share_its_session(two_hops: Sandbox) -> None:
    two_hops.get_json("dev")
    two_hops.get_json("prod")
    assert assume_calls(two_hops, HUB_ARN) == 1
    assert assume_calls(two_hops, DEV_ROLE) == 1 and assume_calls(two_hops, PROD_ROLE) == 1
    (dev_call,) = two_hops.sts.recorder.of("AssumeRole", DEV_ROLE)
    (prod_call,) = two_hops.sts.recorder.of("AssumeRole", PROD_ROLE)
    assert dev_call.access_key_id == prod_call.access_key_id  # the one hub session


def test_new_source_keys_never_get_the_old_identitys_credentials(two_hops: Sandbox) -> None:
    first = two_hops.get_json("dev")
    other = {"AWS_ACCESS_KEY_ID": "AKIASECONDSOURCE0002", "AWS_SECRET_ACCESS_KEY": "second-source-secret"}
    result = two_hops.run("get", "dev", env=other)
    assert result.returncode == 0, result.stderr
    second = json.loads(result.stdout)
    assert second["AccessKeyId"] != first["AccessKeyId"]
    hub_callers = [call.access_key_id for call in two_hops.sts.recorder.of("AssumeRole", HUB_ARN)]
    assert hub_callers == ["AKIASHAREDSOURCE0001", "AKIASECONDSOURCE0002"]
    # each identity keeps its own entries
    two_hops.sts.recorder.reset()
    assert two_hops.get_json("dev") == first
    assert json.loads(two_hops.run("get", "dev", env=other).stdout) == second
    assert two_hops.sts.recorder.calls == []


def _without_env_keys(sandbox: Sandbox) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del sandbox.env[name]


def test_switching_the_source_profile_switches_identity(sandbox: Sandbox) -> None:
    _without_env_keys(sandbox)
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[alpha]\naws_access_key_id = AKIAALPHAPROFILE0001\naws_secret_access_key = alpha-secret\n"
        "[beta]\naws_access_key_id = AKIABETAPROFILE00002\naws_secret_access_key = beta-secret\n"
    )
    alpha_config = TWO_HOP_CONFIG.replace("[source]\n", '[source]\nprofile = "alpha"\n')
    sandbox.write_config(alpha_config)
    alpha = sandbox.get_json("dev")
    sandbox.write_config(alpha_config.replace('"alpha"', '"beta"'))
    beta = sandbox.get_json("dev")
    assert alpha["AccessKeyId"] != beta["AccessKeyId"]
    hub_callers = [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]
    assert hub_callers == ["AKIAALPHAPROFILE0001", "AKIABETAPROFILE00002"]


def test_new_keys_behind_a_role_source_profile_are_a_new_identity(sandbox: Sandbox) -> None:
    """[source] profile is a role profile (role_arn + source_profile): the
    fingerprint follows source_profile down to the keys."""
    _without_env_keys(sandbox)
    credentials_file = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials_file.write_text("[base]\naws_access_key_id = AKIABASEKEYS00000001\naws_secret_access_key = b1\n")
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        "[profile shared]\nrole_arn = arn:aws:iam::123456789012:role/shared\nsource_profile = base\n"
    )
    sandbox.write_config(TWO_HOP_CONFIG.replace("[source]\n", '[source]\nprofile = "shared"\n'))
    first = sandbox.get_json("dev")
    sandbox.sts.recorder.reset()
    assert sandbox.get_json("dev") == first and sandbox.sts.recorder.calls == []
    credentials_file.write_text("[base]\naws_access_key_id = AKIABASEKEYS00000002\naws_secret_access_key = b2\n")
    second = sandbox.get_json("dev")
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert assume_calls(sandbox, HUB_ARN) == 1


def test_new_default_keys_in_the_credentials_file_are_a_new_identity(sandbox: Sandbox) -> None:
    """No [source] profile, no keys in the environment, [default] only in ~/.aws/credentials:
    those keys are the identity, and other keys there must not get their credentials."""
    _without_env_keys(sandbox)
    credentials_file = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    credentials_file.write_text("[default]\naws_access_key_id = AKIADEFAULTKEYS00001\naws_secret_access_key = d1\n")
    sandbox.write_config(TWO_HOP_CONFIG)
    first = sandbox.get_json("dev")
    credentials_file.write_text("[default]\naws_access_key_id = AKIADEFAULTKEYS00002\naws_secret_access_key = d2\n")
    second = sandbox.get_json("dev")
    assert second["AccessKeyId"] != first["AccessKeyId"]
    hub_callers = [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]
    assert hub_callers == ["AKIADEFAULTKEYS00001", "AKIADEFAULTKEYS00002"]


def test_another_role_arn_in_a_self_sourced_role_profile_is_a_new_identity(sandbox: Sandbox) -> None:
    """[profile shared] role_arn + source_profile = shared, keys in [shared] of the credentials
    file: botocore assumes role_arn, so a new role_arn is a new identity, not the same keys."""
    _without_env_keys(sandbox)
    Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[shared]\naws_access_key_id = AKIASELFSOURCED00001\naws_secret_access_key = s1\n"
    )
    aws_config = Path(sandbox.env["AWS_CONFIG_FILE"])
    profile = "[profile shared]\nrole_arn = arn:aws:iam::123456789012:role/{}\nsource_profile = shared\n"
    aws_config.write_text(profile.format("first"))
    sandbox.write_config(TWO_HOP_CONFIG.replace("[source]\n", '[source]\nprofile = "shared"\n'))
    first = sandbox.get_json("dev")
    aws_config.write_text(profile.format("second"))
    second = sandbox.get_json("dev")
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert assume_calls(sandbox, HUB_ARN) == 2


def test_the_remembered_source_is_sealed_and_one_swapped_for_another_is_not_believed(sandbox: Sandbox) -> None:
    """The full path remembers the source it resolved from the AWS files
    (source.resolve_remembered) under a digest of their bytes, sealed with the
    cache key: a memo moved to another's name is parsed anew, not believed."""
    _without_env_keys(sandbox)
    credentials_file = Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"])
    keys = "[default]\naws_access_key_id = AKIADEFAULTKEYS0000{}\naws_secret_access_key = d{}\n"
    sandbox.write_config(TWO_HOP_CONFIG)
    obtained = {}
    for number in (1, 2):
        credentials_file.write_text(keys.format(number, number))
        result = sandbox.run("get", "dev", "--verbose")  # the full path: no remembered answer
        assert result.returncode == 0, result.stderr
        obtained[number] = json.loads(result.stdout)
    assert obtained[1]["AccessKeyId"] != obtained[2]["AccessKeyId"]
    memos = sorted((sandbox.cache_dir / "memos").glob("source-*.memo"))
    assert len(memos) == 2
    for memo in memos:
        assert stat.S_IMODE(memo.stat().st_mode) == 0o600
        assert b"AKIADEFAULTKEYS" not in memo.read_bytes() and b"default" not in memo.read_bytes()

    first, second = (memo.read_bytes() for memo in memos)
    memos[0].write_bytes(second)
    memos[1].write_bytes(first)
    sandbox.sts.recorder.reset()
    for number in (1, 2):
        credentials_file.write_text(keys.format(number, number))
        result = sandbox.run("get", "dev", "--verbose")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == obtained[number]  # each identity its own sessions
    assert sandbox.sts.recorder.calls == []


# -- files on disk --------------------------------------------------------------------------


def issued_secrets(sandbox: Sandbox) -> set[str]:
    """Every access key id, secret and session token STS handed out, plus the source's."""
    found = {sandbox.env["AWS_ACCESS_KEY_ID"], sandbox.env["AWS_SECRET_ACCESS_KEY"]}
    for partitions in sts_backends.values():
        for backend in partitions.values():
            for role in backend.assumed_roles:
                found |= {role.access_key_id, role.secret_access_key, role.session_token}
    return found


def all_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.exists():
            yield from (path for path in root.rglob("*") if path.is_file())


@pytest.mark.parametrize("key_store", ["keyring", "file"])
def test_permissions_and_no_secret_in_clear_on_disk(sandbox: Sandbox, key_store: str) -> None:
    sandbox.write_config(TWO_HOP_CONFIG + f'\n[cache]\nkey_store = "{key_store}"\n')
    for target in ("dev", "prod"):
        sandbox.get_json(target)
    data_dir = Path(sandbox.env["CREDPROC_DATA_DIR"])
    assert stat.S_IMODE(sandbox.cache_dir.stat().st_mode) == 0o700
    entries = sorted(sandbox.cache_dir.rglob("*"))  # entries, locks, remembered answers
    assert len([path for path in entries if path.suffix == ".cred" and path.parent == sandbox.cache_dir]) == 3
    for path in entries:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    if key_store == "file":
        assert stat.S_IMODE((data_dir / "cache.key").stat().st_mode) == 0o600
    secrets = issued_secrets(sandbox)
    assert len(secrets) >= 2 + 3 * 3
    for path in all_files(sandbox.cache_dir, data_dir):
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"{path} holds a secret in clear"


def test_an_existing_loose_cache_directory_is_tightened(two_hops: Sandbox) -> None:
    two_hops.cache_dir.mkdir(mode=0o755)
    os.chmod(two_hops.cache_dir, 0o755)  # noqa: S103 - the loose mode under test
    two_hops.get_json("dev")
    assert stat.S_IMODE(two_hops.cache_dir.stat().st_mode) == 0o700


def _unprivileged() -> list[str]:
    """The command prefix that makes permission bits stop writes: as root, drop the override."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be simulated")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_read_only_cache_directory_still_prints_credentials(two_hops: Sandbox) -> None:
    two_hops.cache_dir.mkdir(mode=0o500)
    os.chmod(two_hops.cache_dir, 0o500)
    result = two_hops.run("get", "dev", prefix=_unprivileged())
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert caller_arn(two_hops, document).startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "could not write the cache" in lines[0] and "Permission denied" in lines[0]
    assert list(two_hops.cache_dir.iterdir()) == []


def test_full_disk_still_prints_credentials(two_hops: Sandbox) -> None:
    """No file can grow (RLIMIT_FSIZE 0: the kernel answers EFBIG, as a full
    disk answers ENOSPC); the key comes from the environment."""

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    result = two_hops.run("get", "dev", env=ENV_KEY, preexec_fn=no_room)  # only setrlimit and a signal: safe
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccountId"] == DEV_ACCOUNT
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not write the cache" in lines[0]
    assert not any(path.suffix == ".cred" for path in two_hops.cache_dir.iterdir())


def test_disk_full_at_fsync_in_process(
    two_hops: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setenv(*next(iter(ENV_KEY.items())))
    monkeypatch.setattr("credproc.cache.os.fsync", full)
    result = run_main(capsys, "get", "dev")
    assert result.returncode == 0
    assert json.loads(result.stdout)["AccountId"] == DEV_ACCOUNT
    assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr
    # No entry and no temp file: only lock files, and the memo directory (memo.py), empty.
    left = {path.name for path in two_hops.cache_dir.iterdir() if not path.name.endswith(".lock")}
    assert left <= {"memos"}
    assert not any((two_hops.cache_dir / "memos").glob("*"))


def test_a_failure_after_a_warning_is_still_one_line(two_hops: Sandbox) -> None:
    """A key store that cannot be used is a warning; when STS then fails too,
    the user sees the one error line, not the warning on top of it."""
    two_hops.sts.recorder.faults.append(
        lambda params: sts_error("AccessDenied", "no") if params.get("Action") == "AssumeRole" else None
    )
    result = two_hops.run("get", "dev", env={"CREDPROC_CACHE_KEY": "not-base64!"})
    line = assert_one_clear_error(result, "AccessDenied", exit_code=4)
    assert "warning" not in line
