"""Every freshness decision, with an injected clock: the pure rules in
credproc.freshness and the chain walk that applies them to a real encrypted
cache in a temp dir (STS replaced by a fake that records what is asked)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credproc import freshness
from credproc.aws_credentials import Credentials
from credproc.cache import Cache
from credproc.chain import FinalCredentials, resolve
from credproc.errors import UnavailableError
from credproc.log import Log
from credproc.plan import Hop, Plan
from credproc.source import Source

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HUB = Hop("arn:aws:iam::222222222222:role/hub", "credproc-tester", 3600)
DEV = Hop("arn:aws:iam::111111111111:role/Deployer", "credproc-tester", 3600)
ENDPOINT = "https://sts.us-east-1.amazonaws.com"
SOURCE = Source(profile=None, ignore_env_profile=False, fingerprint="env:AKIATEST", label="environment variables")


def plan_of(*hops: Hop) -> Plan:
    return Plan("dev", "dev", hops[-1].account_id, "us-east-1", "us-east-1", None, hops)


def creds(now: datetime, seconds: float, tag: str = "x") -> Credentials:
    return Credentials(f"ASIA{tag}", f"secret-{tag}", f"token-{tag}", now + timedelta(seconds=seconds))


# -- the pure rules ----------------------------------------------------------------------------


def test_final_margin_is_the_refresh_margin_for_an_hour_session() -> None:
    assert freshness.final_margin(15 * 60, 3600) == 15 * 60


def test_final_margin_is_half_of_a_short_session() -> None:
    # 900 s sessions are inside botocore's 15 min window from the start; half
    # the session keeps them reusable for a while.
    assert freshness.final_margin(15 * 60, 900) == 450
    assert freshness.final_margin(0, 3600) == 0


@pytest.mark.parametrize(
    ("left", "margin", "fresh"),
    [(901, 900, True), (900, 900, False), (899, 900, False), (-1, 0, False), (1, 0, True)],
)
def test_fresh_means_strictly_more_than_the_margin_left(left: int, margin: int, fresh: bool) -> None:
    assert freshness.is_fresh(creds(T0, left), T0, margin) is fresh


def test_credentials_without_expiry_are_always_fresh() -> None:
    assert freshness.is_fresh(Credentials("AKIA", "s"), T0, 10**6)


def test_usable_after_a_failed_refresh_needs_a_minute_left() -> None:
    assert freshness.is_usable(creds(T0, 61), T0)
    assert not freshness.is_usable(creds(T0, 60), T0)


# -- the chain walk, with a clock ----------------------------------------------------------


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeSts:
    """Answers AssumeRole like STS would (expiry = now + duration), or fails."""

    clock: Clock
    calls: list[str] = field(default_factory=list)
    failing: bool = False
    issued: int = 0

    def prepare_source(self) -> None:
        pass

    def assume_role(self, hop: Hop, credentials: Credentials | None, caller: str) -> Credentials:
        if self.failing:
            raise UnavailableError("could not reach STS", "retry")
        self.calls.append(hop.role_arn)
        self.issued += 1
        return creds(self.clock(), hop.duration, tag=f"{hop.account_id}-{self.issued}")


@dataclass
class World:
    clock: Clock
    sts: FakeSts
    cache: Cache
    errors: io.StringIO

    def get(self, *hops: Hop, refresh_margin: int = 15 * 60, force: bool = False) -> FinalCredentials:
        self.sts.calls.clear()
        return resolve(
            plan_of(*hops),
            SOURCE,
            caller_factory=lambda: self.sts,
            cache=self.cache,
            clock=self.clock,
            refresh_margin=refresh_margin,
            force_refresh=force,
            log=Log(stream=self.errors),
            endpoint=ENDPOINT,
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    clock = Clock()
    errors = io.StringIO()
    return World(clock, FakeSts(clock), Cache(tmp_path / "cache", os.urandom(32), Log(stream=errors)), errors)


def test_second_call_is_served_from_the_cache(world: World) -> None:
    first = world.get(HUB, DEV)
    assert world.sts.calls == [HUB.role_arn, DEV.role_arn] and first.sts_calls == 2
    world.clock.move(minutes=30)
    second = world.get(HUB, DEV)
    assert world.sts.calls == [] and second.from_cache
    assert second.credentials == first.credentials


def test_just_outside_the_margin_is_still_a_hit(world: World) -> None:
    world.get(HUB, DEV)
    world.clock.move(minutes=44)  # 16 min left
    assert world.get(HUB, DEV).sts_calls == 0


def test_inside_the_margin_refreshes_only_the_last_hop(world: World) -> None:
    world.get(HUB, DEV)
    world.clock.move(minutes=50)  # 10 min left: botocore would re-run us on every use
    outcome = world.get(HUB, DEV)
    # the hub session (10 min left) is good enough to make one more AssumeRole
    assert world.sts.calls == [DEV.role_arn]
    assert outcome.credentials.remaining(world.clock()) == 3600


def test_an_intermediate_hop_inside_its_own_margin_is_refreshed_too(world: World) -> None:
    world.get(HUB, DEV)
    world.clock.move(minutes=56)  # 4 min left on both: below the intermediate margin
    world.get(HUB, DEV)
    assert world.sts.calls == [HUB.role_arn, DEV.role_arn]


def test_expired_entries_are_fetched_again(world: World) -> None:
    first = world.get(HUB, DEV)
    world.clock.move(hours=2)
    second = world.get(HUB, DEV)
    assert world.sts.calls == [HUB.role_arn, DEV.role_arn]
    assert second.credentials != first.credentials


def test_clock_jumping_forward_past_expiry_refreshes(world: World) -> None:
    world.get(HUB, DEV)
    world.clock.move(days=3)  # e.g. a laptop waking up
    world.get(HUB, DEV)
    assert world.sts.calls == [HUB.role_arn, DEV.role_arn]


def test_clock_jumping_back_keeps_using_the_entry(world: World) -> None:
    first = world.get(HUB, DEV)
    world.clock.move(hours=-3)  # the expiry STS gave is absolute; botocore trusts it too
    second = world.get(HUB, DEV)
    assert world.sts.calls == [] and second.credentials == first.credentials


def test_short_sessions_are_reused_for_half_their_life(world: World) -> None:
    short = Hop(DEV.role_arn, DEV.session_name, 900)
    world.get(HUB, short)
    world.clock.move(minutes=7)  # 8 min left > 450 s
    assert world.get(HUB, short).sts_calls == 0
    world.clock.move(minutes=1)  # 7 min left = 420 s < 450 s
    world.get(HUB, short)
    assert world.sts.calls == [short.role_arn]


def test_a_configured_refresh_margin_is_honoured(world: World) -> None:
    world.get(HUB, DEV, refresh_margin=25 * 60)
    world.clock.move(minutes=34)  # 26 min left
    assert world.get(HUB, DEV, refresh_margin=25 * 60).sts_calls == 0
    world.clock.move(minutes=2)  # 24 min left
    assert world.get(HUB, DEV, refresh_margin=25 * 60).sts_calls == 1


def test_force_refresh_fetches_every_hop(world: World) -> None:
    first = world.get(HUB, DEV)
    second = world.get(HUB, DEV, force=True)
    assert world.sts.calls == [HUB.role_arn, DEV.role_arn]
    assert second.credentials != first.credentials
    assert world.get(HUB, DEV).credentials == second.credentials  # and stores what it fetched


def test_failed_refresh_hands_out_still_valid_credentials_with_a_warning(world: World) -> None:
    first = world.get(HUB, DEV)
    world.clock.move(minutes=50)
    world.sts.failing = True
    outcome = world.get(HUB, DEV)
    assert outcome.stale and outcome.credentials == first.credentials
    warning = world.errors.getvalue()
    assert "warning: could not reach STS" in warning and "handing out cached credentials" in warning
    assert warning.count("\n") == 1


def test_failed_refresh_with_nothing_valid_left_fails(world: World) -> None:
    world.get(HUB, DEV)
    world.clock.move(minutes=59, seconds=30)  # 30 s left: not worth handing out
    world.sts.failing = True
    with pytest.raises(UnavailableError):
        world.get(HUB, DEV)


def test_failed_refresh_after_expiry_fails(world: World) -> None:
    world.get(HUB, DEV)
    world.clock.move(hours=1, seconds=1)
    world.sts.failing = True
    with pytest.raises(UnavailableError):
        world.get(HUB, DEV)


def test_failure_without_any_cache_entry_fails(world: World) -> None:
    world.sts.failing = True
    with pytest.raises(UnavailableError):
        world.get(HUB, DEV)
