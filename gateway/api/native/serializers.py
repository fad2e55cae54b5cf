"""The native API's request and answer bodies."""

from django.conf import settings
from rest_framework import serializers

from gateway.api.fields import (
    ROLES,
    Base64Field,
    FormatField,
    KeepAliveField,
    OptionsSerializer,
    RejectUnknownFields,
    RequestSerializer,
    StrictBooleanField,
    StrictCharField,
    ThinkField,
    ToolCallSerializer,
    ToolSerializer,
)


class MessageSerializer(RejectUnknownFields, RequestSerializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = StrictCharField(allow_blank=True, trim_whitespace=False, required=False, default="")
    images = serializers.ListField(child=Base64Field(), required=False, max_length=16)
    tool_calls = ToolCallSerializer(many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS)
    tool_name = StrictCharField(required=False, max_length=200)
    thinking = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)


class MetadataField(serializers.DictField):
    child = StrictCharField(max_length=500, allow_blank=True, trim_whitespace=False)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > 32:
            raise serializers.ValidationError("at most 32 keys.")
        if any(len(key) > 100 for key in value):
            raise serializers.ValidationError("keys are at most 100 characters.")
        return value


class ChatInputSerializer(RejectUnknownFields, RequestSerializer):
    model = StrictCharField(max_length=200)
    messages = MessageSerializer(
        many=True, allow_empty=False, max_length=settings.CORRAL_MAX_MESSAGES
    )
    stream = StrictBooleanField(required=False, default=False)
    options = OptionsSerializer(required=False)
    format = FormatField(required=False)
    tools = ToolSerializer(many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS)
    keep_alive = KeepAliveField(required=False)
    think = ThinkField(required=False)
    conversation_id = StrictCharField(required=False, max_length=200)
    metadata = MetadataField(required=False)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class AnswerMessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()
    thinking = serializers.CharField(required=False, help_text="what the model thought first")
    tool_calls = ToolCallSerializer(many=True, required=False)


class ChatOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    model = serializers.CharField()
    message = AnswerMessageSerializer()
    done_reason = serializers.CharField()
    usage = UsageSerializer()
    latency_ms = serializers.IntegerField()
    trace_id = serializers.CharField()
