from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditRecord
from gateway.api.base import NATIVE_AUTHENTICATION, RateLimitHeadersMixin
from gateway.api.caller import caller_from_request
from gateway.api.fields import plain_data
from gateway.api.native.serializers import (
    ChatInputSerializer,
    ChatOutputSerializer,
    ErrorSerializer,
)
from gateway.api.native.sse import sse_response
from gateway.conversations.selectors import conversation_get_for_user
from gateway.conversations.services import conversation_stop_probe, conversation_turn_prepare
from gateway.pipeline import CallMeta, ChatRequest, chat_complete, chat_stream

ERROR_RESPONSES = {
    400: "invalid_request: the body is not valid JSON or a field is wrong",
    401: "unauthenticated: missing, unknown, revoked or expired token",
    403: "model_forbidden: the token's team may not use this model",
    404: "model_not_found: no such model on this gateway or on its backend",
    413: "request_too_large: the body is over the configured limit",
    502: "upstream_error: Ollama failed",
    503: "upstream_unavailable: Ollama is unreachable or busy",
    504: "upstream_timeout: Ollama did not answer in time",
}


class ChatView(RateLimitHeadersMixin, APIView):
    authentication_classes = NATIVE_AUTHENTICATION

    @extend_schema(
        operation_id="chat",
        request=ChatInputSerializer,
        responses={
            200: OpenApiResponse(
                ChatOutputSerializer,
                description="The answer; with `stream: true` a text/event-stream of "
                '`data: {"delta": "..."}` events and one final `event: done` carrying this object.',
            ),
            **{
                status: OpenApiResponse(ErrorSerializer, description=description)
                for status, description in ERROR_RESPONSES.items()
            },
        },
    )
    def post(self, request):
        serializer = ChatInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        chat_request = ChatRequest.from_data(plain_data(serializer.validated_data))
        caller = caller_from_request(
            request, surface=AuditRecord.Surface.API, model=chat_request.model
        )
        meta = request.corral_meta = CallMeta()
        if caller.surface == AuditRecord.Surface.WEB and chat_request.conversation_id:
            turn = conversation_turn_prepare(
                conversation=conversation_get_for_user(
                    user=request.user, conversation_id=chat_request.conversation_id
                ),
                model=chat_request.model,
                messages=chat_request.messages,
            )
            meta.on_open, meta.on_finish = turn.opened, turn.finished
            meta.stopped = conversation_stop_probe(conversation_id=turn.conversation.pk)
            meta.keep_going = True
        if chat_request.stream:
            return sse_response(
                chat_stream(caller=caller, request=chat_request, meta=meta),
                keep_going=meta.keep_going,
            )
        return Response(chat_complete(caller=caller, request=chat_request, meta=meta).payload())
