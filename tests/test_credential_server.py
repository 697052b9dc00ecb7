"""The credential endpoint's decisions, with a fake clock and no processes:
the request checks, when the refresher asks for a new session, what a request
is answered while STS fails, the chain's raised margin behind it, and the
child runner's signal rule. Real clients and processes: tests/test_serve.py
and tests/test_exec_server.py."""

from __future__ import annotations

import http.client
import io
import json
import os
import select
import signal
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from credproc import child, credential_server, refresher
from credproc.aws_credentials import Credentials
from credproc.cache import Cache
from credproc.chain import resolve
from credproc.credential_server import (
    CredentialServer,
    check_request,
    command_variables,
    host_allowed,
    new_token,
    write_token_file,
)
from credproc.errors import AuthError, CredprocError, UnavailableError, UsageError
from credproc.log import Log
from credproc.plan import Hop, Plan
from credproc.refresher import Current, Failure, Refresher, Session, next_attempt, refresh_point, retry_delay
from credproc.source import Source

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PORT = 41234
TOKEN = "t" * 43
MARGIN = 15 * 60


def session(seconds: float, tag: str = "a", duration: int = 3600, now: datetime = T0) -> Session:
    credentials = Credentials(f"ASIA{tag}", f"secret-{tag}", f"token-{tag}", now + timedelta(seconds=seconds))
    return Session(credentials, "111111111111", duration)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# -- the request checks ----------------------------------------------------------------------


def check(
    method: str = "GET", host: str | None = f"127.0.0.1:{PORT}", auth: str | None = TOKEN, path: str = "/credentials"
) -> int | None:
    refusal = check_request(method, host, auth, path, port=PORT, token=TOKEN)
    return None if refusal is None else refusal.status


def test_the_right_request_gets_credentials() -> None:
    assert check() is None
    assert check(host=f"localhost:{PORT}") is None
    assert check(host=f"LOCALHOST:{PORT}") is None
    assert check(path="/credentials?x=1") is None


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        ("", 403),
        ("wrong", 403),
        (TOKEN[:-1], 403),
        (TOKEN + "t", 403),
        (f"Bearer {TOKEN}", 403),
        ("é" * 43, 403),
    ],
)
def test_a_missing_or_wrong_token_gets_no_credentials(auth: str | None, status: int) -> None:
    assert check(auth=auth) == status


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "evil.example:41234",
        f"127.0.0.1:{PORT + 1}",
        "127.0.0.1",
        "localhost",
        f"127.0.0.2:{PORT}",
        f"[::1]:{PORT}",
        f"localhost.evil.example:{PORT}",
        f"127.0.0.1:{PORT}.evil.example",
    ],
)
def test_a_foreign_host_header_is_refused_before_the_token_is_looked_at(host: str | None) -> None:
    # A page that reaches 127.0.0.1 by DNS rebinding sends its own host name.
    assert check(host=host) == 403
    assert check(host=host, auth=None) == 403


def test_port_80_may_be_named_without_the_port() -> None:
    assert host_allowed("127.0.0.1", 80) and host_allowed("localhost:80", 80)
    assert not host_allowed("127.0.0.1", PORT)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
def test_methods_other_than_get_are_405(method: str) -> None:
    assert check(method=method) == 405


def test_other_paths_are_404_after_the_token() -> None:
    assert check(path="/") == 404
    assert check(path="/", auth="wrong") == 403


def test_the_token_is_256_random_bits_in_a_header_safe_alphabet() -> None:
    tokens = {new_token() for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert len(token) == 43 and token.isascii() and "\r" not in token and "\n" not in token


def test_the_command_gets_the_endpoint_and_not_static_credentials() -> None:
    values, remove = command_variables("http://127.0.0.1:1/credentials", TOKEN, None, "us-east-2")
    assert values == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": TOKEN,
        "AWS_REGION": "us-east-2",
        "AWS_DEFAULT_REGION": "us-east-2",
    }
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ):
        assert name in remove
    values, remove = command_variables("http://x", TOKEN, Path("/run/t"), "us-east-2")
    # Only one of the two token variables: botocore and the JS SDK would prefer the file.
    assert values["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == "/run/t"
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in values and "AWS_CONTAINER_AUTHORIZATION_TOKEN" in remove


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_token_file_is_private_and_has_no_newline(tmp_path: Path) -> None:
    path = tmp_path / "token"
    write_token_file(path, TOKEN)
    assert path.read_bytes() == TOKEN.encode()  # botocore refuses CR/LF in the header it reads from it
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(UsageError):
        write_token_file(tmp_path / "missing" / "token", TOKEN)


# -- when to refresh ----------------------------------------------------------------------------


def test_an_hour_session_is_replaced_twenty_minutes_before_it_expires() -> None:
    assert refresh_point(MARGIN, 3600) == 20 * 60
    assert next_attempt(session(3600), T0, MARGIN) == T0 + timedelta(minutes=40)


def test_a_short_session_is_replaced_before_half_of_it_is_left() -> None:
    # The cache reuses a 900 s session until half of it is left; the endpoint a bit earlier.
    assert refresh_point(MARGIN, 900) == 450 + 225
    assert next_attempt(session(900, duration=900), T0, MARGIN) == T0 + timedelta(seconds=225)


def test_a_session_issued_close_to_the_margin_is_replaced_as_it_falls_inside() -> None:
    # STS gave less than asked: 5 s outside the 15 min margin.
    assert next_attempt(session(MARGIN + 5), T0, MARGIN) == T0 + timedelta(seconds=5)


def test_a_session_issued_inside_the_margin_is_asked_for_again_once_a_minute() -> None:
    assert next_attempt(session(300), T0, MARGIN) == T0 + timedelta(seconds=60)
    assert next_attempt(session(-10), T0, MARGIN) == T0 + timedelta(seconds=60)


def test_failed_refreshes_back_off_to_a_minute() -> None:
    assert [retry_delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


# -- the refresher and what requests are told ---------------------------------------------------


@dataclass
class FakeObtain:
    """Hands out sessions the way obtain() would, or fails; records each ask."""

    clock: Clock
    asked: list[int] = field(default_factory=list)
    error: CredprocError | None = None
    papered: CredprocError | None = None
    issued: int = 0

    def __call__(self, min_remaining: int) -> tuple[Session, CredprocError | None]:
        self.asked.append(min_remaining)
        if self.error is not None:
            raise self.error
        self.issued += 1
        return session(3600, tag=str(self.issued), now=self.clock()), self.papered


def make_refresher(clock: Clock, fetch: FakeObtain, first: Session) -> tuple[Refresher, io.StringIO]:
    errors = io.StringIO()
    return Refresher(Current(first), fetch, refresh_margin=MARGIN, clock=clock, log=Log(stream=errors)), errors


def test_the_refresher_asks_for_a_session_with_more_than_its_refresh_point_left() -> None:
    clock = Clock()
    fetch = FakeObtain(clock)
    worker, _ = make_refresher(clock, fetch, session(3600, tag="first"))
    assert worker.due == T0 + timedelta(minutes=40)
    clock.move(40 * 60)
    due = worker.refresh_once()
    assert fetch.asked == [20 * 60]
    assert worker.current.answer(clock()) == session(3600, tag="1", now=clock())
    assert due == clock() + timedelta(minutes=40)


def test_while_sts_fails_the_last_session_is_served_until_it_is_nearly_expired() -> None:
    clock = Clock()
    fetch = FakeObtain(clock, error=UnavailableError("could not reach STS at https://sts.example", "check the network"))
    first = session(3600, tag="first")
    worker, errors = make_refresher(clock, fetch, first)
    clock.move(40 * 60)
    assert worker.refresh_once() == clock() + timedelta(seconds=5)
    assert worker.refresh_once() == clock() + timedelta(seconds=10)
    assert worker.current.answer(clock()) == first  # 20 min left: still handed out
    clock.move(20 * 60 - 60)  # a minute left: not worth handing out
    answer = worker.current.answer(clock())
    assert isinstance(answer, Failure) and answer.status == 503
    assert "could not reach STS" in answer.message and "(fix: check the network)" in answer.message
    # One warning per outage, not one per attempt.
    assert errors.getvalue().count("warning") == 1
    fetch.error = None
    worker.refresh_once()
    assert worker.current.answer(clock()) == session(3600, tag="1", now=clock())
    assert "works again after 2 failed attempt(s)" in errors.getvalue()


def test_a_refusal_stops_the_session_being_handed_out_at_once() -> None:
    # As for the cache (freshness.stale_allowed): revoked access ends at the refresh, not at expiry.
    clock = Clock()
    fetch = FakeObtain(
        clock, error=AuthError("AccessDenied: not authorized to assume Deployer", "fix the trust policy")
    )
    worker, _ = make_refresher(clock, fetch, session(3600, tag="first"))
    clock.move(40 * 60)
    worker.refresh_once()
    answer = worker.current.answer(clock())  # 20 min left, but refused
    assert isinstance(answer, Failure) and answer.status == 403 and "Deployer" in answer.message
    fetch.error = None
    worker.refresh_once()
    assert worker.current.answer(clock()) == session(3600, tag="1", now=clock())


def test_a_refusal_is_a_4xx_and_an_outage_a_5xx() -> None:
    assert refresher.failure_of(AuthError("AccessDenied for role X", "fix the trust policy")).status == 403
    assert refresher.failure_of(UnavailableError("timed out", "retry")).status == 503


def test_what_the_cache_papered_over_is_served_and_retried() -> None:
    clock = Clock()
    fetch = FakeObtain(clock, papered=UnavailableError("throttled", "retry"))
    worker, _ = make_refresher(clock, fetch, session(3600, tag="first"))
    clock.move(40 * 60)
    assert worker.refresh_once() == clock() + timedelta(seconds=5)
    assert worker.current.answer(clock()) == session(3600, tag="1", now=clock())


def test_a_session_without_a_failure_that_expired_is_503_refreshing() -> None:
    current = Current(session(30))
    answer = current.answer(T0)
    assert isinstance(answer, Failure) and answer.status == 503 and answer.code == "CredentialsRefreshing"


# -- the chain's raised margin (Request.min_remaining) -------------------------------------------


class CountingSts:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[str] = []

    def prepare_source(self) -> None:
        pass

    def assume_role(self, hop: Hop, credentials: Credentials | None, caller: str) -> Credentials:
        self.calls.append(hop.role_arn)
        return Credentials(f"ASIA{len(self.calls)}", "s", "t", self.clock() + timedelta(seconds=hop.duration))

    def get_session_token(self, mfa: Any, code: str) -> Credentials:
        raise AssertionError("no MFA here")


def test_min_remaining_makes_the_chain_fetch_what_the_cache_would_still_hand_out(tmp_path: Path) -> None:
    clock = Clock()
    sts = CountingSts(clock)
    hub = Hop("arn:aws:iam::222222222222:role/hub", "s", 3600)
    dev = Hop("arn:aws:iam::111111111111:role/Deployer", "s", 3600)
    plan = Plan("dev", "dev", "111111111111", "us-east-1", "us-east-1", None, (hub, dev))
    source = Source(None, False, "env:AKIA", "environment variables")
    cache = Cache(tmp_path, os.urandom(32), Log(stream=io.StringIO()))

    def get(min_remaining: int = 0) -> Credentials:
        return resolve(
            plan,
            source,
            caller_factory=lambda: sts,
            cache=cache,
            clock=clock,
            refresh_margin=MARGIN,
            force_refresh=False,
            log=Log(stream=io.StringIO()),
            endpoint="https://sts.us-east-1.amazonaws.com",
            min_remaining=min_remaining,
        ).credentials

    first = get()
    clock.move(41 * 60)  # 19 min left: fresh for the cache's 15 min margin
    assert get() == first and len(sts.calls) == 2
    fresh = get(min_remaining=20 * 60)
    assert fresh != first and sts.calls[2:] == [dev.role_arn]  # the hub session is still good
    assert get(min_remaining=20 * 60) == fresh  # and the new one is cached for everybody


# -- the endpoint over HTTP, in process -------------------------------------------------------


def test_the_endpoint_answers_from_memory_and_wakes_the_refresher_when_it_has_nothing(tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC))
    current = Current(session(3600, now=clock()))
    nudged: list[bool] = []
    endpoint = CredentialServer(
        current, token=TOKEN, clock=clock, log=Log(stream=io.StringIO()), on_failure=lambda: nudged.append(True)
    )
    endpoint.start()
    try:

        def get(auth: str | None = TOKEN) -> tuple[int, dict[str, str], dict[str, Any]]:
            connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
            connection.request("GET", "/credentials", headers={"Authorization": auth} if auth else {})
            response = connection.getresponse()
            body = json.loads(response.read())
            connection.close()
            return response.status, dict(response.getheaders()), body

        status, headers, body = get()
        assert status == 200 and body["AccessKeyId"] == "ASIAa" and body["Token"] == "token-a"
        assert body["AccountId"] == "111111111111" and body["Expiration"].endswith("Z")
        assert headers["Content-Type"] == "application/json"
        assert not any(name.lower().startswith("access-control-") for name in headers)  # no CORS
        status, _, body = get(auth=None)
        assert status == 401 and "secret-a" not in json.dumps(body)
        clock.move(3600)
        status, _, body = get()
        assert status == 503 and nudged == [True]
    finally:
        endpoint.stop()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=5).request("GET", "/credentials")


def test_a_client_that_trickles_bytes_is_cut_off_at_the_request_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # A socket timeout alone starts again with every byte; the deadline does not.
    monkeypatch.setattr(credential_server, "REQUEST_DEADLINE", 1.0, raising=False)
    clock = Clock(datetime.now(UTC))
    served = CredentialServer(
        Current(session(3600, now=clock())), token=TOKEN, clock=clock, log=Log(stream=io.StringIO())
    )
    served.start()
    try:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as slow:
            closed = False
            for _ in range(60):  # a byte every 0.25 s: 15 s at most
                try:
                    slow.send(b"X")
                    if select.select([slow], [], [], 0.25)[0]:
                        closed = slow.recv(1024) == b""
                except ConnectionResetError:
                    closed = True
                if closed:
                    break
            assert closed, "the endpoint still holds a connection that never finishes its request"
        answer = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        answer.request("GET", "/credentials", headers={"Authorization": TOKEN})
        assert answer.getresponse().status == 200
        answer.close()
    finally:
        served.stop()


def test_the_file_limit_is_raised_as_far_as_the_connections_need_and_the_hard_limit_allows() -> None:
    wanted = credential_server.MAX_CONNECTIONS + credential_server.RESERVED_FILES
    assert credential_server.soft_file_limit(64, 1 << 20, -1) == wanted  # not all of it: exec's command inherits it
    assert credential_server.soft_file_limit(64, -1, -1) == wanted
    assert credential_server.soft_file_limit(64, 100, -1) == 100
    assert credential_server.soft_file_limit(4096, 1 << 20, -1) == 4096  # never lowered
    assert credential_server.soft_file_limit(-1, -1, -1) == -1


def test_connections_are_capped_below_the_file_limit() -> None:
    assert credential_server.connection_cap(1 << 20) == credential_server.MAX_CONNECTIONS
    most = credential_server.MAX_CONNECTIONS
    assert credential_server.connection_cap(most + credential_server.RESERVED_FILES) == most
    assert credential_server.connection_cap(100) == 50  # half of a small limit stays for the refresher
    assert credential_server.connection_cap(1) == 1


def test_failed_accepts_back_off_to_half_a_second() -> None:
    delays = [credential_server.accept_retry_delay(n) for n in range(1, 10)]
    assert delays[0] == credential_server.ACCEPT_RETRY_FIRST and delays == sorted(delays) and delays[-1] == 0.5


def test_a_port_in_use_is_a_usage_error() -> None:
    current = Current(session(3600))
    first = CredentialServer(current, token=TOKEN, clock=Clock(), log=Log(stream=io.StringIO()))
    try:
        with pytest.raises(UsageError) as caught:
            CredentialServer(current, token=TOKEN, port=first.port, clock=Clock(), log=Log(stream=io.StringIO()))
        assert f"127.0.0.1:{first.port}" in caught.value.message
    finally:
        first.stop()


# -- the child runner's signal rule ---------------------------------------------------------------


class FakeChild:
    """A child that records the signals it is sent and ends when told to."""

    def __init__(self) -> None:
        self.returncode: int | None = None
        self.sent: list[int] = []
        self.polls = 0

    def send_signal(self, number: int) -> None:
        self.sent.append(number)

    def poll(self) -> int | None:
        self.polls += 1
        if self.polls == 1:
            # Signals reach credproc itself while the child "runs": its handlers decide.
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            return None
        self.returncode = -signal.SIGTERM
        return self.returncode


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize(("terminal", "expected"), [(True, [signal.SIGTERM]), (False, [signal.SIGINT, signal.SIGTERM])])
def test_the_terminals_ctrl_c_is_not_passed_on_a_second_time(terminal: bool, expected: list[int]) -> None:
    fake = FakeChild()
    status = child.run(["prog"], {}, popen=lambda *a, **k: fake, from_terminal=lambda: terminal)
    assert fake.sent == expected
    assert status == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_exit_status_is_128_plus_the_signal() -> None:
    assert child.exit_status(0) == 0 and child.exit_status(3) == 3
    assert child.exit_status(-signal.SIGTERM) == 128 + signal.SIGTERM
