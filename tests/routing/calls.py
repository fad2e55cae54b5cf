"""What the routing tests do and look at: a native chat call, the calls each double served."""

import socket
from collections import Counter

from tests.conftest import MODEL

NAMES = ("gpu-a", "gpu-b", "gpu-c")


def served(gpus) -> Counter:
    return Counter({name: len(server.requests) for name, server in gpus.items()})


def chat(api, **body):
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], **body}
    return api.post("/api/v1/chat", payload, format="json")


def dead_url() -> str:
    """A loopback port nobody listens on: the kernel refuses the connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def stream_text(response) -> str:
    return b"".join(response.streaming_content).decode()
