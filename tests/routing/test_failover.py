"""Failover before the first byte reached the caller, never after; every backend out is a 503,
on the record."""

import pytest

from audit.models import AuditRecord
from gateway.backends.circuit import backend_states
from gateway.backends.health import backends_health_check
from gateway.models import Backend, ModelRoute
from gateway.services import route_create, route_target_add
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.routing.calls import chat, dead_url, served, stream_text

pytestmark = pytest.mark.django_db


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
