"""The Ollama servers Corral calls, what their health checks said, and the routes from public
model names to them."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator, URLValidator
from django.db import models

from common.durations import duration_seconds


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
