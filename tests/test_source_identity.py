"""Whose credentials these are: for each provider of botocore's chain
(credproc/providers.py), two source identities that differ only in that
provider's inputs never share a cached session, and the same identity twice
does. Each identity is real: keys the local STS accepts, a web identity token
it exchanges, a fake IAM Identity Center portal, a credential_process, and a
container credential endpoint of the tests' own; the STS calls are counted."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import HUB_ARN, SHARED_ACCOUNT, TWO_HOP_CONFIG, Sandbox
from sso_portal import SsoPortal
from test_sso import START_URL, write_token

from credproc import providers, source

Apply = Callable[[Sandbox, str], dict[str, str]]  # sets identity "a" or "b" up; the environment to run with


class ContainerEndpoint:
    """A credential endpoint as ECS and EKS Pod Identity serve it: keys that
    depend on the path and on the Authorization token."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.headers.get("Authorization", "")
                endpoint.requests.append((self.path, token))
                suffix = hashlib.sha256(f"{self.path}|{token}".encode()).hexdigest().upper()[:12]
                expires = (datetime.now(UTC) + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
                body = json.dumps(
                    {
                        "AccessKeyId": "ASIACONTAINER" + suffix[:7],
                        "SecretAccessKey": "container-secret-" + suffix,
                        "Token": "container-token-" + suffix,
                        "Expiration": expires,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def container_endpoint() -> Iterator[ContainerEndpoint]:
    server = ContainerEndpoint()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def portal() -> Iterator[SsoPortal]:
    server = SsoPortal().start()
    yield server
    server.stop()


def _aws(sandbox: Sandbox, config: str | None = None, credentials: str | None = None) -> None:
    for name, text in (("AWS_CONFIG_FILE", config), ("AWS_SHARED_CREDENTIALS_FILE", credentials)):
        path = Path(sandbox.env[name])
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)


def _source_profile(sandbox: Sandbox, profile: str | None) -> None:
    text = TWO_HOP_CONFIG
    if profile:
        text = text.replace("[source]\n", f'[source]\nprofile = "{profile}"\n', 1)
    sandbox.write_config(text)


def _no_env_keys() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}


KEYS = {"a": "AKIAIDENTITYAAAAAAAA", "b": "AKIAIDENTITYBBBBBBBB"}


def keys_in_environment(sandbox: Sandbox, variant: str) -> dict[str, str]:
    _source_profile(sandbox, None)
    return {"AWS_ACCESS_KEY_ID": KEYS[variant], "AWS_SECRET_ACCESS_KEY": "secret-" + variant}


def _web_identity(sandbox: Sandbox, variant: str, subject: str = "subject") -> dict[str, str]:
    _source_profile(sandbox, None)
    token_file = sandbox.root / "web-identity-token"
    token_file.write_text(f"eyJ.{subject}.sig")
    return {
        **_no_env_keys(),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": f"arn:aws:iam::555555555555:role/ci-project-{variant}",
        "AWS_ROLE_SESSION_NAME": "ci-job",
    }


def web_identity_no_default(sandbox: Sandbox, variant: str) -> dict[str, str]:
    _aws(sandbox)
    return _web_identity(sandbox, variant)


def web_identity_region_only_default(sandbox: Sandbox, variant: str) -> dict[str, str]:
    _aws(sandbox, config="[default]\nregion = us-east-1\n")
    return _web_identity(sandbox, variant)


def web_identity_over_default_keys(sandbox: Sandbox, variant: str) -> dict[str, str]:
    # botocore tries web identity from the environment before the credentials file.
    _aws(sandbox, credentials="[default]\naws_access_key_id = AKIALEFTOVERDEFAULT1\naws_secret_access_key = s\n")
    return _web_identity(sandbox, variant)


def web_identity_another_token(sandbox: Sandbox, variant: str) -> dict[str, str]:
    _aws(sandbox)
    return _web_identity(sandbox, "a", subject=f"subject-{variant}")


def role_profile(sandbox: Sandbox, variant: str) -> dict[str, str]:
    _aws(
        sandbox,
        config=f"[profile src]\nrole_arn = arn:aws:iam::{SHARED_ACCOUNT}:role/Source-{variant}\nsource_profile = base\n",
        credentials="[base]\naws_access_key_id = AKIABASEKEYS00000001\naws_secret_access_key = s\n",
    )
    _source_profile(sandbox, "src")
    return _no_env_keys()


def keys_in_the_credentials_file(sandbox: Sandbox, variant: str) -> dict[str, str]:
    _aws(sandbox, credentials=f"[default]\naws_access_key_id = {KEYS[variant]}\naws_secret_access_key = s\n")
    _source_profile(sandbox, None)
    return _no_env_keys()


def keys_in_the_config_file(sandbox: Sandbox, variant: str) -> dict[str, str]:
    _aws(sandbox, config=f"[profile keys]\naws_access_key_id = {KEYS[variant]}\naws_secret_access_key = s\n")
    _source_profile(sandbox, "keys")
    return _no_env_keys()


def _process_script(sandbox: Sandbox) -> Path:
    script = sandbox.root / "print-keys.py"
    script.write_text(
        "import json, sys\n"
        'print(json.dumps({"Version": 1, "AccessKeyId": "AKIAPROCESS" + sys.argv[1].upper() * 9,'
        ' "SecretAccessKey": "s"}))\n'
    )
    return script


def credential_process(sandbox: Sandbox, variant: str) -> dict[str, str]:
    command = f"{sys.executable} {_process_script(sandbox)} {variant}"
    _aws(sandbox, config=f"[profile proc]\ncredential_process = {command}\n")
    _source_profile(sandbox, "proc")
    return _no_env_keys()


def credential_process_beside_leftover_keys(sandbox: Sandbox, variant: str) -> dict[str, str]:
    # The config file's keys come after credential_process in botocore's order.
    command = f"{sys.executable} {_process_script(sandbox)} {variant}"
    config = f"[profile proc]\naws_access_key_id = AKIALEFTOVERKEYS0001\naws_secret_access_key = s\ncredential_process = {command}\n"
    _aws(sandbox, config=config)
    _source_profile(sandbox, "proc")
    return _no_env_keys()


def _login_token(sandbox: Sandbox, session: str, person: str) -> None:
    """The token `aws login` leaves in ~/.aws/login/cache/<sha256 of the session>.json:
    console credentials still valid for hours, so botocore refreshes nothing."""
    cache = Path(sandbox.env["HOME"], ".aws", "login", "cache")
    cache.mkdir(parents=True, exist_ok=True)
    key = "ASIALOGIN" + hashlib.sha256(f"{session}|{person}".encode()).hexdigest().upper()[:11]
    token = {
        "accessToken": {
            "accessKeyId": key,
            "secretAccessKey": "login-secret-" + person,
            "sessionToken": "login-token-" + person,
            "expiresAt": "2999-01-01T00:00:00Z",
            "accountId": SHARED_ACCOUNT,
        },
        "refreshToken": "refresh-" + person,
        "dpopKey": "not used while the credentials are fresh",
        "clientId": "arn:aws:signin:::devtools/same-device",
    }
    (cache / (providers._sha256(session) + ".json")).write_text(json.dumps(token))


def login(person: Callable[[str], str], signed_in: Callable[[str], str]) -> Apply:
    """An `aws login` profile as the source: ``person(variant)`` names its
    login_session, ``signed_in(variant)`` who signed in (the token)."""

    def apply(sandbox: Sandbox, variant: str) -> dict[str, str]:
        session = f"arn:aws:iam::{SHARED_ACCOUNT}:user/{person(variant)}"
        _aws(sandbox, config=f"[profile console]\nlogin_session = {session}\nregion = us-east-1\n")
        _login_token(sandbox, session, signed_in(variant))
        _source_profile(sandbox, "console")
        return _no_env_keys()

    return apply


def container_full_uri(endpoint: ContainerEndpoint) -> Apply:
    def apply(sandbox: Sandbox, variant: str) -> dict[str, str]:
        _aws(sandbox)
        _source_profile(sandbox, None)
        return {**_no_env_keys(), "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint.url}/creds/{variant}"}

    return apply


def container_token(endpoint: ContainerEndpoint) -> Apply:
    """EKS Pod Identity: one address for every pod of a node, the token tells them apart."""

    def apply(sandbox: Sandbox, variant: str) -> dict[str, str]:
        _aws(sandbox)
        _source_profile(sandbox, None)
        token_file = sandbox.root / "pod-identity-token"
        token_file.write_text(f"pod-token-{variant}")
        return {
            **_no_env_keys(),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint.url}/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
        }

    return apply


SSO_CONFIG = f"""
[profile corp]
sso_session = corp-sso
sso_account_id = {SHARED_ACCOUNT}
sso_role_name = ROLE
{{extra}}
[sso-session corp-sso]
sso_start_url = {START_URL}
sso_region = us-east-1

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-east-1
sso_account_id = {SHARED_ACCOUNT}
sso_role_name = ROLE
"""


def sso(portal: SsoPortal, profile: str, *, vary: str = "role", extra: str = "") -> Apply:
    """An SSO profile as the source; identities differ in the role, or in who signed in (the token)."""
    named_after = "corp-sso" if profile == "corp" else "https://legacy.awsapps.com/start"
    expires = (datetime.now(UTC) + timedelta(hours=8)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )  # the same sign-in, the same bytes

    def apply(sandbox: Sandbox, variant: str) -> dict[str, str]:
        role = f"Role-{variant}" if vary == "role" else "Role-a"
        token = f"token-{variant}" if vary == "token" else "token-a"
        _aws(sandbox, config=SSO_CONFIG.replace("ROLE", role).replace("{extra}", extra))
        path = write_token(sandbox, named_after, token, timedelta(hours=8))
        signed_in = json.loads(path.read_text())
        path.write_text(json.dumps({**signed_in, "expiresAt": expires}))
        portal.grant(token, SHARED_ACCOUNT, role)
        _source_profile(sandbox, profile)
        return {**_no_env_keys(), "AWS_ENDPOINT_URL_SSO": portal.url}

    return apply


def scenarios(portal: SsoPortal, endpoint: ContainerEndpoint) -> dict[str, Apply]:
    return {
        "environment keys": keys_in_environment,
        "web identity, no [default]": web_identity_no_default,
        "web identity, region-only [default]": web_identity_region_only_default,
        "web identity over keys in the credentials file": web_identity_over_default_keys,
        "web identity, another token": web_identity_another_token,
        "role profile": role_profile,
        "sso_session profile": sso(portal, "corp"),
        "legacy SSO profile": sso(portal, "legacy"),
        "SSO, another sign-in": sso(portal, "corp", vary="token"),
        "SSO beside leftover keys": sso(
            portal, "corp", extra="aws_access_key_id = AKIALEFTOVERKEYS0001\naws_secret_access_key = s\n"
        ),
        "keys in the credentials file": keys_in_the_credentials_file,
        "keys in the config file": keys_in_the_config_file,
        "credential_process": credential_process,
        "credential_process beside leftover keys": credential_process_beside_leftover_keys,
        "aws login (login_session)": login(lambda variant: f"person-{variant}", lambda variant: variant),
        "aws login, another sign-in": login(lambda variant: "person-a", lambda variant: variant),
        "container, full URI": container_full_uri(endpoint),
        "container, authorization token file": container_token(endpoint),
    }


NAMES = [
    "environment keys",
    "web identity, no [default]",
    "web identity, region-only [default]",
    "web identity over keys in the credentials file",
    "web identity, another token",
    "role profile",
    "sso_session profile",
    "legacy SSO profile",
    "SSO, another sign-in",
    "SSO beside leftover keys",
    "keys in the credentials file",
    "keys in the config file",
    "credential_process",
    "credential_process beside leftover keys",
    "aws login (login_session)",
    "aws login, another sign-in",
    "container, full URI",
    "container, authorization token file",
]


@pytest.mark.parametrize("name", NAMES)
def test_two_identities_never_share_a_session_and_one_identity_does(
    sandbox: Sandbox, portal: SsoPortal, container_endpoint: ContainerEndpoint, name: str
) -> None:
    apply = scenarios(portal, container_endpoint)[name]

    def get(variant: str) -> dict[str, object]:
        result = sandbox.run("get", "dev", env=apply(sandbox, variant))
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def hub_calls() -> int:
        return len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN))

    first = get("a")
    assert hub_calls() == 1
    assert get("a") == first  # the same identity again: the cache, no STS call
    assert hub_calls() == 1

    second = get("b")
    assert hub_calls() == 2, "identity b was handed identity a's session"
    assert second["AccessKeyId"] != first["AccessKeyId"]
    callers = [call.access_key_id for call in sandbox.sts.recorder.of("AssumeRole", HUB_ARN)]
    assert callers[0] != callers[1]  # the hub was assumed as each identity in turn

    assert get("a") == first  # each keeps its own session
    assert hub_calls() == 2


def test_the_table_follows_botocore_order_and_names_every_provider() -> None:
    """The table is botocore's create_credential_resolver, in order."""
    assert [name for name, _ in providers.CHAIN] == [
        "env",
        "assume-role",
        "assume-role-with-web-identity",
        "sso",
        "shared-credentials-file",
        "login",
        "custom-process",
        "config-file",
        "ec2-credentials-file",
        "boto-config",
        "container-role",
        "iam-role",
    ]


def _fingerprint(tmp_path: Path, env: dict[str, str], config: str = "", profile: str | None = None) -> str:
    (tmp_path / "config").write_text(config)
    base = {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    return source.resolve(profile, {**base, **env}).fingerprint


def test_a_relative_container_uri_is_part_of_the_identity(tmp_path: Path) -> None:
    """The relative URI is fetched from 169.254.170.2, which no test can serve:
    the fingerprint itself is checked."""
    first = _fingerprint(tmp_path, {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-a"})
    assert first == _fingerprint(tmp_path, {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-a"})
    assert first != _fingerprint(tmp_path, {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-b"})
    assert first.startswith("container-role:")


def test_a_login_session_profile_is_told_apart_by_its_session_and_its_token(tmp_path: Path) -> None:
    config = "[profile console]\nlogin_session = arn:aws:iam::{}:user/{}\n"
    first = _fingerprint(tmp_path, {}, config.format(SHARED_ACCOUNT, "alice"), "console")
    assert first.startswith("login:")
    assert first == _fingerprint(tmp_path, {}, config.format(SHARED_ACCOUNT, "alice"), "console")
    assert first != _fingerprint(tmp_path, {}, config.format(SHARED_ACCOUNT, "bob"), "console")
    cache = tmp_path / ".aws" / "login" / "cache"
    cache.mkdir(parents=True)
    name = providers._sha256(f"arn:aws:iam::{SHARED_ACCOUNT}:user/alice") + ".json"
    (cache / name).write_text('{"accessToken": "another sign-in"}')
    assert first != _fingerprint(tmp_path, {}, config.format(SHARED_ACCOUNT, "alice"), "console")


def test_the_instance_role_and_what_follows_the_chosen_provider(tmp_path: Path) -> None:
    """Without any other provider the metadata endpoint's settings identify;
    variables of providers after the chosen one change nothing."""
    imds = _fingerprint(tmp_path, {})
    assert imds.startswith("iam-role:")
    assert imds != _fingerprint(tmp_path, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[fd00:ec2::254]"})
    keys = {"AWS_ACCESS_KEY_ID": "AKIAENV0000000000001"}
    assert _fingerprint(tmp_path, keys) == _fingerprint(
        tmp_path, {**keys, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/x"}
    )
    # Keys in the environment win over AWS_PROFILE (not given to the session): the same identity.
    assert _fingerprint(tmp_path, keys) == _fingerprint(tmp_path, {**keys, "AWS_PROFILE": "other"})


def test_a_given_profile_ignores_the_environment_keys_and_web_identity(tmp_path: Path) -> None:
    """botocore drops the environment provider, and web identity from the
    environment, when the session is given a profile ([source] profile)."""
    config = "[profile base]\naws_access_key_id = AKIABASE000000000001\naws_secret_access_key = s\n"
    alone = _fingerprint(tmp_path, {}, config, "base")
    assert alone == _fingerprint(
        tmp_path,
        {"AWS_ACCESS_KEY_ID": "AKIAENV0000000000001", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:r"},
        config,
        "base",
    )


def test_aws_default_profile_wins_over_aws_profile_as_in_botocore(tmp_path: Path) -> None:
    config = (
        "[profile one]\naws_access_key_id = AKIAONE0000000000001\naws_secret_access_key = s\n"
        "[profile two]\naws_access_key_id = AKIATWO0000000000002\naws_secret_access_key = s\n"
    )
    both = {"AWS_DEFAULT_PROFILE": "one", "AWS_PROFILE": "two"}
    assert _fingerprint(tmp_path, both, config) == _fingerprint(tmp_path, {"AWS_PROFILE": "one"}, config)
    assert _fingerprint(tmp_path, both, config) != _fingerprint(tmp_path, {"AWS_PROFILE": "two"}, config)


def test_a_boto_file_made_later_counts_though_the_decision_is_remembered(tmp_path: Path) -> None:
    """BotoProvider's files are read on every run, present or not."""
    before = _fingerprint(tmp_path, {"BOTO_CONFIG": str(tmp_path / "boto.cfg")})
    (tmp_path / "boto.cfg").write_text("[Credentials]\naws_access_key_id = AKIABOTO000000000001\n")
    assert _fingerprint(tmp_path, {"BOTO_CONFIG": str(tmp_path / "boto.cfg")}) != before
    assert _fingerprint(tmp_path, {"BOTO_CONFIG": str(tmp_path / "other.cfg")}) != before


def test_token_files_are_looked_for_where_botocore_looks_on_windows() -> None:
    """Python's ~ ignores HOME on Windows (Git Bash sets one): USERPROFILE it is."""
    from credproc import locations

    env = {"HOME": "/c/Users/git-bash-home", "USERPROFILE": "C:\\Users\\alice"}
    assert locations.user_home(env, windows=True) == "C:\\Users\\alice"
    assert locations.user_home(env, windows=False) == "/c/Users/git-bash-home"
