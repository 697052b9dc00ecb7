"""A real local STS for tests: moto's own server (``moto.server.ThreadedMotoServer``,
its public API) on 127.0.0.1, behind a small front server of ours on another
loopback port that records every request and can inject faults. Clients talk
to the front (``LocalSts.url``); moto serves STS, Organizations and SSM alike."""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import secret_scan
from moto.server import ThreadedMotoServer

# A fault returns (status, body) to answer instead of moto, or None to pass.
Fault = Callable[[dict[str, str]], tuple[str, str] | None]
# A rewrite gets a request's parameters and moto's answer, and returns the answer to send.
Rewrite = Callable[[dict[str, str], bytes], bytes]

# Per-connection headers: never relayed (RFC 9110 7.6.1); Content-Length is set anew.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
UPSTREAM_TIMEOUT = 120  # seconds; a bound for hangs, as long as the tests' own waits


@dataclass
class Call:
    """One request as the server saw it."""

    action: str
    params: dict[str, str]
    access_key_id: str


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, action: str, role_arn: str | None = None) -> list[Call]:
        with self.lock:
            return [
                call
                for call in self.calls
                if call.action == action and (role_arn is None or call.params.get("RoleArn") == role_arn)
            ]

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.faults.clear()
            self.rewrites.clear()

    def record(self, call: Call) -> list[Fault]:
        """Add ``call``; the faults to consult for it."""
        with self.lock:
            self.calls.append(call)
            return list(self.faults)


def sts_error(code: str, message: str, status: str = "403 Forbidden", kind: str = "Sender") -> tuple[str, str]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return status, body


def parse_call(query: str, body: bytes, authorization: str, target: str) -> Call:
    """The action, parameters and caller's access key id of one AWS request."""
    params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
    params = {**{k: v[0] for k, v in urllib.parse.parse_qs(query).items()}, **params}
    access_key = authorization.split("Credential=")[1].split("/")[0] if "Credential=" in authorization else ""
    # Query-protocol services (STS) name the action in the body; JSON ones (Organizations) in a header.
    if "Action" not in params and target:
        params["Action"] = target.rpartition(".")[2]
    return Call(params.get("Action", ""), params, access_key)


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # dozens of credproc processes connect at once (the default is 5)

    def __init__(self, upstream: tuple[str, int], recorder: Recorder) -> None:
        super().__init__(("127.0.0.1", 0), _Front)
        self.upstream = upstream
        self.recorder = recorder


class _Front(BaseHTTPRequestHandler):
    """Records the request, answers a fault if one matches, else relays it to moto."""

    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: _FrontServer

    def do_POST(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411, "send a Content-Length")  # no client of the tests streams a body
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = self.path.partition("?")[2]
        call = parse_call(query, body, self.headers.get("Authorization", ""), self.headers.get("X-Amz-Target", ""))
        for fault in self.server.recorder.record(call):
            answer = fault(call.params)
            if answer is not None:
                status, text = answer
                code, _, reason = status.partition(" ")
                self._answer(int(code), reason, [("Content-Type", "text/xml")], text.encode())
                return
        self._relay(body, call)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def _relay(self, body: bytes, call: Call) -> None:
        host, port = self.server.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():  # Host included: moto may route by it
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            response = upstream.getresponse()
            data = response.read()
            secret_scan.note_answer(data)  # what moto issued, before any rewrite cuts it
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        finally:
            upstream.close()
        with self.server.recorder.lock:
            rewrites = list(self.server.recorder.rewrites)
        for rewrite in rewrites:
            data = rewrite(call.params, data)
        self._answer(response.status, response.reason, headers, data)

    def _answer(self, code: int, reason: str, headers: list[tuple[str, str]], data: bytes) -> None:
        secret_scan.note_answer(data)  # a fault's or a rewrite's own secrets
        self.send_response_only(code, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request on stderr would drown the test output


class LocalSts:
    """moto's server and the recording front, each on an ephemeral loopback port."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        # werkzeug logs every request moto serves; the recorder holds them already.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._front: _FrontServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> LocalSts:
        self._moto.start()
        self._front = _FrontServer(self._moto.get_host_and_port(), self.recorder)
        self.url = f"http://127.0.0.1:{self._front.server_port}"
        self._thread = threading.Thread(target=self._front.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._front is not None and self._thread is not None:
            self._front.shutdown()
            self._thread.join()
            self._front.server_close()
        self._moto.stop()
