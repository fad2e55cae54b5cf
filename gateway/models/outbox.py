from django.db import models


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
