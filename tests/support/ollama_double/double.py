"""The double itself: its models, the knobs a test turns, and the server it runs."""

import ssl
import threading

from tests.support.loopback import LoopbackServer
from tests.support.ollama_double.handler import Handler
from tests.support.ollama_double.models import DoubleModel, Failure


class OllamaDouble:
    """Start with `.start()`; `.url` is its base URL. Every knob can be changed between calls."""

    def __init__(
        self, models: list[str] | None = None, port: int = 0, tls: tuple[str, str] | None = None
    ) -> None:
        """`tls`: (certificate file, key file) to serve HTTPS, as Ollama behind a TLS proxy."""
        self._initial_models = list(models or ["llama3.2:latest"])
        self.reset()
        self._server = LoopbackServer(("127.0.0.1", port), Handler)
        self._server.double = self
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        if getattr(self, "release", None) is not None:
            self.release.set()  # free any handler still held by the previous test
        # the models it serves (pulls, copies and deletes of a test change them until the next)
        self.models = {name: DoubleModel(name) for name in self._initial_models}
        self.reply: str | None = None  # None: answer "You said: <last user message>"
        # with tools sent, answer with this tool call instead of text (a tool's result: with text)
        self.tool_call: dict | None = None
        self.thinking = "Let me think about that."  # what is thought first when `think` is set
        self.first_token_delay = 0.0
        self.chunk_delay = 0.0
        self.failures: list[Failure] = []
        self.cut_after: int | None = None  # close the connection after N content chunks
        self.error_after: int | None = None  # send an {"error"} line after N content chunks
        self.malformed_after: int | None = None  # send a line that is not JSON after N chunks
        self.omit_counters = False
        self.hold_after: int | None = None  # after N content chunks, wait for `release`
        self.release = threading.Event()
        self.requests: list[dict] = []
        self.disconnects = 0
        self.completed_streams = 0
        self.connections = 0  # TCP connections accepted: keep-alive reuse shows here
        self.idle_timeout: float | None = None  # close a connection idle this long (seconds)
        self.closed_connections = 0
        self.loaded_calls: list[str] = []  # "load" / "unload", for calls without messages
        self.blobs: set[str] = set()

    # --- lifecycle ---
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def start(self) -> "OllamaDouble":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_model(self, name: str, capabilities: list[str] | None = None) -> None:
        model = self.models.setdefault(name, DoubleModel(name))
        if capabilities is not None:
            model.capabilities = capabilities

    # --- knobs ---
    def fail_next(self, status: int, error: str, times: int = 1) -> None:
        self.failures.append(Failure(status, error, times))

    def _take_failure(self) -> Failure | None:
        if not self.failures:
            return None
        failure = self.failures[0]
        failure.times -= 1
        if failure.times <= 0:
            self.failures.pop(0)
        return failure
