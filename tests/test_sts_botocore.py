"""credproc calls STS through botocore itself, not boto3: the host it contacts,
for every endpoint setting (region, regional or global endpoint, FIPS,
dual-stack, environment or config file, the source profile's own settings), is
the one boto3 contacts under the same settings. Both are seen at a local
HTTPS proxy of the test's own that records where each client wants to go and
refuses the tunnel (no request leaves the machine)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TWO_HOP_CONFIG, Sandbox, credproc_executable

WAIT = 60  # seconds; a bound for hangs, never a measured duration


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers every CONNECT with 403 and remembers its target."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.5)
        self.targets: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(WAIT)
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                words = request.split(b"\r\n", 1)[0].split()
                if len(words) >= 2 and words[0] == b"CONNECT":
                    self.targets.append(words[1].decode())
                connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT)
        self.listener.close()


@pytest.fixture
def proxy() -> Iterator[RefusingProxy]:
    server = RefusingProxy()
    yield server
    server.stop()


BOTO3_ASSUME_ROLE = """
import sys, boto3
session = boto3.Session(profile_name=sys.argv[1] or None, region_name="us-east-2")
try:
    session.client("sts").assume_role(RoleArn="arn:aws:iam::222222222222:role/hub", RoleSessionName="credproc-test")
except Exception as exc:
    print(type(exc).__name__)
"""


def contacted(
    proxy: RefusingProxy, argv: list[str], env: dict[str, str]
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The one host ``argv`` asked the proxy for (every attempt asks for the same)."""
    proxy.targets.clear()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL)
    assert proxy.targets, result.stderr
    assert len(set(proxy.targets)) == 1, proxy.targets
    return proxy.targets[0], result


SETTINGS = [
    pytest.param({}, "", "sts.us-east-2.amazonaws.com", id="regional"),
    pytest.param({"AWS_STS_REGIONAL_ENDPOINTS": "legacy"}, "", "sts.amazonaws.com", id="legacy-global-env"),
    pytest.param({}, "sts_regional_endpoints = legacy\n", "sts.amazonaws.com", id="legacy-global-file"),
    pytest.param({"AWS_USE_FIPS_ENDPOINT": "true"}, "", "sts-fips.us-east-2.amazonaws.com", id="fips-env"),
    pytest.param({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "", "sts.us-east-2.api.aws", id="dualstack-env"),
    pytest.param(
        {"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "true"},
        "",
        "sts-fips.us-east-2.api.aws",
        id="fips-dualstack",
    ),
    pytest.param({}, "use_fips_endpoint = true\n", "sts-fips.us-east-2.amazonaws.com", id="fips-config-file"),
    pytest.param({}, "use_dualstack_endpoint = true\n", "sts.us-east-2.api.aws", id="dualstack-config-file"),
    pytest.param({"AWS_ENDPOINT_URL": "https://sts.example.test"}, "", "sts.example.test", id="endpoint-url-env"),
    pytest.param(
        {}, "endpoint_url = https://sts.config.example.test\n", "sts.config.example.test", id="endpoint-url-file"
    ),
    pytest.param(
        {},
        "services = corp\n\n[services corp]\nsts =\n  endpoint_url = https://corp.example.test\n",
        "corp.example.test",
        id="services",
    ),
]


@pytest.mark.parametrize("source_profile", [False, True], ids=["default-chain", "source-profile"])
@pytest.mark.parametrize(("variables", "profile_settings", "expected"), SETTINGS)
def test_sts_host_is_the_one_boto3_contacts(
    sandbox: Sandbox,
    proxy: RefusingProxy,
    variables: dict[str, str],
    profile_settings: str,
    expected: str,
    source_profile: bool,
) -> None:
    """With [source] profile, its settings count (as for boto3 with that profile); else botocore's default profile's."""
    profile = "shared" if source_profile else "default"
    header = "[default]" if profile == "default" else f"[profile {profile}]"
    Path(sandbox.env["AWS_CONFIG_FILE"]).write_text(f"{header}\nregion = us-east-2\n{profile_settings}")
    config = TWO_HOP_CONFIG.replace('region = "us-east-1"', 'region = "us-east-2"', 1)
    env = {**sandbox.env, **variables, "HTTPS_PROXY": proxy.url, "CREDPROC_STS_BUDGET": "0"}
    del env["AWS_ENDPOINT_URL_STS"]
    if source_profile:
        config = '[source]\nprofile = "shared"\n' + config.replace("[source]\n", "", 1)
        Path(sandbox.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
            "[shared]\naws_access_key_id = AKIASHAREDPROFILE001\naws_secret_access_key = shared-profile-secret\n"
        )
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    sandbox.write_config(config)

    reference, boto3_run = contacted(
        proxy, [sys.executable, "-c", BOTO3_ASSUME_ROLE, profile if source_profile else ""], env
    )
    assert boto3_run.stdout.strip() == "ProxyConnectionError", boto3_run.stderr
    host, credproc_run = contacted(proxy, [credproc_executable(), "get", "dev"], env)
    assert host == reference == f"{expected}:443"
    assert credproc_run.returncode == 5  # STS unreachable: the proxy refused
    assert credproc_run.stdout == ""
