"""Collector away while calls are made, then back: every call's span arrives, none twice.

Real processes: Corral under gunicorn exporting through the durable exporter, a Celery worker with
beat re-sending from the outbox, the OTLP receiver as the collector."""

import httpx
import pytest

from gateway.models import OtlpBatch
from tests.conftest import MODEL
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
    with processes.web(env, tmp_path) as base, processes.worker(env, tmp_path):
        ids = []
        for index in range(calls):
            response = httpx.post(
                f"{base}/api/v1/chat",
                headers={"Authorization": f"Bearer {token}"},
                json={"model": MODEL, "messages": [{"role": "user", "content": f"call {index}"}]},
                timeout=30,
            )
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
    span_ids = [s.span_id for s in collector.spans]
    assert len(span_ids) == len(set(span_ids)), "a span was delivered twice"


def test_task_spans_join_the_enqueuing_trace_and_outbox_tasks_make_none(
    collector, tmp_path, redis_client, db
):
    from opentelemetry import trace

    from audit.tasks import mark_interrupted
    from gateway.tasks import otlp_sweep

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
