from django.conf import settings
from django.db import models

from common.ids import uuid7


class ImmutableRecordError(Exception):
    pass


class AuditRecordQuerySet(models.QuerySet):
    def delete(self):
        raise ImmutableRecordError(f"{self.model._meta.verbose_name_plural} are never deleted")


class AuditRecord(models.Model):
    """One call that reached the pipeline. Written when it starts, finalized once when it ends; a
    call refused there (model forbidden or unknown, limits) is written once, final."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CLIENT_DISCONNECTED = "client_disconnected", "Client disconnected"
        STOPPED = "stopped", "Stopped by the person"
        INTERRUPTED = "interrupted", "Interrupted"
        CANCELLED = "cancelled", "Cancelled"
        REFUSED = "refused", "Refused"  # before any model was asked: access, limits

    class Surface(models.TextChoices):
        API = "api", "Native API"
        OLLAMA = "ollama", "Ollama-compatible"
        OPENAI = "openai", "OpenAI-compatible"
        WEB = "web", "Web chat"
        ASYNC = "async", "Async completion"

    class Operation(models.TextChoices):
        CHAT = "chat", "chat"
        GENERATE = "generate", "generate"
        EMBEDDINGS = "embeddings", "embeddings"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # who
    # user and team are indexed by (user, -started_at) and (team, -started_at) below: an index of
    # their own would be one more for every write to keep and no read to use.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="audit_records",
        db_index=False,
    )
    username = models.CharField(max_length=150)
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_records",
        db_index=False,
    )
    team_slug = models.CharField(max_length=64, blank=True)
    token_prefix = models.CharField(max_length=16, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    # which door
    surface = models.CharField(max_length=16, choices=Surface.choices)
    operation = models.CharField(max_length=16, choices=Operation.choices)

    # what
    model = models.CharField(max_length=200)
    upstream_model = models.CharField(max_length=200)
    backend = models.ForeignKey(
        "gateway.Backend",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_records",
    )
    backend_name = models.CharField(max_length=64, blank=True)
    upstream_attempts = models.JSONField(
        default=list,
        blank=True,
        help_text="every backend tried, in order: which failed (and why) and which served",
    )
    stream = models.BooleanField(default=False)
    options = models.JSONField(default=dict, blank=True)
    think = models.JSONField(
        null=True, blank=True, help_text="what the caller asked of a thinking model (true, a level)"
    )
    keep_alive = models.CharField(
        max_length=32, blank=True, help_text="how long Ollama was asked to keep the model loaded"
    )
    tool_choice = models.JSONField(null=True, blank=True)
    request_format = models.JSONField(null=True, blank=True)
    tools = models.JSONField(null=True, blank=True)
    messages = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    conversation_id = models.CharField(max_length=200, blank=True)
    completion = models.TextField(blank=True)
    thinking = models.TextField(blank=True, help_text="the model's reasoning, as it streamed it")
    tool_calls = models.JSONField(null=True, blank=True)

    # how it went
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.RUNNING)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="time to first token (ms)"
    )

    # where to look
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, blank=True)

    # integrity: set once when the record is sealed into the hash chain (off the request path)
    content_hash = models.CharField(max_length=64, blank=True)
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True)
    chain_hash = models.CharField(max_length=64, blank=True)
    content_purged_at = models.DateTimeField(null=True, blank=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["user", "-started_at"], name="audit_user_started"),
            models.Index(fields=["status", "started_at"], name="audit_status_started"),
            models.Index(fields=["model", "-started_at"], name="audit_model_started"),
            models.Index(fields=["team", "-started_at"], name="audit_team_started"),
            models.Index(fields=["surface", "-started_at"], name="audit_surface_started"),
            # looked up whole (a trace id pasted into the search), so without the LIKE index that
            # db_index=True adds to a CharField on PostgreSQL
            models.Index(fields=["trace_id"], name="audit_trace"),
            # the sealer's queue: finalized records not yet in the chain
            models.Index(
                fields=["finished_at", "id"],
                name="audit_unsealed",
                condition=models.Q(chain_seq__isnull=True) & ~models.Q(status="running"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.model} by {self.username} ({self.status})"

    def save(self, *args, **kwargs):
        # Records are inserted once; every later change goes through audit.services and audit.chain,
        # which update only what a running record or the chain may change.
        if not self._state.adding:
            raise ImmutableRecordError(f"audit record {self.pk} cannot be saved again")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError("audit records are never deleted")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.RUNNING


class AuditCheckpoint(models.Model):
    """A signed statement about the chain: "N records were sealed and the last link was H" (kind
    seal), or "records started before C were blanked at T" (kind purge). Signed with a key that is
    not in the database (CORRAL_AUDIT_SIGNING_KEY), and also written to the log and the trace, so a
    deleted tail, a wiped table or a blanking outside the retention job shows."""

    class Kind(models.TextChoices):
        SEAL = "seal", "Sealed"
        PURGE = "purge", "Content purged"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    at = models.DateTimeField(db_index=True)
    seq = models.BigIntegerField(help_text="chain position of the last sealed record")
    head_hash = models.CharField(max_length=64)
    purge_cutoff = models.DateTimeField(null=True, blank=True)
    purged = models.PositiveIntegerField(default=0)
    signature = models.CharField(max_length=64)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.kind} at position {self.seq} ({self.at:%Y-%m-%d %H:%M:%S})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecordError(f"audit checkpoint {self.pk} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError("audit checkpoints are never deleted")


class AdminAction(models.Model):
    """Who created, changed, revoked or deleted a token, team, member, route or backend, with the
    values before and after; and every single sign-on, or its refusal, with the groups seen. Like
    the audit trail: written once, never edited."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        CHANGE = "change", "Changed"
        REVOKE = "revoke", "Revoked"
        DELETE = "delete", "Deleted"
        SIGN_IN = "sign-in", "Signed in"
        REFUSE = "refuse", "Refused sign-in"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="admin_actions",
    )
    actor_username = models.CharField(max_length=150, help_text="empty: a management command")
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="adminaction_object")]

    def __str__(self) -> str:
        return f"{self.actor_username or 'cli'} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecordError(f"admin action {self.pk} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError("admin actions are never deleted")


class ChainVerification(models.Model):
    """A verification of the hash chain asked for in the admin ("Verify now"), run by a Celery
    worker; the latest one is the chain's badge on the audit list."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Could not run"

    requested_at = models.DateTimeField(db_index=True)
    requested_by = models.CharField(max_length=150)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True, help_text="empty until it has run")
    checked = models.PositiveIntegerField(default=0)
    unsealed = models.PositiveIntegerField(default=0)
    anchored_at = models.BigIntegerField(null=True, blank=True)
    first_bad_id = models.CharField(max_length=36, blank=True)
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"chain verification {self.pk} ({self.state})"


class UsageRollup(models.Model):
    """Calls and tokens per day, person, team and model: what the usage dashboard and the usage
    views read instead of the records. Kept by the sealer (audit.rollups), in the transaction that
    seals the records it counts, so each finalized record is counted once; derived, so it may be
    rebuilt from the records (`manage.py audit_rollups --rebuild`)."""

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    username = models.CharField(max_length=150)
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    team_slug = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, help_text="with Ollama's implied ':latest' folded in")
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user", "username", "team", "team_slug", "model"],
                name="usagerollup_key",
                condition=models.Q(team__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["day", "user", "username", "model"],
                name="usagerollup_key_no_team",
                condition=models.Q(team__isnull=True),
            ),
        ]
        indexes = [
            models.Index(fields=["day", "team"], name="usagerollup_day_team"),
            models.Index(fields=["user", "day"], name="usagerollup_user_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.username} {self.model}: {self.calls} calls"


class LatencyRollup(models.Model):
    """The latency and time-to-first-token histograms of a day's calls per team (the dashboard's
    percentiles): {bucket: count}, bucket as audit.rollups.bucket() gives it."""

    day = models.DateField()
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    latency = models.JSONField(default=dict)
    ttft = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team"],
                name="latencyrollup_key",
                condition=models.Q(team__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["day"],
                name="latencyrollup_key_no_team",
                condition=models.Q(team__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id}: latency histogram"
