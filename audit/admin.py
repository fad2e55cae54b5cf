from django.contrib import admin

from audit.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
