"""Reviewing the audit trail: exports equal to the filtered list (admin and command), the detail
page showing the exchange inertly, search over prompts and answers, the usage dashboard and who
sees it."""

import csv
import hashlib
import io
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from accounts.services import membership_ensure, user_create
from audit.models import AuditRecord
from gateway.services import route_create
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.support.audit_records import make_calls

pytestmark = pytest.mark.django_db


def test_admin_export_equals_the_filtered_list(admin_client, api, route, ollama):
    make_calls(api, 3)
    ollama.fail_next(500, "boom", times=2)
    make_calls(api, 2)
    listed = admin_client.get("/admin/audit/auditrecord/", {"status__exact": "failed"})
    expected = {str(r.pk) for r in listed.context["cl"].result_list}
    assert len(expected) == 2
    exported = admin_client.get("/admin/audit/auditrecord/export/csv/", {"status__exact": "failed"})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert {row["id"] for row in rows} == expected and all(
        row["status"] == "failed" for row in rows
    )
    make_calls(api, 1, "needle")
    exported = admin_client.get("/admin/audit/auditrecord/export/jsonl/", {"q": "needle"})
    lines = b"".join(exported.streaming_content).decode().splitlines()
    assert [json.loads(line)["messages"][0]["content"] for line in lines] == ["needle 0"]


def test_export_command_with_filters(api, route, ollama, tmp_path):
    make_calls(api, 2)
    ollama.fail_next(500, "boom")
    make_calls(api, 1)
    target = tmp_path / "failed.jsonl"
    call_command("audit_export", "--format", "jsonl", "--status", "failed", "--output", str(target))
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["error_code"] == "upstream_error"
    out = StringIO()
    call_command(
        "audit_export",
        "--since",
        (timezone.now() - timedelta(hours=1)).date().isoformat(),
        stdout=out,
    )
    assert len(out.getvalue().strip().splitlines()) == 4  # header + 3 rows


def test_the_detail_page_shows_the_exchange_inertly(admin_client, api, route, ollama, settings):
    settings.CORRAL_TRACE_URL_TEMPLATE = "http://jaeger:16686/trace/{trace_id}"
    ollama.reply = '<script>alert("x")</script> <a href="javascript:alert(1)">click</a>'
    record_id = make_calls(api, 1, "<b>bold?</b>")[0]
    page = admin_client.get(f"/admin/audit/auditrecord/{record_id}/change/").content.decode()
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert "&lt;b&gt;bold?&lt;/b&gt;" in page
    trace_id = AuditRecord.objects.get(id=record_id).trace_id
    assert f'href="http://jaeger:16686/trace/{trace_id}"' in page


def test_the_detail_page_shows_images_and_tool_calls(admin_client, api, route):
    messages = [
        {"role": "user", "content": "what is this?", "images": ["aGVsbG8="]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "<x>"}}}],
        },
        {"role": "tool", "content": "a greeting"},
    ]
    response = api.post("/api/v1/chat", {"model": MODEL, "messages": messages}, format="json")
    assert response.status_code == 200, response.json()
    page = admin_client.get(f"/admin/audit/auditrecord/{response.json()['id']}/change/")
    html = page.content.decode()
    digest = "sha256:" + hashlib.sha256(b"aGVsbG8=").hexdigest()
    assert f"<em>image</em> {digest} (8 b64 chars)" in html
    assert "tool calls:" in html and "lookup" in html and "&lt;x&gt;" in html


def test_admin_search_finds_prompt_answer_error_and_thinking_text(admin_client, api, route, ollama):
    make_calls(api, 1, "zebra crossing")
    make_calls(api, 1, "lion king")
    ollama.fail_next(500, "the runner crashed unexpectedly")
    make_calls(api, 1, "doomed")
    ollama.thinking = "pondering wombats"
    thought = {"model": MODEL, "messages": [{"role": "user", "content": "q"}], "think": True}
    api.post("/ollama/api/chat", {**thought, "stream": False}, format="json")

    def search(term):
        found = admin_client.get("/admin/audit/auditrecord/", {"q": term}).context["cl"].result_list
        return [r.messages[0]["content"] for r in found]

    assert search("zebra") == ["zebra crossing 0"]
    assert search("crashed") == ["doomed 0"]
    assert search("wombats") == ["q"]


def test_usage_dashboard_draws_its_own_charts(admin_client, api, route, backend, ollama):
    make_calls(api, 2, "dash")
    # the same model asked for with its implied tag is counted as the same model
    route_create(name=f"{MODEL}:latest", backend=backend, upstream_model=UPSTREAM_MODEL)
    api.post(
        "/api/v1/chat",
        {"model": f"{MODEL}:latest", "messages": [{"role": "user", "content": "x"}]},
        format="json",
    )
    ollama.fail_next(500, "boom")
    make_calls(api, 1, "dash")
    page = admin_client.get("/admin/audit/auditrecord/dashboard/", {"days": "7"})
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="corral-chart"') == 3 and "Calls per day" in html
    assert page.context["totals"]["calls"] == 4 and page.context["totals"]["errors"] == 1
    assert page.context["models"][0] == {
        "model": MODEL,
        "calls": 4,
        "tokens": page.context["totals"]["tokens"],
        "errors": 1,
    }
    assert page.context["percentiles"]["latency"]["p50"] is not None
    assert "cdn" not in html.lower()


def test_auditors_see_the_dashboard_members_do_not(api, route, team):
    auditor = user_create(username="aud")
    membership_ensure(team=team, user=auditor, role=Membership.Role.AUDITOR)
    member = user_create(username="mem")
    membership_ensure(team=team, user=member)
    for user, status in ((auditor, 200), (member, 302)):
        client = Client()
        client.force_login(user)
        assert client.get("/admin/audit/auditrecord/dashboard/").status_code == status
