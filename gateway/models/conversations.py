from django.conf import settings
from django.db import models
from django.utils import timezone

from common.ids import uuid7


class Conversation(models.Model):
    """A person's chat in the web UI. Its exchanges are audit records too (surface `web`); the
    conversation is the person's own copy, which they may rename or delete."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, default="New chat")
    model = models.CharField(max_length=200, blank=True, help_text="the public model name")
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(null=True, blank=True)
    # The last message of the branch the person sees; earlier versions of a message (an edited
    # question, a regenerated answer) stay as its siblings under the same parent.
    head = models.ForeignKey(
        "ChatMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="conversation_recent")]

    def __str__(self) -> str:
        return self.title


class ChatMessage(models.Model):
    """One turn of a conversation; an answer points at the audit record of the call that made it."""

    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # the message this one follows (None: a first question); its siblings are its other versions
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    # when this message was last on the branch shown: going back to a turn shows the versions
    # below it as the person left them
    shown_at = models.DateTimeField(default=timezone.now)
    role = models.CharField(max_length=16, choices=Role.choices)
    model = models.CharField(max_length=200, blank=True, help_text="the model that answered")
    content = models.TextField(blank=True)
    thinking = models.TextField(blank=True, help_text="what a thinking model thought first")
    # A question's images as the model is sent them (base64), sent again with every later turn
    # because the model keeps nothing between calls; the audit record keeps only their digests.
    images = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # No database constraint: audit records outlive conversations and are never deleted.
    audit_record = models.ForeignKey(
        "audit.AuditRecord",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"
