"""Ollama request bodies read as Ollama's own server reads them (Go's encoding/json): the body is
JSON whatever the Content-Type says, unknown fields are ignored at any level and null means absent.
What would be a wrong type or a value out of bounds is still refused, with a 400 in Ollama's shape.
(Corral's native API stays strict: that is Corral's own contract.)"""

from django.conf import settings
from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation

from gateway.api.fields import (
    ROLES,
    Base64Field,
    EmbeddingInputField,
    FunctionCallSerializer,
    KeepAliveField,
    OptionsSerializer,
    RequestSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    ToolSerializer,
)


class JSONWhateverTheContentType(DefaultContentNegotiation):
    """`curl -d` sends a form's Content-Type, LiteLLM's Ollama providers send none: Ollama reads
    the body as JSON all the same."""

    def select_parser(self, request, parsers):
        return parsers[0]


def go_decoded(value):
    """What Go's decoder leaves of a JSON value: a null member is the same as a missing one."""
    if isinstance(value, dict):
        return {key: go_decoded(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [go_decoded(item) for item in value]
    return value


def validated(serializer_class, data) -> dict:
    data = go_decoded(data) if isinstance(data, dict) else data
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return {**serializer.validated_data, "options": _options(data)}


class OllamaToolCallSerializer(RequestSerializer):
    function = FunctionCallSerializer()


class OllamaMessageSerializer(RequestSerializer):
    """A message as Ollama reads it; anything else a client adds (LiteLLM's `tool_call_id` and
    `name`, OpenAI-style fields) is ignored, as Ollama ignores it."""

    role = serializers.ChoiceField(choices=ROLES)
    content = StrictCharField(allow_blank=True, trim_whitespace=False, required=False, default="")
    images = serializers.ListField(child=Base64Field(), required=False, max_length=16)
    tool_calls = OllamaToolCallSerializer(
        many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS
    )
    tool_name = StrictCharField(required=False, max_length=200)
    thinking = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)


def _options(data: dict) -> dict:
    """Ollama's options, minus what only an operator may set (hardware and threads) and minus keys
    Ollama itself would ignore: a drop-in door must not break a tool over an option it sends."""
    raw = data.get("options") or {}
    if not isinstance(raw, dict):
        raise exceptions.ValidationError({"options": ["must be an object."]})
    known = {key: value for key, value in raw.items() if key in OptionsSerializer().fields}
    serializer = OptionsSerializer(data=known)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class OllamaChatSerializer(RequestSerializer):
    model = StrictCharField(max_length=200)
    # Empty: load the model (or, with keep_alive 0, unload it), as Ollama does.
    messages = OllamaMessageSerializer(
        many=True, required=False, default=list, max_length=settings.CORRAL_MAX_MESSAGES
    )
    stream = StrictBooleanField(required=False, default=True)
    tools = ToolSerializer(many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS)
    format = serializers.JSONField(required=False)
    keep_alive = KeepAliveField(required=False)
    think = serializers.JSONField(required=False)


class OllamaGenerateSerializer(RequestSerializer):
    model = StrictCharField(max_length=200)
    prompt = StrictCharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    suffix = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    system = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    template = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    images = serializers.ListField(child=Base64Field(), required=False, max_length=16)
    raw = StrictBooleanField(required=False)
    stream = StrictBooleanField(required=False, default=True)
    format = serializers.JSONField(required=False)
    keep_alive = KeepAliveField(required=False)
    think = serializers.JSONField(required=False)


class OllamaEmbedSerializer(RequestSerializer):
    model = StrictCharField(max_length=200)
    input = EmbeddingInputField()
    truncate = StrictBooleanField(required=False)
    dimensions = StrictIntegerField(required=False, min_value=1)
    keep_alive = KeepAliveField(required=False)


class OllamaLegacyEmbeddingsSerializer(RequestSerializer):
    """`POST /api/embeddings` (before /api/embed): one `prompt`, one `embedding` back."""

    model = StrictCharField(max_length=200)
    prompt = StrictCharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    keep_alive = KeepAliveField(required=False)
