"""Several Ollama servers behind one route: weights, least in-flight, failover before the first
byte (never after), health checks with the circuit breaker, timeouts and route defaults.

Three Ollama doubles on loopback play gpu-a, gpu-b (same priority, weights 3:1) and gpu-c (the
fallback, priority 1)."""

import socket
from collections import Counter

import pytest

from audit.models import AuditRecord
from gateway.backends.circuit import backend_state_clear, backend_states, inflight_enter
from gateway.backends.health import backends_health_check
from gateway.models import Backend, BackendHealth, ModelRoute
from gateway.services import route_create, route_target_add
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.support.ollama_double import OllamaDouble

pytestmark = pytest.mark.django_db

NAMES = ("gpu-a", "gpu-b", "gpu-c")


@pytest.fixture(scope="module")
def _servers():
    servers = {name: OllamaDouble(models=[UPSTREAM_MODEL]).start() for name in NAMES}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def gpus(_servers, redis_client):
    for server in _servers.values():
        server.reset()
    yield _servers
    for server in _servers.values():
        server.reset()


@pytest.fixture
def backends(db, gpus, settings):
    settings.CORRAL_HEALTH_FAILURES = 2
    Backend.objects.filter(name="default").update(enabled=False)  # the migration's, unreachable
    created = {
        name: Backend.objects.create(name=name, base_url=gpus[name].url, first_token_timeout=5)
        for name in NAMES
    }
    for backend in created.values():
        backend_state_clear(backend_id=backend.pk)
    yield created
    for backend in created.values():
        backend_state_clear(backend_id=backend.pk)


@pytest.fixture
def spread_route(backends):
    """llama3.2 on gpu-a (weight 3) and gpu-b (weight 1); gpu-c only when both fail."""
    route = route_create(
        name=MODEL, backend=backends["gpu-a"], upstream_model=UPSTREAM_MODEL, weight=3
    )
    route_target_add(route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM_MODEL)
    route_target_add(
        route=route, backend=backends["gpu-c"], upstream_model=UPSTREAM_MODEL, priority=1
    )
    return route


@pytest.fixture
def pair_route(backends):
    """llama3.2 on gpu-a and gpu-b, equal weights, nothing else."""
    route = route_create(name=MODEL, backend=backends["gpu-a"], upstream_model=UPSTREAM_MODEL)
    route_target_add(route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM_MODEL)
    return route


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


# --- spreading the calls ---------------------------------------------------------------------


def test_weights_are_honoured_over_many_calls(api, spread_route, gpus):
    for _ in range(200):
        assert chat(api).status_code == 200
    counts = served(gpus)
    # 3:1 over 200 calls: 150 expected on gpu-a, sd ~6; the fallback priority gets nothing
    assert 120 <= counts["gpu-a"] <= 180, counts
    assert counts["gpu-a"] + counts["gpu-b"] == 200 and counts["gpu-c"] == 0, counts


def test_a_backend_with_more_calls_in_flight_gets_fewer(api, pair_route, backends, gpus):
    # equal weights, but ten calls in flight on gpu-a (as long streams of this process would hold
    # them): it only gets the calls for which both weighted draws named it, a quarter, not half
    for _ in range(10):
        inflight_enter(backend_id=backends["gpu-a"].pk)
    for _ in range(100):
        assert chat(api).status_code == 200
    counts = served(gpus)
    assert 8 <= counts["gpu-a"] <= 42 and counts["gpu-b"] >= 58, counts
    # our own calls left no in-flight entry behind
    assert backend_states([backends["gpu-b"].pk])[backends["gpu-b"].pk].inflight == 0
    assert backend_states([backends["gpu-a"].pk])[backends["gpu-a"].pk].inflight == 10


# --- failover --------------------------------------------------------------------------------


def test_a_backend_that_is_down_costs_the_caller_nothing(api, pair_route, backends, gpus, spans):
    # gpu-a first for every call (priority), so its failures add up to an open circuit
    ModelRoute.objects.get().targets.filter(backend__name="gpu-b").update(priority=1)
    Backend.objects.filter(name="gpu-a").update(base_url=dead_url())
    answers = [chat(api) for _ in range(10)]
    assert all(r.status_code == 200 for r in answers), [r.json() for r in answers]
    assert served(gpus)["gpu-b"] == 10

    records = [AuditRecord.objects.get(id=r.json()["id"]) for r in answers]
    assert all(r.status == "succeeded" and r.backend_name == "gpu-b" for r in records)
    tried_a = [r for r in records if len(r.upstream_attempts) == 2]
    assert tried_a, "gpu-a was never tried"
    first, second = tried_a[0].upstream_attempts
    assert first["backend"] == "gpu-a" and first["outcome"] == "failed"
    assert first["error_code"] == "upstream_unavailable" and "cannot connect" in first["error"]
    assert second == {"backend": "gpu-b", "outcome": "served"}

    span = spans.span_for_audit(str(tried_a[0].id))
    assert span.attributes["corral.backends_tried"] == ["gpu-a", "gpu-b"]
    assert span.attributes["corral.backend"] == "gpu-b"
    assert span.attributes["server.port"] == int(gpus["gpu-b"].url.rsplit(":", 1)[1])
    assert [e["name"] for e in span.events] == ["corral.failover"]
    assert span.status_code != 2  # not an error: the caller got the answer

    # three failures within the window open gpu-a's circuit: later calls no longer try it
    assert backend_states([backends["gpu-a"].pk])[backends["gpu-a"].pk].open_for > 0
    assert records[:3] == tried_a  # CORRAL_BREAKER_FAILURES
    assert all(len(r.upstream_attempts) == 1 for r in records[3:])


def test_embeddings_fail_over_too(api, pair_route, gpus):
    ModelRoute.objects.get().targets.filter(backend__name="gpu-b").update(priority=1)
    gpus["gpu-a"].fail_next(
        503, "server busy, please try again.  maximum pending requests exceeded"
    )
    response = api.post("/ollama/api/embed", {"model": MODEL, "input": ["a", "b"]}, format="json")
    assert response.status_code == 200 and len(response.json()["embeddings"]) == 2
    record = AuditRecord.objects.get()
    assert record.operation == "embeddings" and record.backend_name == "gpu-b"
    assert [a["backend"] for a in record.upstream_attempts] == ["gpu-a", "gpu-b"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, "server busy, please try again.  maximum pending requests exceeded"), (500, "boom")],
)
def test_busy_or_failing_backend_hands_the_call_on(
    api, admin_client, pair_route, gpus, status, error
):
    ModelRoute.objects.get().targets.filter(backend__name="gpu-b").update(priority=1)
    gpus["gpu-a"].fail_next(status, error)
    response = chat(api, stream=True)
    text = stream_text(response)
    assert response.status_code == 200 and "event: done" in text
    record = AuditRecord.objects.get()
    assert record.status == "succeeded"
    assert [a["outcome"] for a in record.upstream_attempts] == ["failed", "served"]
    assert record.upstream_attempts[0]["backend"] == "gpu-a" and record.backend_name == "gpu-b"
    assert api.get(f"/api/v1/calls/{record.id}").json()["upstream_attempts"] == [
        {**record.upstream_attempts[0]},
        {"backend": "gpu-b", "outcome": "served"},
    ]
    page = admin_client.get(f"/admin/audit/auditrecord/{record.id}/change/").content.decode()
    assert "gpu-a: upstream_" in page and "gpu-b: served" in page


def test_a_backend_without_the_model_hands_the_call_on(api, backends, gpus):
    route = route_create(name=MODEL, backend=backends["gpu-a"], upstream_model="llama3.2:70b")
    route_target_add(
        route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM_MODEL, priority=1
    )
    response = chat(api)
    assert response.status_code == 200
    attempts = AuditRecord.objects.get().upstream_attempts
    assert attempts[0]["backend"] == "gpu-a" and attempts[0]["error_code"] == "model_not_found"
    assert attempts[1] == {"backend": "gpu-b", "outcome": "served"}


def test_a_backend_dying_mid_stream_is_a_clear_error_and_no_silent_retry(
    api, pair_route, backends, gpus
):
    ModelRoute.objects.get().targets.filter(backend__name="gpu-b").update(priority=1)
    gpus["gpu-a"].reply = "one two three four five"
    gpus["gpu-a"].cut_after = 2
    response = chat(api, stream=True)
    text = stream_text(response)
    assert text.startswith('data: {"delta":"one "}')
    assert "event: error" in text and '"upstream_error"' in text
    assert "event: done" not in text
    assert gpus["gpu-b"].requests == []  # bytes had reached the caller: not retried elsewhere
    record = AuditRecord.objects.get()
    assert record.status == "failed" and record.backend_name == "gpu-a"
    assert record.completion == "one two "
    assert record.upstream_attempts[0]["outcome"] == "failed"


def test_every_backend_out_is_503_with_retry_after_and_an_audit_record(api, pair_route, backends):
    Backend.objects.filter(name__in=["gpu-a", "gpu-b"]).update(base_url=dead_url())
    backends_health_check()
    backends_health_check()  # two failed checks in a row take a backend out
    response = chat(api)
    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "upstream_unavailable"
    assert "every backend serving 'llama3.2' is out of service" in body["message"]
    assert int(response["Retry-After"]) >= 1
    record = AuditRecord.objects.get()
    assert record.status == "failed" and record.error_code == "upstream_unavailable"


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


# --- route defaults --------------------------------------------------------------------------


def test_route_defaults_reach_ollama(api, backends, gpus):
    route_create(
        name=MODEL,
        backend=backends["gpu-a"],
        upstream_model=UPSTREAM_MODEL,
        system_prompt="You answer in French.",
        keep_alive="10m",
        max_num_predict=256,
        max_keep_alive="",  # no maximum: "-1" (forever) below goes through
        default_options={"num_ctx": 8192, "temperature": 0.1},
    )
    assert chat(api, options={"num_predict": 5000, "temperature": 0.7}).status_code == 200
    assert chat(api, options={"num_predict": 100}).status_code == 200
    own_system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert chat(api, messages=own_system).status_code == 200
    ModelRoute.objects.update(keep_alive="-1")
    assert chat(api, keep_alive="5m").status_code == 200  # the caller's own wins
    assert chat(api).status_code == 200

    capped, within, own, callers_keep_alive, forever = [r["body"] for r in gpus["gpu-a"].requests]
    assert capped["messages"][0] == {"role": "system", "content": "You answer in French."}
    assert capped["options"] == {"num_ctx": 8192, "temperature": 0.7, "num_predict": 256}
    assert capped["keep_alive"] == "10m"
    assert within["options"]["num_predict"] == 100 and within["options"]["temperature"] == 0.1
    assert own["messages"] == own_system
    assert callers_keep_alive["keep_alive"] == "5m"
    assert forever["keep_alive"] == -1  # a bare number goes to Ollama as a number

    record = AuditRecord.objects.order_by("started_at").first()
    assert record.options["num_predict"] == 256
    assert record.messages[0]["content"] == "You answer in French."


# --- admin -----------------------------------------------------------------------------------


def _act(admin_client, action: str, *backends: Backend) -> list[str]:
    response = admin_client.post(
        "/admin/gateway/backend/",
        {"action": action, "_selected_action": [b.pk for b in backends]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def test_admin_tests_a_backends_connection(admin_client, backends):
    Backend.objects.filter(name="gpu-b").update(base_url=dead_url())
    shown = _act(admin_client, "test_connection", backends["gpu-a"], backends["gpu-b"])
    assert any(m.startswith("gpu-a: up, Ollama 0.") and "1 model(s), 1 loaded" in m for m in shown)
    assert any(m.startswith("gpu-b: unknown (cannot connect") for m in shown), shown
    page = admin_client.get("/admin/gateway/backend/")
    assert b"up" in page.content and b"not checked" in page.content  # gpu-c never checked
    detail = admin_client.get(f"/admin/gateway/backend/{backends['gpu-a'].pk}/change/")
    assert UPSTREAM_MODEL.encode() in detail.content


def test_admin_imports_models_and_a_second_backend_joins_the_route(admin_client, backends):
    shown = _act(admin_client, "import_models", backends["gpu-a"])
    assert any("gpu-a: 1 route(s) added (llama3.2:latest)" in m for m in shown), shown
    shown = _act(admin_client, "import_models", backends["gpu-b"])
    assert any("1 route(s) now also served here (llama3.2:latest)" in m for m in shown), shown
    route = ModelRoute.objects.get(name=UPSTREAM_MODEL)
    assert [t.backend.name for t in route.targets.all()] == ["gpu-a", "gpu-b"]
    page = admin_client.get("/admin/gateway/modelroute/")
    assert b"gpu-a (llama3.2:latest, priority 0, weight 1)" in page.content


def test_admin_shows_routes_whose_model_the_backend_lacks(admin_client, backends):
    route_create(name="big", backend=backends["gpu-a"], upstream_model="llama3.2:70b")
    route_create(name=MODEL, backend=backends["gpu-a"], upstream_model=UPSTREAM_MODEL)
    shown = _act(admin_client, "show_missing_models", backends["gpu-a"], backends["gpu-b"])
    assert any("gpu-a lacks 1 model(s) routes point at: big -> llama3.2:70b" in m for m in shown)
    assert any("gpu-b: every route it serves has its model." in m for m in shown), shown


def test_the_beat_runs_the_health_check(backends):
    from config.celery import app
    from gateway.tasks import backends_health_check as task

    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "gateway.backends_health_check" in schedule
    task.apply()
    statuses = dict(BackendHealth.objects.values_list("backend__name", "status"))
    assert statuses == {"gpu-a": "up", "gpu-b": "up", "gpu-c": "up"}


def test_ollama_door_listings_describe_routes_served_by_several_backends(api, backends):
    route = route_create(name=MODEL, backend=backends["gpu-a"], upstream_model="llama3.2:70b")
    route_target_add(
        route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM_MODEL, priority=1
    )
    tags = api.get("/ollama/api/tags").json()["models"]
    assert [t["name"] for t in tags] == [MODEL] and tags[0]["digest"] and tags[0]["size"]
    running = api.get("/ollama/api/ps").json()["models"]
    assert [m["name"] for m in running] == [MODEL]
    shown = api.post("/ollama/api/show", {"model": MODEL}, format="json")
    assert shown.status_code == 200 and shown.json()["details"]


def test_each_process_keeps_resolved_routes_for_a_while(api, pair_route, backends, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gateway.selectors import resolved_routes

    settings.CORRAL_ROUTE_CACHE_SECONDS = 60
    resolved_routes.clear()
    with CaptureQueriesContext(connection) as first:
        assert chat(api).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert chat(api).status_code == 200
    # the route, its targets and its allowed teams come from memory the second time: what is left
    # is the token (with its user, limits and team) and its owner's teams (the token cache is off
    # in the tests), opening and finalizing the audit record
    assert len(first.captured_queries) >= 7
    assert len(second.captured_queries) == 4, [q["sql"][:60] for q in second.captured_queries]
    assert not any("gateway_routetarget" in q["sql"] for q in second.captured_queries)

    # a change made in this process is seen by the next call
    ModelRoute.objects.get().targets.filter(backend__name="gpu-a").delete()
    assert chat(api).status_code == 200
    record = AuditRecord.objects.order_by("-started_at").first()
    assert record.backend_name == "gpu-b"
    resolved_routes.clear()
