"""The credential endpoint's warm request latency (a row of run.py): ``credproc
serve`` on a warm cache, 30 client processes asking it at once, each request
on a new connection as the SDKs' container providers make them."""

from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping

CLIENTS = 30
REQUESTS = 20  # per client
TARGET_P99_MS = 1000.0  # the JS SDK v3 gives up on the endpoint after 1 s

# One client: waits for "go" on stdin, makes REQUESTS requests, prints their latencies.
CLIENT = """
import http.client, json, os, sys, time
from urllib.parse import urlsplit
url = urlsplit(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
sys.stdin.readline()
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request("GET", url.path, headers={"Authorization": token})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    times.append(time.perf_counter() - start)
    if response.status != 200 or b"SecretAccessKey" not in body:
        sys.exit(f"endpoint answered {response.status}")
print(json.dumps(times))
"""


def _variables(process: subprocess.Popen[bytes], timeout: float = 120) -> dict[str, str]:
    """What ``serve --shell json`` printed (the two variables)."""
    assert process.stdout is not None
    text, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            text += chunk
            try:
                return dict(json.loads(text))
            except ValueError:
                continue
    raise SystemExit(f"credproc serve printed no variables: {text!r}")


def latency_row(credproc: str, env: Mapping[str, str], warm_get_ms: float) -> tuple[str, str, str, str]:
    """(scenario, measured, target, verdict) for run.py's table."""
    server = subprocess.Popen(
        [credproc, "serve", "dev", "--shell", "json"],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        client_env = {**env, **_variables(server)}
        clients = [
            subprocess.Popen(
                [sys.executable, "-c", CLIENT, str(REQUESTS)],
                env=client_env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(CLIENTS)
        ]
        for client in clients:
            assert client.stdin is not None
            client.stdin.write("go\n")
            client.stdin.flush()
        times: list[float] = []
        for client in clients:
            out, _ = client.communicate(timeout=300)
            if client.returncode != 0:
                raise SystemExit("an endpoint client failed")
            times.extend(json.loads(out))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    times.sort()
    median_ms = statistics.median(times) * 1000
    p99_ms = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    measured = (
        f"median {median_ms:.1f} ms, p99 **{p99_ms:.1f} ms** over {len(times)} requests; "
        f"`credproc get dev` warm hit: {warm_get_ms:.1f} ms"
    )
    verdict = "met" if p99_ms <= TARGET_P99_MS else "NOT met"
    return (
        f"credential endpoint (serve), warm, {CLIENTS} concurrent clients",
        measured,
        f"p99 <= {TARGET_P99_MS:.0f} ms (the JS SDK v3's timeout)",
        verdict + ": answered from memory; each request a new connection, as the SDKs make them",
    )
