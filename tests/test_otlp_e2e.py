"""Collector away while calls are made, then back: every call's span arrives, none twice.

Real processes: Corral under gunicorn exporting through the durable exporter, a Celery worker with
beat re-sending from the outbox, the OTLP receiver as the collector."""

import pytest

from gateway.models import OtlpBatch
from tests.support import processes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def collector(otlp_receiver):
    yield otlp_receiver
    otlp_receiver.status, otlp_receiver.retry_after = 200, None


def test_spans_made_while_the_collector_is_down_all_arrive_once(
    collector, route, token, tmp_path, redis_client
):
    env = processes.corral_env(
        collector.endpoint,
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1",
        CORRAL_OTLP_SWEEP_SECONDS="1",
    )
    collector.status = 503
    calls = 12
    first = len(collector.spans)
    with processes.web(env, tmp_path) as base, processes.worker(env, tmp_path):
        ids = []
        for index in range(calls):
            response = processes.post_chat(base, token, f"call {index}")
            assert response.status_code == 200
            ids.append(response.json()["id"])

        def stored() -> int:
            return sum(OtlpBatch.objects.values_list("span_count", flat=True))

        # the web process's spans (2 per call: server + chat) are all in the outbox
        assert wait_for(lambda: stored() >= 2 * calls, timeout=30), stored()
        assert collector.find(lambda s: s.attributes.get("corral.audit_id") in ids, 0.1) == []

        collector.status = 200

        def all_pending_delivered() -> bool:
            return not OtlpBatch.objects.filter(status=OtlpBatch.Status.PENDING).exists()

        assert wait_for(all_pending_delivered, timeout=60), (tmp_path / "celery.log").read_text()

    chat_spans = collector.find(lambda s: s.attributes.get("corral.audit_id") in ids, 1)
    assert sorted(s.attributes["corral.audit_id"] for s in chat_spans) == sorted(ids)
    assert collector.delivered_twice(since=first) == []


def test_task_spans_join_the_enqueuing_trace_and_outbox_tasks_make_none(
    collector, tmp_path, redis_client, db
):
    from opentelemetry import trace

    from gateway.tasks import mark_interrupted, otlp_sweep

    env = processes.corral_env(collector.endpoint)
    tracer = trace.get_tracer("test")
    with processes.worker(env, tmp_path):
        with tracer.start_as_current_span("enqueuing request") as parent:
            mark_interrupted.delay()
            otlp_sweep.delay()
        trace_id = format(parent.get_span_context().trace_id, "032x")
        # (beat also runs this task now and then, in traces of its own)
        runs = collector.find(
            lambda s: s.name == "run/audit.mark_interrupted" and s.trace_id == trace_id, timeout=30
        )
        assert len(runs) == 1, (tmp_path / "celery.log").read_text()
        assert wait_for(lambda: "gateway.otlp_sweep" in (tmp_path / "celery.log").read_text(), 15)
    trace.get_tracer_provider().force_flush()
    assert collector.find(lambda s: "otlp_" in s.name, timeout=1) == []


def test_a_worker_killed_mid_resend_is_finished_by_the_sweeper(
    collector, tmp_path, redis_client, monkeypatch
):
    from tests.test_otlp_outbox import durable, make_spans

    env = processes.corral_env(
        collector.endpoint, CORRAL_OTLP_SWEEP_SECONDS="1", CORRAL_OTLP_LEASE_SECONDS="3"
    )
    collector.status = 503
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{collector.endpoint}/v1/traces")
    durable(collector).export(make_spans(3, "killed"))
    batch = OtlpBatch.objects.get()
    collector.status, collector.hang = 200, 60.0  # the next send hangs in the collector

    def in_flight() -> bool:
        batch.refresh_from_db()
        return batch.leased_until is not None and batch.attempts == 0

    first_log, second_log = tmp_path / "first", tmp_path / "second"
    first_log.mkdir()
    second_log.mkdir()
    with processes.worker(env, first_log) as first:
        assert wait_for(in_flight, timeout=30), (first_log / "celery.log").read_text()
        processes.kill_hard(first)
    collector.hang = 0.0
    with processes.worker(env, second_log):
        delivered = wait_for(
            lambda: OtlpBatch.objects.get().status == OtlpBatch.Status.DELIVERED, timeout=60
        )
        assert delivered, (second_log / "celery.log").read_text()
    names = sorted(s.name for s in collector.spans if s.name.startswith("killed"))
    assert names == ["killed-0", "killed-1", "killed-2"]


def test_with_content_capture_off_no_text_is_stored_or_exported(
    collector, route, token, tmp_path, redis_client
):
    env = processes.corral_env(
        collector.endpoint,
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="false",
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1",
        CORRAL_OTLP_SWEEP_SECONDS="1",
    )
    secret = "the-quarterly-numbers-are-bad"
    collector.status = 503
    with processes.web(env, tmp_path) as base:
        response = processes.post_chat(base, token, secret)
        audit_id = response.json()["id"]
        assert wait_for(lambda: OtlpBatch.objects.exists(), timeout=30)
        assert wait_for(lambda: sum(OtlpBatch.objects.values_list("span_count", flat=True)) >= 2)
        for payload in OtlpBatch.objects.values_list("payload", flat=True):
            assert secret.encode() not in bytes(payload)
        collector.status = 200
        with processes.worker(env, tmp_path):
            span = collector.find(lambda s: s.attributes.get("corral.audit_id") == audit_id, 60)
    assert span and secret not in repr(span[0].attributes)
    assert "gen_ai.prompt.0.content" not in span[0].attributes
