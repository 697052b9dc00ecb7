"""A third-party exception's text never reaches stderr: botocore, keyring and
urllib errors are told by type and by the fields they keep (endpoint, profile,
file, provider), since their text may quote a server's answer or a program's
stderr (issue 22)."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring.backend
import pytest
from botocore import exceptions as bce
from conftest import TWO_HOP_CONFIG, Sandbox, assert_one_clear_error

from credproc import aws_errors, federation, keystore
from credproc.errors import AuthError, CacheError, ConfigError, UnavailableError
from credproc.log import Log

LEAKED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKEDSECRET"  # shaped like a secret access key


def _refused_connection() -> Exception:
    """A urllib3-like wrapper whose text quotes something, caused by the OS refusing."""
    wrapper = Exception(f"connection failed after answer {LEAKED}")
    wrapper.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return wrapper


@pytest.mark.parametrize(
    ("exc", "kind", "named"),
    [
        (
            bce.EndpointConnectionError(endpoint_url="http://127.0.0.1:9", error=_refused_connection()),
            UnavailableError,
            ["http://127.0.0.1:9", "Connection refused"],
        ),
        (bce.ConnectionError(error=_refused_connection()), UnavailableError, ["Connection refused"]),
        (
            bce.ProxyConnectionError(proxy_url=f"http://me:{LEAKED}@proxy.example:3128", error=_refused_connection()),
            UnavailableError,
            ["through the proxy http://proxy.example:3128"],
        ),
        (bce.SSLError(endpoint_url="https://sts.example", error=LEAKED), UnavailableError, ["https://sts.example"]),
        (
            bce.CredentialRetrievalError(provider="custom-process", error_msg=LEAKED),
            AuthError,
            ["profile leaky", "credential_process", "--profile leaky"],
        ),
        (bce.TokenRetrievalError(provider="sso", error_msg=LEAKED), AuthError, ["IAM Identity Center"]),
        (bce.InvalidConfigError(error_msg=LEAKED), AuthError, ["InvalidConfigError"]),
        (bce.PaginationError(message=LEAKED), AuthError, ["PaginationError"]),
        (bce.ProfileNotFound(profile="gone"), ConfigError, ["the AWS profile 'gone' does not exist"]),
    ],
)
def test_botocore_errors_are_told_by_type_and_fields(exc: Exception, kind: type[Exception], named: list[str]) -> None:
    error = aws_errors.translate(exc, "getting the source credentials", "profile leaky")
    assert isinstance(error, kind)
    said = f"{error.message} (fix: {error.hint})"
    assert LEAKED not in said, said
    for fragment in named:
        assert fragment in said


def test_a_broken_aws_config_file_is_named_first() -> None:
    error = aws_errors.translate(bce.ConfigParseError(path="/home/me/.aws/config"), "reading", "profile x")
    assert isinstance(error, ConfigError)
    assert error.message.startswith("/home/me/.aws/config: not a valid AWS config file"), error.message


def test_a_failing_source_credential_process_does_not_echo_its_stderr(sandbox: Sandbox, tmp_path: Path) -> None:
    script = tmp_path / "leaky.py"
    script.write_text(f"import sys\nsys.stderr.write('vault says: {LEAKED}\\n')\nsys.exit(1)\n")
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile leaky]\ncredential_process = {sys.executable} {script}\nregion = us-east-1\n"
    )
    sandbox.write_config('[source]\nprofile = "leaky"\n' + TWO_HOP_CONFIG.replace("[source]\n", "", 1))
    result = sandbox.run("get", "dev")
    line = assert_one_clear_error(result, "profile leaky", "credential_process", exit_code=4)
    assert LEAKED not in result.stderr
    assert "aws sts get-caller-identity --profile leaky" in line  # where the user sees the source's own error


def test_an_unreachable_sts_is_named_by_its_url(sandbox: Sandbox) -> None:
    with socket.socket() as listener:  # a port nobody listens on once closed
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("get", "dev", env={"AWS_ENDPOINT_URL_STS": url, "CREDPROC_STS_BUDGET": "1"})
    assert_one_clear_error(result, "could not reach STS while", url, "Connection refused", exit_code=5)


class _LeakyKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError(f"backend helper printed {LEAKED}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(LEAKED)

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError(LEAKED)


@pytest.fixture
def leaky_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(_LeakyKeyring())
    yield
    keyring.set_keyring(before)


def test_a_keychain_failure_names_its_type_and_backend_not_its_text(leaky_keyring: None, tmp_path: Path) -> None:
    with pytest.raises(CacheError) as raised:
        keystore.keyring_key(tmp_path / "locks", Log())
    assert LEAKED not in raised.value.message
    assert "RuntimeError from the" in raised.value.message and "_LeakyKeyring" in raised.value.message


def test_forgetting_the_key_in_a_failing_keychain_names_its_type_only(leaky_keyring: None, tmp_path: Path) -> None:
    with pytest.raises(CacheError) as raised:
        keystore.delete_key("keyring", {"CREDPROC_DATA_DIR": str(tmp_path)})
    assert LEAKED not in raised.value.message and "RuntimeError" in raised.value.message


def _one_answer_server(answer: bytes) -> tuple[str, Callable[[], None]]:
    """A loopback server that answers one request with ``answer`` (raw bytes)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop() -> None:
        thread.join(timeout=30)
        listener.close()

    return f"http://127.0.0.1:{listener.getsockname()[1]}/federation", stop


def test_a_broken_federation_answer_is_told_by_type(tmp_path: Path) -> None:
    # http.client quotes a bad status line in its exception's text.
    url, stop = _one_answer_server(f"HTTP/1.1 {LEAKED}\r\n\r\n".encode())
    try:
        with pytest.raises(federation.ExchangeError) as raised:
            federation.post_form(url, b"Action=getSigninToken", 30)
    finally:
        stop()
    assert LEAKED not in raised.value.reason
    assert raised.value.reason == "BadStatusLine"


@pytest.mark.parametrize(
    ("printed", "command"),
    [
        (f"Welcome! token {LEAKED}\\n{{}}", "get"),  # a banner line before the JSON
        (f"Welcome! token {LEAKED}\\n{{}}", "doctor"),
        ("\\xff\\xfe not text", "get"),  # not even UTF-8
        ('["not", "an", "object"]', "get"),  # JSON, but not the object botocore reads fields of
    ],
)
def test_a_source_credential_process_printing_no_json_object_is_one_clear_error(
    sandbox: Sandbox, tmp_path: Path, printed: str, command: str
) -> None:
    """botocore's ProcessProvider raises json's (or the codec's) error raw: told
    as the profile's credential_process printing no JSON, never what it printed."""
    script = tmp_path / "banner.py"
    script.write_text(f"import sys\nsys.stdout.buffer.write(b'{printed}')\n")
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile chatty]\ncredential_process = {sys.executable} {script}\nregion = us-east-1\n"
        "[profile team]\nrole_arn = arn:aws:iam::111111111111:role/team\nsource_profile = chatty\n"
    )
    sandbox.write_config('[source]\nprofile = "team"\n' + TWO_HOP_CONFIG.replace("[source]\n", "", 1))
    result = sandbox.run(command, *(["dev"] if command == "get" else []))
    assert LEAKED not in result.stderr + result.stdout
    assert "internal error" not in result.stderr, result.stderr
    if command == "get":
        assert_one_clear_error(result, "profile 'chatty'", "credential_process", "not a JSON object", exit_code=4)
    else:
        assert result.returncode == 4, result.stderr + result.stdout
        assert "profile 'chatty'" in result.stdout + result.stderr


@pytest.mark.parametrize("expiration", ['"2030-01-01T00:00:00"', '"soon"', "1893456000"])
def test_a_source_credential_process_printing_a_bad_expiration_is_one_clear_error(
    sandbox: Sandbox, tmp_path: Path, expiration: str
) -> None:
    """No time zone (botocore then compares it with an aware now), no date, a
    number: told as the credential_process's Expiration, not an internal error."""
    script = tmp_path / "naive.py"
    printed = f'{{"Version": 1, "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{LEAKED}", "Expiration": {expiration}}}'
    script.write_text(f"print({printed!r})\n")
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(
        f"[profile naive]\ncredential_process = {sys.executable} {script}\nregion = us-east-1\n"
    )
    sandbox.write_config('[source]\nprofile = "naive"\n' + TWO_HOP_CONFIG.replace("[source]\n", "", 1))
    result = sandbox.run("get", "dev", env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert LEAKED not in result.stderr
    assert_one_clear_error(result, "profile naive", "credential_process", "Expiration", "time zone", exit_code=4)
