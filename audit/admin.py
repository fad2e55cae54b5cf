from django.contrib import admin

from audit.models import AdminAction, AuditRecord
from gateway.admin_roles import AuditorReadsMixin, ReadOnlyAdminMixin


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdminMixin, AuditorReadsMixin, admin.ModelAdmin):
    """Read-only for everyone: the audit trail has no edit path."""

    list_display = [
        "started_at",
        "username",
        "team_slug",
        "model",
        "surface",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
    ]
    list_filter = ["status", "surface", "operation", "model"]
    search_fields = ["username", "model", "trace_id"]
    date_hierarchy = "started_at"
    show_full_result_count = False


@admin.register(AdminAction)
class AdminActionAdmin(ReadOnlyAdminMixin, AuditorReadsMixin, admin.ModelAdmin):
    """The log of administrative changes: read-only for everyone, like the audit trail."""

    list_display = ["at", "actor_username", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_username", "object_repr", "object_id"]
    date_hierarchy = "at"
