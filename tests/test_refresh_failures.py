"""What a failed refresh hands out, seen through real credproc processes and
the local STS: a cached session that is still valid when STS cannot answer
(with a warning), nothing when STS refuses, and the refused session is gone
for later runs too.

The sessions start with 10 minutes left: the first `get` runs while the local
STS's clock (freezegun, in this process) is 50 minutes behind, so the
one-hour sessions it issues end 10 minutes from now. credproc's own clock is
real: it sees them inside the 15 min refresh margin but still valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cache_support import DEV_ROLE
from conftest import DEV_ACCOUNT, HUB_ARN, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error
from freezegun import freeze_time
from local_sts import LocalSts, sts_error


def fetch_with_ten_minutes_left(sandbox: Sandbox, env: dict[str, str] | None = None) -> dict[str, object]:
    with freeze_time(datetime.now(UTC) - timedelta(minutes=50), tick=True):
        result = sandbox.run("get", "dev", env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    left = datetime.fromisoformat(str(document["Expiration"])) - datetime.now(UTC)
    assert timedelta(minutes=5) < left <= timedelta(minutes=10)  # inside the margin, still valid
    return document


def deny(role_arn: str) -> object:
    def fault(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("Action") == "AssumeRole" and params.get("RoleArn") == role_arn:
            return sts_error("AccessDenied", f"User is not authorized to perform: sts:AssumeRole on {role_arn}")
        return None

    return fault


def fail_everything(params: dict[str, str]) -> tuple[str, str] | None:
    return sts_error("ServiceUnavailable", "try later", "503 Service Unavailable", "Receiver")


NO_RETRIES = {"CREDPROC_STS_BUDGET": "0"}  # an availability failure at once, not after the budget


def test_sts_failing_hands_out_the_still_valid_session_with_a_warning(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    cached = fetch_with_ten_minutes_left(sandbox)
    sandbox.sts.recorder.faults.append(fail_everything)
    result = sandbox.run("get", "dev", env=NO_RETRIES)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == cached
    [line] = result.stderr.splitlines()
    assert "warning" in line and "ServiceUnavailable" in line and "handing out cached credentials" in line
    assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 2  # it did try


def test_a_refused_refresh_is_exit_4_and_the_session_is_not_handed_out_again(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fetch_with_ten_minutes_left(sandbox)
    sandbox.sts.recorder.faults.append(deny(DEV_ROLE))  # an administrator removed the trust

    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, "AccessDenied", DEV_ROLE, "trust policy", exit_code=4)

    again = sandbox.run("get", "dev")
    assert_one_clear_error(again, "AccessDenied", DEV_ROLE, exit_code=4)

    # Now STS fails instead of refusing: the failure that would hand out a
    # still-valid session (see above). The refused one is gone.
    sandbox.sts.recorder.faults[:] = [fail_everything]
    unavailable = sandbox.run("get", "dev", env=NO_RETRIES)
    assert_one_clear_error(unavailable, "ServiceUnavailable", DEV_ROLE, exit_code=5)


def test_a_refused_hub_drops_the_sessions_reached_through_it(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fetch_with_ten_minutes_left(sandbox)
    # Both sessions have 10 min left: the hub's is still good for one more
    # AssumeRole, so only dev is refreshed, and its refusal drops dev only.
    # --refresh makes the hub be asked again too.
    sandbox.sts.recorder.faults.append(deny(HUB_ARN))
    result = sandbox.run("get", "dev", "--refresh")
    assert_one_clear_error(result, "AccessDenied", HUB_ARN, exit_code=4)

    sandbox.sts.recorder.faults[:] = [fail_everything]
    unavailable = sandbox.run("get", "dev", env=NO_RETRIES)
    # neither the hub's nor dev's session was left to hand out
    assert_one_clear_error(unavailable, "ServiceUnavailable", HUB_ARN, exit_code=5)


@pytest.fixture
def own_sts() -> Iterator[LocalSts]:
    """A local STS of this test's own, so that it can be stopped."""
    server = LocalSts().start()
    yield server
    server.stop()


def test_sts_unreachable_hands_out_the_still_valid_session_with_a_warning(sandbox: Sandbox, own_sts: LocalSts) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    at_own = {"AWS_ENDPOINT_URL_STS": own_sts.url, "CREDPROC_STS_TIMEOUT": "1"}
    cached = fetch_with_ten_minutes_left(sandbox, at_own)
    own_sts.stop()

    result = sandbox.run("get", "dev", env=at_own)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == cached
    assert cached["AccountId"] == DEV_ACCOUNT
    [line] = result.stderr.splitlines()
    assert "warning: could not reach STS" in line and "handing out cached credentials that expire at" in line


def test_a_hub_session_sts_calls_expired_is_fetched_anew(sandbox: Sandbox) -> None:
    """STS may call a session expired that credproc still counts as valid
    (clock skew): the refused hub session is dropped with dev's, so the next
    run gets a new one instead of failing until the old one runs out."""
    sandbox.write_config(TWO_HOP_CONFIG)
    fetch_with_ten_minutes_left(sandbox)
    recorder = sandbox.sts.recorder
    old_hub_key = recorder.of("AssumeRole", DEV_ROLE)[0].access_key_id

    def expired_hub(params: dict[str, str]) -> tuple[str, str] | None:
        with recorder.lock:
            signed_with = recorder.calls[-1].access_key_id
        if signed_with == old_hub_key:
            return sts_error("ExpiredToken", "The security token included in the request is expired", "400 Bad Request")
        return None

    recorder.faults.append(expired_hub)
    result = sandbox.run("get", "dev")
    assert_one_clear_error(result, "ExpiredToken", DEV_ROLE, exit_code=4)

    hub_calls = len(recorder.of("AssumeRole", HUB_ARN))
    document = json.loads(sandbox.run("get", "dev").stdout)
    assert document["AccountId"] == DEV_ACCOUNT
    assert len(recorder.of("AssumeRole", HUB_ARN)) == hub_calls + 1  # a new hub session
