from django.contrib import admin

from gateway.models import Backend, ModelRoute, OtlpBatch


class ModelRouteInline(admin.TabularInline):
    model = ModelRoute
    extra = 0
    fields = ["name", "upstream_model", "default_options", "enabled"]


@admin.register(Backend)
class BackendAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "base_url",
        "enabled",
        "connect_timeout",
        "read_timeout",
        "total_timeout",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "base_url"]
    inlines = [ModelRouteInline]


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    list_display = ["name", "backend", "upstream_model", "enabled", "updated_at"]
    list_filter = ["enabled", "backend"]
    search_fields = ["name", "upstream_model"]
    list_select_related = ["backend"]


@admin.register(OtlpBatch)
class OtlpBatchAdmin(admin.ModelAdmin):
    """Span batches waiting for the collector; rejected ones need an operator's eye."""

    list_display = [
        "id",
        "created_at",
        "span_count",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
    ]
    list_filter = ["status"]
    exclude = ["payload"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
