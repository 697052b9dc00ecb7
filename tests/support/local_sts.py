"""A real local STS for tests: moto's server app on 127.0.0.1 behind a WSGI
middleware that records every request and can inject faults."""

from __future__ import annotations

import io
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# A fault returns (status, body) to answer instead of moto, or None to pass.
Fault = Callable[[dict[str, str]], tuple[str, str] | None]
# A rewrite gets a request's parameters and moto's answer, and returns the answer to send.
Rewrite = Callable[[dict[str, str], bytes], bytes]


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


def sts_error(code: str, message: str, status: str = "403 Forbidden", kind: str = "Sender") -> tuple[str, str]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return status, body


class RecordingMiddleware:
    def __init__(self, app: WsgiApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        query = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        params = {**query, **params}
        auth = environ.get("HTTP_AUTHORIZATION", "")
        access_key = auth.split("Credential=")[1].split("/")[0] if "Credential=" in auth else ""
        # Query-protocol services (STS) name the action in the body; JSON ones (Organizations) in a header.
        if "Action" not in params and environ.get("HTTP_X_AMZ_TARGET"):
            params["Action"] = environ["HTTP_X_AMZ_TARGET"].rpartition(".")[2]
        call = Call(params.get("Action", ""), params, access_key)
        with self.recorder.lock:
            self.recorder.calls.append(call)
            faults = list(self.recorder.faults)
            rewrites = list(self.recorder.rewrites)
        for fault in faults:
            answer = fault(params)
            if answer is not None:
                status, text = answer
                start_response(status, [("Content-Type", "text/xml")])
                return [text.encode()]
        if rewrites:
            return self._rewritten(environ, start_response, params, rewrites)
        return self.app(environ, start_response)

    def _rewritten(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        params: dict[str, str],
        rewrites: list[Rewrite],
    ) -> Iterable[bytes]:
        answered: list[Any] = []
        body = b"".join(self.app(environ, lambda status, headers, *_: answered.append((status, headers))))
        for rewrite in rewrites:
            body = rewrite(params, body)
        status, headers = answered[0]
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


class LocalSts:
    """moto's server on an ephemeral loopback port, with a request recorder."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        app = RecordingMiddleware(DomainDispatcherApplication(create_backend_app), self.recorder)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LocalSts:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
