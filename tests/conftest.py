import random

import opentelemetry.exporter.otlp.common.http as otlp_http
import psycopg_pool.base as psycopg_pool_base
import pytest
from django.contrib.auth import get_user_model
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from rest_framework.test import APIClient

from accounts.services import membership_ensure, team_get_or_create, token_issue, user_create
from common.redis import get_redis
from gateway import tracing
from gateway.backends.circuit import backend_state_clear
from gateway.models import Backend
from gateway.services import route_create
from tests.support.ollama_double import OllamaDouble
from tests.support.otlp_receiver import OtlpReceiver

MODEL = "llama3.2"
UPSTREAM_MODEL = "llama3.2:latest"


@pytest.fixture(scope="session", autouse=True)
def _tracing():
    """The test process's providers, as a worker process starts them.

    Hypothesis (tests/test_fuzz_doors.py) warns when the global `random` moves while a strategy
    draws. Two libraries move it from threads of their own: the OTLP exporter draws its retry
    jitter before every export (the span processor's thread), psycopg_pool a connection's
    lifetime jitter as it opens one. Each gets a generator of its own here."""
    otlp_http.random = random.Random()
    psycopg_pool_base.random = random.Random().random
    tracing.start()


@pytest.fixture(scope="session")
def otlp_receiver():
    """The collector every test's spans are exported to, over real OTLP/HTTP protobuf."""
    receiver = OtlpReceiver().start()
    processor = BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"), schedule_delay_millis=50
    )
    trace.get_tracer_provider().add_span_processor(processor)
    yield receiver
    processor.shutdown()
    receiver.stop()


@pytest.fixture
def spans(otlp_receiver):
    """The receiver, after every finished span of this test has been exported to it."""

    class Flushed:
        def span_for_audit(self, audit_id: str):
            trace.get_tracer_provider().force_flush()
            return otlp_receiver.span_for_audit(audit_id)

        def find(self, predicate, timeout: float = 10.0):
            trace.get_tracer_provider().force_flush()
            return otlp_receiver.find(predicate, timeout)

    return Flushed()


@pytest.fixture(scope="session")
def _ollama_server():
    double = OllamaDouble(models=[UPSTREAM_MODEL, "qwen3:0.6b"]).start()
    yield double
    double.stop()


@pytest.fixture
def ollama(_ollama_server):
    _ollama_server.reset()
    yield _ollama_server
    _ollama_server.reset()


@pytest.fixture
def backend(db, ollama):
    """The `default` backend (created by the first migration), pointed at the Ollama double.

    A transactional test empties the tables afterwards, so it may have to be created again."""
    default, _ = Backend.objects.update_or_create(
        name="default", defaults={"base_url": ollama.url, "follows_ollama_host": False}
    )
    # Its circuit and failure count live in Redis, across tests: each test starts with a clean one.
    backend_state_clear(backend_id=default.pk)
    yield default
    backend_state_clear(backend_id=default.pk)


@pytest.fixture
def route(backend):
    return route_create(name=MODEL, backend=backend, upstream_model=UPSTREAM_MODEL)


@pytest.fixture
def user(db):
    return user_create(username="alice")


@pytest.fixture
def team(db, user):
    team = team_get_or_create(slug="research", name="Research")
    membership_ensure(team=team, user=user)
    return team


@pytest.fixture
def token(user, team):
    _, secret = token_issue(user=user, name="test", team=team)
    return secret


@pytest.fixture
def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture(scope="session")
def _oidc_provider():
    # Flask and Authlib are loaded only by a run that has single sign-on tests in it
    from tests.support.oidc_provider import Provider

    provider = Provider().start()
    yield provider
    provider.stop()


@pytest.fixture
def oidc_provider(_oidc_provider):
    """The OpenID provider on loopback, with no people and behaving well."""
    _oidc_provider.reset()
    return _oidc_provider


@pytest.fixture
def redis_client():
    client = get_redis()
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def admin_client(client, db):
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(superuser)
    return client


@pytest.fixture
def eager_celery():
    """Tasks run in the test's own process as they are sent (set on the Celery app itself: its
    configuration is read from Django's settings once, whichever test reads it first)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


# Suites that start Corral's own processes (gunicorn, Celery), a browser, a fuzzer against a live
# server, or the heavy client libraries: left out of the quick run, bin/test -m "not slow".
SLOW_SUITES = (
    "tests/clients/",
    "tests/faults/",
    "tests/web_ui/",
    "tests/test_attacks_e2e.py",
    "tests/test_benches.py",
    "tests/test_burst.py",
    "tests/test_completions.py",
    "tests/test_governance_e2e.py",
    "tests/test_otlp_e2e.py",
    "tests/test_schema_fuzz.py",
    "tests/test_server_e2e.py",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(SLOW_SUITES):
            item.add_marker(pytest.mark.slow)
