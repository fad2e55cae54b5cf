"""Asynchronous completions with a real Celery worker process against real Redis."""

import hashlib
import hmac
import json
import time

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import token_issue, user_create
from audit.models import AuditRecord
from gateway.models import Completion
from gateway.services import route_create
from tests.conftest import MODEL
from tests.support import processes
from tests.support.waiting import wait_for
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"model": MODEL, "messages": [{"role": "user", "content": "later please"}]}


@pytest.fixture
def worker_env(otlp_receiver, redis_client):
    return processes.corral_env(
        otlp_receiver.endpoint,
        CORRAL_CALLBACK_ALLOW_PRIVATE="true",
        CELERY_VISIBILITY_TIMEOUT="3",
    )


@pytest.fixture
def worker(worker_env, route, tmp_path):
    with processes.worker(worker_env, tmp_path) as process:
        yield process


def submit(api, body=None, **headers):
    response = api.post("/api/v1/completions", body or BODY, format="json", **headers)
    assert response.status_code == 202, response.content
    return response.json()


def poll(api, job: dict, until=Completion.FINAL, timeout: float = 60) -> dict:
    state = {}

    def reached() -> bool:
        state.update(api.get(job["url"]).json())
        return state["status"] in until

    assert wait_for(reached, timeout=timeout, interval=0.2), state
    return state


def test_enqueue_then_poll_to_success(api, worker, spans):
    job = submit(api)
    assert job["status"] == "queued" and job["url"].endswith(f"/api/v1/completions/{job['id']}")
    done = poll(api, job)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    result = done["result"]
    assert result["message"]["content"] == "You said: later please"
    assert set(result) == {
        "id",
        "model",
        "message",
        "done_reason",
        "usage",
        "latency_ms",
        "trace_id",
    }
    record = AuditRecord.objects.get(id=result["id"])
    assert (record.surface, record.status) == ("async", "succeeded")
    assert done["created_at"] and done["started_at"] and done["finished_at"]
    # the worker's span joins the trace of the request that enqueued the job
    server = spans.find(lambda s: s.attributes.get("http.route") == "api/v1/completions")
    assert server and record.trace_id == server[-1].trace_id


def test_someone_elses_job_is_not_found(api, worker):
    job = submit(api)
    _, secret = token_issue(user=user_create(username="eve"), name="e")
    eve = APIClient()
    eve.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert eve.get(job["url"]).status_code == 404
    assert eve.post(f"{job['url']}/cancel").status_code == 404


def test_model_missing_upstream_fails_at_once(api, worker, backend):

    route_create(name="ghost", backend=backend, upstream_model="ghost:7b")
    done = poll(api, submit(api, {**BODY, "model": "ghost"}))
    assert done["status"] == "failed" and done["attempts"] == 1
    assert done["error"]["code"] == "model_not_found"


def test_upstream_down_then_up_is_retried_to_success(api, worker, ollama):
    ollama.fail_next(
        503, "server busy, please try again.  maximum pending requests exceeded", times=2
    )
    done = poll(api, submit(api))
    assert done["status"] == "succeeded" and done["attempts"] == 3
    statuses = sorted(AuditRecord.objects.values_list("status", flat=True))
    assert statuses == ["failed", "failed", "succeeded"]


def test_idempotency_key_returns_the_same_job(api, worker, token):
    first = api.post("/api/v1/completions", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post("/api/v1/completions", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    other = submit(api, HTTP_IDEMPOTENCY_KEY="k-2")
    assert other["id"] != first.json()["id"]
    poll(api, first.json())
    poll(api, other)  # the worker takes them one at a time; both must be done to count them
    assert Completion.objects.count() == 2
    assert AuditRecord.objects.filter(status="succeeded").count() == 2


def test_cancel_a_queued_job(api, route, worker_env, tmp_path):
    job = submit(api)  # no worker yet
    cancelled = api.post(f"{job['url']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    with processes.worker(worker_env, tmp_path):
        time.sleep(3)  # the worker takes the message and must leave the job alone
    assert api.get(job["url"]).json()["status"] == "cancelled"
    assert not AuditRecord.objects.exists()


def test_cancel_a_running_job_stops_the_upstream(api, worker, ollama):
    ollama.reply = " ".join(["word"] * 100)
    ollama.hold_after = 2
    ollama.chunk_delay = 0.05
    job = submit(api)
    poll(api, job, until=("running",))
    assert wait_for(lambda: AuditRecord.objects.exists(), timeout=30)
    api.post(f"{job['url']}/cancel")
    ollama.release.set()
    done = poll(api, job)
    assert done["status"] == "cancelled" and done["error"]["code"] == "cancelled"
    assert AuditRecord.objects.get().status == "cancelled"
    assert wait_for(lambda: ollama.disconnects == 1, timeout=15)


def test_a_worker_killed_mid_task_completes_the_job_once(
    api, route, ollama, worker_env, tmp_path, otlp_receiver
):
    ollama.reply = "slow answer"
    ollama.hold_after = 1
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    job = submit(api)
    with processes.worker(worker_env, first_dir) as first:
        poll(api, job, until=("running",))
        assert wait_for(lambda: AuditRecord.objects.exists(), timeout=30)
        processes.kill_hard(first)
    ollama.release.set()
    time.sleep(4)  # past the broker's visibility timeout: the unacknowledged message comes back
    ollama.hold_after = None
    with processes.worker(worker_env, second_dir):
        done = poll(api, job, timeout=60)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    records = {r.status: r for r in AuditRecord.objects.all()}
    assert set(records) == {"interrupted", "succeeded"}
    assert done["result"]["id"] == str(records["succeeded"].id)
    # The killed worker's span died with it; it is built again from the record and delivered.
    lost = records["interrupted"]
    span = otlp_receiver.span_for_audit(str(lost.id), timeout=15)
    assert (span.trace_id, span.span_id) == (lost.trace_id, lost.span_id)
    assert span.attributes["error.type"] == "interrupted" and span.status_code == 2
    assert span.name == f"chat {MODEL}" and span.attributes["gen_ai.request.model"] == MODEL


@pytest.fixture
def webhook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def test_webhook_is_signed_and_retried_after_a_500(api, worker, webhook, settings):
    settings.CORRAL_CALLBACK_ALLOW_PRIVATE = True
    webhook.statuses = [500]
    job = submit(api, {**BODY, "callback_url": webhook.url})
    poll(api, job)
    assert wait_for(lambda: len(webhook.received) == 2, timeout=60)
    delivered = webhook.received[-1]
    secret = ApiToken.objects.get().webhook_secret
    expected = hmac.new(
        secret.encode(),
        delivered.headers["x-corral-timestamp"].encode() + b"." + delivered.body,
        hashlib.sha256,
    ).hexdigest()
    assert delivered.headers["x-corral-signature"] == f"sha256={expected}"
    payload = json.loads(delivered.body)
    assert payload["id"] == job["id"] and payload["status"] == "succeeded"
    assert payload["result"]["message"]["content"] == "You said: later please"
    assert wait_for(lambda: Completion.objects.get().callback_status.startswith("delivered"))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "http://127.0.0.1:8000/admin",
        "http://10.0.0.5/hook",
        "http://[::1]/x",
        # IPv6 forms that carry an internal IPv4 address (point 12 of issue 17)
        "http://[::ffff:127.0.0.1]/x",
        "http://[64:ff9b::7f00:1]/x",
        "http://[64:ff9b::a00:5]/x",
        "http://[2002:7f00:1::]/x",
        "http://[2002:a9fe:a9fe::]/latest/meta-data",
        "http://[::127.0.0.1]/x",
        "http://[::10.0.0.5]/x",
    ],
)
def test_callback_urls_that_reach_internal_addresses_are_refused(api, route, url):
    response = api.post("/api/v1/completions", {**BODY, "callback_url": url}, format="json")
    assert response.status_code == 400 and "callback_url" in response.json()["error"]["message"]
    assert not Completion.objects.exists()


def test_callback_hosts_can_be_limited(api, route, settings):
    settings.CORRAL_CALLBACK_ALLOWED_HOSTS = [".example.org"]
    response = api.post(
        "/api/v1/completions",
        {**BODY, "callback_url": "https://hooks.example.com/x"},
        format="json",
    )
    assert response.status_code == 400 and "not allowed" in response.json()["error"]["message"]


def test_async_completions_do_not_stream(api, route):
    response = api.post("/api/v1/completions", {**BODY, "stream": True}, format="json")
    assert response.status_code == 400 and "stream" in response.json()["error"]["message"]
