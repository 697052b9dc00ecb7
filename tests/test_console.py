"""`credproc console`: the target's session is exchanged at a federation
endpoint (a fake of the tests' own on 127.0.0.1: the real one is on the
internet) for a sign-in URL, which is printed or handed to $BROWSER, and
never shown on stderr or written to disk."""

from __future__ import annotations

import http.server
import json
import os
import secrets
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cache_support
import pytest
import secret_scan
from conftest import DEV_ACCOUNT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error, run_main

from credproc import federation
from credproc.aws_credentials import Credentials
from credproc.errors import AuthError, ConfigError, UnavailableError, UsageError
from credproc.plan import Hop, MfaSession, Plan

DIRECT_ACCOUNT = "444444444444"  # not in TWO_HOP_CONFIG: one hop, straight from the source keys


@dataclass
class Received:
    """One request as the fake endpoint saw it."""

    method: str
    path: str
    content_type: str
    form: dict[str, str]

    @property
    def session(self) -> dict[str, str]:
        return dict(json.loads(self.form["Session"]))


@dataclass
class FakeFederation:
    """The federation endpoint: records each request and answers with a fresh
    sign-in token, or with ``status`` and ``body`` when a test sets them."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            self.received.append(request)
            if self.body is not None or self.status != 200:
                return self.status, self.body or b"<html>refused</html>", self.headers
            token = "fake-signin-token-" + secrets.token_urlsafe(24)
            secret_scan.known(token, "federation sign-in token")
            self.tokens.append(token)
            return 200, json.dumps({"SigninToken": token}).encode(), {"Content-Type": "application/json"}


def serve(fake: FakeFederation) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            received = Received(
                "POST", self.path, self.headers.get("Content-Type", ""), dict(urllib.parse.parse_qsl(body))
            )
            self._reply(*fake.answer(received))

        def do_GET(self) -> None:
            self._reply(*fake.answer(Received("GET", self.path, "", {})))

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: the tests read what was received
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def fake(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFederation]:
    endpoint = FakeFederation()
    server = serve(endpoint)
    endpoint.url = f"http://127.0.0.1:{server.server_port}/federation"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox.env["CREDPROC_FEDERATION_URL"] = endpoint.url
    monkeypatch.setenv("CREDPROC_FEDERATION_URL", endpoint.url)  # for main() in this process
    yield endpoint
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def login_query(url: str, fake: FakeFederation) -> dict[str, str]:
    """The login URL's parameters, after checking it is the endpoint's."""
    base, _, query = url.partition("?")
    assert base == fake.url
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    assert [name for name, _ in pairs] == ["Action", "Issuer", "Destination", "SigninToken"]
    return dict(pairs)


def caller_arn(sandbox: Sandbox, session: dict[str, str]) -> str:
    """Who STS says the session sent to the endpoint is."""
    document = {"AccessKeyId": session["sessionId"], "SecretAccessKey": session["sessionKey"]}
    return cache_support.caller_arn(sandbox, {**document, "SessionToken": session["sessionToken"]})


def leaked(text: str, fake: FakeFederation) -> list[str]:
    """The secrets of every exchange that appear in ``text``."""
    found = [token for token in fake.tokens if token in text]
    for request in fake.received:
        found += [value for key, value in request.session.items() if key != "sessionId" and value in text]
    return found


# --- the printed URL ------------------------------------------------------------------------------


def test_print_gives_a_sign_in_url_for_the_target_session(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("console", "dev", "--print")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    url = result.stdout.removesuffix("\n")
    assert "\n" not in url  # the URL and nothing else
    query = login_query(url, fake)
    assert query["Action"] == "login"
    assert query["SigninToken"] == fake.tokens[0]
    assert query["Destination"] == "https://console.aws.amazon.com/console/home?region=us-east-2"

    # One POST, the session in its body and not in the URL; it is the target account's session.
    [request] = fake.received
    assert (request.method, request.path) == ("POST", "/federation")
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.form["Action"] == "getSigninToken"
    assert caller_arn(sandbox, request.session).startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")
    # dev is reached through the hub: a chained session, for which SessionDuration is refused.
    assert "SessionDuration" not in request.form


def test_a_role_assumed_with_long_term_keys_asks_for_a_console_session_of_its_duration(
    sandbox: Sandbox, fake: FakeFederation
) -> None:
    result = sandbox.run("console", DIRECT_ACCOUNT, "--role", "ReadOnly", "--duration", "2h", "--print")
    assert result.returncode == 0, result.stderr
    [request] = fake.received
    assert request.form["SessionDuration"] == "7200"
    assert caller_arn(sandbox, request.session).startswith(f"arn:aws:sts::{DIRECT_ACCOUNT}:assumed-role/ReadOnly/")


def test_temporary_source_keys_ask_for_no_session_duration(sandbox: Sandbox, fake: FakeFederation) -> None:
    temporary = {"AWS_ACCESS_KEY_ID": "ASIATEMPORARYSOURCE1", "AWS_SESSION_TOKEN": "source-session-token"}
    result = sandbox.run("console", DIRECT_ACCOUNT, "--role", "ReadOnly", "--print", env=temporary)
    assert result.returncode == 0, result.stderr
    [request] = fake.received
    assert "SessionDuration" not in request.form


@pytest.mark.parametrize(
    ("region", "console"),
    [
        ("eu-west-1", "console.aws.amazon.com"),
        ("cn-north-1", "console.amazonaws.cn"),
        ("us-gov-west-1", "console.amazonaws-us-gov.com"),
    ],
)
def test_the_destination_is_the_console_of_the_region_and_partition(
    sandbox: Sandbox, fake: FakeFederation, region: str, console: str
) -> None:
    result = sandbox.run("console", DIRECT_ACCOUNT, "--role", "ReadOnly", "--region", region, "--print")
    assert result.returncode == 0, result.stderr
    assert login_query(result.stdout.strip(), fake)["Destination"] == f"https://{console}/console/home?region={region}"


def test_a_cached_session_signs_in_without_sts(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    first = sandbox.run("console", "dev", "--print")
    assert first.returncode == 0, first.stderr
    assert sandbox.sts.recorder.of("AssumeRole")  # the cold run walked the chain
    sandbox.sts.recorder.reset()
    second = sandbox.run("console", "dev", "--print")
    assert second.returncode == 0, second.stderr
    assert sandbox.sts.recorder.calls == []
    assert login_query(second.stdout.strip(), fake)["SigninToken"] == fake.tokens[1]
    assert fake.received[0].session == fake.received[1].session


def test_service_and_destination_choose_the_landing_page(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    service = sandbox.run("console", "dev", "--service", "s3", "--print")
    assert service.returncode == 0, service.stderr
    assert login_query(service.stdout.strip(), fake)["Destination"] == (
        "https://console.aws.amazon.com/s3/home?region=us-east-2"
    )
    page = "https://us-east-2.console.aws.amazon.com/cloudformation/home?region=us-east-2#/stacks"
    chosen = sandbox.run("console", "dev", "--destination", page, "--print")
    assert chosen.returncode == 0, chosen.stderr
    assert login_query(chosen.stdout.strip(), fake)["Destination"] == page


# --- the browser ----------------------------------------------------------------------------------

BROWSER_SCRIPT = """\
import json, os, sys
with open(os.environ["BROWSER_RECORD"], "a") as out:
    out.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("BROWSER_EXIT", "0")))
"""


def browser(sandbox: Sandbox) -> tuple[dict[str, str], Path]:
    """$BROWSER as a script of the tests' own that records its arguments."""
    script = sandbox.root / "browser.py"
    script.write_text(f"#!{sys.executable}\n{BROWSER_SCRIPT}")
    script.chmod(0o700)
    record = sandbox.root / "browser-record.jsonl"
    return {"BROWSER": str(script), "BROWSER_RECORD": str(record)}, record


@pytest.mark.skipif(os.name != "posix", reason="a $BROWSER script with a shebang")
def test_the_browser_gets_the_url_and_stderr_does_not(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    env, record = browser(sandbox)
    result = sandbox.run("console", "dev", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"credproc: opened the AWS console for arn:aws:iam::{DEV_ACCOUNT}:role/Deployer")
    assert "SigninToken" not in line and not leaked(line, fake)
    [arguments] = [json.loads(text) for text in record.read_text().splitlines()]
    [url] = arguments
    assert login_query(url, fake)["SigninToken"] == fake.tokens[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="elsewhere webbrowser falls back to the OS's browser")
def test_without_a_browser_the_url_goes_to_stdout(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    env, record = browser(sandbox)
    empty = sandbox.root / "empty-path"
    empty.mkdir()
    # A browser that fails, and no other one to be found (no display, no terminal, nothing on PATH).
    result = sandbox.run("console", "dev", env={**env, "BROWSER_EXIT": "1", "PATH": str(empty)})
    assert result.returncode == 0, result.stderr
    assert record.exists()  # it was tried
    assert login_query(result.stdout.strip(), fake)["SigninToken"] == fake.tokens[0]
    [line] = result.stderr.splitlines()
    assert "no browser could be opened" in line and "15 minutes" in line
    assert not leaked(line, fake)


# --- secrets --------------------------------------------------------------------------------------


def test_verbose_output_holds_no_session_secret_or_sign_in_token(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    for args in (("dev", "--print"), ("dev", "--print"), (DIRECT_ACCOUNT, "--role", "ReadOnly", "--print")):
        result = sandbox.run("console", *args, "--verbose")
        assert result.returncode == 0, result.stderr
        assert "sign-in token" in result.stderr  # it did explain the step
        assert not leaked(result.stderr, fake)
    fake.status = 400
    refused = sandbox.run("console", "dev", "--verbose")
    assert refused.returncode == 4
    assert not leaked(refused.stderr, fake)
    assert len(fake.received) == 4
    # The sign-in URL is never written to disk: not in the cache, not anywhere under HOME or the data dir.
    for folder, _, names in os.walk(sandbox.root):
        for name in names:
            data = (Path(folder) / name).read_bytes()
            assert not any(token.encode() in data for token in fake.tokens), name


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(400, 4), (403, 4), (429, 5), (500, 5), (503, 5)])
def test_the_endpoint_refusing_or_failing(sandbox: Sandbox, fake: FakeFederation, status: int, code: int) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fake.status = status
    result = sandbox.run("console", "dev")
    assert_one_clear_error(result, f"HTTP {status}", DEV_ACCOUNT, "Deployer", fake.url, exit_code=code)
    assert not leaked(result.stderr, fake)


def test_an_answer_without_a_token(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fake.body = b'{"Error": "nope"}'
    result = sandbox.run("console", "dev", "--print")
    assert_one_clear_error(result, "without a sign-in token", DEV_ACCOUNT, exit_code=5)


def test_a_redirect_is_not_followed(sandbox: Sandbox, fake: FakeFederation) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    fake.status, fake.headers = 302, {"Location": fake.url.replace("/federation", "/elsewhere")}
    result = sandbox.run("console", "dev", "--print")
    assert_one_clear_error(result, "HTTP 302", exit_code=5)
    assert [request.path for request in fake.received] == ["/federation"]  # the session went nowhere else


def test_an_unreachable_endpoint(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/federation"
        result = sandbox.run("console", "dev", env={"CREDPROC_FEDERATION_URL": url})
    assert_one_clear_error(result, "cannot reach the federation endpoint", url, exit_code=5)


def test_a_hanging_endpoint_is_given_up_on(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts the connection; nobody ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/federation"
        result = sandbox.run(
            "console", "dev", env={"CREDPROC_FEDERATION_URL": url, "CREDPROC_FEDERATION_TIMEOUT": "1"}, timeout=60
        )
    assert_one_clear_error(result, "did not answer within 1 s", "CREDPROC_FEDERATION_TIMEOUT", exit_code=5)


BAD_COMMAND_LINES = [
    (["--destination", "https://console.amazonaws.cn/s3/home"], ["--destination", "partition aws", "us-east-2"]),
    (["--destination", "http://console.aws.amazon.com/s3/home"], ["--destination", "https://console.aws.amazon.com/"]),
    (["--destination", "https://console.aws.amazon.com.example.org/"], ["--destination"]),
    (["--destination", "https://console.aws.amazon.com@example.org/"], ["--destination"]),
    (["--destination", "https://example.org/?https://console.aws.amazon.com/"], ["--destination"]),
    (["--destination", "https://console.aws.amazon.com:8443/"], ["--destination"]),
    (["--service", "S3/../../x"], ["--service", "'S3/../../x'"]),
    (["--service", "s3", "--destination", "https://console.aws.amazon.com/"], ["--destination", "--service"]),
]


@pytest.mark.parametrize(("extra", "fragments"), BAD_COMMAND_LINES)
def test_a_bad_landing_page_is_a_usage_error_before_any_call(
    sandbox: Sandbox, fake: FakeFederation, capsys: pytest.CaptureFixture[str], extra: list[str], fragments: list[str]
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    assert_one_clear_error(run_main(capsys, "console", "dev", *extra), *fragments, exit_code=2)
    assert sandbox.sts.recorder.calls == [] and fake.received == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CREDPROC_FEDERATION_URL", "http://signin.example.org/federation"),  # the session in clear text
        ("CREDPROC_FEDERATION_URL", "file:///etc/passwd"),
        ("CREDPROC_FEDERATION_URL", "https://signin.aws.amazon.com/federation?Action=x"),
        ("CREDPROC_FEDERATION_TIMEOUT", "2m"),
        ("CREDPROC_FEDERATION_TIMEOUT", "0"),
    ],
)
def test_a_bad_endpoint_variable_is_a_config_error_before_any_call(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    monkeypatch.setenv(variable, value)
    assert_one_clear_error(run_main(capsys, "console", "dev", "--print"), variable, repr(value), exit_code=3)

    assert sandbox.sts.recorder.calls == []


def test_help_explains_the_options(sandbox: Sandbox) -> None:
    result = sandbox.run("console", "--help")
    assert result.returncode == 0
    for fragment in ("--print", "--service NAME", "--destination URL", "15 minutes", "--refresh", "$BROWSER"):
        assert fragment in result.stdout
    for variable in ("CREDPROC_FEDERATION_URL", "CREDPROC_FEDERATION_TIMEOUT"):
        assert variable in result.stdout


# --- the endpoint's rules (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "signin"),
    [
        ("us-east-1", "signin.aws.amazon.com"),
        ("ap-southeast-2", "signin.aws.amazon.com"),
        ("cn-northwest-1", "signin.amazonaws.cn"),
        ("us-gov-east-1", "signin.amazonaws-us-gov.com"),
    ],
)
def test_the_sign_in_host_follows_the_partition(region: str, signin: str) -> None:
    assert federation.federation_url(region, {}) == f"https://{signin}/federation"


def test_an_endpoint_override_may_be_https_or_loopback_http() -> None:
    for url in ("https://signin.internal.example/federation", "http://127.0.0.1:8080/federation", "http://[::1]:1/f"):
        assert federation.federation_url("us-east-1", {federation.URL_VARIABLE: url}) == url
    with pytest.raises(ConfigError):
        federation.federation_url("us-east-1", {federation.URL_VARIABLE: "http://10.0.0.1/federation"})


def plan_of(hops: int, mfa: bool = False, duration: int = 3600) -> Plan:
    chain = tuple(Hop(f"arn:aws:iam::{index:012d}:role/r", "s", duration) for index in range(1, hops + 1))
    return Plan(
        "t", None, chain[-1].account_id, "us-east-1", "us-east-1", None, chain,
        mfa=MfaSession("arn:aws:iam::123456789012:mfa/me", 43200) if mfa else None,
    )  # fmt: skip


def test_session_duration_only_for_a_role_assumed_with_long_term_keys() -> None:
    assert federation.session_duration(plan_of(1, duration=7200), long_term_source=True) == 7200
    assert federation.session_duration(plan_of(2), long_term_source=True) is None  # role chaining
    assert federation.session_duration(plan_of(1, mfa=True), long_term_source=True) is None  # from MFA session keys
    assert federation.session_duration(plan_of(1), long_term_source=False) is None  # the source is a role or SSO


def test_the_session_is_a_post_body_and_the_token_a_url_parameter() -> None:
    credentials = Credentials("ASIAKEY", "secret/key+", "token==")
    body = federation.signin_token_request(credentials, None).decode()
    form = dict(urllib.parse.parse_qsl(body))
    assert form["Action"] == "getSigninToken"
    assert json.loads(form["Session"]) == {
        "sessionId": "ASIAKEY",
        "sessionKey": "secret/key+",
        "sessionToken": "token==",
    }
    sent: list[tuple[str, bytes, float]] = []

    def exchange(url: str, data: bytes, wait: float) -> bytes:
        sent.append((url, data, wait))
        return b'{"SigninToken": "tok&en"}'

    url = federation.sign_in_url(
        credentials,
        federation_endpoint="https://signin.aws.amazon.com/federation",
        console_page="https://console.aws.amazon.com/s3/home?region=eu-west-1",
        duration=None,
        who="arn:aws:iam::111111111111:role/Deployer",
        wait=3,
        exchange=exchange,
    )
    assert sent == [("https://signin.aws.amazon.com/federation", body.encode(), 3)]
    assert url == (
        "https://signin.aws.amazon.com/federation?Action=login&Issuer=credproc"
        "&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2Fs3%2Fhome%3Fregion%3Deu-west-1&SigninToken=tok%26en"
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (federation.ExchangeError(status=400), AuthError),
        (federation.ExchangeError(status=502), UnavailableError),
        (federation.ExchangeError(reason="timed out", timed_out=True), UnavailableError),
        (federation.ExchangeError(reason="Name or service not known"), UnavailableError),
    ],
)
def test_exchange_failures_become_user_errors(error: federation.ExchangeError, kind: type[Exception]) -> None:
    def exchange(url: str, data: bytes, wait: float) -> bytes:
        raise error

    with pytest.raises(kind) as raised:
        federation.sign_in_url(
            Credentials("ASIAKEY", "secret", "token"),
            federation_endpoint="https://signin.aws.amazon.com/federation",
            console_page="https://console.aws.amazon.com/",
            duration=None,
            who="arn:aws:iam::111111111111:role/Deployer",
            wait=3,
            exchange=exchange,
        )
    assert raised.value.__cause__ is None  # nothing for --verbose to print but the one line


def test_destination_rules() -> None:
    assert federation.destination("us-gov-west-1", service="ec2") == (
        "https://console.amazonaws-us-gov.com/ec2/home?region=us-gov-west-1"
    )
    page = "https://cn-north-1.console.amazonaws.cn/ec2/home"
    assert federation.destination("cn-north-1", url=page) == page
    with pytest.raises(UsageError):
        federation.destination("us-east-1", url=page)


@dataclass
class RecordingProxy:
    """An HTTP proxy of the tests' own on 127.0.0.1: records each request line
    and body it is sent (a CONNECT included) and relays nothing (502)."""

    url: str = ""
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    recording = RecordingProxy()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            with recording.lock:
                recording.requests.append(f"{self.requestline}\n{body}")
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_CONNECT = _record

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recording.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recording
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def proxy_variables(url: str) -> dict[str, str]:
    return {name: url for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy")}


def test_a_plain_http_endpoint_bypasses_proxies(sandbox: Sandbox, fake: FakeFederation, proxy: RecordingProxy) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    assert sandbox.run("get", "dev").returncode == 0  # the session is cached: STS is not called through the proxy
    result = sandbox.run("console", "dev", "--print", env=proxy_variables(proxy.url))
    assert result.returncode == 0, result.stderr
    assert proxy.requests == []  # the session went only to the loopback endpoint
    assert len(fake.received) == 1


def test_an_https_endpoint_goes_through_the_proxy(sandbox: Sandbox, proxy: RecordingProxy) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    assert sandbox.run("get", "dev").returncode == 0
    url = "https://signin.federation.invalid/federation"
    result = sandbox.run(
        "console", "dev", "--print", env={**proxy_variables(proxy.url), "CREDPROC_FEDERATION_URL": url}
    )
    assert_one_clear_error(result, "cannot reach the federation endpoint", url, exit_code=5)
    # Only the tunnel's host was asked for: the session stays inside TLS.
    assert [request.split(" ")[:2] for request in proxy.requests] == [["CONNECT", "signin.federation.invalid:443"]]
