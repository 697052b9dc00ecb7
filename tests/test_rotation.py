"""Rotating a stored source key (credproc/rotation.py) against moto's IAM and
STS, behind the tests' recording front (tests/support/local_sts.py), which
fails the nth call it is sent. After every fault the stored key still works
(GetCallerIdentity answers as its IAM user), and every key IAM holds besides
it is named in the error. The store is the real one (a sealed file here: no
keychain), the clock and sleep are the tests' own, so no test waits."""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import SHARED_ACCOUNT, Sandbox
from local_sts import sts_error

from credproc import rotation, source_keys
from credproc.errors import CacheError, CredprocError, ExitCode
from credproc.log import Log
from credproc.rotation import Mfa, Timing
from credproc.rotation_aws import BotocoreAws
from credproc.stored_key import StoredKey

NAME = "work"
Fault = Callable[[dict[str, str]], tuple[str, str] | None]


class FakeTime:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def timing(self) -> Timing:
        return Timing(lambda: self.now, self.sleep)


class Store:
    """rotation.Store over the real key store (source_keys), in a temp data dir."""

    def __init__(self, env: dict[str, str], log: Log, fail_saves: int = 0) -> None:
        self.env = env
        self.log = log
        self.fail_saves = fail_saves  # how many saves fail (the disk is full, the keychain locked)

    def load(self, name: str) -> StoredKey:
        return source_keys.load(name, self.env, self.log)

    def save(self, key: StoredKey) -> StoredKey:
        if self.fail_saves:
            self.fail_saves -= 1
            raise CacheError("the OS keychain could not be used to store the source keys (KeyringLocked)", "unlock it")
        return source_keys.save(key, self.env, self.log)


class World:
    """One IAM user in moto with one access key, stored as NAME."""

    def __init__(self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", sandbox.sts.url)
        self.sandbox = sandbox
        self.user = "rotate-" + uuid.uuid4().hex[:10]
        self.arn = f"arn:aws:iam::{SHARED_ACCOUNT}:user/{self.user}"
        self.iam = sandbox.admin_iam()
        self.iam.create_user(UserName=self.user)
        key = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        self.messages = io.StringIO()
        self.log = Log(verbose=True, stream=self.messages)
        self.env = {"HOME": str(sandbox.root / "home"), "CREDPROC_DATA_DIR": str(sandbox.root / "keys")}
        source_keys.save(StoredKey(NAME, key["AccessKeyId"], key["SecretAccessKey"], None, "", ""), self.env, self.log)
        self.first_key = key["AccessKeyId"]
        self.time = FakeTime()
        sandbox.sts.recorder.reset()

    def iam_keys(self) -> set[str]:
        return {key["AccessKeyId"] for key in self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]}

    def stored(self) -> StoredKey:
        return source_keys.load(NAME, self.env, self.log)

    def stored_key_works(self) -> bool:
        """GetCallerIdentity with the stored key answers as the user (moto answers
        `user/moto` for a key IAM does not hold)."""
        key = self.stored()
        sts = boto3.client(
            "sts",
            endpoint_url=self.sandbox.sts.url,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
        )
        return bool(sts.get_caller_identity()["Arn"] == self.arn)

    def rotate(self, store: Any = None, mfa: Mfa | None = None) -> rotation.Rotated:
        aws = BotocoreAws(self.env, "us-east-1", self.log, clock=lambda: self.time.now, sleep=self.time.sleep)
        return rotation.rotate(NAME, store or Store(self.env, self.log), aws, self.time.timing(), self.log, mfa)

    def fault(self, fault: Fault) -> None:
        self.sandbox.sts.recorder.faults.append(fault)

    def heal(self) -> None:
        """The faults stop: what follows checks what the rotation left."""
        self.sandbox.sts.recorder.faults.clear()
        self.sandbox.sts.recorder.rewrites.clear()

    def actions(self) -> list[str]:
        return [call.action for call in self.sandbox.sts.recorder.calls]


@pytest.fixture
def world(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield World(sandbox, monkeypatch)


def fail_nth(n: int, answer: tuple[str, str]) -> Fault:
    """Answer the nth request the front sees with ``answer`` instead of moto's."""
    count = itertools.count(1)
    return lambda params: answer if next(count) == n else None


DENIED = sts_error("AccessDenied", "injected fault")
STEPS = ["GetCallerIdentity", "ListAccessKeys", "CreateAccessKey", "GetCallerIdentity", "DeleteAccessKey"]
NOT_YET = sts_error("InvalidClientTokenId", "The security token included in the request is invalid.")


def fail_new_key_identity(times: int | None) -> Fault:
    """GetCallerIdentity with the new key (every one after the first) refused
    ``times`` times (None: always), as IAM does until a new key has propagated."""
    seen = itertools.count(1)

    def fault(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("Action") != "GetCallerIdentity":
            return None
        number = next(seen)
        return NOT_YET if number > 1 and (times is None or number <= times + 1) else None

    return fault


def test_a_rotation_stores_a_working_new_key_and_deletes_the_old(world: World) -> None:
    rotated = world.rotate()
    assert world.actions() == STEPS
    stored = world.stored()
    assert rotated.old_key_id == world.first_key
    assert stored.access_key_id == rotated.new.access_key_id != world.first_key
    assert stored.arn == world.arn and stored.created.endswith("Z")
    assert world.stored_key_works()
    assert world.iam_keys() == {stored.access_key_id}
    assert world.time.slept == []
    assert stored.secret_access_key not in world.messages.getvalue()


@pytest.mark.parametrize("n", range(1, len(STEPS) + 1), ids=[f"{n}-{step}" for n, step in enumerate(STEPS, 1)])
def test_after_a_fault_at_any_step_the_stored_key_works_and_no_key_is_left_unnamed(world: World, n: int) -> None:
    world.fault(fail_nth(n, DENIED))
    try:
        world.rotate()
        said = ""
    except CredprocError as error:
        assert error.exit_code == ExitCode.AUTH  # IAM or STS refused
        said = error.one_line()
    world.heal()
    assert world.stored_key_works()
    stored = world.stored().access_key_id
    leftovers = world.iam_keys() - {stored}
    assert all(key in said for key in leftovers), said  # every other key IAM holds is named
    assert world.stored().secret_access_key not in said
    if STEPS[n - 1] == "ListAccessKeys":  # only to look for leftovers: the rotation goes on
        assert said == "" and stored != world.first_key and leftovers == set()
    elif n == len(STEPS):  # DeleteAccessKey of the old key failed: rotated, the old key named with its command
        assert stored != world.first_key and leftovers == {world.first_key}
        assert f"(fix: aws iam delete-access-key --user-name {world.user} --access-key-id {world.first_key})" in said
    else:
        assert said and stored == world.first_key and leftovers == set()


def test_a_key_made_by_a_create_call_whose_answer_was_lost_is_deleted(world: World) -> None:
    """IAM made the key, but its answer (the only copy of the secret) never
    arrived whole: not retried (that would make another key), found, deleted."""
    garbled = itertools.count()

    def cut_off(params: dict[str, str], answer: bytes) -> bytes:
        first = params.get("Action") == "CreateAccessKey" and next(garbled) == 0
        return answer[: len(answer) // 2] if first else answer

    world.sandbox.sts.recorder.rewrites.append(cut_off)
    with pytest.raises(CredprocError) as caught:
        world.rotate()
    world.heal()
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert "yet IAM holds the key" in caught.value.message and "deleted again" in caught.value.message
    assert world.actions().count("CreateAccessKey") == 1
    assert world.iam_keys() == {world.first_key} and world.stored_key_works()


def test_a_delete_whose_answer_was_lost_is_retried_and_found_done(world: World) -> None:
    """DeleteAccessKey is safe to repeat: the second attempt's NoSuchEntity means done."""
    garbled = itertools.count()

    def cut_off(params: dict[str, str], answer: bytes) -> bytes:
        first = params.get("Action") == "DeleteAccessKey" and next(garbled) == 0
        return answer[: len(answer) // 2] if first else answer

    world.sandbox.sts.recorder.rewrites.append(cut_off)
    rotated = world.rotate()
    world.heal()
    assert world.actions().count("DeleteAccessKey") == 2
    assert len(world.time.slept) == 1  # one retry, on the tests' clock
    assert world.iam_keys() == {rotated.new.access_key_id} and world.stored_key_works()


def test_a_new_key_that_works_only_after_a_while_is_waited_for(world: World) -> None:
    world.fault(fail_new_key_identity(times=3))
    rotated = world.rotate()
    world.heal()
    assert world.time.slept == [1.0, 2.0, 4.0]  # backing off, on the tests' clock
    assert world.stored().access_key_id == rotated.new.access_key_id
    assert world.stored_key_works() and world.iam_keys() == {rotated.new.access_key_id}


def test_a_new_key_that_never_works_is_deleted_and_the_old_one_stored_again(world: World) -> None:
    world.fault(fail_new_key_identity(times=None))
    with pytest.raises(CredprocError) as caught:
        world.rotate()
    world.heal()
    assert "the new key did not work" in caught.value.message and "deleted again" in caught.value.message
    assert sum(world.time.slept) <= rotation.VERIFY_WITHIN and len(world.time.slept) > 3  # bounded
    assert world.stored().access_key_id == world.first_key and world.stored_key_works()
    assert world.iam_keys() == {world.first_key}


def test_a_new_key_that_never_works_and_cannot_be_deleted_is_named(world: World) -> None:
    world.fault(fail_new_key_identity(times=None))
    world.fault(lambda params: DENIED if params.get("Action") == "DeleteAccessKey" else None)
    with pytest.raises(CredprocError) as caught:
        world.rotate()
    world.heal()
    (new_key,) = world.iam_keys() - {world.first_key}
    assert world.stored().access_key_id == world.first_key and world.stored_key_works()
    line = caught.value.one_line()
    assert f"the new key {new_key} could not be deleted again" in line
    assert f"(fix: aws iam delete-access-key --user-name {world.user} --access-key-id {new_key})" in line


def test_a_new_key_the_store_refuses_is_deleted_again(world: World) -> None:
    with pytest.raises(CredprocError) as caught:
        world.rotate(store=Store(world.env, world.log, fail_saves=1))
    assert caught.value.exit_code == ExitCode.CACHE
    assert "could not be stored" in caught.value.message and "deleted again" in caught.value.message
    assert world.stored().access_key_id == world.first_key and world.stored_key_works()
    assert world.iam_keys() == {world.first_key}


def test_a_new_key_that_fails_and_the_old_that_cannot_be_stored_again_are_both_named(world: World) -> None:
    """The store takes the new key, the new key never works, the store then refuses the old one."""
    world.fault(fail_new_key_identity(times=None))
    store = Store(world.env, world.log)
    original = store.save

    def second_save_fails(key: StoredKey) -> StoredKey:
        store.fail_saves = 1 if key.access_key_id == world.first_key else 0
        return original(key)

    store.save = second_save_fails  # type: ignore[method-assign]
    with pytest.raises(CredprocError) as caught:
        world.rotate(store=store)
    world.heal()
    line = caught.value.one_line()
    (new_key,) = world.iam_keys() - {world.first_key}
    assert world.stored().access_key_id == new_key  # the old secret is gone: the new key stays stored
    assert world.stored_key_works()  # once IAM knows it (here: once the fault stops)
    assert (
        f"(fix: check the new key later (credproc doctor), then aws iam delete-access-key --user-name {world.user} --access-key-id {world.first_key})"
        in line
    )


def test_a_user_with_two_keys_is_told_which_to_delete(world: World) -> None:
    other = world.iam.create_access_key(UserName=world.user)["AccessKey"]["AccessKeyId"]
    with pytest.raises(CredprocError) as caught:
        world.rotate()
    world.heal()
    error = caught.value
    assert error.exit_code == ExitCode.AUTH
    assert "already has two access keys" in error.message and other in error.message
    assert f"aws iam delete-access-key --user-name {world.user} --access-key-id {other}" in str(error.hint)
    assert world.iam_keys() == {world.first_key, other}  # nothing created, nothing deleted
    assert world.stored().access_key_id == world.first_key


def test_with_mfa_the_iam_calls_are_signed_by_one_mfa_session(world: World) -> None:
    codes: list[str] = []

    def code() -> str:
        codes.append("123456")
        return "123456"

    rotated = world.rotate(mfa=Mfa(f"arn:aws:iam::{SHARED_ACCOUNT}:mfa/{world.user}", code))
    assert codes == ["123456"]  # one code for the whole rotation
    recorder = world.sandbox.sts.recorder
    (session,) = recorder.of("GetSessionToken")
    assert session.params["TokenCode"] == "123456" and session.access_key_id == world.first_key
    signers = {call.access_key_id for call in recorder.of("CreateAccessKey") + recorder.of("DeleteAccessKey")}
    assert len(signers) == 1 and world.first_key not in signers  # the MFA session's key, not the long-term one
    assert world.iam_keys() == {rotated.new.access_key_id} and world.stored_key_works()


def test_only_an_iam_users_keys_rotate() -> None:
    assert rotation.user_name("arn:aws:iam::123456789012:user/team/alice", "x") == "alice"
    assert rotation.user_name("arn:aws:iam::123456789012:root", "x") is None
    with pytest.raises(CredprocError) as caught:
        rotation.user_name("arn:aws:sts::123456789012:assumed-role/R/s", "work")
    assert "not of an IAM user" in caught.value.message


def test_the_sealed_store_is_what_was_rotated(world: World, tmp_path: Path) -> None:
    """The test's store really is the sealed file (no keychain in its environment)."""
    world.rotate()
    assert world.stored().where == "file"
