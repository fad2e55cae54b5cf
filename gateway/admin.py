from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html

from accounts.admin_roles import ReadOnlyAdminMixin
from audit.admin_actions import admin_action_record
from common.admin_log import RecordedAdminMixin
from common.errors import GatewayError
from gateway.backends.circuit import backend_states
from gateway.backends.health import backends_health_check
from gateway.models import Backend, BackendHealth, Completion, ModelRoute, OtlpBatch, RouteTarget
from gateway.selectors import route_targets_missing_model
from gateway.services import routes_sync_from_backend
from gateway.tracing.outbox import otlp_outbox_state


class RouteTargetInline(admin.TabularInline):
    model = RouteTarget
    extra = 0
    fields = ["backend", "upstream_model", "priority", "weight", "enabled"]
    autocomplete_fields = ["backend"]


class BackendTargetInline(admin.TabularInline):
    """On a backend's page: the routes it serves."""

    model = RouteTarget
    fk_name = "backend"
    extra = 0
    fields = ["route", "upstream_model", "priority", "weight", "enabled"]
    autocomplete_fields = ["route"]
    verbose_name = "route it serves"
    verbose_name_plural = "routes it serves"


def _health_line(backend: Backend, health: BackendHealth) -> str:
    if health.status == BackendHealth.Status.UP:
        loaded = f", {len(health.models_loaded)} loaded" if health.models_loaded else ""
        return (
            f"{backend.name}: up, Ollama {health.version or '?'}, {health.latency_ms:.0f} ms, "
            f"{len(health.models_present)} model(s){loaded}"
        )
    return f"{backend.name}: {health.status} ({health.error})"


@admin.register(Backend)
class BackendAdmin(RecordedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "base_url",
        "enabled",
        "health_status",
        "health_latency",
        "ollama_version",
        "models_present",
        "checked_at",
    ]
    list_filter = ["enabled", "follows_ollama_host", "health__status"]
    search_fields = ["name", "base_url"]
    list_select_related = ["health"]
    fieldsets = [
        (None, {"fields": ["name", "base_url", "follows_ollama_host", "enabled"]}),
        (
            "Timeouts (seconds)",
            {"fields": ["connect_timeout", "first_token_timeout", "idle_timeout", "total_timeout"]},
        ),
        ("Last health check", {"fields": ["health_report"]}),
    ]
    readonly_fields = ["health_report"]
    inlines = [BackendTargetInline]
    actions = ["test_connection", "import_models", "show_missing_models"]

    def _health(self, backend: Backend) -> BackendHealth | None:
        return getattr(backend, "health", None)

    @admin.display(description="health", ordering="health__status")
    def health_status(self, backend: Backend) -> str:
        health = self._health(backend)
        if health is None:
            return "not checked"
        state = backend_states([backend.pk])[backend.pk]
        if state.open_for:
            return f"{health.status}, out of rotation ({state.open_for:.0f} s)"
        return health.status

    @admin.display(description="latency")
    def health_latency(self, backend: Backend) -> str:
        health = self._health(backend)
        return f"{health.latency_ms:.0f} ms" if health and health.latency_ms is not None else "-"

    @admin.display(description="Ollama")
    def ollama_version(self, backend: Backend) -> str:
        health = self._health(backend)
        return health.version if health else ""

    @admin.display(description="models (loaded)")
    def models_present(self, backend: Backend) -> str:
        health = self._health(backend)
        if health is None or health.status != BackendHealth.Status.UP:
            return "-"
        return f"{len(health.models_present)} ({len(health.models_loaded)})"

    @admin.display(description="checked")
    def checked_at(self, backend: Backend):
        health = self._health(backend)
        return health.checked_at if health else None

    @admin.display(description="health")
    def health_report(self, backend: Backend) -> str:
        health = self._health(backend)
        if health is None:
            return "Not checked yet: the health beat task checks every backend, or use the action."
        models = ", ".join(health.models_present) or "-"
        loaded = ", ".join(health.models_loaded) or "-"
        return format_html(
            "{}<br>since {}; last check {}<br>models: {}<br>loaded: {}",
            _health_line(backend, health),
            health.since or "-",
            health.checked_at or "-",
            models,
            loaded,
        )

    # Each of these writes (health rows, routes) and reaches out to the backends: operators only,
    # not everyone who may read the list.
    @admin.action(
        description="Test the connection of the selected backends", permissions=["change"]
    )
    def test_connection(self, request, queryset):
        for health in backends_health_check(list(queryset)):
            level = messages.SUCCESS if health.status == BackendHealth.Status.UP else messages.ERROR
            self.message_user(request, _health_line(health.backend, health), level)

    @admin.action(
        description="Import the models of the selected backends as routes", permissions=["change"]
    )
    def import_models(self, request, queryset):
        for backend in queryset:
            try:
                report = routes_sync_from_backend(backend=backend)
            except GatewayError as exc:
                self.message_user(request, f"{backend.name}: {exc.message}", messages.ERROR)
                continue
            for name in report.created + report.joined:
                admin_action_record(
                    actor=request.user,
                    action="create",
                    obj=RouteTarget.objects.get(route__name=name, backend=backend),
                    before=None,
                    after={"route": name, "backend": backend.name},
                )
            self.message_user(
                request,
                f"{backend.name}: {len(report.created)} route(s) added "
                f"({', '.join(report.created) or '-'}), {len(report.joined)} route(s) now also "
                f"served here ({', '.join(report.joined) or '-'}), "
                f"{len(report.existing)} already present.",
                messages.SUCCESS,
            )

    @admin.action(
        description="Show routes pointing at a model the backend does not have",
        permissions=["change"],
    )
    def show_missing_models(self, request, queryset):
        for health in backends_health_check(list(queryset)):
            backend = health.backend
            if health.status != BackendHealth.Status.UP:
                self.message_user(
                    request,
                    f"{backend.name}: cannot tell, {_health_line(backend, health)}",
                    messages.WARNING,
                )
                continue
            missing = route_targets_missing_model(backend=backend)
            if not missing:
                self.message_user(
                    request,
                    f"{backend.name}: every route it serves has its model.",
                    messages.SUCCESS,
                )
                continue
            listed = ", ".join(f"{t.route.name} -> {t.upstream_model}" for t in missing)
            self.message_user(
                request,
                f"{backend.name} lacks {len(missing)} model(s) routes point at: {listed}. "
                f"Pull them there (ollama pull) or switch those targets off.",
                messages.WARNING,
            )


@admin.register(ModelRoute)
class ModelRouteAdmin(RecordedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "served_by", "enabled", "updated_at"]
    list_filter = ["enabled", "targets__backend"]
    search_fields = ["name", "targets__upstream_model"]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        (
            "Defaults for every call",
            {"fields": ["default_options", "system_prompt", "keep_alive"]},
        ),
        (
            "What one caller may ask for (larger asks are clamped)",
            {"fields": ["max_num_predict", "max_num_ctx", "max_keep_alive"]},
        ),
        (
            "Timeouts (seconds; empty: the backend's)",
            {"fields": ["first_token_timeout", "idle_timeout", "total_timeout"]},
        ),
    ]
    inlines = [RouteTargetInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("targets__backend").distinct()

    @admin.display(description="served by")
    def served_by(self, route: ModelRoute) -> str:
        return ", ".join(
            f"{t.backend.name} ({t.upstream_model}, priority {t.priority}, weight {t.weight}"
            f"{'' if t.enabled else ', off'})"
            for t in route.targets.all()
        )


@admin.register(OtlpBatch)
class OtlpBatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
class CompletionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
    # the callback URL is shown, never typed here; Django 6 makes https the assumed scheme
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
