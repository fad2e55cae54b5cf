from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditRecord
from common.errors import InvalidRequest
from gateway.api.base import RateLimitHeadersMixin
from gateway.api.caller import caller_from_request
from gateway.api.fields import plain_data
from gateway.api.native.chat import ERROR_RESPONSES
from gateway.api.native.serializers import ChatInputSerializer, ErrorSerializer
from gateway.completions.payloads import completion_payload
from gateway.completions.selectors import completion_get_for_user
from gateway.completions.services import completion_cancel, completion_submit
from gateway.completions.tasks import completion_enqueue


class CompletionInputSerializer(ChatInputSerializer):
    callback_url = serializers.URLField(required=False, max_length=2000)

    def validate_stream(self, value):
        if value:
            raise serializers.ValidationError("asynchronous completions do not stream.")
        return value


class CompletionQueuedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    url = serializers.URLField()


class CompletionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=["queued", "running", "succeeded", "failed", "cancelled"]
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    result = serializers.DictField(
        required=False, help_text="the chat response, as POST /chat gives it"
    )
    error = serializers.DictField(required=False)


IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    description="the same key from the same user returns the same job",
)


class CompletionListView(RateLimitHeadersMixin, APIView):
    @extend_schema(
        operation_id="completions_create",
        request=CompletionInputSerializer,
        parameters=[IDEMPOTENCY],
        # what the chat would refuse now refuses the job now; other errors: schema.document_errors
        responses={
            202: CompletionQueuedSerializer,
            **{
                status: OpenApiResponse(ErrorSerializer, description=ERROR_RESPONSES[status])
                for status in (403, 404)
            },
        },
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > 200:
            raise InvalidRequest("Idempotency-Key: at most 200 characters.")
        serializer = CompletionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = plain_data(serializer.validated_data)
        callback_url = data.pop("callback_url", "")
        completion, created = completion_submit(
            caller=caller_from_request(request, surface=AuditRecord.Surface.ASYNC),
            request_data=data,
            idempotency_key=key,
            callback_url=callback_url,
        )
        if created:
            completion_enqueue(completion)
        url = request.build_absolute_uri(reverse("api-completion-detail", args=[completion.id]))
        headers = {"Location": url}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        body = {"id": str(completion.id), "status": completion.status, "url": url}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


class CompletionDetailView(RateLimitHeadersMixin, APIView):
    @extend_schema(operation_id="completions_retrieve", responses=CompletionSerializer)
    def get(self, request, completion_id: str):
        completion = completion_get_for_user(user=request.user, completion_id=completion_id)
        return Response(completion_payload(completion))


class CompletionCancelView(RateLimitHeadersMixin, APIView):
    @extend_schema(operation_id="completions_cancel", request=None, responses=CompletionSerializer)
    def post(self, request, completion_id: str):
        completion = completion_get_for_user(user=request.user, completion_id=completion_id)
        return Response(completion_payload(completion_cancel(completion=completion)))
