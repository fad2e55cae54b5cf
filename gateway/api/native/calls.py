from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditRecord
from audit.selectors import audit_record_get_for_user, audit_record_list_for_user
from common.errors import InvalidRequest
from gateway.api.base import NATIVE_AUTHENTICATION, RateLimitHeadersMixin


class CallSummarySerializer(serializers.ModelSerializer):
    total_tokens = serializers.IntegerField(read_only=True)

    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "started_at",
            "finished_at",
            "username",
            "team_slug",
            "token_prefix",
            "surface",
            "operation",
            "model",
            "stream",
            "status",
            "error_code",
            "finish_reason",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "latency_ms",
            "ttft_ms",
            "trace_id",
        ]


class CallDetailSerializer(CallSummarySerializer):
    class Meta(CallSummarySerializer.Meta):
        fields = [
            *CallSummarySerializer.Meta.fields,
            "span_id",
            "client_ip",
            "user_agent",
            "upstream_model",
            "backend_name",
            "upstream_attempts",
            "options",
            "request_format",
            "tools",
            "messages",
            "metadata",
            "conversation_id",
            "completion",
            "thinking",
            "think",
            "keep_alive",
            "tool_choice",
            "tool_calls",
            "error_message",
        ]


class CallPagination(CursorPagination):
    ordering = ("-started_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request) -> int:
        # DRF falls back to the default for a page_size it cannot use; the caller should know.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise InvalidRequest(
                f"page_size: must be a whole number from 1 to {self.max_page_size}."
            )
        return int(raw)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class CallListView(RateLimitHeadersMixin, ListAPIView):
    authentication_classes = NATIVE_AUTHENTICATION
    serializer_class = CallSummarySerializer
    pagination_class = CallPagination

    @extend_schema(
        operation_id="calls_list",
        parameters=[
            OpenApiParameter("status", str, enum=AuditRecord.Status.values),
            OpenApiParameter("model", str),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        records = audit_record_list_for_user(user=self.request.user)
        status = self.request.query_params.get("status")
        if status:
            if status not in AuditRecord.Status.values:
                allowed = ", ".join(AuditRecord.Status.values)
                raise InvalidRequest(f"status: must be one of {allowed}.")
            records = records.filter(status=status)
        model = self.request.query_params.get("model")
        if model:
            records = records.filter(model=model)
        return records


class CallDetailView(RateLimitHeadersMixin, APIView):
    authentication_classes = NATIVE_AUTHENTICATION

    @extend_schema(operation_id="calls_retrieve", responses=CallDetailSerializer)
    def get(self, request, call_id: str):
        record = audit_record_get_for_user(user=request.user, record_id=call_id)
        return Response(CallDetailSerializer(record).data)
