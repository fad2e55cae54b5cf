"""Writes for the web chat: conversations, and the turns the native API records into them."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone

from audit.models import AuditRecord
from gateway.conversations.selectors import conversation_messages
from gateway.errors import InvalidRequest
from gateway.models import ChatMessage, Conversation
from gateway.pipeline.types import every_so_often
from gateway.redis import get_redis

DEFAULT_TITLE = "New chat"
TITLE_LENGTH = 60
UNSET: Any = object()
SHOWN_TO_MODEL = (ChatMessage.Status.COMPLETE, ChatMessage.Status.STOPPED)

_STATUS_OF_CALL = {
    AuditRecord.Status.SUCCEEDED: ChatMessage.Status.COMPLETE,
    AuditRecord.Status.STOPPED: ChatMessage.Status.STOPPED,
    AuditRecord.Status.CLIENT_DISCONNECTED: ChatMessage.Status.STOPPED,
}
# A person's Stop reaches the process finishing the answer through Redis (any web process may
# hold it); the flag outlives no answer by much.
_STOP_KEY = "corral:chat:stop:{}"
_STOP_TTL_SECONDS = 300
STOP_CHECK_SECONDS = 0.25


def conversation_stop_request(*, conversation: Conversation) -> None:
    """Ask the answer being written in this conversation to end where it is. Raises
    redis.RedisError when the request cannot be passed on."""
    get_redis().set(_STOP_KEY.format(conversation.pk), 1, ex=_STOP_TTL_SECONDS)


def conversation_stop_probe(*, conversation_id) -> Callable[[], bool]:
    """Asked between an answer's chunks: has the person pressed Stop? (If Redis cannot be read,
    the answer goes on.)"""
    key = _STOP_KEY.format(conversation_id)

    def stop_requested() -> bool:
        try:
            return bool(get_redis().exists(key))
        except redis.RedisError:
            return False

    return every_so_often(stop_requested, STOP_CHECK_SECONDS)


@transaction.atomic
def conversation_create(
    *, user, model: str = "", system_prompt: str = "", temperature: float | None = None
) -> Conversation:
    return Conversation.objects.create(
        user=user, model=model, system_prompt=system_prompt, temperature=temperature
    )


@transaction.atomic
def conversation_update(
    *,
    conversation: Conversation,
    title: str | None = None,
    system_prompt: str | None = None,
    temperature: float | None = UNSET,
) -> Conversation:
    if title is not None:
        conversation.title = title.strip()[:200] or DEFAULT_TITLE
    if system_prompt is not None:
        conversation.system_prompt = system_prompt
    if temperature is not UNSET:
        conversation.temperature = temperature
    conversation.save()
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """The person's copy goes; the audit records of its calls stay."""
    conversation.delete()


def history_for_model(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """The turns a conversation sends to the model: failed and empty answers left out (a stopped
    answer stays, as far as it got)."""
    return [
        {"role": message.role, "content": message.content}
        for message in messages
        if message.role == ChatMessage.Role.USER
        or (message.status in SHOWN_TO_MODEL and message.content)
    ]


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


@dataclass
class ConversationTurn:
    """One chat call made into a conversation: checked before the call, recorded when the call
    opens (the question, a placeholder answer linked to the audit record) and when it ends."""

    conversation: Conversation
    model: str
    question: str | None  # None: answer the last question again (regenerate)
    answer_id: int | None = None

    @transaction.atomic
    def opened(self, audit_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # a Stop meant for an earlier answer
            get_redis().delete(_STOP_KEY.format(self.conversation.pk))
        conversation = Conversation.objects.select_for_update().get(pk=self.conversation.pk)
        if self.question is None:
            last_question = conversation.messages.filter(role=ChatMessage.Role.USER).last()
            conversation.messages.filter(
                role=ChatMessage.Role.ASSISTANT, id__gt=last_question.id if last_question else 0
            ).delete()
        else:
            ChatMessage.objects.create(
                conversation=conversation, role=ChatMessage.Role.USER, content=self.question
            )
            if conversation.title == DEFAULT_TITLE:
                conversation.title = _title_from(self.question) or DEFAULT_TITLE
        self.answer_id = ChatMessage.objects.create(
            conversation=conversation,
            role=ChatMessage.Role.ASSISTANT,
            model=self.model,
            status=ChatMessage.Status.STREAMING,
            audit_record_id=audit_id,
        ).id
        conversation.model = self.model
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "model", "updated_at"])

    def finished(self, status: str, completion: str, error: Any, thinking: str = "") -> None:
        if self.answer_id is None:
            return
        ChatMessage.objects.filter(id=self.answer_id).update(
            content=completion,
            thinking=thinking,
            status=_STATUS_OF_CALL.get(status, ChatMessage.Status.FAILED),
            error_code=getattr(error, "code", "") if error else "",
            error_message=getattr(error, "message", "") if error else "",
        )


def conversation_turn_prepare(
    *, conversation: Conversation, model: str, messages: list[dict[str, Any]]
) -> ConversationTurn:
    """Check that the call continues the conversation as stored: its history plus one question,
    or its history without the last answer (regenerate). Anything else is refused, so what the
    person sees after a reload is what the model was sent."""
    history = history_for_model(conversation_messages(conversation=conversation))
    sent = [
        {"role": message.get("role"), "content": message.get("content") or ""}
        for message in messages
        if message.get("role") != "system"
    ]
    if sent and sent[-1]["role"] == ChatMessage.Role.USER and sent[:-1] == history:
        return ConversationTurn(
            conversation=conversation, model=model, question=sent[-1]["content"]
        )
    if history and history[-1]["role"] == ChatMessage.Role.ASSISTANT:
        history = history[:-1]
    if sent and sent == history and sent[-1]["role"] == ChatMessage.Role.USER:
        return ConversationTurn(conversation=conversation, model=model, question=None)
    raise InvalidRequest(
        f"messages do not continue conversation {conversation.id}; reload it and try again"
    )
