from django.contrib import admin, messages

from gateway.admin_roles import AuditorReadsMixin, ReadOnlyAdminMixin, RecordedAdminMixin
from gateway.models import Backend, Completion, ModelRoute, OtlpBatch
from gateway.tracing.outbox import otlp_outbox_state


class ModelRouteInline(admin.TabularInline):
    model = ModelRoute
    extra = 0
    fields = ["name", "upstream_model", "default_options", "enabled"]


@admin.register(Backend)
class BackendAdmin(RecordedAdminMixin, AuditorReadsMixin, admin.ModelAdmin):
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
class ModelRouteAdmin(RecordedAdminMixin, AuditorReadsMixin, admin.ModelAdmin):
    list_display = ["name", "backend", "upstream_model", "enabled", "updated_at"]
    list_filter = ["enabled", "backend"]
    search_fields = ["name", "upstream_model"]
    list_select_related = ["backend"]


@admin.register(OtlpBatch)
class OtlpBatchAdmin(ReadOnlyAdminMixin, AuditorReadsMixin, admin.ModelAdmin):
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

    def changelist_view(self, request, extra_context=None):
        state = otlp_outbox_state()
        if state.rejected:
            messages.error(
                request,
                f"{state.rejected} span batch(es) were rejected by the collector for good "
                "(400/413/415) and will not be re-sent: check the collector's configuration.",
            )
        if state.pending:
            messages.warning(
                request,
                f"{state.pending_spans} span(s) in {state.pending} batch(es) wait for the collector; "
                f"the oldest for {state.oldest_pending_age_s:.0f} s.",
            )
        return super().changelist_view(request, extra_context)


@admin.register(Completion)
class CompletionAdmin(ReadOnlyAdminMixin, AuditorReadsMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "user",
        "status",
        "attempts",
        "finished_at",
        "callback_status",
    ]
    list_filter = ["status"]
    search_fields = ["id", "user__username", "idempotency_key"]
    list_select_related = ["user"]
