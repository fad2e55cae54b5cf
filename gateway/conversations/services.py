"""Writes for the web chat: conversations, and the turns the native API records into them."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone

from audit.models import AuditRecord
from common.errors import InvalidRequest
from common.redis import get_redis
from gateway.conversations.selectors import branch_through, conversation_messages
from gateway.models import ChatMessage, Conversation
from gateway.pipeline.types import every_so_often

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


def _turn(role: str, content: str, images: list[str] | None) -> dict[str, Any]:
    """A turn as the model is sent it (and as a call's messages are compared with the stored)."""
    turn = {"role": role, "content": content or ""}
    if images:
        turn["images"] = list(images)
    return turn


def said_to_model(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The messages of a branch the model is sent: failed and empty answers left out (a stopped
    answer stays, as far as it got)."""
    return [
        message
        for message in messages
        if message.role == ChatMessage.Role.USER
        or (message.status in SHOWN_TO_MODEL and message.content)
    ]


def history_for_model(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The turns a conversation sends to the model, images with their question."""
    return [_turn(m.role, m.content, m.images) for m in said_to_model(messages)]


@transaction.atomic
def conversation_show_version(*, conversation: Conversation, message_id: int) -> Conversation:
    """Show another version of a turn: the branch through that message, down its latest versions.
    Raises NotFound for a message of another conversation."""
    branch = branch_through(conversation=conversation, message_id=message_id)
    conversation.messages.filter(id__in=branch).update(shown_at=timezone.now())
    conversation.head_id = branch[-1]
    conversation.save(update_fields=["head"])
    return conversation


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


@dataclass
class ConversationTurn:
    """One chat call made into a conversation: checked before the call, recorded when the call
    opens (a question, or none to answer one again, and a placeholder answer linked to the audit
    record) and when it ends. Earlier versions are kept: the new messages are written beside them
    under `parent_id`, and become the branch shown."""

    conversation: Conversation
    model: str
    parent_id: int | None  # what the question follows; with no question, the question answered
    question: str | None  # None: answer the question `parent_id` again (regenerate)
    images: list[str] = field(default_factory=list)
    answer_id: int | None = None

    @transaction.atomic
    def opened(self, audit_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # a Stop meant for an earlier answer
            get_redis().delete(_STOP_KEY.format(self.conversation.pk))
        conversation = Conversation.objects.select_for_update().get(pk=self.conversation.pk)
        answers = self.parent_id
        if self.question is not None:
            answers = ChatMessage.objects.create(
                conversation=conversation,
                parent_id=self.parent_id,
                role=ChatMessage.Role.USER,
                content=self.question,
                images=self.images,
            ).id
            if conversation.title == DEFAULT_TITLE:
                conversation.title = _title_from(self.question) or DEFAULT_TITLE
        answer = ChatMessage.objects.create(
            conversation=conversation,
            parent_id=answers,
            role=ChatMessage.Role.ASSISTANT,
            model=self.model,
            status=ChatMessage.Status.STREAMING,
            audit_record_id=audit_id,
        )
        self.answer_id = answer.id
        conversation.head = answer
        conversation.model = self.model
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "model", "head", "updated_at"])

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
    """Check that the call continues the branch shown, so what the person sees after a reload is
    what the model was sent. Three shapes are taken: the branch plus a new question; the branch
    up to a question (answer it again); the branch up to a question, with that question changed
    (an edit). Anything else is refused."""
    shown = conversation_messages(conversation=conversation)
    said = said_to_model(shown)
    history = [_turn(m.role, m.content, m.images) for m in said]
    sent = [
        _turn(message.get("role"), message.get("content"), message.get("images"))
        for message in messages
        if message.get("role") != "system"
    ]
    if sent and sent[-1]["role"] == ChatMessage.Role.USER:
        asked = len(sent) - 1
        if sent == history[: len(sent)]:
            return ConversationTurn(
                conversation=conversation, model=model, parent_id=said[asked].id, question=None
            )
        if sent[:asked] == history[:asked]:
            if asked == len(history):
                parent_id = shown[-1].id if shown else None
            elif history[asked]["role"] == ChatMessage.Role.USER:
                parent_id = said[asked].parent_id
            else:
                parent_id = UNSET
            if parent_id is not UNSET:
                return ConversationTurn(
                    conversation=conversation,
                    model=model,
                    parent_id=parent_id,
                    question=sent[-1]["content"],
                    images=sent[-1].get("images", []),
                )
    raise InvalidRequest(
        f"messages do not continue conversation {conversation.id}; reload it and try again"
    )
