"""What the doors' request bodies share: JSON-typed serializer fields (DRF's own accept "5" for 5
and 1 for true, a gateway should not), and the parts of a body in Ollama's shape the native API
and the Ollama door both take (options, tools, format, keep_alive, think)."""

import base64
import binascii

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from common.durations import duration_seconds


# A request body's serializer whose fields are built once per class. DRF deep-copies a serializer's
# declared fields for every instance: for a chat body with its nested messages, tools and options
# that was about a tenth of a call's CPU, although reading a body keeps no state on the fields. They
# are bound to a template instance that holds no data, so no field may read its `context` or `root`
# (the top-level serializer's own `context` is its own). (A comment, not a docstring: the OpenAPI
# schema would show it on every body.)
class RequestSerializer(serializers.Serializer):
    @property
    def fields(self):
        cls = type(self)
        fields = cls.__dict__.get("_fields_once")
        if fields is None:
            template = cls()
            fields = serializers.BindingDict(template)
            for name, field in template.get_fields().items():
                fields[name] = field
            cls._fields_once = fields
        return fields


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    default_error_messages = {"invalid": "must be a string."}


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "must be an integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    default_error_messages = {"invalid": "must be a number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class Base64Field(StrictCharField):
    """Bytes sent as standard base64 (images): checked here, so nothing else is ever read as one
    (Ollama's client would read a string that names a file as that file)."""

    default_error_messages = {"invalid": "must be a string.", "base64": "must be base64 data."}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.fail("base64")
        return value


class StrictDictField(serializers.DictField):
    default_error_messages = {"not_a_dict": "must be an object."}


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


class OptionsSerializer(RejectUnknownFields, RequestSerializer):
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


class FunctionCallSerializer(RequestSerializer):
    name = StrictCharField(max_length=200)
    arguments = serializers.DictField(required=False, default=dict)


class ToolCallSerializer(RequestSerializer):
    function = FunctionCallSerializer()


class ToolFunctionSerializer(RequestSerializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    parameters = serializers.DictField(required=False)


class ToolSerializer(RequestSerializer):
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


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class EmbeddingInputField(serializers.Field):
    """What to embed: one string or a list of them, as many as CORRAL_MAX_EMBEDDING_INPUTS."""

    default_error_messages = {
        "invalid": "must be a string or a list of strings (token arrays are not supported).",
        "too_many": "at most {most} inputs ({count} sent).",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            return [data]
        if not isinstance(data, list) or not data or not all(isinstance(i, str) for i in data):
            self.fail("invalid")
        if len(data) > settings.CORRAL_MAX_EMBEDDING_INPUTS:
            self.fail("too_many", most=settings.CORRAL_MAX_EMBEDDING_INPUTS, count=len(data))
        return data

    def to_representation(self, value):
        return value


def plain_data(value):
    """Validated data as plain dicts and lists, as Ollama's client and the JSON fields want them."""
    if isinstance(value, dict):
        return {key: plain_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_data(item) for item in value]
    return value
