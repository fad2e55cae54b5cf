"""Every error path of the native API answers in the contract's shape with the contract's status."""

import json

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditRecord
from gateway.models import Backend
from gateway.services import route_create
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def assert_error(response, status: int, code: str, in_message: str = "") -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert in_message in body["error"]["message"]
    return body


# --- authentication ---


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer crl_nope", "Bearer crl_aaaaaaaa_wrongsecret", "Basic dXNlcjpwYXNz"],
)
def test_missing_or_bad_tokens_are_401(route, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post("/api/v1/chat", GOOD, format="json")
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_expired_tokens_are_401(api, route, token):
    stored = ApiToken.objects.get()
    stored.revoked_at = timezone.now()
    stored.save()
    assert_error(api.post("/api/v1/chat", GOOD, format="json"), 401, "unauthenticated", "revoked")
    stored.revoked_at = None
    stored.expires_at = timezone.now() - timezone.timedelta(seconds=1)
    stored.save()
    assert_error(api.post("/api/v1/chat", GOOD, format="json"), 401, "unauthenticated", "expired")


def test_a_wrong_secret_with_a_real_prefix_is_401(route, token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token[:13]}{'x' * 43}")
    assert_error(client.post("/api/v1/chat", GOOD, format="json"), 401, "unauthenticated")


def test_token_use_is_recorded(api, route):
    api.get("/api/v1/models")
    stored = ApiToken.objects.get()
    assert stored.last_used_at is not None and stored.last_used_ip == "127.0.0.1"


# --- model access ---


def test_unknown_model_is_404_and_leaves_a_refused_record(api, route, ollama):
    assert_error(
        api.post("/api/v1/chat", {**GOOD, "model": "gpt-5"}, format="json"),
        404,
        "model_not_found",
        "gpt-5",
    )
    record = AuditRecord.objects.get()
    assert (record.status, record.model, record.error_code) == (
        "refused",
        "gpt-5",
        "model_not_found",
    )
    assert record.username == "alice" and record.messages == GOOD["messages"]
    assert ollama.requests == []  # no model was asked


def test_disabled_route_is_404(api, route):
    route.enabled = False
    route.save()
    assert_error(api.post("/api/v1/chat", GOOD, format="json"), 404, "model_not_found")


def test_model_outside_the_teams_allow_list_is_403(api, route, team, backend):
    other = route_create(name="secret-model", backend=backend, upstream_model="x")
    team.all_models = False
    team.save()
    team.allowed_routes.add(route)
    assert api.post("/api/v1/chat", GOOD, format="json").status_code == 200
    assert_error(
        api.post("/api/v1/chat", {**GOOD, "model": other.name}, format="json"),
        403,
        "model_forbidden",
        "research",
    )
    names = [m["name"] for m in api.get("/api/v1/models").json()["models"]]
    assert names == [MODEL]


def test_disabled_backend_is_503(api, route, backend):
    backend.enabled = False
    backend.save()
    assert_error(api.post("/api/v1/chat", GOOD, format="json"), 503, "upstream_unavailable")


# --- validation ---


@pytest.mark.parametrize(
    ("body", "in_message"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": MODEL}, "messages"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": "hi"}, "messages"),
        ({"model": 42, "messages": [{"role": "user", "content": "hi"}]}, "model: must be a string"),
        ({**GOOD, "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({**GOOD, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({**GOOD, "messages": [{"role": "user", "content": "hi", "colour": 1}]}, "colour"),
        ({**GOOD, "messages": ["hi"]}, "messages[0]"),
        ({**GOOD, "stream": "yes"}, "stream: must be true or false"),
        ({**GOOD, "stream": 1}, "stream: must be true or false"),
        ({**GOOD, "options": {"temperature": "hot"}}, "options.temperature: must be a number"),
        ({**GOOD, "options": {"top_k": 1.5}}, "options.top_k: must be an integer"),
        ({**GOOD, "options": {"num_gpu": 99}}, "unknown field 'num_gpu'"),
        ({**GOOD, "options": {"stop": [1]}}, "options.stop"),
        ({**GOOD, "options": []}, "options"),
        ({**GOOD, "format": "yaml"}, "format"),
        ({**GOOD, "tools": [{"type": "browser"}]}, "tools[0]"),
        ({**GOOD, "metadata": {"k": 1}}, "metadata"),
        ({**GOOD, "temperature": 0.5}, "unknown field 'temperature'"),
    ],
)
def test_invalid_bodies_are_400_and_say_what_is_wrong(api, route, body, in_message):
    assert_error(api.post("/api/v1/chat", body, format="json"), 400, "invalid_request", in_message)
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe{}", b'"a string"', b"null"]
)
def test_malformed_json_is_400(api, route, raw):
    response = api.generic("POST", "/api/v1/chat", raw, content_type="application/json")
    assert_error(response, 400, "invalid_request")


def test_non_json_content_type_is_400(api, route):
    response = api.generic("POST", "/api/v1/chat", "model=x", content_type="text/plain")
    assert_error(response, 400, "invalid_request", "JSON")


@override_settings(CORRAL_MAX_REQUEST_BYTES=1000)
def test_oversized_body_is_413(api, route):
    body = {**GOOD, "messages": [{"role": "user", "content": "x" * 2000}]}
    assert_error(api.post("/api/v1/chat", body, format="json"), 413, "request_too_large", "1000")


@override_settings(CORRAL_MAX_REQUEST_BYTES=1000)
def test_oversized_body_without_content_length_is_413(api, route):
    raw = json.dumps({**GOOD, "messages": [{"role": "user", "content": "x" * 2000}]}).encode()
    response = api.generic(
        "POST", "/api/v1/chat", raw, content_type="application/json", CONTENT_LENGTH=""
    )
    assert response.status_code in (400, 413)
    assert response.json()["error"]["code"] in ("request_too_large", "invalid_request")


def test_wrong_method_and_unknown_path(api, route):
    assert_error(api.get("/api/v1/chat"), 405, "method_not_allowed")
    assert_error(api.get("/api/v1/nothing-here"), 404, "not_found")


# --- upstream failures: each is answered in the contract's shape and leaves a failed record ---


def _only_record() -> AuditRecord:
    record = AuditRecord.objects.get()
    assert record.finished_at is not None
    return record


def test_model_missing_upstream_is_404_with_a_failed_record(api, backend, spans):
    route_create(name="ghost", backend=backend, upstream_model="ghost:7b")
    body = assert_error(
        api.post("/api/v1/chat", {**GOOD, "model": "ghost"}, format="json"),
        404,
        "model_not_found",
        "ghost:7b",
    )
    record = _only_record()
    assert (record.status, record.error_code) == ("failed", "model_not_found")
    assert body["error"]["message"] == record.error_message
    span = spans.span_for_audit(str(record.id))
    assert span.attributes["error.type"] == "model_not_found"
    assert span.status_code == 2
    assert any(event["name"] == "exception" for event in span.events)


@pytest.mark.parametrize(
    ("status", "error", "expected_status", "code"),
    [
        (500, "llama runner process has terminated", 502, "upstream_error"),
        (
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            503,
            "upstream_unavailable",
        ),
        (429, "too many requests", 503, "upstream_unavailable"),
        (400, "invalid options", 400, "invalid_request"),
    ],
)
def test_upstream_error_statuses_map_to_the_contract(
    api, route, ollama, status, error, expected_status, code
):
    ollama.fail_next(status, error)
    assert_error(api.post("/api/v1/chat", GOOD, format="json"), expected_status, code, error)
    assert (_only_record().status, _only_record().error_code) == ("failed", code)


def test_connection_refused_is_503(api, route, backend):
    backend.base_url = "http://127.0.0.1:9"
    backend.save()
    assert_error(
        api.post("/api/v1/chat", GOOD, format="json"), 503, "upstream_unavailable", "connect"
    )
    assert _only_record().error_code == "upstream_unavailable"


def test_timeout_is_504(api, route, backend, ollama):
    backend.first_token_timeout = 0.2
    backend.save()
    ollama.first_token_delay = 1.0
    assert_error(api.post("/api/v1/chat", GOOD, format="json"), 504, "upstream_timeout")
    assert _only_record().error_code == "upstream_timeout"


def test_stream_that_fails_before_the_first_byte_is_a_plain_error(api, route, ollama):
    ollama.fail_next(500, "boom")
    response = api.post("/api/v1/chat", {**GOOD, "stream": True}, format="json")
    assert_error(response, 502, "upstream_error")
    assert _only_record().stream is True


def test_stream_cut_mid_way_ends_with_an_error_event(api, route, ollama):
    ollama.reply = "a b c d"
    ollama.cut_after = 2
    response = api.post("/api/v1/chat", {**GOOD, "stream": True}, format="json")
    text = b"".join(response.streaming_content).decode()
    assert text.startswith('data: {"delta":"a "}')
    assert text.rstrip().splitlines()[-2] == "event: error"
    assert _only_record().error_code == "upstream_error"


def test_malformed_upstream_line_is_upstream_error(api, route, ollama):
    ollama.reply = "a b c"
    ollama.malformed_after = 1
    response = api.post("/api/v1/chat", GOOD, format="json")
    assert_error(response, 502, "upstream_error", "malformed")


def test_total_timeout_stops_a_slow_stream(api, route, backend, ollama):
    backend.total_timeout = 0.3
    backend.save()
    ollama.reply = "a b c d e f g h i j"
    ollama.chunk_delay = 0.1
    assert_error(api.post("/api/v1/chat", GOOD, format="json"), 504, "upstream_timeout")
    assert Backend.objects.get().total_timeout == 0.3
