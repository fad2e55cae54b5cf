"""The pooled connections to Ollama: an idle one whose server hung up is never reused, and telling
so costs no turn of an event loop (gateway.upstream, common.sockets)."""

import httpcore._backends.sync
import pytest

from gateway.backends.circuit import backend_state_clear
from gateway.models import Backend
from gateway.services import route_create
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.support.ollama_double import OllamaDouble
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream(db):
    """An Ollama of its own (so this process's pool holds no connection to it yet), behind the
    route."""
    double = OllamaDouble(models=[UPSTREAM_MODEL]).start()
    backend = Backend.objects.create(name="own", base_url=double.url)
    backend_state_clear(backend_id=backend.pk)
    route_create(name=MODEL, backend=backend, upstream_model=UPSTREAM_MODEL)
    yield double
    backend_state_clear(backend_id=backend.pk)
    double.stop()


def chat(api):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    return api.post("/api/v1/chat", body, format="json")


def test_a_connection_the_server_closed_while_idle_is_not_reused(api, upstream):
    upstream.idle_timeout = 0.2
    assert chat(api).status_code == 200
    assert upstream.connections == 1
    # the double hangs up the idle keep-alive connection, as a restart or an idle timeout would
    assert wait_for(lambda: upstream.closed_connections == 1, timeout=5)
    response = chat(api)
    assert response.status_code == 200, response.json()
    assert upstream.connections == 2


def test_an_idle_connection_is_checked_without_polling(api, upstream, monkeypatch):
    assert chat(api).status_code == 200

    def poll(sock):
        raise AssertionError("polled: under gevent, a turn of the event loop per idle connection")

    # httpcore's own check, which its stock network stream makes with select.poll
    monkeypatch.setattr(httpcore._backends.sync, "is_socket_readable", poll)
    for _ in range(3):
        assert chat(api).status_code == 200
    assert upstream.connections == 1  # the one connection, checked before each reuse
