"""One switch for prompt/completion text on spans, a per-team override, and redaction everywhere
Corral stores or exports text."""

import pytest

from audit.models import AuditRecord
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

CONTENT_KEYS = ("gen_ai.prompt.0.content", "gen_ai.completion.0.content")


def chat(api, content: str = "secret plans") -> dict:
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
    return api.post("/api/v1/chat", body, format="json").json()


def test_global_switch_off_keeps_text_out_of_spans_not_out_of_the_audit(
    api, route, spans, settings
):
    settings.CORRAL_CAPTURE_MESSAGE_CONTENT = False
    body = chat(api)
    span = spans.span_for_audit(body["id"])
    assert not any(key in span.attributes for key in CONTENT_KEYS)
    assert "secret plans" not in repr(span.attributes)
    assert span.attributes["gen_ai.usage.output_tokens"] > 0  # the rest is still there
    assert AuditRecord.objects.get(id=body["id"]).completion == "You said: secret plans"


@pytest.mark.parametrize(
    ("global_switch", "team_switch", "captured"), [(False, True, True), (True, False, False)]
)
def test_a_team_overrides_the_switch(
    api, route, team, spans, settings, global_switch, team_switch, captured
):
    settings.CORRAL_CAPTURE_MESSAGE_CONTENT = global_switch
    team.capture_content = team_switch
    team.save()
    span = spans.span_for_audit(chat(api)["id"])
    assert all((key in span.attributes) is captured for key in CONTENT_KEYS)


def test_redaction_applies_to_audit_and_spans_but_not_to_the_model(
    api, route, ollama, spans, settings
):
    settings.CORRAL_REDACT_PATTERNS = [r"[\w.+-]+@[\w-]+\.[\w.]+"]
    leaked_token = "crl_abcd1234_" + "x" * 43
    body = chat(api, f"mail bob@example.com with {leaked_token}")
    assert ollama.requests[-1]["body"]["messages"][0]["content"].startswith("mail bob@example.com")
    record = AuditRecord.objects.get(id=body["id"])
    assert record.messages[0]["content"] == "mail [REDACTED] with [REDACTED]"
    assert record.completion == "You said: mail [REDACTED] with [REDACTED]"
    span = spans.span_for_audit(body["id"])
    assert span.attributes["gen_ai.prompt.0.content"] == "mail [REDACTED] with [REDACTED]"
    assert "bob@example.com" not in repr(span.attributes)
    assert body["message"]["content"].startswith(
        "You said: mail bob@example.com"
    )  # the caller's answer
