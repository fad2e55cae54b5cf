"""What the chat shows: its messages with their outcome and figures, the conversation list grouped
by date, and the plain sentence for each error code."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.selectors import user_is_global_auditor
from audit.models import AuditRecord
from gateway.conversations.markdown import render_markdown
from gateway.conversations.selectors import search_snippet
from gateway.conversations.services import said_to_model
from gateway.models import ChatMessage, Conversation

# What a person reads when a call fails, by the contract's error code.
PLAIN_ERRORS = {
    "model_not_found": "This model is not available right now. Pick another one.",
    "model_forbidden": "Your team may not use this model. Pick another one.",
    "rate_limited": "You are sending messages faster than your limit allows.",
    "quota_exceeded": "You have used up your token quota.",
    "limits_unavailable": "Corral cannot check your limits right now. Try again in a moment.",
    "upstream_unavailable": "The model server cannot be reached or is busy. Try again in a moment.",
    "upstream_timeout": "The model took too long to answer.",
    "upstream_error": "The model server failed while answering.",
    "request_too_large": "That message is too long to send.",
    "invalid_request": "The conversation changed elsewhere. Reload the page and try again.",
    "client_disconnected": "The connection to the chat was lost before the answer was complete.",
    "stop_unavailable": "Corral cannot stop the answer right now; it finishes on its own.",
    "unauthenticated": "Your session has ended; what you typed is kept.",
    "forbidden": "Your session has expired. Reload the page and try again.",
    "not_found": "This conversation no longer exists.",
    "internal_error": "Something went wrong on Corral's side. Try again.",
    "network": "The connection to Corral was lost.",
}


def _answer_figures(shown: list[ChatMessage]) -> dict:
    """Each answer's model, tokens, time to first token and duration, from its audit record (the
    person's own), read in one query."""
    ids = [m.audit_record_id for m in shown if m.audit_record_id]
    rows = AuditRecord.objects.filter(id__in=ids).values(
        "id", "upstream_model", "prompt_tokens", "completion_tokens", "ttft_ms", "latency_ms"
    )
    return {row.pop("id"): row for row in rows}


def messages_for_display(shown: list[ChatMessage], user) -> list[dict]:
    last_answer = next(
        (m.id for m in reversed(shown) if m.role == ChatMessage.Role.ASSISTANT), None
    )
    audit_admin = user_is_global_auditor(user=user)
    figures = _answer_figures(shown)
    said = [m.id for m in said_to_model(shown)]
    rows = []
    for message in shown:
        row = {"message": message, "is_last_answer": message.id == last_answer}
        versions = getattr(message, "versions", [message.id])
        if len(versions) > 1:
            at = versions.index(message.id)
            row["version"] = {
                "number": at + 1,
                "count": len(versions),
                "previous": versions[at - 1] if at else None,
                "next": versions[at + 1] if at + 1 < len(versions) else None,
            }
        if message.role == ChatMessage.Role.USER:
            # where the question stands in the history the chat sends, for an edit
            row["turn"] = said.index(message.id)
            row["images"] = [
                reverse("web-conversation-image", args=[message.conversation_id, message.id, n])
                for n in range(len(message.images))
            ]
        if message.role == ChatMessage.Role.ASSISTANT:
            row["html"] = render_markdown(message.content)
            row["error"] = PLAIN_ERRORS.get(message.error_code, message.error_message)
            # the plain sentence, and what actually happened when the server said more
            if message.error_message and row["error"] != message.error_message:
                row["error_detail"] = message.error_message.rstrip(".")
            if message.audit_record_id:
                row["figures"] = figures.get(message.audit_record_id)
                row["audit_url"] = (
                    reverse("admin:audit_auditrecord_change", args=[message.audit_record_id])
                    if audit_admin
                    else reverse("web-record", args=[message.audit_record_id])
                )
        rows.append(row)
    return rows


def with_snippets(conversations, search: str) -> list[Conversation]:
    shown = list(conversations)
    for conversation in shown:
        said = getattr(conversation, "match", None)
        if said and search.lower() not in conversation.title.lower():
            conversation.snippet = search_snippet(said, search)
    return shown


def grouped_by_date(conversations: list[Conversation]) -> list[tuple[str, list[Conversation]]]:
    """The conversation list as people read it: Today, Yesterday, Previous 7 days, Previous 30
    days, then by month (newest first, as the list is ordered)."""
    today = timezone.localdate()
    groups: list[tuple[str, list[Conversation]]] = []
    for conversation in conversations:
        day = timezone.localdate(conversation.updated_at)
        if day == today:
            label = "Today"
        elif day == today - timedelta(days=1):
            label = "Yesterday"
        elif day > today - timedelta(days=7):
            label = "Previous 7 days"
        elif day > today - timedelta(days=30):
            label = "Previous 30 days"
        else:
            label = day.strftime("%B %Y")
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(conversation)
    return groups
