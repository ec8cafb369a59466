"""The HTTP plumbing: a threading server that reads requests and writes replies.

What to answer is decided elsewhere (a ``Respond`` function: the simulator);
this module only moves bytes, and drops the connection when told to.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from daemon.simulator.replies import Reply

log = logging.getLogger(__name__)

#: (method, target, lower-case headers, body) -> the reply, or None to drop the connection.
Respond = Callable[[str, str, dict[str, str], bytes], "Reply | None"]


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must not keep the process alive
    request_queue_size = 128  # bursts from a thread pool must not hit SYN retries (1 s)
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        respond: Respond,
        stopping: threading.Event,
        log_level: int,
    ) -> None:
        self.respond = respond
        self.stopping = stopping  # set on stop: wakes trickling answers
        self.log_level = log_level
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer
    server_version = "DukkangoSimulator/1.0"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.respond(self.command, self.path, headers, raw)
        if reply is None:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status, reply.reason)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if reply.trickle_seconds is None:
                self.wfile.write(reply.body)
            else:
                self._trickle(reply.body, reply.trickle_seconds)
        except OSError:  # the client gave up (timeout) before the answer
            self.close_connection = True

    def _trickle(self, body: bytes, seconds: float) -> None:
        for index in range(len(body)):
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()
            if self.server.stopping.wait(seconds):
                return

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds no credentials; headers are never logged.
        log.log(self.server.log_level, "simulator: " + format, *args)
