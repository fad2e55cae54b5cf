"""A loopback TCP relay a test can cut and restore.

Corral's processes reach PostgreSQL, Redis or Ollama through it; `down()` closes every relayed
connection and refuses new ones (what a restarting server or a lost network looks like to a
client), `up()` listens again on the same port. The real server keeps running for everyone else.
"""

import contextlib
import socket
import threading
import time

from tests.support.processes import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, latency: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.latency = latency
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def __enter__(self) -> "TcpProxy":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and reset the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
            for source, sink, delay in ((client, server, 0.0), (server, client, self.latency)):
                threading.Thread(target=self._pump, args=(source, sink, delay), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, delay: float = 0.0) -> None:
        try:
            while data := source.recv(65536):
                if delay:
                    time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((source, sink))
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
