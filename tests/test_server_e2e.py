"""Corral as it runs in production: gunicorn with gevent workers, the standard OTEL_* variables,
a real socket between client and server. The web process is a subprocess; the test reads its
audit records from the same database and its spans from the OTLP receiver."""

import json
import os
import signal
import sys
import threading
from pathlib import Path

import httpx
import pytest

from audit.models import AuditRecord
from tests.conftest import MODEL
from tests.support import processes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(otlp_receiver, route, tmp_path):
    env = processes.corral_env(
        otlp_receiver.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="200",
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="delta",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=e2e,service.namespace=corral",
    )
    with processes.web(env, tmp_path) as base:
        yield base


def stream_chat(server: str, token: str):
    return httpx.stream(
        "POST",
        f"{server}/api/v1/chat",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True},
        timeout=60,
    )


def test_curl_call_answers_audits_and_exports_its_span(server, token, otlp_receiver):
    response = processes.post_chat(server, token, "over the wire")
    assert response.status_code == 200
    body = response.json()
    assert body["message"]["content"] == "You said: over the wire"
    record = AuditRecord.objects.get(id=body["id"])
    assert record.status == "succeeded" and record.trace_id == body["trace_id"]
    span = otlp_receiver.span_for_audit(body["id"], timeout=15)
    assert span.resource["service.name"] == "corral-e2e"
    assert span.resource["deployment.environment"] == "e2e"
    assert span.attributes["gen_ai.completion.0.content"] == "You said: over the wire"
    assert span.trace_id == body["trace_id"]
    server_spans = otlp_receiver.find(lambda s: s.span_id == span.parent_span_id, timeout=15)
    assert server_spans and server_spans[0].attributes.get("http.route") == "api/v1/chat"


def test_genai_client_metrics_are_exported_with_delta_temporality(server, token, otlp_receiver):
    response = processes.post_chat(server, token, "count me")
    usage = response.json()["usage"]

    def points(metric: str) -> list:
        return [
            p
            for p in otlp_receiver.find_points(metric, timeout=15)
            if p.attributes.get("gen_ai.request.model") == MODEL
        ]

    assert wait_for(lambda: len(points("gen_ai.client.token.usage")) >= 2, timeout=15)
    tokens = {p.attributes["gen_ai.token.type"]: p for p in points("gen_ai.client.token.usage")}
    assert tokens["input"].sum >= usage["prompt_tokens"] and tokens["output"].sum >= 3
    assert all(p.temporality == 1 for p in tokens.values())  # AGGREGATION_TEMPORALITY_DELTA
    duration = points("gen_ai.client.operation.duration")
    assert duration and duration[0].unit == "s" and duration[0].count >= 1
    assert duration[0].attributes["gen_ai.provider.name"] == "ollama"
    assert points("gen_ai.server.time_to_first_token")


def test_errors_over_the_wire_keep_the_contract_shape(server, token):
    headers = {"Authorization": f"Bearer {token}"}
    bad = httpx.post(f"{server}/api/v1/chat", headers=headers, content=b"{oops", timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    anonymous = httpx.get(f"{server}/api/v1/models", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"


def test_client_that_hangs_up_mid_stream_is_recorded_and_upstream_stopped(server, token, ollama):
    ollama.reply = " ".join(["word"] * 200)
    ollama.hold_after = 2
    ollama.chunk_delay = 0.02  # the answer is still being generated when the client leaves
    with stream_chat(server, token) as response:
        lines = response.iter_lines()
        assert next(lines) == 'data: {"delta":"word "}'
    # the connection is closed; let the upstream go on so the server notices on its next write
    ollama.release.set()

    def recorded() -> bool:
        record = AuditRecord.objects.first()
        return record is not None and record.status != AuditRecord.Status.RUNNING

    assert wait_for(recorded, timeout=15)
    record = AuditRecord.objects.get()
    assert record.status == AuditRecord.Status.CLIENT_DISCONNECTED
    assert record.completion_tokens >= 2
    assert wait_for(lambda: ollama.disconnects == 1, timeout=15)
    assert ollama.completed_streams == 0


def test_one_worker_holds_many_streams_at_once(server, token, ollama):
    """With gevent one worker process holds far more open streams than a thread pool would."""
    streams = 60
    ollama.reply = "first second"
    ollama.hold_after = 1  # every stream stays open after its first token until released
    first_deltas: list[str] = []
    lock = threading.Lock()

    def open_stream() -> None:
        with stream_chat(server, token) as response:
            lines = response.iter_lines()
            line = next(lines)
            with lock:
                first_deltas.append(line)
            for _ in lines:
                pass

    threads = [threading.Thread(target=open_stream) for _ in range(streams)]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(lambda: len(first_deltas) == streams, timeout=60), len(first_deltas)
    finally:
        ollama.release.set()
        for thread in threads:
            thread.join(timeout=60)
    assert AuditRecord.objects.filter(status="succeeded").count() == streams


def test_runserver_traces_like_gunicorn(otlp_receiver, route, token, tmp_path):
    """A developer's `manage.py runserver` (with its autoreloader, which serves from a child
    process) gives every call its trace id and exports its span."""
    port = processes.free_port()
    env = processes.corral_env(otlp_receiver.endpoint)
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"]
    with processes.running(command, env, tmp_path / "runserver.log"):
        base = f"http://127.0.0.1:{port}"
        assert processes.wait_until_healthy(base), (tmp_path / "runserver.log").read_text()
        body = processes.post_chat(base, token, "from runserver").json()
        assert len(body["trace_id"]) == 32
        assert AuditRecord.objects.get(id=body["id"]).trace_id == body["trace_id"]
        span = otlp_receiver.span_for_audit(body["id"], timeout=15)
        assert span.trace_id == body["trace_id"]


def test_sdk_disabled_means_no_spans_and_calls_still_work(otlp_receiver, route, token, tmp_path):
    from accounts.services import token_issue, user_create

    _, operator = token_issue(user=user_create(username="op", is_staff=True), name="ops")
    env = processes.corral_env(otlp_receiver.endpoint, OTEL_SDK_DISABLED="true")
    with processes.web(env, tmp_path) as base:
        response = processes.post_chat(base, token, "untraced")
        health = httpx.get(
            f"{base}/readyz", headers={"Authorization": f"Bearer {operator}"}, timeout=10
        ).json()
    body = response.json()
    assert response.status_code == 200 and body["trace_id"] == ""
    assert AuditRecord.objects.get(id=body["id"]).status == "succeeded"
    assert health["otlp"]["exporting"] is False
    assert otlp_receiver.find(lambda s: s.attributes.get("corral.audit_id") == body["id"], 2) == []


def test_fifty_parallel_calls_against_a_limit_of_ten(server, token, redis_client):
    from concurrent.futures import ThreadPoolExecutor

    from accounts.models import ApiToken

    ApiToken.objects.update(requests_per_minute=10)

    def call(index: int) -> int:
        return processes.post_chat(server, token, f"n{index}").status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(call, range(50)))
    assert statuses.count(200) == 10 and statuses.count(429) == 40
    assert AuditRecord.objects.filter(status="succeeded").count() == 10
    assert AuditRecord.objects.filter(status="refused", error_code="rate_limited").count() == 40


def test_every_log_line_is_json_with_the_request_and_trace_ids(server, token, tmp_path):
    response = httpx.post(
        f"{server}/api/v1/chat",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-4711"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "log me"}]},
        timeout=30,
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-4711"
    trace_id = response.json()["trace_id"]
    bad_id = httpx.get(f"{server}/healthz", headers={"X-Request-ID": "<script>"}, timeout=10)
    assert len(bad_id.headers["x-request-id"]) == 32  # an unusable id is replaced, not echoed

    log = tmp_path / "gunicorn.log"

    def lines() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    assert wait_for(lambda: any(e.get("request_id") == "req-4711" for e in lines()), timeout=10)
    entries = lines()  # every line parses as JSON
    assert all(
        {"time", "level", "logger", "message", "request_id", "trace_id"} <= e.keys()
        for e in entries
    )
    access = next(e for e in entries if e["request_id"] == "req-4711")
    assert access["logger"] == "corral.access" and access["message"] == "POST /api/v1/chat 200"
    assert access["trace_id"] == trace_id and access["status"] == 200 and access["duration_ms"] > 0
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own lines too
    # gunicorn's access line only when asked for (CORRAL_ACCESS_LOG): Corral's has the ids
    assert not any(e["logger"] == "gunicorn.access" for e in entries)


def test_gunicorn_writes_its_own_access_line_when_asked(otlp_receiver, tmp_path):
    env = processes.corral_env(otlp_receiver.endpoint, CORRAL_ACCESS_LOG="-")
    with processes.web(env, tmp_path) as base:
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        log = tmp_path / "gunicorn.log"

        def access_lines() -> list[dict]:
            entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            return [e for e in entries if e["logger"] == "gunicorn.access"]

        assert wait_for(lambda: any('"GET /healthz' in e["message"] for e in access_lines()), 10)


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [
        int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()
    ]


def _rollup(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0])
    return fields


def _tcp_states(pid: int) -> list[str]:
    """The states of the process's TCP sockets (/proc/net/tcp's hex codes: 0A listening,
    01 established)."""
    inodes = {
        link.removeprefix("socket:[").rstrip("]")
        for fd in Path(f"/proc/{pid}/fd").iterdir()
        if (link := os.readlink(fd)).startswith("socket:[")
    }
    states = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            columns = row.split()
            if columns[9] in inodes:
                states.append(columns[3])
    return states


def test_workers_fork_from_the_loaded_application_and_share_its_pages(
    otlp_receiver, route, token, tmp_path
):
    """The master loads Corral once (preload) and forks its workers from it, so the loaded code
    and objects are pages the workers share instead of each holding a copy; nothing the
    application connects to may be opened before the fork, or the workers would share it."""
    env = processes.corral_env(otlp_receiver.endpoint, CORRAL_TEST_WEB_WORKERS="2")
    with processes.web_process(env, tmp_path) as (base, master):
        for number in range(20):
            response = processes.post_chat(base, token, f"call {number}")
            assert response.status_code == 200, response.text
        workers = _children(master.pid)
        assert len(workers) == 2
        # Pages the master wrote while loading Corral and that a worker has not written since:
        # ~56 MB here with the application preloaded, ~5 MB (gunicorn alone) without.
        assert all(_rollup(pid)["Shared_Dirty"] > 30 * 1024 for pid in workers)
        # The master holds its listening socket and no connection: a database, Redis or
        # upstream connection opened while loading would be one socket shared by every worker.
        assert set(_tcp_states(master.pid)) == {"0A"}

        # A worker that dies is replaced by a fork of the same loaded master, and serves.
        os.kill(workers[0], signal.SIGKILL)
        assert wait_for(lambda: len(set(_children(master.pid)) - {workers[0]}) == 2, timeout=30)
        replacement = (set(_children(master.pid)) - set(workers)).pop()
        for number in range(10):
            response = processes.post_chat(base, token, f"after {number}")
            assert response.status_code == 200, response.text
        assert _rollup(replacement)["Shared_Dirty"] > 30 * 1024
        assert set(_tcp_states(master.pid)) == {"0A"}
    assert AuditRecord.objects.filter(status="succeeded").count() == 30
