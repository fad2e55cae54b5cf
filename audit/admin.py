import json

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.admin_roles import ReadOnlyAdminMixin, TeamScopedMixin
from accounts.models import Membership
from accounts.selectors import user_is_global_auditor
from audit.admin_filters import (
    CappedCountPaginator,
    ModelFilter,
    StartedBetweenFilter,
    StartedWithinFilter,
    TeamFilter,
    UserFilter,
)
from audit.chain import audit_chain_state
from audit.checkpoints import checkpoint_is_genuine
from audit.dashboard import bar_chart
from audit.export import EXPORTERS
from audit.models import AdminAction, AuditCheckpoint, AuditRecord, ChainVerification
from audit.selectors import audit_record_search, last_message_excerpt
from audit.services import chain_verification_request
from audit.tasks import verify_chain
from audit.usage import usage_dashboard


def _message_extras(message: dict) -> str:
    """Images (kept by digest) and tool calls of one message, below its text."""
    images = format_html_join(
        "", "<div><em>image</em> {}</div>", ((image,) for image in message.get("images") or [])
    )
    tools = message.get("tool_calls")
    return format_html(
        "{}{}", images, format_html("<pre>tool calls: {}</pre>", _pretty(tools)) if tools else ""
    )


def _pretty(value) -> str:
    return (
        json.dumps(value, indent=2, ensure_ascii=False) if value not in (None, "", [], {}) else "—"
    )


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdminMixin, TeamScopedMixin, admin.ModelAdmin):
    """Read-only for everyone: the audit trail has no edit path. Global auditors read every record,
    a team's auditors that team's."""

    team_readers = (Membership.Role.AUDITOR,)
    team_writers = ()

    change_list_template = "admin/audit/auditrecord/change_list.html"
    list_display = [
        "started",
        "username",
        "team_name",
        "model",
        "door",
        "prompt",
        "status",
        "tokens",
        "latency_ms",
    ]
    # what the list reads from each row (the exchange's JSON and text stay in the database)
    list_columns = [
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
    list_filter = [
        StartedWithinFilter,
        StartedBetweenFilter,
        "status",
        "surface",
        "operation",
        ModelFilter,
        TeamFilter,
        UserFilter,
    ]
    paginator = CappedCountPaginator
    search_fields = ["username"]  # the search itself is get_search_results below
    search_help_text = (
        "Searches user, model, trace id, error messages and the text of prompts, thinking and "
        "answers."
    )
    show_full_result_count = False
    list_per_page = 50
    fieldsets = [
        ("Who", {"fields": ["username", "team_slug", "token_prefix", "client_ip", "user_agent"]}),
        (
            "Call",
            {
                "fields": [
                    "surface",
                    "operation",
                    "model",
                    "upstream_model",
                    "backend_name",
                    "backends_tried",
                    "stream",
                    "think",
                    "keep_alive",
                    "tool_choice",
                    "conversation_id",
                ]
            },
        ),
        (
            "Exchange",
            {
                "fields": [
                    "exchange",
                    "thinking_text",
                    "answer",
                    "tool_calls_pretty",
                    "options_pretty",
                    "metadata_pretty",
                ]
            },
        ),
        (
            "Outcome",
            {
                "fields": [
                    "status",
                    "error_code",
                    "error_message",
                    "finish_reason",
                    "prompt_tokens",
                    "completion_tokens",
                    "latency_ms",
                    "ttft_ms",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
        (
            "Trace and integrity",
            {
                "fields": [
                    "trace",
                    "span_id",
                    "content_hash",
                    "chain_seq",
                    "chain_hash",
                    "content_purged_at",
                ]
            },
        ),
    ]

    @admin.display(description="Messages")
    def exchange(self, record):
        if record.content_purged_at:
            return format_html(
                "<em>Content removed by the retention policy on {}.</em>", record.content_purged_at
            )
        rows = format_html_join(
            "",
            '<div class="corral-message"><strong>{}</strong><pre>{}</pre>{}</div>',
            (
                (m.get("role", "?"), m.get("content", ""), _message_extras(m))
                for m in record.messages
            ),
        )
        return rows or "—"

    @admin.display(description="Thinking")
    def thinking_text(self, record):
        return format_html("<pre>{}</pre>", record.thinking) if record.thinking else "—"

    @admin.display(description="Answer")
    def answer(self, record):
        return format_html("<pre>{}</pre>", record.completion) if record.completion else "—"

    @admin.display(description="Tool calls")
    def tool_calls_pretty(self, record):
        return format_html("<pre>{}</pre>", _pretty(record.tool_calls))

    @admin.display(description="Backends tried")
    def backends_tried(self, record):
        lines = [
            f"{a['backend']}: served"
            if a.get("outcome") == "served"
            else f"{a['backend']}: {a.get('error_code', 'failed')} after {a.get('at_ms', '?')} ms "
            f"({a.get('error', '')})"
            for a in record.upstream_attempts or []
        ]
        return format_html("<pre>{}</pre>", "\n".join(lines) or "—")

    @admin.display(description="Options")
    def options_pretty(self, record):
        return format_html("<pre>{}</pre>", _pretty(record.options))

    @admin.display(description="Metadata")
    def metadata_pretty(self, record):
        return format_html("<pre>{}</pre>", _pretty(record.metadata))

    @admin.display(description="Trace")
    def trace(self, record):
        template = settings.CORRAL_TRACE_URL_TEMPLATE
        if record.trace_id and template:
            url = template.replace("{trace_id}", record.trace_id)
            return format_html(
                '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
                url,
                record.trace_id,
            )
        return record.trace_id or "—"

    def get_queryset(self, request):
        records = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "audit_auditrecord_changelist":
            records = records.only("id", *self.list_columns).annotate(
                prompt_excerpt=last_message_excerpt()
            )
        return records

    @admin.display(description="Started", ordering="started_at")
    def started(self, record):
        # to the second, with the zone: reviewers line records up with logs and traces
        return timezone.localtime(record.started_at).strftime("%Y-%m-%d %H:%M:%S %Z")

    # Not named `team`: the admin would take the model's foreign key of that name instead, load
    # each row's team (a query per row) and join every record to its user.
    @admin.display(description="Team", ordering="team_slug")
    def team_name(self, record):
        return record.team_slug or "—"

    @admin.display(description="Door", ordering="surface")
    def door(self, record):
        return record.get_surface_display()

    @admin.display(description="Last message")
    def prompt(self, record):
        excerpt = " ".join((getattr(record, "prompt_excerpt", None) or "").split())
        if not excerpt:
            return "—"
        short = excerpt if len(excerpt) <= 60 else f"{excerpt[:60]}…"
        return format_html('<span class="corral-excerpt" title="{}">{}</span>', excerpt, short)

    @admin.display(description="Tokens in / out")
    def tokens(self, record):
        return f"{record.prompt_tokens} / {record.completion_tokens}"

    def get_search_results(self, request, queryset, search_term):
        return audit_record_search(queryset, search_term), False

    def get_urls(self):
        return [
            path(
                "export/<str:fmt>/",
                self.admin_site.admin_view(self.export_view),
                name="audit_auditrecord_export",
            ),
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="audit_auditrecord_dashboard",
            ),
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_view),
                name="audit_auditrecord_verify",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        chain = audit_chain_state()
        if chain["unsealed"] > 100:
            messages.warning(
                request, f"{chain['unsealed']} finalized records wait to be sealed into the chain."
            )
        extra = {
            "chain": chain,
            "verification": ChainVerification.objects.first(),
            "may_verify": user_is_global_auditor(user=request.user),
            "export_urls": {
                fmt: f"{reverse('admin:audit_auditrecord_export', args=[fmt])}?{request.GET.urlencode()}"
                for fmt in EXPORTERS
            },
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def verify_view(self, request):
        """Verify now: the whole chain is read by a Celery worker; its result is the list's badge.
        For those who read every record (a mismatch names a record of any team)."""
        if request.method != "POST" or not user_is_global_auditor(user=request.user):
            raise PermissionDenied
        verification, created = chain_verification_request(user=request.user)
        if created:
            transaction.on_commit(lambda: verify_chain.delay(verification.pk))
        messages.info(
            request,
            f"The chain is being verified (asked {timezone.localtime(verification.requested_at):%H:%M:%S}); "
            "reload this page for the result.",
        )
        return HttpResponseRedirect(reverse("admin:audit_auditrecord_changelist"))

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        days = int(request.GET.get("days", "14")) if request.GET.get("days", "14").isdigit() else 14
        days = min(max(days, 1), 90)
        figures = usage_dashboard(days=days, teams=self.readable_scope(request))
        tables = [
            (title, [{**row, "label": row[field]} for row in figures[key]], field)
            for title, key, field in (
                ("team", "teams", "team_slug"),
                ("user", "users", "username"),
                ("model", "models", "model"),
            )
        ]
        context = {
            **self.admin_site.each_context(request),
            **figures,
            "title": "Usage dashboard",
            "day_choices": [7, 14, 30, 90],
            "tables": tables,
            "calls_chart": bar_chart(figures["per_day"], "calls", title="Calls per day"),
            "tokens_chart": bar_chart(figures["per_day"], "tokens", title="Tokens per day"),
            "errors_chart": bar_chart(figures["per_day"], "errors", title="Errors per day"),
        }
        return TemplateResponse(request, "admin/audit/dashboard.html", context)

    def export_view(self, request, fmt: str):
        """The current filtered list, streamed: the same filters, search and date drill-down."""
        if fmt not in EXPORTERS or not self.has_view_permission(request):
            return StreamingHttpResponse(iter(()), status=404)
        queryset = self.get_changelist_instance(request).get_queryset(request)
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(EXPORTERS[fmt](queryset), content_type=content_type)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="corral-audit-{stamp}.{fmt}"'
        return response


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The chain's signed checkpoints: read-only for everyone, like the trail they anchor."""

    list_display = ["at", "kind", "seq", "head_hash", "purge_cutoff", "purged", "genuine"]
    list_filter = ["kind"]

    @admin.display(boolean=True, description="signature holds")
    def genuine(self, checkpoint):
        return checkpoint_is_genuine(checkpoint)


@admin.register(AdminAction)
class AdminActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The log of administrative changes: read-only for everyone, like the audit trail."""

    list_display = ["at", "actor_username", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_username", "object_repr", "object_id"]
    date_hierarchy = "at"
