"""`credproc serve`: the credential endpoint in the foreground, driven as a
user would: the installed credproc, real AWS clients reading the printed
variables, raw HTTP for the security checks, signals to stop it."""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import (
    DEV_ACCOUNT,
    HUB_ARN,
    SHARED_ACCOUNT,
    TWO_HOP_CONFIG,
    Sandbox,
    assert_one_clear_error,
    credproc_executable,
)
from endpoint_support import (
    Serving,
    SlowClients,
    client_env,
    cpu_seconds,
    expire_after,
    expire_get_session_token_after,
    port_is_closed,
    request,
    wait_until,
)
from local_sts import sts_error
from sdk_clients import Client, account_of, aws_cli_v1, boto3_client, js_client

DEV_ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/Deployer"
SOURCE_SECRET = "shared-source-secret-key-0001"


def serve(sandbox: Sandbox, *args: str) -> Serving:
    return Serving([credproc_executable(), "serve", "dev", *args], sandbox.env)


def test_every_client_gets_the_accounts_credentials_from_the_printed_variables(
    sandbox: Sandbox, client: Client
) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with serve(sandbox) as served:
        assert set(served.variables) == {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
        assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/credentials")
        env = client_env(sandbox.env, {**served.variables, "AWS_REGION": "us-east-2"})
        result = client.whoami(env)
        assert account_of(result) == DEV_ACCOUNT, result.stderr
        assert json.loads(result.stdout)["Arn"].startswith(f"arn:aws:sts::{DEV_ACCOUNT}:assumed-role/Deployer/")
        code, _, err = served.stop()
    assert code == 0, err


@pytest.mark.parametrize("shell", ["json", "fish", "powershell"])
def test_the_variables_in_other_shells(sandbox: Sandbox, shell: str) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    process = subprocess.Popen(
        [credproc_executable(), "serve", "dev", "--shell", shell],
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        text = b""
        deadline = time.monotonic() + 120
        while text.count(b"\n") < (4 if shell == "json" else 2) and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 5)
            if ready:
                chunk = os.read(process.stdout.fileno(), 4096)
                assert chunk, process.stderr.read() if process.stderr else ""
                text += chunk
        lines = text.decode()
        if shell == "json":
            variables = json.loads(lines)
            assert set(variables) == {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
        elif shell == "fish":
            assert lines.startswith("set -gx AWS_CONTAINER_CREDENTIALS_FULL_URI 'http://127.0.0.1:")
        else:
            assert lines.startswith("$Env:AWS_CONTAINER_CREDENTIALS_FULL_URI = 'http://127.0.0.1:")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_requests_without_the_right_token_host_or_method_get_no_credentials(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with serve(sandbox) as served:
        good = request(served.url, served.token)
        assert good.status == 200 and good.body["AccountId"] == DEV_ACCOUNT
        secrets = [good.body["SecretAccessKey"], good.body["Token"], served.token]
        port = served.url.split(":")[2].split("/")[0]
        refused = {
            "no token": request(served.url, None),
            "wrong token": request(served.url, "x" * len(served.token)),
            "one character short": request(served.url, served.token[:-1]),
            "foreign Host": request(served.url, served.token, host=f"attacker.example:{port}"),
            "POST": request(served.url, served.token, method="POST"),
        }
        statuses = {name: answer.status for name, answer in refused.items()}
        assert statuses == {
            "no token": 401,
            "wrong token": 403,
            "one character short": 403,
            "foreign Host": 403,
            "POST": 405,
        }
        for answer in refused.values():
            text = json.dumps(answer.body)
            assert not any(secret in text for secret in secrets) and "AccessKeyId" not in answer.body
            assert not any(name.lower().startswith("access-control-") for name in answer.headers)
        served.stop()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_on_sigterm_and_sigint_and_its_port_closes(sandbox: Sandbox, number: int) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with serve(sandbox) as served:
        assert request(served.url, served.token).status == 200
        code, out, err = served.stop(number)
    assert code == 0, err
    assert out == "" and "Traceback" not in err
    assert port_is_closed(served.url)


def test_thirty_concurrent_requests_are_answered_by_one_assume_role_per_hop(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with serve(sandbox) as served:
        answers: list[int | str] = []
        lock = threading.Lock()

        def ask() -> None:
            answer = request(served.url, served.token)
            with lock:
                answers.append(answer.body.get("AccessKeyId", answer.status))

        threads = [threading.Thread(target=ask) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(answers) == 30 and len(set(answers)) == 1 and str(answers[0]).startswith("ASIA")
        assert len(sandbox.sts.recorder.of("AssumeRole", HUB_ARN)) == 1
        assert len(sandbox.sts.recorder.of("AssumeRole", DEV_ROLE)) == 1
        served.stop()


def test_the_token_can_be_handed_over_as_a_private_file(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    token_file = tmp_path / "run" / "credproc-token"
    token_file.parent.mkdir(mode=0o700)
    with Serving([credproc_executable(), "serve", "dev", "--token-file", str(token_file)], sandbox.env) as served:
        assert set(served.variables) == {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"}
        assert served.variables["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(token_file)
        if os.name == "posix":
            assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text()
        assert request(served.url, token).status == 200
        env = client_env(sandbox.env, {**served.variables, "AWS_REGION": "us-east-2"})
        # botocore re-reads the file on every fetch.
        assert account_of(boto3_client().whoami(env)) == DEV_ACCOUNT
        js = js_client()
        if isinstance(js, Client):  # the JS SDK v3 reads the file too (and would prefer it)
            assert account_of(js.whoami(env)) == DEV_ACCOUNT
        served.stop()
    assert not token_file.exists()


def test_sts_down_is_a_readable_error_for_clients_and_the_endpoint_recovers(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    # Sessions that are nearly expired when issued: once they are, only STS can help.
    sandbox.sts.recorder.rewrites.append(expire_after(62, DEV_ROLE))
    with serve(sandbox) as served:
        sandbox.sts.recorder.faults.append(
            lambda params: (
                sts_error("ServiceUnavailable", "down for a test", "503 Service Unavailable", "Receiver")
                if params.get("Action") == "AssumeRole"
                else None
            )
        )
        failed = wait_until(
            lambda: (a := request(served.url, served.token)).status == 503 and "STS" in a.body.get("Message", "") and a
        )
        assert failed.body["Code"] == "CredentialsUnavailable" and "(fix: " in failed.body["Message"]
        env = client_env(sandbox.env, served.variables)
        for name, client in (("boto3", boto3_client()), ("aws-cli-v1", aws_cli_v1())):
            if isinstance(client, str):
                continue
            result = client.whoami(env)
            assert result.returncode != 0, name
            # botocore shows the endpoint's answer: status and credproc's message.
            assert "503" in result.stderr and "credproc:" in result.stderr, (name, result.stderr)
            assert SOURCE_SECRET not in result.stderr
        sandbox.sts.recorder.reset()  # STS is back, and issues full sessions again
        wait_until(lambda: request(served.url, served.token).status == 200)
        assert account_of(boto3_client().whoami(env)) == DEV_ACCOUNT
        code, _, err = served.stop()
    assert code == 0
    assert "refreshing the session failed" in err and "works again" in err


def test_a_denial_is_a_403_naming_the_role(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    sandbox.sts.recorder.rewrites.append(expire_after(62, DEV_ROLE))
    with serve(sandbox) as served:
        sandbox.sts.recorder.faults.append(
            lambda params: (
                sts_error("AccessDenied", "not authorized to perform sts:AssumeRole")
                if params.get("RoleArn") == DEV_ROLE
                else None
            )
        )
        denied = wait_until(lambda: (a := request(served.url, served.token)).status == 403 and a)
        assert denied.body["Code"] == "CredentialsRefused" and "Deployer" in denied.body["Message"]
        served.stop()


def test_verbose_output_never_holds_the_token_or_a_secret(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with Serving([credproc_executable(), "serve", "dev", "--verbose"], sandbox.env) as served:
        good = request(served.url, served.token)
        request(served.url, "wrong")
        request(served.url, served.token[:-1], host="evil.example")
        _, out, err = served.stop()
    assert "endpoint: serving" in err and "refused" in err
    for secret in (served.token, good.body["SecretAccessKey"], good.body["Token"], SOURCE_SECRET):
        assert secret not in err and secret not in out


def test_bad_input_is_one_clear_error(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    result = sandbox.run("serve", "dev", "--port", "70000")
    assert result.returncode == 2
    assert_one_clear_error(result, "--port", "70000")
    result = sandbox.run("serve", "nosuch")
    assert result.returncode == 3
    assert_one_clear_error(result, "nosuch")
    with serve(sandbox) as served:
        port = served.url.split(":")[2].split("/")[0]
        result = sandbox.run("serve", "dev", "--port", port)
        assert result.returncode == 2
        assert_one_clear_error(result, f"127.0.0.1:{port}", "--port")
        served.stop()


def test_the_source_identity_is_not_what_is_served(sandbox: Sandbox) -> None:
    # One endpoint serves one target: nothing here hands out the source's keys.
    sandbox.write_config(TWO_HOP_CONFIG)
    with serve(sandbox) as served:
        body = request(served.url, served.token).body
        assert body["AccessKeyId"] != sandbox.env["AWS_ACCESS_KEY_ID"] and body["AccountId"] != SHARED_ACCOUNT
        served.stop()


def test_an_expired_mfa_session_is_renewed_with_mfa_process_during_a_refresh(sandbox: Sandbox) -> None:
    from test_mfa import CountingMfaProcess, mfa_config

    counter = CountingMfaProcess(sandbox.root)
    sandbox.write_config(mfa_config(counter))
    # The MFA session and the role session are nearly over when issued.
    for rewrite in (expire_after(62, DEV_ROLE), expire_get_session_token_after(62)):
        sandbox.sts.recorder.rewrites.append(rewrite)
    with serve(sandbox) as served:
        first = request(served.url, served.token).body.get("AccessKeyId")
        assert len(counter.runs) == 1
        sandbox.sts.recorder.rewrites.clear()
        renewed = wait_until(
            lambda: (a := request(served.url, served.token)).status == 200 and a.body["AccessKeyId"] != first and a
        )
        assert renewed.body["AccountId"] == DEV_ACCOUNT
        assert len(counter.runs) == 2  # the refresh asked mfa_process, as get does
        assert len(sandbox.sts.recorder.of("GetSessionToken")) == 2
        served.stop()


def test_serve_says_where_it_serves_as_it_starts(sandbox: Sandbox) -> None:
    sandbox.write_config(TWO_HOP_CONFIG)
    with serve(sandbox) as served:
        assert served.process.stderr is not None
        ready, _, _ = select.select([served.process.stderr], [], [], 60)
        assert ready, "nothing on stderr while serving"
        line = served.process.stderr.readline().decode()
        assert line == f"credproc: serving dev at {served.url} until Ctrl-C or SIGTERM\n"
        assert served.token not in line
        served.stop()


@pytest.mark.skipif(os.name != "posix", reason="ulimit")
def test_clients_get_credentials_while_another_user_holds_a_hundred_slow_connections(sandbox: Sandbox) -> None:
    # The file limit the report was made with: the endpoint raises it.
    sandbox.write_config(TWO_HOP_CONFIG)
    argv = ["sh", "-c", 'ulimit -Sn 64 && exec "$0" "$@"', credproc_executable(), "serve", "dev"]
    clients = [boto3_client()] + [found for found in (js_client(),) if isinstance(found, Client)]
    with Serving(argv, sandbox.env) as served, SlowClients(served.url, 100):
        env = client_env(sandbox.env, {**served.variables, "AWS_REGION": "us-east-2"})
        for client in clients:  # the JS SDK gives up on the endpoint after 1 s
            result = client.whoami(env)
            assert account_of(result) == DEV_ACCOUNT, f"{client.name}: {result.stderr}"
        code, _, err = served.stop()
    assert code == 0 and "Traceback" not in err, err


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="Linux: prlimit and /proc")
def test_no_free_file_descriptor_does_not_make_the_endpoint_spin(sandbox: Sandbox) -> None:
    import resource

    sandbox.write_config(TWO_HOP_CONFIG)
    with serve(sandbox) as served:
        pid = served.process.pid
        assert request(served.url, served.token).status == 200
        limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        # A soft limit of 1 with descriptor 0 (stdin) open: no new descriptor at
        # all, so every accept fails with EMFILE. (A limit just above the open
        # ones would let a descriptor that the first request's connection frees
        # meanwhile be taken again; 0 would make the server's poll() itself fail.)
        assert os.path.exists(f"/proc/{pid}/fd/0")
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (1, limits[1]))
        parts = urlsplit(served.url)
        waiting = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=3)
        try:
            before = cpu_seconds(pid)
            waiting.request("GET", parts.path, headers={"Authorization": served.token})
            with pytest.raises(TimeoutError):  # queued while no descriptor is free: 3 s of refused accepts
                waiting.getresponse()
            used = cpu_seconds(pid) - before
        finally:
            waiting.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
        assert used < 0.3, f"the endpoint used {used:.2f} s of CPU in 3 s of failing accepts"
        assert request(served.url, served.token).status == 200  # and serves again once one is free
        code, _, err = served.stop()
    assert code == 0 and "Traceback" not in err, err
