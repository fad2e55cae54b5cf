"""Health checks take a backend out of rotation and put it back; each of a backend's timeouts fires."""

import socket

import pytest

from audit.models import AuditRecord
from gateway.backends.health import backends_health_check
from gateway.models import Backend, BackendHealth, ModelRoute
from tests.conftest import UPSTREAM_MODEL
from tests.routing.calls import chat, dead_url, served, stream_text

pytestmark = pytest.mark.django_db


# --- health ----------------------------------------------------------------------------------


def test_health_check_takes_a_backend_out_and_puts_it_back(
    api, admin_client, pair_route, backends, gpus
):
    url_a = backends["gpu-a"].base_url
    Backend.objects.filter(name="gpu-a").update(base_url=dead_url())

    backends_health_check()
    health = BackendHealth.objects.get(backend__name="gpu-a")
    assert health.status == "unknown" and health.consecutive_failures == 1  # one blip is not down
    backends_health_check()
    health.refresh_from_db()
    assert health.status == "down" and "cannot connect" in health.error
    up = BackendHealth.objects.get(backend__name="gpu-b")
    assert up.status == "up" and up.models_present == [UPSTREAM_MODEL] and up.version
    assert up.models_loaded == [UPSTREAM_MODEL] and up.latency_ms is not None

    ready = admin_client.get("/readyz").json()
    assert ready["status"] == "degraded"
    assert ready["backends"]["gpu-a"]["in_rotation"] is False
    assert ready["backends"]["gpu-a"]["health"]["status"] == "down"
    assert ready["backends"]["gpu-b"]["in_rotation"] is True

    for _ in range(6):
        assert chat(api).status_code == 200
    records = AuditRecord.objects.all()
    assert all(r.upstream_attempts == [{"backend": "gpu-b", "outcome": "served"}] for r in records)

    Backend.objects.filter(name="gpu-a").update(base_url=url_a)  # back from maintenance
    backends_health_check()
    health.refresh_from_db()
    assert health.status == "up" and health.consecutive_failures == 0
    assert admin_client.get("/readyz").json()["status"] == "ok"
    for _ in range(30):
        assert chat(api).status_code == 200
    assert served(gpus)["gpu-a"] > 0


# --- timeouts --------------------------------------------------------------------------------


def test_connect_timeout_fires(api, pair_route, backends):
    # A listener with a full backlog: the kernel drops further SYNs, connecting hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        Backend.objects.filter(name__in=["gpu-a", "gpu-b"]).update(
            base_url=f"http://127.0.0.1:{port}", connect_timeout=0.3
        )
        response = chat(api)
    finally:
        for sock in [*fillers, listener]:
            sock.close()
    assert response.status_code == 504
    assert "timed out connecting to backend" in response.json()["error"]["message"]
    assert [a["error_code"] for a in AuditRecord.objects.get().upstream_attempts] == [
        "upstream_timeout",
        "upstream_timeout",
    ]


def test_first_token_timeout_fires_and_the_next_backend_answers(api, pair_route, gpus):
    ModelRoute.objects.update(first_token_timeout=0.3)  # the route's own, over the backends' 5 s
    ModelRoute.objects.get().targets.filter(backend__name="gpu-b").update(priority=1)
    gpus["gpu-a"].first_token_delay = 1.0
    response = chat(api)
    assert response.status_code == 200
    failed = AuditRecord.objects.get().upstream_attempts[0]
    assert failed["backend"] == "gpu-a" and failed["error_code"] == "upstream_timeout"
    assert "no first token from backend 'gpu-a' within 0.3 s" in failed["error"]


def test_idle_timeout_fires_between_chunks(api, pair_route, backends, gpus):
    Backend.objects.update(idle_timeout=0.3)
    ModelRoute.objects.get().targets.filter(backend__name="gpu-b").update(priority=1)
    gpus["gpu-a"].reply = "one two three"
    gpus["gpu-a"].chunk_delay = 1.0
    text = stream_text(chat(api, stream=True))
    assert text.startswith('data: {"delta":"one "}') and "event: error" in text
    assert "sent nothing for 0.3 s" in text
    assert gpus["gpu-b"].requests == []
    assert AuditRecord.objects.get().error_code == "upstream_timeout"


def test_total_timeout_fires(api, pair_route, gpus):
    ModelRoute.objects.update(total_timeout=0.5)
    for server in gpus.values():
        server.reply = " ".join(["word"] * 20)
        server.chunk_delay = 0.1
    response = chat(api)
    assert response.status_code == 504
    assert "did not finish within 0.5 s" in response.json()["error"]["message"]
