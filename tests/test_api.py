"""The Python API (``import credproc``) and the engine under it (credproc.batch):
credentials exactly as ``credproc get`` obtains them, for many accounts from
many threads, against the local STS."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from conftest import HUB_ARN, Sandbox
from test_source_command import run_input

import credproc
from credproc.batch import Batch
from credproc.errors import ConfigError, CredprocError, ExitCode, UsageError

MANY = 100
CONTRIB = Path(__file__).resolve().parent.parent / "contrib"


def many_accounts_config(count: int) -> str:
    """``count`` accounts (acct-000 ...) behind the one hub, and one more that refuses everyone."""
    lines = [
        '[source]\nregion = "us-east-1"\n',
        f'[defaults]\nrole = "Deployer"\nduration = "1h"\nvia = ["{HUB_ARN}"]\n',
    ]
    lines += [f'[accounts.acct-{n:03}]\nid = "{500000000000 + n}"\nregion = "eu-west-1"\n' for n in range(count)]
    return "\n".join(lines)


def account_id(n: int) -> str:
    return str(500000000000 + n)


def target_role(n: int) -> str:
    return f"arn:aws:iam::{account_id(n)}:role/Deployer"


def test_a_thread_pool_over_many_accounts_makes_one_hub_assume_role(sandbox: Sandbox) -> None:
    sandbox.write_config(many_accounts_config(MANY))
    batch = Batch()
    aliases = [f"acct-{n:03}" for n in range(MANY)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(batch.credentials, aliases))

    assert [result.account_id for result in results] == [account_id(n) for n in range(MANY)]
    assert len({result.credentials.access_key_id for result in results}) == MANY  # a session per account
    assert all(
        result.region == "eu-west-1" and result.alias == alias for result, alias in zip(results, aliases, strict=True)
    )
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole")) == MANY + 1
    assert all(len(sandbox.sts.recorder.of("AssumeRole", target_role(n))) == 1 for n in range(MANY))

    # A second batch, as a second script run: all from the cache.
    again = Batch().many(aliases, workers=8)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == MANY + 1
    assert all(isinstance(result, tuple) and result.from_cache for result in again.values())

    # refresh=True over many targets: each target anew, the hub they share once per call.
    refreshed = Batch().many(aliases, workers=8, refresh=True)
    assert all(isinstance(result, tuple) and not result.from_cache for result in refreshed.values())
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 2
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2 * (MANY + 1)


def test_the_engine_shares_get_s_cache_entries(sandbox: Sandbox) -> None:
    sandbox.write_config(many_accounts_config(3))
    from_api = Batch().credentials("acct-001")
    from_get = sandbox.get_json("acct-001")
    assert from_get["AccessKeyId"] == from_api.credentials.access_key_id
    assert from_get["AccountId"] == account_id(1)
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2  # get found both hops cached

    # And the other way round: what get fetched, the engine hands out.
    fetched = sandbox.get_json("acct-002", "--role", "Reader")
    result = Batch().credentials("acct-002", role="Reader")
    assert result.credentials.access_key_id == fetched["AccessKeyId"] and result.from_cache
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 3


def test_many_reports_each_account_s_failure_and_runs_the_others(sandbox: Sandbox) -> None:
    sandbox.write_config(many_accounts_config(3))
    refused = target_role(1)

    def deny(params: dict[str, str]) -> tuple[str, str] | None:
        from local_sts import sts_error

        return sts_error("AccessDenied", "not allowed") if params.get("RoleArn") == refused else None

    sandbox.sts.recorder.faults.append(deny)
    results = Batch().many(["acct-000", "acct-001", "acct-002", "acct-000"], workers=3)
    assert list(results) == ["acct-000", "acct-001", "acct-002"]
    failure = results["acct-001"]
    assert isinstance(failure, CredprocError) and failure.exit_code == ExitCode.AUTH
    assert refused in failure.message
    assert not isinstance(results["acct-000"], CredprocError)
    assert not isinstance(results["acct-002"], CredprocError)


def test_errors_are_raised_as_credproc_errors(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.write_config(many_accounts_config(2))
    batch = Batch()
    with pytest.raises(ConfigError) as unknown:
        batch.credentials("nope")
    assert unknown.value.exit_code == ExitCode.CONFIG and "acct-000" in (unknown.value.hint or "")
    with pytest.raises(ConfigError) as duration:
        batch.credentials("acct-000", duration="3 days")
    assert "duration" in duration.value.message
    with pytest.raises(UsageError):
        batch.credentials("acct-000", via="arn:aws:iam::222222222222:role/hub")
    with pytest.raises(UsageError):
        batch.credentials("acct-000", colour="blue")  # type: ignore[call-arg]
    with pytest.raises(UsageError) as typo:
        batch.credentials("acct-000", refesh=True)  # type: ignore[call-arg]
    assert typo.value.message == "unknown option 'refesh' (did you mean 'refresh'?)"
    for name in ("refresh", "no_cache"):  # "false" from an environment variable is no False
        with pytest.raises(UsageError) as flag:
            batch.credentials("acct-000", **{name: "false"})  # type: ignore[arg-type]
        assert flag.value.message == f"{name}: expected bool, got str"
    assert sandbox.sts.recorder.of("AssumeRole") == []
    assert capsys.readouterr() == ("", "")  # never prints


# The public API: ``import credproc``.

LABELLED = f"""
[source]
region = "us-east-1"

[defaults]
role = "Deployer"
duration = "1h"
via = ["{HUB_ARN}"]

[accounts.prod-eu]
id = "{account_id(1)}"
region = "eu-west-1"
labels = ["prod", "eu"]

[accounts.prod-us]
id = "{account_id(2)}"
region = "us-west-2"
labels = ["prod"]

[accounts.dev]
id = "{account_id(3)}"
role = "Admin"
labels = ["dev"]
"""


def test_accounts_selects_as_each_does(sandbox: Sandbox) -> None:
    sandbox.write_config(LABELLED)
    assert [account.alias for account in credproc.accounts()] == ["prod-eu", "prod-us", "dev"]
    (eu,) = credproc.accounts("prod-*", labels=["eu"])
    assert eu == credproc.Account("prod-eu", account_id(1), "eu-west-1", target_role(1), ("prod", "eu"))
    (dev,) = credproc.accounts(account_id(3))
    assert dev.role == f"arn:aws:iam::{account_id(3)}:role/Admin" and dev.region == "us-east-1"
    with pytest.raises(ConfigError) as unknown:
        credproc.accounts("prod-uk")
    assert unknown.value.exit_code == ExitCode.CONFIG and "prod-us" in (unknown.value.hint or "")
    assert sandbox.sts.recorder.calls == []  # choosing accounts calls nothing


def test_credentials_are_get_s_and_follow_config_edits(sandbox: Sandbox) -> None:
    sandbox.write_config(LABELLED)
    got = credproc.credentials("prod-us")
    assert got.account_id == account_id(2) and got.expiration is not None
    printed = sandbox.get_json("prod-us")
    assert printed["AccessKeyId"] == got.access_key_id
    assert printed["SecretAccessKey"] == got.secret_access_key and printed["SessionToken"] == got.session_token
    assert "secret" not in repr(got).lower()  # the repr hides the secret and the token

    sandbox.write_config(LABELLED.replace('"us-west-2"', '"us-west-1"') + '\n[accounts.new]\nid = "444444444444"\n')
    assert credproc.credentials("new").account_id == "444444444444"  # the edited config, read anew
    assert credproc.accounts("prod-us")[0].region == "us-west-1"


def test_a_thread_pool_over_the_api_makes_one_hub_assume_role(sandbox: Sandbox) -> None:
    sandbox.write_config(many_accounts_config(MANY))
    aliases = [f"acct-{n:03}" for n in range(MANY)]
    with ThreadPoolExecutor(max_workers=25) as pool:
        found = list(pool.map(credproc.credentials, aliases))
    assert [credentials.account_id for credentials in found] == [account_id(n) for n in range(MANY)]
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole")) == MANY + 1


def test_boto3_sessions_for_several_accounts(sandbox: Sandbox) -> None:
    sandbox.write_config(LABELLED)
    for account in credproc.accounts():
        session = credproc.boto3_session(account.alias)
        assert session.region_name == account.region
        identity = session.client("sts").get_caller_identity()
        assert identity["Account"] == account.id
        assert identity["Arn"].startswith(f"arn:aws:sts::{account.id}:assumed-role/{account.role.split('/')[-1]}/")
    assert credproc.boto3_session("dev", region="ap-south-1").region_name == "ap-south-1"
    botocore_session = credproc.botocore_session("prod-eu")
    assert botocore_session.create_client("sts").get_caller_identity()["Account"] == account_id(1)
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 4  # the hub, then each account once


def test_errors_raise_and_nothing_is_printed(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.write_config(LABELLED)
    with pytest.raises(ConfigError) as unknown:
        credproc.credentials("staging")
    assert "staging" in unknown.value.message and unknown.value.exit_code == 3
    with pytest.raises(ConfigError):
        credproc.boto3_session("staging")  # raised at once, not at the first call

    def deny(params: dict[str, str]) -> tuple[str, str] | None:
        from local_sts import sts_error

        return sts_error("AccessDenied", "no") if params.get("RoleArn") == admin else None

    admin = f"arn:aws:iam::{account_id(3)}:role/Admin"
    sandbox.sts.recorder.faults.append(deny)
    with pytest.raises(CredprocError) as refused:
        credproc.credentials("dev")
    assert refused.value.exit_code == ExitCode.AUTH and admin in refused.value.message
    assert capsys.readouterr() == ("", "")


def test_boto3_missing_is_named_with_its_fix(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.write_config(LABELLED)
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 fails, as where it is not installed
    with pytest.raises(credproc.MissingDependencyError) as missing:
        credproc.boto3_session("dev")
    assert missing.value.hint == "pip install boto3"
    assert isinstance(missing.value, ImportError) and missing.value.exit_code == ExitCode.USAGE
    assert sandbox.sts.recorder.calls == []


class Clock:
    """The engine's clock, and botocore's refresh decision with it: now, moved on at will."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def sts_on(clock: Clock) -> Callable[[dict[str, str], bytes], bytes]:
    """A rewrite of the local STS: sessions expire as seen from ``clock`` (moto's expiry, moved on as far)."""

    def rewrite(params: dict[str, str], body: bytes) -> bytes:
        if params.get("Action") != "AssumeRole":
            return body

        def moved(found: re.Match[bytes]) -> bytes:
            expiry = datetime.fromisoformat(found.group(1).decode().replace("Z", "+00:00")) + clock.ahead
            return f"<Expiration>{expiry.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration>".encode()

        return re.sub(rb"<Expiration>([^<]*)</Expiration>", moved, body)

    return rewrite


def test_a_call_after_expiry_gets_new_credentials_transparently(sandbox: Sandbox) -> None:
    from credproc.sessions import refreshing_session

    sandbox.write_config(LABELLED)
    clock = Clock()
    sandbox.sts.recorder.rewrites.append(sts_on(clock))
    batch = Batch(clock=clock)
    client = boto3.Session(botocore_session=refreshing_session(lambda: batch, "prod-eu", None, {})).client("sts")

    assert client.get_caller_identity()["Account"] == account_id(1)
    clock.ahead = timedelta(hours=1, minutes=1)  # the one-hour session has expired
    assert client.get_caller_identity()["Account"] == account_id(1)
    clock.ahead = timedelta(hours=1, minutes=20)  # the new one is 19 minutes old: still good
    assert client.get_caller_identity()["Account"] == account_id(1)

    first, second, third = (call.access_key_id for call in sandbox.sts.recorder.of("GetCallerIdentity"))
    assert first != second == third
    assert len(sandbox.sts.recorder.of("AssumeRole", target_role(1))) == 2
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 2  # the hub's session had expired too
    # The new session went to the cache, as get's would.
    assert batch.credentials("prod-eu").credentials.access_key_id == second
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 4


def test_a_session_near_expiry_is_refreshed_before_it_expires(sandbox: Sandbox) -> None:
    from credproc.sessions import refreshing_session

    sandbox.write_config(LABELLED)
    clock = Clock()
    sandbox.sts.recorder.rewrites.append(sts_on(clock))
    batch = Batch(clock=clock)
    client = boto3.Session(botocore_session=refreshing_session(lambda: batch, "dev", None, {})).client("sts")
    client.get_caller_identity()
    clock.ahead = timedelta(minutes=50)  # 10 minutes left: botocore must not sign with these any more
    client.get_caller_identity()
    first, second = (call.access_key_id for call in sandbox.sts.recorder.of("GetCallerIdentity"))
    assert first != second
    assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1  # the hub's session still had 10 minutes


def test_an_example_script_type_checks_with_mypy_strict(tmp_path: Path) -> None:
    example = CONTRIB / "examples" / "buckets_across_accounts.py"
    checked = mypy_strict(example)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The check can fail: a misuse of the API is caught.
    wrong = tmp_path / "wrong.py"
    wrong.write_text('import credproc\n\nkey: int = credproc.credentials("dev", colour="blue").access_key_id\n')
    checked = mypy_strict(wrong)
    assert checked.returncode == 1
    assert 'Unexpected keyword argument "colour"' in checked.stdout
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in checked.stdout


def mypy_strict(script: Path) -> subprocess.CompletedProcess[str]:
    """mypy --strict on ``script`` with the repository's settings (credproc from the work tree)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=CONTRIB.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_example_script_lists_each_account_s_buckets(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.write_config(LABELLED)
    env = {**sandbox.env, "AWS_ENDPOINT_URL_S3": sandbox.sts.url}  # moto serves S3 too
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sandbox.sts.url)
    s3 = credproc.boto3_session("prod-eu").client("s3")
    s3.create_bucket(Bucket="eu-open", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.create_bucket(Bucket="eu-closed", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_public_access_block(
        Bucket="eu-closed",
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    script = str(CONTRIB / "examples" / "buckets_across_accounts.py")

    listed = subprocess.run(
        [sys.executable, script, "--label", "prod"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    assert sorted(listed.stdout.splitlines()) == [
        f"prod-eu\t{account_id(1)}\teu-closed\tblocked",
        f"prod-eu\t{account_id(1)}\teu-open\tPUBLIC",
        "prod-us\t-\tno buckets",
    ]
    unknown = subprocess.run([sys.executable, script, "staging"], env=env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 3 and unknown.stdout == ""
    assert unknown.stderr.startswith("credproc: 'staging' is neither") and unknown.stderr.count("\n") == 1

    # The README's script (its "From Python" section), as a user would paste it.
    readme = (CONTRIB.parent / "README.md").read_text()
    pasted = readme.split("### From Python", 1)[1].split("```python\n", 1)[1].split("```\n", 1)[0]
    listed = subprocess.run([sys.executable, "-c", pasted], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert (listed.stdout, listed.stderr) == (f"prod-eu {account_id(1)} eu-open\n", "")


def test_get_s_options_as_keywords_reach_sts_as_get_s_flags_do(sandbox: Sandbox) -> None:
    sandbox.write_config(LABELLED)
    got = credproc.credentials(
        "444444444444", role="Auditor", via=[HUB_ARN], duration=900, session_name="audit-{alias}", external_id="ext-42"
    )
    (call,) = sandbox.sts.recorder.of("AssumeRole", "arn:aws:iam::444444444444:role/Auditor")
    assert call.params["DurationSeconds"] == "900" and call.params["RoleSessionName"] == "audit-444444444444"
    assert call.params["ExternalId"] == "ext-42"
    # The same request on the command line is the same cache entry.
    printed = sandbox.get_json(
        "444444444444", "--role", "Auditor", "--via", HUB_ARN, "--duration", "15m", "--session-name", "audit-{alias}",
        "--external-id", "ext-42",
    )  # fmt: skip
    assert printed["AccessKeyId"] == got.access_key_id
    assert len(sandbox.sts.recorder.of("AssumeRole")) == 2
    with pytest.raises(UsageError) as wrong:
        credproc.credentials("dev", duration=True)
    assert wrong.value.message == "duration: expected str or int, got bool"


def test_stored_keys_changed_by_another_process_are_used_from_the_next_call(sandbox: Sandbox) -> None:
    """A notebook keeps its engine: keys stored anew under the name (rotate, or
    remove and add, in a terminal) are another source from the next call on, not
    an error to 'run it again' that no later call could get past."""

    def store(key_id: str) -> None:
        added = run_input(sandbox, f"{key_id}\n{'s' * 40}\n", "source", "add", "base", "--stdin", "--no-verify")
        assert added.returncode == 0, added.stderr

    store("AKIAFIRSTSTOREDKEY01")
    sandbox.write_config(many_accounts_config(2).replace("[source]\n", '[source]\nstored = "base"\n', 1))
    credproc.credentials("acct-000")
    assert {call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)} == {"AKIAFIRSTSTOREDKEY01"}
    assert sandbox.run("source", "remove", "base", "--yes").returncode == 0
    store("AKIASECONDSTOREDKEY2")
    sandbox.sts.recorder.reset()
    got = credproc.credentials("acct-001")
    assert got.account_id == account_id(1)
    assert {call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)} == {"AKIASECONDSTOREDKEY2"}


def test_a_long_lived_boto3_session_refreshes_with_keys_stored_anew(sandbox: Sandbox) -> None:
    """A script running for hours outlives a `credproc source rotate`: its
    session's next refresh is signed with the key stored now, not failed (or
    skipped) because the engine it was made with knew the old one."""

    def store(key_id: str) -> None:
        added = run_input(sandbox, f"{key_id}\n{'s' * 40}\n", "source", "add", "base", "--stdin", "--no-verify")
        assert added.returncode == 0, added.stderr

    store("AKIAFIRSTSTOREDKEY01")
    # 15-minute sessions: inside botocore's refresh window from the start, so every call refreshes.
    sandbox.write_config(
        '[source]\nstored = "base"\nregion = "us-east-1"\n[defaults]\nrole = "Deployer"\nduration = "15m"\n'
        '[accounts.solo]\nid = "444444444444"\n'
    )
    client = credproc.boto3_session("solo").client("sts")
    assert client.get_caller_identity()["Account"] == "444444444444"
    assert sandbox.run("source", "remove", "base", "--yes").returncode == 0
    store("AKIASECONDSTOREDKEY2")
    sandbox.sts.recorder.reset()
    assert client.get_caller_identity()["Account"] == "444444444444"
    assert [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole")] == ["AKIASECONDSTOREDKEY2"]
