"""`aws login` (a profile with login_session) as the source: a cached sign-in
written by the test as the AWS CLI leaves it (botocore's LoginTokenLoader and
LoginCredentialFetcher read it), a fake AWS Sign-In service of the tests' own
for botocore's refresh, and botocore without awscrt. Every failure is exit 4,
one line, and the exact command that fixes it; `doctor` says the same.
(Two sign-ins never sharing a cached session: tests/test_source_identity.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import HUB_ARN, SHARED_ACCOUNT, SUPPORT, TWO_HOP_CONFIG, Sandbox, assert_one_clear_error
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_doctor import lines_of

from credproc import login, providers

SESSION = f"arn:aws:iam::{SHARED_ACCOUNT}:user/console-person"
SIGNED_IN_KEY = "ASIALOGINSIGNEDIN001"
REFRESHED_KEY = "ASIALOGINREFRESHED01"


class SignIn:
    """The AWS Sign-In service's CreateOAuth2Token (rest-json, POST /v1/token):
    answers each refresh with ``answer`` (new credentials, or an AccessDeniedException)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.answer: tuple[int, dict[str, object], str] = (200, {}, "")
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service.requests.append({"path": self.path, "body": json.loads(body), "dpop": self.headers.get("DPoP")})
                status, payload, error_type = service.answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def refreshes_to(self, key: str) -> None:
        access = {"accessKeyId": key, "secretAccessKey": "refreshed-secret", "sessionToken": "refreshed-token"}
        self.answer = (
            200,
            {"accessToken": access, "tokenType": "aws_sigv4", "expiresIn": 900, "refreshToken": "r2"},
            "",
        )

    def refuses(self, error: str) -> None:
        self.answer = (400, {"error": error, "message": "the session has expired"}, "AccessDeniedException")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def signin() -> Iterator[SignIn]:
    service = SignIn()
    yield service
    service.stop()


def _dpop_key() -> str:
    """A P-256 key in the PEM form `aws login` caches (botocore loads it with awscrt to sign DPoP)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return pem.decode()


def sign_in(
    sandbox: Sandbox, expires: datetime | None, *, more_config: str = "", source: str = "console"
) -> Path | None:
    """The profile `console` (login_session), the source of credproc's chain,
    and the sign-in `aws login` cached for it (None: never signed in here)."""
    config = f"[profile console]\nlogin_session = {SESSION}\nregion = us-east-1\n{more_config}"
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(config)
    sandbox.write_config(TWO_HOP_CONFIG.replace("[source]\n", f'[source]\nprofile = "{source}"\n', 1))
    if expires is None:
        return None
    cache = Path(sandbox.env["HOME"], ".aws", "login", "cache")
    cache.mkdir(parents=True, exist_ok=True)
    token = {
        "accessToken": {
            "accessKeyId": SIGNED_IN_KEY,
            "secretAccessKey": "signed-in-secret",
            "sessionToken": "signed-in-token",
            "accountId": SHARED_ACCOUNT,
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "refreshToken": "refresh-token-1",
        "idToken": "id-token",
        "clientId": "arn:aws:signin:::devtools/same-device",
        "dpopKey": _dpop_key(),
    }
    path = cache / (hashlib.sha256(SESSION.encode()).hexdigest() + ".json")
    assert path.name == providers._sha256(SESSION) + ".json"  # where credproc's identity looks, too
    path.write_text(json.dumps(token))
    return path


def _env(signin: SignIn | None = None, **more: str) -> dict[str, str]:
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", **more}
    if signin is not None:
        env["AWS_ENDPOINT_URL_SIGNIN"] = signin.url
    return env


def _hub_callers(sandbox: Sandbox) -> list[str]:
    return [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]


def test_a_current_sign_in_is_the_source(sandbox: Sandbox, signin: SignIn) -> None:
    sign_in(sandbox, datetime.now(UTC) + timedelta(hours=8))
    result = sandbox.run("get", "dev", env=_env(signin))
    assert result.returncode == 0, result.stderr
    assert _hub_callers(sandbox) == [SIGNED_IN_KEY]
    assert signin.requests == []  # fresh credentials: botocore refreshes nothing


def test_an_expiring_sign_in_is_refreshed_by_botocore_and_used(sandbox: Sandbox, signin: SignIn) -> None:
    token = sign_in(sandbox, datetime.now(UTC) - timedelta(minutes=1))
    assert token is not None
    signin.refreshes_to(REFRESHED_KEY)
    result = sandbox.run("get", "dev", env=_env(signin))
    assert result.returncode == 0, result.stderr
    assert _hub_callers(sandbox) == [REFRESHED_KEY]
    (request,) = signin.requests
    assert request["path"] == "/v1/token" and request["dpop"]  # a DPoP proof, signed with the cached key
    assert json.loads(token.read_text())["refreshToken"] == "r2"  # botocore saved the rotated refresh token


@pytest.mark.parametrize("error", ["TOKEN_EXPIRED", "USER_CREDENTIALS_CHANGED"])
def test_an_expired_sign_in_names_aws_login(sandbox: Sandbox, signin: SignIn, error: str) -> None:
    sign_in(sandbox, datetime.now(UTC) - timedelta(hours=1))
    signin.refuses(error)
    result = sandbox.run("get", "dev", env=_env(signin))
    line = assert_one_clear_error(result, "has expired", "(fix: run aws login --profile console, then retry)")
    assert result.returncode == 4
    assert "signed-in-secret" not in line and "refresh-token-1" not in line
    assert len(signin.requests) == 1 and _hub_callers(sandbox) == []

    doctor = sandbox.run("doctor", env=_env(signin))
    assert doctor.returncode == 4, doctor.stdout + doctor.stderr
    status, detail = lines_of(doctor.stdout)["source identity"]
    assert status == "failed" and "(fix: run aws login --profile console, then retry)" in detail


def test_no_sign_in_on_this_machine_names_aws_login(sandbox: Sandbox) -> None:
    sign_in(sandbox, None)
    result = sandbox.run("get", "dev", env=_env())
    assert_one_clear_error(
        result, "the source, `aws login` profile console: no usable sign-in", "(fix: run aws login --profile console"
    )
    assert result.returncode == 4


@pytest.mark.parametrize("damage", ["not json", "unreadable"])
def test_a_damaged_cached_sign_in_names_aws_login(sandbox: Sandbox, damage: str) -> None:
    """botocore's cache turns a file it cannot read or parse into a raw KeyError."""
    token = sign_in(sandbox, datetime.now(UTC) + timedelta(hours=8))
    assert token is not None
    if damage == "not json":
        token.write_text('{"accessToken": {"secretAccessKey": "signed-in-secret"')  # cut off
    else:
        token.chmod(0)
        if os.access(token, os.R_OK):
            pytest.skip("running as root: mode 0 does not stop reading")
    result = sandbox.run("get", "dev", env=_env())
    line = assert_one_clear_error(
        result, "the source, `aws login` profile console: its cached sign-in", "(fix: run aws login --profile console"
    )
    assert result.returncode == 4 and "signed-in-secret" not in line


def test_a_role_profile_sourced_from_the_sign_in_names_the_login_profile(sandbox: Sandbox, signin: SignIn) -> None:
    role = f"[profile deploy]\nrole_arn = arn:aws:iam::{SHARED_ACCOUNT}:role/Deploy\nsource_profile = console\n"
    sign_in(sandbox, datetime.now(UTC) - timedelta(hours=1), more_config=role, source="deploy")
    signin.refuses("TOKEN_EXPIRED")
    result = sandbox.run("get", "dev", env=_env(signin))
    assert_one_clear_error(result, "(fix: run aws login --profile console, then retry)", exit_code=4)


def _without_awscrt(sandbox: Sandbox) -> dict[str, str]:
    """PYTHONPATH with an `awscrt` ahead of the installed one that fails to
    import exactly as a missing one does: botocore then sets HAS_CRT = False."""
    shadow = sandbox.root / "no-awscrt" / "awscrt"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'awscrt\'", name="awscrt")\n')
    return {"PYTHONPATH": os.pathsep.join((str(shadow.parent), str(SUPPORT)))}


def test_without_awscrt_the_login_extra_is_named(sandbox: Sandbox, signin: SignIn) -> None:
    sign_in(sandbox, datetime.now(UTC) + timedelta(hours=8))
    env = _env(signin, **_without_awscrt(sandbox))
    result = sandbox.run("get", "dev", env=env)
    assert_one_clear_error(result, "needs awscrt", f"(fix: run {login.INSTALL}, then retry)", exit_code=4)
    assert "pip install 'credproc[login]'" in result.stderr
    assert _hub_callers(sandbox) == []

    doctor = sandbox.run("doctor", env=env)
    assert doctor.returncode == 4
    status, detail = lines_of(doctor.stdout)["source identity"]
    assert status == "failed" and "(fix: run pip install 'credproc[login]', then retry)" in detail


def test_the_shadow_awscrt_is_what_botocore_sees_as_missing(sandbox: Sandbox) -> None:
    """The test's stand-in for an uninstalled awscrt really turns botocore's crt off."""
    import subprocess
    import sys

    probe = "from botocore.compat import HAS_CRT; print(HAS_CRT)"
    env = {**sandbox.env, **_without_awscrt(sandbox)}
    shadowed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert shadowed.stdout.strip() == "False"
    installed = subprocess.run([sys.executable, "-c", probe], env=sandbox.env, capture_output=True, text=True)
    assert installed.stdout.strip() == "True"


def test_boto_disable_crt_is_named_instead_of_an_install(sandbox: Sandbox) -> None:
    sign_in(sandbox, datetime.now(UTC) + timedelta(hours=8))
    result = sandbox.run("get", "dev", env=_env(BOTO_DISABLE_CRT="true"))
    assert_one_clear_error(result, "BOTO_DISABLE_CRT=true", "(fix: unset BOTO_DISABLE_CRT, then retry)", exit_code=4)


def test_under_pipx_the_extra_is_injected_into_credprocs_own_environment() -> None:
    assert login.install_command("/home/a/.local/share/pipx/venvs/credproc") == (
        "pipx inject credproc 'botocore[crt]>=1.41'"
    )
    assert login.install_command("/home/a/.local/pipx/venvs/credproc") == "pipx inject credproc 'botocore[crt]>=1.41'"
    assert login.install_command("/home/a/project/.venv") == "pip install 'credproc[login]'"
