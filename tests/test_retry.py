"""The retry schedule of AWS calls (credproc.retry) on a fake clock, and which
AWS errors are retried, handed out stale, or refused (credproc.aws_errors).
The end-to-end behaviour is in test_sts_faults.py and test_refresh_failures.py."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from credproc import aws_errors, config, freshness, retry
from credproc.errors import ConfigError, ExitCode, RefusedError
from credproc.log import Log
from credproc.obtain import open_cache

KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes


@dataclass
class FakeTime:
    """A clock that only sleeping moves; every sleep is recorded."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_error(code: str, status: int) -> ClientError:
    response = {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "AssumeRole")  # type: ignore[arg-type]


THROTTLED = client_error("Throttling", 400)


class Failing:
    """An attempt that raises ``error`` the first ``times`` calls, then answers."""

    def __init__(self, error: Exception, times: int = 10**6) -> None:
        self.error, self.left, self.attempts = error, times, 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.left > 0:
            self.left -= 1
            raise self.error
        return "answer"


def retrying(time: FakeTime, budget: float = 30, jitter: float = 1.0) -> retry.Retrying:
    return retry.Retrying(budget, Log(stream=io.StringIO()), clock=time.clock, sleep=time.sleep, jitter=lambda: jitter)


def test_a_burst_of_throttling_is_waited_out() -> None:
    time = FakeTime()
    attempt = Failing(THROTTLED, times=6)
    assert retrying(time).call(attempt, aws_errors.transient, "AssumeRole") == "answer"
    assert attempt.attempts == 7
    # full jitter drawn at its top here: the cap doubles from 0.5 s up to 10 s
    assert time.sleeps == [0.5, 1, 2, 4, 8, 10]


def test_endless_throttling_ends_when_the_budget_is_spent() -> None:
    time = FakeTime()
    attempt = Failing(THROTTLED)
    with pytest.raises(ClientError):
        retrying(time, budget=30).call(attempt, aws_errors.transient, "AssumeRole")
    assert sum(time.sleeps) == pytest.approx(30)  # the last sleep is cut to the budget
    assert time.sleeps[-1] < retry.MAX_DELAY
    assert attempt.attempts == len(time.sleeps) + 1  # one last attempt at the end of the budget


def test_the_budget_is_shared_by_every_call_of_a_run() -> None:
    time = FakeTime()
    calls = retrying(time, budget=5)
    with pytest.raises(ClientError):
        calls.call(Failing(THROTTLED), aws_errors.transient, "AssumeRole hub")
    later = Failing(THROTTLED, times=1)
    with pytest.raises(ClientError):
        calls.call(later, aws_errors.transient, "AssumeRole dev")
    assert later.attempts == 1  # the budget is gone: one attempt, no retry


def test_a_frozen_clock_still_ends_the_retries() -> None:
    time = FakeTime()
    frozen = retry.Retrying(5, Log(stream=io.StringIO()), clock=lambda: 0.0, sleep=time.sleep, jitter=lambda: 1.0)
    with pytest.raises(ClientError):
        frozen.call(Failing(THROTTLED), aws_errors.transient, "AssumeRole")
    assert sum(time.sleeps) == pytest.approx(5)


def test_no_answer_is_tried_four_times_at_most() -> None:
    time = FakeTime()
    attempt = Failing(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(EndpointConnectionError):
        retrying(time).call(attempt, aws_errors.transient, "AssumeRole")
    assert attempt.attempts == retry.UNREACHABLE_ATTEMPTS


def test_a_refusal_is_not_retried() -> None:
    time = FakeTime()
    attempt = Failing(client_error("AccessDenied", 403))
    with pytest.raises(ClientError):
        retrying(time).call(attempt, aws_errors.transient, "AssumeRole")
    assert attempt.attempts == 1 and time.sleeps == []


@pytest.mark.parametrize(
    ("error", "exit_code", "retried", "stale", "revokes"),
    [
        (THROTTLED, ExitCode.UNAVAILABLE, True, True, False),
        (client_error("SomethingNew", 429), ExitCode.UNAVAILABLE, True, True, False),
        (client_error("ServiceUnavailable", 503), ExitCode.UNAVAILABLE, True, True, False),
        (client_error("InternalError", 500), ExitCode.UNAVAILABLE, True, True, False),
        (client_error("IDPCommunicationError", 400), ExitCode.UNAVAILABLE, True, True, False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), ExitCode.UNAVAILABLE, True, True, False),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), ExitCode.UNAVAILABLE, True, True, False),
        (client_error("AccessDenied", 403), ExitCode.AUTH, False, False, True),
        (client_error("InvalidClientTokenId", 403), ExitCode.AUTH, False, False, True),
        (client_error("ExpiredToken", 400), ExitCode.AUTH, False, False, True),
        (client_error("ValidationError", 400), ExitCode.AUTH, False, False, False),
    ],
)
def test_what_each_aws_error_leads_to(
    error: Exception, exit_code: ExitCode, retried: bool, stale: bool, revokes: bool
) -> None:
    translated = aws_errors.translate(error, "assuming arn:aws:iam::111111111111:role/x", "the source")
    assert translated.exit_code == exit_code
    assert (aws_errors.transient(error) is not None) is retried
    assert freshness.stale_allowed(translated) is stale
    assert freshness.revokes(translated) is revokes


def test_another_service_names_itself_and_its_fix() -> None:
    """What account discovery needs for Organizations' errors."""
    organizations = aws_errors.Service(
        "Organizations", "AWS_ENDPOINT_URL_ORGANIZATIONS", "set [organizations] role_arn"
    )
    not_in_use = client_error("AWSOrganizationsNotInUseException", 400)
    refused = aws_errors.translate(not_in_use, "listing accounts", "me", organizations)
    assert refused.exit_code == ExitCode.AUTH and not isinstance(refused, RefusedError)
    assert "Organizations refused listing accounts as me: AWSOrganizationsNotInUseException" in refused.message
    assert refused.hint == "set [organizations] role_arn"
    denied = aws_errors.translate(client_error("AccessDeniedException", 400), "listing accounts", "me", organizations)
    assert isinstance(denied, RefusedError) and denied.hint == "set [organizations] role_arn"
    unreachable = aws_errors.translate(
        EndpointConnectionError(endpoint_url="x"), "listing accounts", "me", organizations
    )
    assert "could not reach Organizations" in unreachable.message
    assert unreachable.hint is not None and "AWS_ENDPOINT_URL_ORGANIZATIONS" in unreachable.hint


@pytest.mark.parametrize("value", ["30s", "-1", "inf", "nan"])
def test_a_budget_that_is_not_seconds_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        retry.limits({"CREDPROC_STS_BUDGET": value})
    assert f"CREDPROC_STS_BUDGET: {value!r}" in raised.value.message
    assert raised.value.hint is not None and "CREDPROC_STS_BUDGET=30" in raised.value.hint


@pytest.mark.parametrize("budget", ["0", "30", "300"])
def test_lock_waiters_outlast_the_longest_a_leader_may_call(tmp_path: Path, budget: str) -> None:
    """Processes waiting for a cache lock wait longer than its holder's retries can last."""
    env = {"CREDPROC_STS_BUDGET": budget, "CREDPROC_CACHE_DIR": str(tmp_path), "CREDPROC_CACHE_KEY": KEY}
    cache = open_cache(config.load(tmp_path / "missing.toml", env), env, Log(stream=io.StringIO()))
    assert cache is not None
    limits = retry.limits(env)
    assert cache.lock_timeout > float(budget) + 2 * (limits.connect + limits.read)
    assert cache.lock_timeout >= 120  # the documented default is never shortened
    explicit = {**env, "CREDPROC_LOCK_TIMEOUT": "7"}
    cache = open_cache(config.load(tmp_path / "missing.toml", explicit), explicit, Log(stream=io.StringIO()))
    assert cache is not None and cache.lock_timeout == 7  # as asked, even if shorter
