"""The double's HTTP handler: Ollama's endpoints, NDJSON streams and error bodies."""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from tests.support.ollama_double.answers import tokens
from tests.support.ollama_double.generation import ClientGone, Generation
from tests.support.ollama_double.models import DoubleModel, ModelManagement

if TYPE_CHECKING:
    from tests.support.ollama_double.double import OllamaDouble

VERSION = "0.12.6"


def _vector(text: str, dimensions: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    return [round((seed[i % 32] - 128) / 128, 6) for i in range(dimensions)]


class Handler(ModelManagement, Generation, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Go's net/http (Ollama, the collector) sets TCP_NODELAY; without it a small response waits
    # out the peer's delayed ACK (~40 ms) between headers and body.
    disable_nagle_algorithm = True
    # Ollama's own server sends no Server header; the double names itself, so that `bin/run` can
    # say it is talking to a stand-in, not a model.
    server_version = "ollama-double"

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format, *args):  # keep test output quiet
        pass

    @property
    def double(self) -> OllamaDouble:
        return self.server.double

    def setup(self):
        super().setup()
        self.server.double.connections += 1
        if self.double.idle_timeout is not None:
            # a keep-alive connection with no next request in time is closed (handle_one_request
            # ends the connection when reading the request line times out), as a server or a
            # proxy with an idle timeout does
            self.connection.settimeout(self.double.idle_timeout)

    def finish(self):
        super().finish()
        self.server.double.closed_connections += 1

    # --- plumbing ---
    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _read_json(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._error(400, f"invalid character in request body: {exc.msg}")
            return None
        if not isinstance(body, dict):
            self._error(400, "json: cannot unmarshal into Go value of type api.ChatRequest")
            return None
        self.double.requests.append({"path": self.path, "body": body})
        return body

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ClientGone from exc

    def _write_line(self, obj: dict) -> None:
        self._write_chunk(json.dumps(obj).encode() + b"\n")

    def _end_stream(self) -> None:
        self._write_chunk(b"")

    def _model_or_error(self, body: dict) -> DoubleModel | None:
        name = body.get("model")
        if not name:
            self._error(400, "model is required")
            return None
        model = self.double.models.get(name) or self.double.models.get(f"{name}:latest")
        if model is None:
            self._error(404, f"model '{name}' not found")
            return None
        failure = self.double._take_failure()
        if failure is not None:
            self._error(failure.status, failure.error)
            return None
        return model

    # --- routes ---
    def do_GET(self):
        if self.path == "/api/version":
            self._send_json(200, {"version": VERSION})
        elif self.path == "/api/tags":
            self._send_json(200, {"models": [self._tag(m) for m in self.double.models.values()]})
        elif self.path == "/api/ps":
            self._send_json(200, {"models": [self._ps(m) for m in self.double.models.values()]})
        elif self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._error(404, "404 page not found")

    def do_HEAD(self):
        if self.path.startswith("/api/blobs/"):
            self._blob(self.path.removeprefix("/api/blobs/"), create=False)
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_DELETE(self):
        body = self._read_json() if self.path == "/api/delete" else None
        if self.path != "/api/delete":
            self._error(404, "404 page not found")
        elif body is not None:
            self._delete(body)

    def do_POST(self):
        if self.path.startswith("/api/blobs/"):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            self._blob(self.path.removeprefix("/api/blobs/"), create=True, data=data)
            return
        routes = {
            "/api/chat": self._chat,
            "/api/generate": self._generate,
            "/api/show": self._show,
            "/api/embed": self._embed,
            "/api/embeddings": self._legacy_embeddings,
            "/api/pull": self._pull,
            "/api/create": self._create,
            "/api/push": self._push,
            "/api/copy": self._copy,
        }
        handler = routes.get(self.path)
        if handler is None:
            self._error(404, "404 page not found")
            return
        body = self._read_json()
        if body is not None:
            handler(body)

    def _tag(self, model: DoubleModel) -> dict:
        return {
            "name": model.name,
            "model": model.name,
            "modified_at": "2026-10-01T12:00:00.000000Z",
            "size": model.size,
            "digest": model.digest,
            "details": model.details(),
        }

    def _ps(self, model: DoubleModel) -> dict:
        return {
            **self._tag(model),
            "expires_at": "2026-12-31T23:59:59.000000Z",
            "size_vram": model.size,
        }

    def _show(self, body: dict) -> None:
        model = self._model_or_error(body)
        if model is None:
            return
        self._send_json(
            200,
            {
                "modelfile": f"FROM {model.name}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": model.details(),
                "model_info": {
                    "general.architecture": model.family,
                    f"{model.family}.context_length": 131072,
                },
                "capabilities": model.capabilities,
                "modified_at": "2026-10-01T12:00:00.000000Z",
            },
        )

    def _embed(self, body: dict) -> None:
        model = self._model_or_error(body)
        if model is None:
            return
        inputs = body.get("input", "")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        dimensions = body.get("dimensions") or 8
        embeddings = [_vector(text, dimensions) for text in inputs]
        self._send_json(
            200,
            {
                "model": model.name,
                "embeddings": embeddings,
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": sum(len(tokens(t)) for t in inputs),
            },
        )

    def _legacy_embeddings(self, body: dict) -> None:
        """`/api/embeddings`: one prompt, one `embedding` (an empty one for an empty prompt)."""
        model = self._model_or_error(body)
        if model is None:
            return
        prompt = body.get("prompt") or ""
        self._send_json(200, {"embedding": _vector(prompt, 8) if prompt else []})
