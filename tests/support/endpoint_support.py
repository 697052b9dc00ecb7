"""Helpers for the tests that run credproc's credential endpoint as a user
would (``credproc serve`` and ``exec --server``): start and stop ``serve``,
talk raw HTTP to it, and make the local STS issue short sessions."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import secret_scan
from local_sts import Rewrite

CONTAINER_VARIABLES = ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN")
STATIC_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def client_env(base: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    """A client's environment: the sandbox's without its source keys, plus ``variables``."""
    env = {name: value for name, value in base.items() if name not in STATIC_VARIABLES}
    env.update(variables)
    return env


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def request(
    url: str, token: str | None, *, method: str = "GET", host: str | None = None, timeout: float = 30
) -> Answer:
    """One raw HTTP request to the endpoint (``host`` replaces the Host header)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    headers = {"Authorization": token} if token is not None else {}
    try:
        connection.putrequest(method, parts.path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        text = response.read().decode()
        return Answer(response.status, dict(response.getheaders()), json.loads(text) if text else {})
    finally:
        connection.close()


def port_is_closed(url: str) -> bool:
    parts = urlsplit(url)
    try:
        http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5).connect()
    except OSError:
        return True
    return False


def wait_until(condition: Any, timeout: float = 60, interval: float = 0.2) -> Any:
    """Poll ``condition()`` until it returns something truthy (bounded); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {condition}")
        time.sleep(interval)


class Serving:
    """``credproc serve`` as a background process; ``variables`` holds what it printed."""

    def __init__(self, argv: list[str], env: Mapping[str, str], timeout: float = 120) -> None:
        self.process = subprocess.Popen(
            argv, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        self.variables = self._read_variables(timeout)
        if "AWS_CONTAINER_AUTHORIZATION_TOKEN" in self.variables:
            secret_scan.known(self.variables["AWS_CONTAINER_AUTHORIZATION_TOKEN"], "endpoint token")
        self.env = dict(env)

    def _read_variables(self, timeout: float) -> dict[str, str]:
        assert self.process.stdout is not None
        variables: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        buffer = b""
        while len(variables) < 2:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            if not ready:
                self.stop()
                raise AssertionError(f"serve printed no variables within {timeout} s")
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                _, err = self.process.communicate(timeout=30)
                raise AssertionError(f"serve ended (exit {self.process.returncode}): {err.decode()}")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                words = shlex.split(line.decode())
                assert words[0] == "export", line
                name, _, value = words[1].partition("=")
                variables[name] = value
        return variables

    @property
    def url(self) -> str:
        return self.variables["AWS_CONTAINER_CREDENTIALS_FULL_URI"]

    @property
    def token(self) -> str:
        return self.variables["AWS_CONTAINER_AUTHORIZATION_TOKEN"]

    def stop(self, number: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Send ``number``, wait (bounded); returns the exit code and the rest of stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(number)
        out, err = self.process.communicate(timeout=60)
        # The endpoint's log (stderr) never holds a secret, whatever the exit code.
        reason = secret_scan.failure("the endpoint's log (stderr)", [err.decode(errors="replace")], self.env)
        if reason:
            pytest.fail(reason, pytrace=False)
        return self.process.returncode, out.decode(), err.decode()

    def __enter__(self) -> Serving:
        return self

    def __exit__(self, *_: object) -> None:
        kill_if_running(self.process)


def kill_if_running(process: subprocess.Popen[Any]) -> None:
    """A test's cleanup: kill ``process`` if it still runs, and reap it (wait, not
    communicate, which would flush a stdin the test may have closed)."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=60)


def expire_after(seconds: float, role_arn: str) -> Rewrite:
    """A local STS that issues sessions of ``role_arn`` expiring ``seconds`` after issue."""

    def rewrite(params: dict[str, str], body: bytes) -> bytes:
        if params.get("Action") != "AssumeRole" or params.get("RoleArn") != role_arn:
            return body
        moment = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return re.sub(rb"<Expiration>[^<]*</Expiration>", f"<Expiration>{moment}</Expiration>".encode(), body)

    return rewrite


def expire_get_session_token_after(seconds: float) -> Rewrite:
    """A local STS whose MFA sessions (GetSessionToken) expire ``seconds`` after issue."""

    def rewrite(params: dict[str, str], body: bytes) -> bytes:
        if params.get("Action") != "GetSessionToken":
            return body
        moment = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return re.sub(rb"<Expiration>[^<]*</Expiration>", f"<Expiration>{moment}</Expiration>".encode(), body)

    return rewrite


class SlowClients:
    """``count`` connections to the endpoint, as another local user could hold
    them: each sends a byte now and then and never finishes a request; one the
    server closes is opened again. Bounded: stops when told or after ``rounds``."""

    def __init__(self, url: str, count: int, *, interval: float = 0.2, rounds: int = 1500) -> None:
        parts = urlsplit(url)
        self._address = (parts.hostname or "", parts.port or 80)
        self._sockets: list[socket.socket | None] = [self._connect() for _ in range(count)]
        self._interval = interval
        self._rounds = rounds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(self._address, timeout=5)
        except OSError:
            return None  # the backlog is full: try again next round

    def _trickle(self) -> None:
        for _ in range(self._rounds):
            if self._done.wait(self._interval):
                return
            for index, connection in enumerate(self._sockets):
                try:
                    if connection is None:
                        raise OSError("not connected")
                    connection.send(b"X")
                except OSError:
                    if connection is not None:
                        connection.close()
                    self._sockets[index] = self._connect()

    def __enter__(self) -> SlowClients:
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=60)
        for connection in self._sockets:
            if connection is not None:
                connection.close()


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far, all its threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # utime and stime: the 14th and 15th fields, counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
