"""The Ollama double's models: what it knows of each, and their management as docs/api.md
describes it: pull and create and push with
their progress streams (or one `{"status": "success"}` with `stream: false`), copy, delete, blobs."""

import hashlib
from dataclasses import dataclass, field


@dataclass
class Failure:
    status: int
    error: str
    times: int = 1


@dataclass
class DoubleModel:
    name: str
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    size: int = 2_019_393_189
    capabilities: list[str] = field(default_factory=lambda: ["completion", "tools"])

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


def full_name(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class ModelManagement:
    """Mixed into the double's request handler (it brings _send_json, _error and the stream)."""

    def _progress(self, body: dict, steps: list[dict]) -> None:
        if body.get("stream", True) is False:
            self._send_json(200, {"status": "success"})
            return
        self._start_stream()
        for step in [*steps, {"status": "success"}]:
            self._write_line(step)
        self._end_stream()

    def _pull(self, body: dict) -> None:
        name = body.get("model") or body.get("name")
        if not name:
            self._error(400, "model is required")
            return
        failure = self.double._take_failure()
        if failure is not None:
            self._error(failure.status, failure.error)
            return
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        total = 2_019_393_189
        self.double.add_model(full_name(name))
        self._progress(
            body,
            [
                {"status": "pulling manifest"},
                {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total},
                {
                    "status": f"pulling {digest[7:19]}",
                    "digest": digest,
                    "total": total,
                    "completed": total,
                },
                {"status": "verifying sha256 digest"},
                {"status": "writing manifest"},
            ],
        )

    def _create(self, body: dict) -> None:
        name = body.get("model") or body.get("name")
        if not name:
            self._error(400, "model is required")
            return
        self.double.add_model(full_name(name))
        self._progress(body, [{"status": "reading model metadata"}, {"status": "writing manifest"}])

    def _push(self, body: dict) -> None:
        name = body.get("model") or body.get("name")
        if full_name(name or "") not in self.double.models:
            self._error(404, f"model '{name}' not found")
            return
        self._progress(body, [{"status": "retrieving manifest"}, {"status": "pushing manifest"}])

    def _copy(self, body: dict) -> None:
        source, destination = body.get("source") or "", body.get("destination") or ""
        if full_name(source) not in self.double.models or not destination:
            self._error(404, f"model '{source}' not found")
            return
        self.double.add_model(full_name(destination))
        self._empty(200)

    def _delete(self, body: dict) -> None:
        name = full_name(body.get("model") or body.get("name") or "")
        if self.double.models.pop(name, None) is None:
            self._error(404, f"model '{body.get('model')}' not found")
            return
        self._empty(200)

    def _blob(self, digest: str, *, create: bool, data: bytes = b"") -> None:
        if create:
            if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                self._error(400, "digest mismatch")
                return
            self.double.blobs.add(digest)
            self._empty(201)
            return
        self._empty(200 if digest in self.double.blobs else 404)

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
