"""A callback receiver on loopback: records each POST and answers with the statuses it is given."""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer


@dataclass
class ReceivedCallback:
    headers: dict
    body: bytes


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[ReceivedCallback] = []
        self.statuses: list[int] = []  # answered in order; 200 once they run out
        self._server = LoopbackServer(("127.0.0.1", 0), _Handler)
        self._server.receiver = self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/corral"

    def start(self) -> "WebhookReceiver":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        receiver: WebhookReceiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver.received.append(
            ReceivedCallback({k.lower(): v for k, v in self.headers.items()}, body)
        )
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
