"""Local HTTP receivers for notification tests: what an Apprise json:// target or a webhook sees.

A real server on 127.0.0.1 that records every request (path, headers,
body). It can answer with an error, or hold requests until released (a
channel that hangs), so tests watch what a user would: what arrived, when.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """An Apprise ``form://`` body (application/x-www-form-urlencoded), one value a field."""
        assert self.headers.get("content-type") == "application/x-www-form-urlencoded"
        return {k: v[0] for k, v in parse_qs(self.body.decode(), strict_parsing=True).items()}


class Receiver:
    def __init__(self, *, status: int = 200) -> None:
        self.status = status
        self.received: list[Received] = []
        self.release = threading.Event()
        self.release.set()  # set: answer at once; cleared: hold every request
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with owner._lock:
                    owner.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                owner.release.wait(30)
                self.send_response(owner.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll: stopping the receiver is the slowest part of a quick test otherwise.
        self._thread = threading.Thread(
            target=partial(self._server.serve_forever, poll_interval=0.05), daemon=True
        )

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def hold(self) -> None:
        self.release.clear()

    @property
    def json_url(self) -> str:
        """An Apprise json:// target that posts here."""
        return f"json://127.0.0.1:{self.port}/hook"

    @property
    def form_url(self) -> str:
        """An Apprise form:// target that posts here."""
        return f"form://127.0.0.1:{self.port}/hook"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def messages(self) -> list[str]:
        """The Apprise json:// bodies' message texts."""
        return [str(r.json().get("message", "")) for r in self.requests()]
