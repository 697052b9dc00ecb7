"""The Python API (``import credproc``) and the engine under it (credproc.batch):
credentials exactly as ``credproc get`` obtains them, for many accounts from
many threads, against the local STS."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import HUB_ARN, Sandbox

from credproc.batch import Batch
from credproc.errors import ConfigError, CredprocError, ExitCode, UsageError

MANY = 100


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
    assert sandbox.sts.recorder.of("AssumeRole") == []
    assert capsys.readouterr() == ("", "")  # never prints
