"""The durable exporter: spans the collector did not take are stored and re-sent until it does."""

from datetime import timedelta

import pytest
from django.utils import timezone
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.models import OtlpBatch
from gateway.tasks import otlp_resend, otlp_sweep
from gateway.tracing.durable import DurableSpanExporter
from gateway.tracing.outbox import otlp_batch_resend, otlp_outbox_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def collector(otlp_receiver, monkeypatch):
    """The receiver as the configured collector; restored to a healthy 200 afterwards."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{otlp_receiver.endpoint}/v1/traces")
    yield otlp_receiver
    otlp_receiver.status, otlp_receiver.retry_after = 200, None


def make_spans(count: int, prefix: str) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for index in range(count):
        with tracer.start_as_current_span(f"{prefix}-{index}"):
            pass
    return list(memory.get_finished_spans())


def durable(collector, **kwargs) -> DurableSpanExporter:
    inner = OTLPSpanExporter(endpoint=f"{collector.endpoint}/v1/traces", timeout=0.5)
    return DurableSpanExporter(inner, **kwargs)


def received(collector, prefix: str) -> list[str]:
    return sorted(s.name for s in collector.spans if s.name.startswith(prefix))


def test_collector_down_then_up_delivers_every_span_exactly_once(collector, eager_celery):
    collector.status = 503
    exporter = durable(collector)
    assert exporter.export(make_spans(5, "down")) is SpanExportResult.SUCCESS
    batch = OtlpBatch.objects.get()
    assert (batch.status, batch.span_count) == ("pending", 5) and batch.payload
    assert received(collector, "down") == []

    collector.status = 200
    otlp_batch_resend(batch_id=batch.id)
    batch.refresh_from_db()
    assert batch.status == "delivered" and batch.attempts >= 1 and batch.delivered_at
    assert received(collector, "down") == [f"down-{i}" for i in range(5)]

    # delivered batches are never sent again, whatever asks
    assert otlp_batch_resend(batch_id=batch.id) is None
    otlp_resend.delay(batch.id)
    assert otlp_sweep.delay().get() == 0
    assert len(received(collector, "down")) == 5


def test_after_a_failure_batches_go_straight_to_the_outbox(collector):
    collector.status = 503
    exporter = durable(collector)
    exporter.export(make_spans(1, "first"))
    requests_before = collector.requests
    exporter.export(make_spans(1, "second"))
    assert collector.requests == requests_before  # the known-down collector was not waited on
    assert OtlpBatch.objects.count() == 2


def test_transient_failure_backs_off_and_the_sweeper_sends_when_due(collector, eager_celery):
    collector.status = 503
    durable(collector).export(make_spans(2, "later"))
    batch = OtlpBatch.objects.get()
    otlp_batch_resend(batch_id=batch.id)
    batch.refresh_from_db()
    # one attempt enqueued by the exporter itself (eager here), one made by hand
    assert batch.status == "pending" and batch.attempts == 2
    assert batch.last_status_code == 503 and "503" in batch.last_error

    collector.status = 200
    OtlpBatch.objects.filter(id=batch.id).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    assert otlp_sweep.delay().get() == 0  # not due yet
    OtlpBatch.objects.filter(id=batch.id).update(next_attempt_at=timezone.now())
    assert otlp_sweep.delay().get() == 1
    assert OtlpBatch.objects.get().status == "delivered"
    assert received(collector, "later") == ["later-0", "later-1"]


def test_429_retry_after_is_honoured(collector):
    collector.status, collector.retry_after = 429, "120"
    durable(collector).export(make_spans(1, "busy"))
    batch = OtlpBatch.objects.get()
    before = timezone.now()
    otlp_batch_resend(batch_id=batch.id)
    batch.refresh_from_db()
    assert batch.status == "pending" and batch.last_status_code == 429
    assert batch.next_attempt_at >= before + timedelta(seconds=119)


@pytest.mark.parametrize("status", [400, 413, 415])
def test_permanent_rejections_are_recorded_not_retried(collector, eager_celery, status):
    collector.status = 503
    durable(collector).export(make_spans(1, "bad"))
    collector.status = status
    batch = OtlpBatch.objects.get()
    otlp_batch_resend(batch_id=batch.id)
    batch.refresh_from_db()
    assert batch.status == "rejected" and batch.last_status_code == status
    OtlpBatch.objects.filter(id=batch.id).update(next_attempt_at=timezone.now())
    assert otlp_sweep.delay().get() == 0
    assert otlp_outbox_state().rejected == 1


def test_a_worker_that_died_mid_resend_leaves_a_lease_the_sweeper_outlives(collector, eager_celery):
    collector.status = 503
    durable(collector).export(make_spans(3, "orphan"))
    collector.status = 200
    batch = OtlpBatch.objects.get()
    # a worker took the lease and died before recording anything
    now = timezone.now()
    OtlpBatch.objects.filter(id=batch.id).update(
        leased_until=now + timedelta(minutes=2), next_attempt_at=now
    )
    assert otlp_sweep.delay().get() == 0  # the lease is still held
    OtlpBatch.objects.filter(id=batch.id).update(leased_until=now - timedelta(seconds=1))
    assert otlp_sweep.delay().get() == 1
    assert OtlpBatch.objects.get().status == "delivered"
    assert received(collector, "orphan") == ["orphan-0", "orphan-1", "orphan-2"]


def test_unreachable_collector_is_transient(collector, monkeypatch):
    collector.status = 503
    durable(collector).export(make_spans(1, "gone"))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    batch = OtlpBatch.objects.get()
    otlp_batch_resend(batch_id=batch.id)
    batch.refresh_from_db()
    assert batch.status == "pending" and batch.last_status_code is None
    assert "ConnectionError" in batch.last_error


def test_readyz_shows_the_outbox(admin_client, collector, backend, redis_client):
    collector.status = 503
    durable(collector).export(make_spans(4, "depth"))
    outbox = admin_client.get("/readyz").json()["otlp"]["outbox"]
    assert outbox["ok"] and outbox["pending"] == 1 and outbox["pending_spans"] == 4
    assert outbox["oldest_pending_age_s"] >= 0 and outbox["rejected"] == 0


def test_resends_carry_the_configured_headers(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Api-Token%20dt0c01.abc")
    collector.status = 503
    durable(collector).export(make_spans(1, "dynatrace"))
    collector.status = 200
    otlp_batch_resend(batch_id=OtlpBatch.objects.get().id)
    # other exports (the process's own spans) may reach the shared receiver after the resend
    headers = collector.headers_for("dynatrace-0")
    assert headers["authorization"] == "Api-Token dt0c01.abc"
    assert headers["content-type"] == "application/x-protobuf"


def test_the_admin_shows_waiting_and_rejected_batches(collector, admin_client):
    collector.status = 503
    durable(collector).export(make_spans(2, "shown"))
    durable(collector).export(make_spans(1, "refused"))
    OtlpBatch.objects.filter(span_count=1).update(status=OtlpBatch.Status.REJECTED)
    page = admin_client.get("/admin/gateway/otlpbatch/", follow=True)
    shown = [str(m) for m in page.context["messages"]]
    assert any("rejected by the collector" in m for m in shown)
    assert any("2 span(s) in 1 batch(es) wait" in m for m in shown)


def test_a_broker_that_is_away_loses_nothing(collector, monkeypatch, eager_celery):
    from kombu.exceptions import OperationalError as BrokerDown

    def broker_down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to redis:6379. Connection refused.")

    collector.status = 503
    with monkeypatch.context() as patched:
        patched.setattr(otlp_resend, "apply_async", broker_down)
        assert durable(collector).export(make_spans(2, "nobroker")) is SpanExportResult.SUCCESS
    batch = OtlpBatch.objects.get()
    assert batch.status == "pending" and batch.attempts == 0
    collector.status = 200
    assert otlp_sweep.delay().get() == 1  # the sweeper finds what was never enqueued
    assert received(collector, "nobroker") == ["nobroker-0", "nobroker-1"]
