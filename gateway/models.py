from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator, URLValidator
from django.db import models
from django.utils import timezone

from common.durations import duration_seconds
from common.ids import uuid7


def default_connect_timeout() -> float:
    return settings.CORRAL_CONNECT_TIMEOUT


def default_first_token_timeout() -> float:
    return settings.CORRAL_FIRST_TOKEN_TIMEOUT


def default_idle_timeout() -> float:
    return settings.CORRAL_IDLE_TIMEOUT


# Migration 0001 names the read timeout's default by this name.
default_read_timeout = default_idle_timeout


def default_total_timeout() -> float:
    return settings.CORRAL_TOTAL_TIMEOUT


def default_max_num_predict() -> int | None:
    return settings.CORRAL_ROUTE_MAX_NUM_PREDICT


def default_max_num_ctx() -> int | None:
    return settings.CORRAL_ROUTE_MAX_NUM_CTX


def default_max_keep_alive() -> str:
    return settings.CORRAL_ROUTE_MAX_KEEP_ALIVE


def validate_duration(value: str) -> None:
    try:
        duration_seconds(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class Backend(models.Model):
    """One Ollama server."""

    name = models.SlugField(max_length=64, unique=True)
    base_url = models.CharField(
        max_length=255,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Root URL of the Ollama server, e.g. http://gpu-1:11434",
    )
    connect_timeout = models.FloatField(
        default=default_connect_timeout, help_text="Seconds to open a connection."
    )
    first_token_timeout = models.FloatField(
        default=default_first_token_timeout,
        help_text="Seconds to wait for the first token (includes loading the model).",
    )
    idle_timeout = models.FloatField(
        default=default_idle_timeout,
        help_text="Seconds to wait between two chunks once the answer streams.",
    )
    total_timeout = models.FloatField(
        default=default_total_timeout, help_text="Seconds a whole call may take."
    )
    follows_ollama_host = models.BooleanField(
        default=False,
        help_text="Use the OLLAMA_HOST setting as the URL, whatever it is when a process starts "
        "(the backend made from it on the first start does). Untick to set a URL of your own.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.follows_ollama_host:
            self.base_url = settings.OLLAMA_HOST
        super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values):
        # A backend that follows OLLAMA_HOST is called at the URL this process was given, not at
        # the one stored when the database was made: restarting with another OLLAMA_HOST is all
        # it takes to move it, and every message names the URL actually called.
        backend = super().from_db(db, field_names, values)
        if backend.__dict__.get("follows_ollama_host") and "base_url" in backend.__dict__:
            backend.base_url = settings.OLLAMA_HOST
        return backend

    def clean(self) -> None:
        if self.follows_ollama_host and self.base_url != settings.OLLAMA_HOST:
            raise ValidationError(
                {
                    "base_url": "This backend follows OLLAMA_HOST "
                    f"({settings.OLLAMA_HOST}); untick that to set a URL of its own."
                }
            )

    @property
    def address(self) -> tuple[str, int]:
        """Host and port, as the span's server.address / server.port want them."""
        parts = urlsplit(self.base_url)
        default_port = 443 if parts.scheme == "https" else 80
        return parts.hostname or "", parts.port or default_port


class BackendHealth(models.Model):
    """What the last health checks of a backend found; written by the health beat task."""

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Not checked yet"
        UP = "up", "Up"
        DOWN = "down", "Down"

    backend = models.OneToOneField(
        Backend, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    since = models.DateTimeField(null=True, blank=True, help_text="when the status last changed")
    checked_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    version = models.CharField(max_length=64, blank=True)
    models_present = models.JSONField(default=list, blank=True, help_text="from /api/tags")
    models_loaded = models.JSONField(default=list, blank=True, help_text="from /api/ps")
    consecutive_failures = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "backend health"

    def __str__(self) -> str:
        return f"{self.backend_id}: {self.status}"


class ModelRoute(models.Model):
    """A public model name callers use, served by one or more backends (its targets)."""

    name = models.CharField(
        max_length=200, unique=True, help_text="The model name callers send, e.g. llama3.2"
    )
    default_options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Ollama options applied unless the caller sends its own, e.g. {"num_ctx": 8192}',
    )
    system_prompt = models.TextField(
        blank=True, help_text="Sent as the system message when the caller sends none."
    )
    keep_alive = models.CharField(
        max_length=32,
        blank=True,
        validators=[
            RegexValidator(
                r"^(-?\d+(\.\d+)?|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$",
                'A number of seconds or a duration such as "10m", "1h30m".',
            )
        ],
        help_text='How long Ollama keeps the model loaded unless the caller says: "10m", "1h", '
        '"-1" (forever), "0" (unload at once). Empty: Ollama\'s default.',
    )
    # What one caller may ask of the model for everyone: the longest answer, the largest context
    # (memory on the GPU) and how long the model stays loaded. Larger asks are clamped to these.
    max_num_predict = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=default_max_num_predict,
        help_text="Upper bound on num_predict (tokens per answer); empty: none.",
    )
    max_num_ctx = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=default_max_num_ctx,
        help_text="Upper bound on num_ctx (context window; each step costs GPU memory); empty: none.",
    )
    max_keep_alive = models.CharField(
        max_length=32,
        blank=True,
        default=default_max_keep_alive,
        validators=[validate_duration],
        help_text='Longest keep_alive a caller may ask for, e.g. "1h"; a longer one or "forever" '
        "(negative) is clamped to it. Empty: none.",
    )
    first_token_timeout = models.FloatField(
        null=True, blank=True, help_text="Overrides the backends' first-token timeout."
    )
    idle_timeout = models.FloatField(
        null=True, blank=True, help_text="Overrides the backends' idle timeout."
    )
    total_timeout = models.FloatField(
        null=True, blank=True, help_text="Overrides the backends' total timeout."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_models", "Can pull, create, copy, push and delete models on the backends")
        ]

    def __str__(self) -> str:
        return self.name


class RouteTarget(models.Model):
    """One backend serving a route. Calls go to the best (lowest) priority among the healthy
    targets, spread by weight; the others take over when those fail."""

    route = models.ForeignKey(ModelRoute, on_delete=models.CASCADE, related_name="targets")
    backend = models.ForeignKey(Backend, on_delete=models.PROTECT, related_name="targets")
    upstream_model = models.CharField(
        max_length=200, help_text="The model name on the backend, e.g. llama3.2:3b"
    )
    priority = models.PositiveSmallIntegerField(
        default=0, help_text="Lower is preferred; higher priorities are fallbacks."
    )
    weight = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Share of the calls among targets of the same priority.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "-weight", "id"]
        constraints = [
            models.UniqueConstraint(fields=["route", "backend"], name="route_target_once"),
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="route_target_weight"),
        ]

    def __str__(self) -> str:
        return f"{self.route_id} -> {self.upstream_model} on {self.backend_id}"


class OtlpBatch(models.Model):
    """A span batch the collector did not take, kept as the exact OTLP request bytes until it does."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        REJECTED = "rejected", "Rejected (permanent)"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    payload = models.BinaryField()
    span_count = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="otlp_batch_due")]
        verbose_name = "OTLP batch"
        verbose_name_plural = "OTLP outbox"

    def __str__(self) -> str:
        return f"{self.span_count} spans ({self.status})"


class Completion(models.Model):
    """An asynchronous chat completion: queued by the API, run by a Celery worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="completions"
    )
    token = models.ForeignKey(
        "accounts.ApiToken", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request = models.JSONField(help_text="the chat request, as the native API took it")
    idempotency_key = models.CharField(max_length=200, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    audit_record_id = models.UUIDField(
        null=True, blank=True, help_text="the current or last attempt"
    )
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    callback_status = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="completion_idempotency_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"completion {self.id} ({self.status})"


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
