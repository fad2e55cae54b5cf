from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from common.durations import duration_seconds
from gateway.api.fields import (
    Base64Field,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)

ROLES = ["system", "user", "assistant", "tool"]


# A misspelt field is an error the caller should see, not a silently ignored key.
class RejectUnknownFields:
    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                message = (
                    f"unknown field {', '.join(map(repr, unknown))}; "
                    f"allowed: {', '.join(self.fields)}."
                )
                raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        return super().to_internal_value(data)


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class StopField(serializers.Field):
    """`stop`: one string or a list of strings."""

    default_error_messages = {"invalid": "must be a string or a list of strings."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            return [data]
        if isinstance(data, list) and len(data) <= 16 and all(isinstance(s, str) for s in data):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


class OptionsSerializer(RejectUnknownFields, serializers.Serializer):
    """Ollama's sampling options. Hardware options (num_gpu, num_thread...) belong to the operator."""

    temperature = StrictFloatField(required=False, min_value=0, max_value=100)
    top_p = StrictFloatField(required=False, min_value=0, max_value=1)
    top_k = StrictIntegerField(required=False, min_value=0)
    min_p = StrictFloatField(required=False, min_value=0, max_value=1)
    typical_p = StrictFloatField(required=False, min_value=0, max_value=1)
    seed = StrictIntegerField(required=False)
    num_predict = StrictIntegerField(required=False, min_value=-2)
    num_ctx = StrictIntegerField(required=False, min_value=1)
    num_keep = StrictIntegerField(required=False, min_value=-1)
    repeat_penalty = StrictFloatField(required=False)
    repeat_last_n = StrictIntegerField(required=False, min_value=-1)
    presence_penalty = StrictFloatField(required=False)
    frequency_penalty = StrictFloatField(required=False)
    mirostat = StrictIntegerField(required=False, min_value=0, max_value=2)
    mirostat_tau = StrictFloatField(required=False, min_value=0)
    mirostat_eta = StrictFloatField(required=False, min_value=0)
    tfs_z = StrictFloatField(required=False, min_value=0)
    penalize_newline = StrictBooleanField(required=False)
    stop = StopField(required=False)


class FunctionCallSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    arguments = serializers.DictField(required=False, default=dict)


class ToolCallSerializer(serializers.Serializer):
    function = FunctionCallSerializer()


class MessageSerializer(RejectUnknownFields, serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = StrictCharField(allow_blank=True, trim_whitespace=False, required=False, default="")
    images = serializers.ListField(child=Base64Field(), required=False, max_length=16)
    tool_calls = ToolCallSerializer(many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS)
    tool_name = StrictCharField(required=False, max_length=200)
    thinking = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)


class ToolFunctionSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    parameters = serializers.DictField(required=False)


class ToolSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["function"])
    function = ToolFunctionSerializer()


@extend_schema_field({"oneOf": [{"type": "string", "enum": ["json"]}, {"type": "object"}]})
class FormatField(serializers.Field):
    """`format`: "json" or a JSON schema object."""

    default_error_messages = {"invalid": 'must be "json" or a JSON schema object.'}

    def to_internal_value(self, data):
        if data == "json" or isinstance(data, dict):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 32}, {"type": "number"}]}
)
class KeepAliveField(serializers.Field):
    """`keep_alive`: a duration string ("5m") or seconds."""

    default_error_messages = {"invalid": 'must be a duration such as "5m" or a number of seconds.'}

    def to_internal_value(self, data):
        # What Ollama reads (Go's durations); anything else made its client fail after the call
        # had been charged to the backend.
        if isinstance(data, str) and len(data) > 32:
            self.fail("invalid")
        try:
            duration_seconds(data)
        except ValueError:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["low", "medium", "high"]}]}
)
class ThinkField(serializers.Field):
    """`think`: whether a thinking model thinks first (true/false), or how hard (low, medium,
    high, for the models that take a level). The thinking comes back as `message.thinking` and,
    streamed, as `thinking` in the delta events."""

    default_error_messages = {"invalid": 'must be true, false, "low", "medium" or "high".'}

    def to_internal_value(self, data):
        if isinstance(data, bool) or data in ("low", "medium", "high"):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


class MetadataField(serializers.DictField):
    child = StrictCharField(max_length=500, allow_blank=True, trim_whitespace=False)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > 32:
            raise serializers.ValidationError("at most 32 keys.")
        if any(len(key) > 100 for key in value):
            raise serializers.ValidationError("keys are at most 100 characters.")
        return value


class ChatInputSerializer(RejectUnknownFields, serializers.Serializer):
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
