"""The local credential endpoint: what the AWS SDKs' container credential
provider reads (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and
``AWS_CONTAINER_AUTHORIZATION_TOKEN``), served on 127.0.0.1 from memory.

A request never waits for STS: it is answered from :class:`refresher.Current`
(the JS SDK v3 gives up after one second). Before any credential is handed
out a request must name this endpoint in its ``Host`` header (a web page
reaching it by DNS rebinding names its own host), use GET, and carry the
endpoint's random token, compared in constant time. The checks are a pure
function (:func:`check_request`); the server only feeds it the request.

Any local user can connect, so connections are bounded: at most
:data:`MAX_CONNECTIONS` are served at once (more wait in the listen backlog),
each gets :data:`REQUEST_DEADLINE` seconds in all to send its request and take
the answer, and a failing ``accept`` (no file descriptor left) is retried with
back-off instead of at once.
"""

from __future__ import annotations

import hmac
import io
import json
import secrets
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from . import atomic
from .aws_credentials import format_time
from .errors import UsageError
from .log import Log
from .output import PROFILE_VARIABLES, STALE_VARIABLES
from .refresher import Current, Failure, Session

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

HOST = "127.0.0.1"
PATH = "/credentials"
TOKEN_BYTES = 32  # 256 bits

FULL_URI_VARIABLE = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
RELATIVE_URI_VARIABLE = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
TOKEN_VARIABLE = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  # noqa: S105 - a variable name
TOKEN_FILE_VARIABLE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"  # noqa: S105 - a variable name
# Connections served at once; one thread each.
MAX_CONNECTIONS = 256
# Descriptors kept for everything else: the refresher's STS connections, cache
# files and locks, exec's command and its pipes.
RESERVED_FILES = 64
# Seconds a connection has for its whole request and answer (SDKs send a request
# in one write; the JS SDK gives up after 1 s).
REQUEST_DEADLINE = 5.0
# Waits before retrying a failed accept: doubling from the first to the last.
ACCEPT_RETRY_FIRST = 0.01
ACCEPT_RETRY_MAX = 0.5

# Every SDK's default chain prefers these to the endpoint: a command meant to
# use it must not have them.
STATIC_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION")


def new_token() -> str:
    """A random 256-bit token, URL-safe base64 (no CR/LF, which SDKs refuse)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


class Refusal(NamedTuple):
    """A request that gets no credentials: its status and the JSON error it is told."""

    status: int
    code: str
    message: str


def host_allowed(host: str | None, port: int) -> bool:
    """``Host`` names this endpoint: the loopback address or localhost, with its port."""
    if not host:
        return False
    names = {f"{HOST}:{port}", f"localhost:{port}"}
    if port == 80:
        names |= {HOST, "localhost"}
    return host.lower() in names


def check_request(
    method: str, host: str | None, authorization: str | None, path: str, *, port: int, token: str
) -> Refusal | None:
    """Why the request gets no credentials, or None when it may have them."""
    if not host_allowed(host, port):
        return Refusal(403, "ForbiddenHost", f"the Host header must be {HOST}:{port} or localhost:{port}")
    if method != "GET":
        return Refusal(405, "MethodNotAllowed", "only GET is served")
    if authorization is None:
        return Refusal(401, "MissingToken", f"no Authorization header: set {TOKEN_VARIABLE} as credproc printed it")
    if not hmac.compare_digest(authorization.encode("latin-1", "replace"), token.encode("ascii")):
        return Refusal(403, "WrongToken", f"the Authorization header is not this endpoint's token ({TOKEN_VARIABLE})")
    if urlsplit(path).path != PATH:
        return Refusal(404, "NotFound", f"credentials are served at {PATH}")
    return None


def credentials_document(session: Session) -> dict[str, str]:
    """The container provider's JSON: what botocore, the JS, Go and Java SDKs read."""
    credentials = session.credentials
    document = {
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "Token": credentials.session_token or "",
    }
    if credentials.expiration is not None:
        document["Expiration"] = format_time(credentials.expiration)
    document["AccountId"] = session.account_id
    return document


def error_document(code: str, message: str) -> dict[str, str]:
    # Capitalised like the JS SDK reads them; Go's decoder matches keys without
    # regard to case; botocore shows the whole body.
    return {"Code": code, "Message": message}


def command_variables(
    url: str, token: str, token_file: Path | None, region: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The variables to set, and those to remove, for a command that uses the endpoint."""
    values = {FULL_URI_VARIABLE: url}
    remove = [RELATIVE_URI_VARIABLE, *STATIC_VARIABLES, *PROFILE_VARIABLES, *STALE_VARIABLES]
    if token_file is None:
        values[TOKEN_VARIABLE] = token
        remove.append(TOKEN_FILE_VARIABLE)
    else:
        # Only one of the two: botocore and the JS SDK would each prefer the file.
        values[TOKEN_FILE_VARIABLE] = str(token_file)
        remove.append(TOKEN_VARIABLE)
    values["AWS_REGION"] = region
    values["AWS_DEFAULT_REGION"] = region
    return values, tuple(remove)


def write_token_file(path: Path, token: str) -> None:
    """The token in a 0600 file, written atomically, without a newline (botocore
    reads the file as the header value and refuses CR/LF in it)."""
    directory = path.parent
    if not directory.is_dir():
        raise UsageError(f"--token-file: {directory} is not a directory", "give a path in an existing directory")
    if path.is_dir():
        raise UsageError(f"--token-file: {path} is a directory", "give the path of a file")
    atomic.write_atomic(path, token.encode("ascii"))


def soft_file_limit(soft: int, hard: int, infinity: int) -> int:
    """The soft limit on open files to set: enough for the connections and the
    reserve where the hard limit allows it, never lower than now. Not the whole
    hard limit: exec's command inherits it, and some programs misbehave with a
    huge one (those that close every descriptor up to it, or use select)."""
    wanted = MAX_CONNECTIONS + RESERVED_FILES
    if soft == infinity or soft >= wanted:
        return soft
    return wanted if hard == infinity else max(soft, min(hard, wanted))


def connection_cap(file_limit: int) -> int:
    """Connections served at once under ``file_limit`` open files: leave the
    reserve (half of a small limit) for the rest of credproc."""
    return max(1, min(MAX_CONNECTIONS, max(file_limit - RESERVED_FILES, file_limit // 2)))


def accept_retry_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` accepts in a row failed."""
    return min(ACCEPT_RETRY_FIRST * 2.0 ** (failures - 1), ACCEPT_RETRY_MAX)


def raise_file_limit() -> int:
    """Raise the soft limit on open files as :func:`soft_file_limit` says; the
    number of files credproc may now have open (POSIX; elsewhere as many as it wants)."""
    wanted = MAX_CONNECTIONS + RESERVED_FILES
    try:
        import resource
    except ImportError:
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = soft_file_limit(soft, hard, resource.RLIM_INFINITY)
    if new != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (OSError, ValueError):  # macOS caps it below a hard limit of "unlimited"
            new = soft
    return wanted if new == resource.RLIM_INFINITY else new


class CredentialServer:
    """The HTTP server on 127.0.0.1 (a random port unless one is given)."""

    def __init__(
        self,
        current: Current,
        *,
        token: str,
        port: int = 0,
        clock: Callable[[], datetime],
        log: Log,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self.current = current
        self._token = token
        self._clock = clock
        self._log = log
        self._on_failure = on_failure
        cap = connection_cap(raise_file_limit())
        try:
            self._server = _Server((HOST, port), cap, log)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {HOST}:{port}: {exc.strerror or exc}",
                "choose another --port, or leave it out for a random free one",
            ) from None
        self._server.endpoint = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="credproc-endpoint", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{PATH}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def respond(
        self, method: str, host: str | None, authorization: str | None, path: str
    ) -> tuple[int, dict[str, str]]:
        """The status and JSON document for one request (never raises)."""
        refusal = check_request(method, host, authorization, path, port=self.port, token=self._token)
        if refusal is not None:
            self._log.step(f"endpoint: refused a {method} request: {refusal.status} {refusal.code}")
            return refusal.status, error_document(refusal.code, refusal.message)
        answer = self.current.answer(self._clock())
        if isinstance(answer, Failure):
            self._on_failure()
            self._log.step(f"endpoint: no credentials to hand out: {answer.status} {answer.code}")
            return answer.status, error_document(answer.code, answer.message)
        return 200, credentials_document(answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # 30 clients connecting at once must not overflow the listen backlog
    # (socketserver's default is 5; an overflow costs a client a 1 s SYN retry).
    request_queue_size = 128
    endpoint: CredentialServer

    def __init__(self, address: tuple[str, int], cap: int, log: Log) -> None:
        self._slots = threading.BoundedSemaphore(cap)
        self._stopping = threading.Event()
        self._failures = 0
        self._log = log
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a DNS query that can
        # take seconds; the name is never used.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        # A slot before accept: past the cap, connections wait in the listen
        # backlog, not in a thread. The wait is bounded so shutdown() is seen;
        # an OSError is how serve_forever is told there is nothing to handle.
        if not self._slots.acquire(timeout=ACCEPT_RETRY_MAX):
            raise OSError("every connection slot is taken")
        try:
            accepted = super().get_request()
        except OSError as exc:
            self._slots.release()
            self._failures += 1
            if self._failures == 1:
                self._log.step(f"endpoint: cannot accept connections ({exc.strerror or exc}): retrying")
            # serve_forever would retry at once, a busy loop while no descriptor is free.
            self._stopping.wait(accept_retry_delay(self._failures))
            raise
        self._failures = 0
        return accepted

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        """Close a connection and free its slot (called once for every accepted one)."""
        try:
            super().shutdown_request(request)
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints a traceback for a client that went away; one
        # --verbose line is enough.
        self._log.step(f"endpoint: a connection ended with {type(sys.exc_info()[1]).__name__}")


class _DeadlineSocket(io.RawIOBase):
    """A connection whose reads and writes share one deadline (a plain socket
    timeout starts again with every byte, so a trickling client never meets it)."""

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        super().__init__()
        self._connection = connection
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def _allow_what_is_left(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's deadline passed")
        self._connection.settimeout(left)

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._allow_what_is_left()
        return self._connection.recv_into(buffer)

    def write(self, data: ReadableBuffer) -> int:
        self._allow_what_is_left()
        self._connection.sendall(data)
        return memoryview(data).nbytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "credproc"
    sys_version = ""

    def setup(self) -> None:
        # One request per connection (HTTP/1.0), so the connection's deadline is the request's.
        self.connection = self.request
        raw = _DeadlineSocket(self.connection, time.monotonic() + REQUEST_DEADLINE)
        self.rfile = io.BufferedReader(raw)
        self.wfile = io.BufferedWriter(raw)  # flushed after the answer (finish)

    def _answer(self) -> None:
        status, document = self.server.endpoint.respond(
            self.command, self.headers.get("Host"), self.headers.get("Authorization"), self.path
        )
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == 405:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines go nowhere (a path could hold anything)."""
