"""The sender's ``GET /healthz`` for Cloud Run's probes: 200 while its loop keeps stepping,
503 once it has not stepped for :data:`STALE_S` seconds (a stuck loop should be restarted)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from variance.slack.sender import Sender

STALE_S = 120.0


def serve_health(sender: Sender, host: str, port: int) -> ThreadingHTTPServer:
    """Start answering on ``host:port`` in a daemon thread; ``shutdown()`` the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/healthz":
                self._answer(404, {"error": "not found"})
                return
            last = sender.last_step_at
            age = None if last is None else sender.clock() - last
            healthy = age is not None and age < STALE_S
            self._answer(200 if healthy else 503, {"ok": healthy, "last_step_s_ago": age})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # probes every few seconds would drown the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server
