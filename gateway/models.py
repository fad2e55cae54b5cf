from urllib.parse import urlsplit

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models


def default_connect_timeout() -> float:
    return settings.CORRAL_CONNECT_TIMEOUT


def default_read_timeout() -> float:
    return settings.CORRAL_READ_TIMEOUT


def default_total_timeout() -> float:
    return settings.CORRAL_TOTAL_TIMEOUT


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
    read_timeout = models.FloatField(
        default=default_read_timeout,
        help_text="Seconds to wait for the first token and between two chunks.",
    )
    total_timeout = models.FloatField(
        default=default_total_timeout, help_text="Seconds a whole call may take."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> tuple[str, int]:
        """Host and port, as the span's server.address / server.port want them."""
        parts = urlsplit(self.base_url)
        default_port = 443 if parts.scheme == "https" else 80
        return parts.hostname or "", parts.port or default_port


class ModelRoute(models.Model):
    """A public model name callers use, mapped to a model on a backend."""

    name = models.CharField(
        max_length=200, unique=True, help_text="The model name callers send, e.g. llama3.2"
    )
    backend = models.ForeignKey(Backend, on_delete=models.PROTECT, related_name="routes")
    upstream_model = models.CharField(
        max_length=200, help_text="The model name on the backend, e.g. llama3.2:3b"
    )
    default_options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Ollama options applied unless the caller sends its own, e.g. {"num_ctx": 8192}',
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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
