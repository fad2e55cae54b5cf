"""The values OpenAI bodies carry that Ollama's do not: data URL images, tool arguments as JSON
strings, objects whose `type` says what they are, string metadata, and the sampling parameters
under their OpenAI names (with Ollama's own options beside them, as clients send them in their
extra body)."""

import json

from rest_framework import serializers

from common.errors import InvalidRequest
from gateway.api.fields import Base64Field, OptionsSerializer
from gateway.api.parsers import check_nesting


class NullIsAbsent:
    """OpenAI's SDKs, LangChain and LiteLLM send `null` for what they leave unset: at the top of a
    body (and of the objects that use this), null means the field was not sent."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value is not None}
        return super().to_internal_value(data)


class DataURLImageField(serializers.Field):
    """An image sent as a data URL (the only kind Corral can pass to Ollama), read as its base64
    data. Chat sends `{"url": ...}`, the Responses API the URL itself."""

    default_error_messages = {"invalid": "images must be data URLs (data:image/...;base64,...)."}

    def to_internal_value(self, data):
        url = data.get("url") if isinstance(data, dict) else data
        if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
            self.fail("invalid")
        return Base64Field().to_internal_value(url.split(";base64,", 1)[1])


class ToolArgumentsField(serializers.Field):
    """A tool call's arguments: a JSON string of an object in OpenAI's format (an object in
    Ollama's), nested no deeper than a body may be."""

    default_error_messages = {"invalid": "must be a JSON string of an object."}

    def to_internal_value(self, data):
        if data == "":
            return {}
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            arguments = json.loads(data)
        except (json.JSONDecodeError, RecursionError):
            self.fail("invalid")
        if not isinstance(arguments, dict):
            self.fail("invalid")
        try:
            check_nesting(arguments, "arguments")
        except InvalidRequest as exc:
            raise serializers.ValidationError(exc.message) from None
        return arguments


class TypedObjectField(serializers.Field):
    """An object whose `type` says which serializer reads it (content parts, Responses input
    items); a type Corral cannot pass to Ollama is refused by name, never dropped."""

    default_error_messages = {"not_an_object": "must be an object."}

    def __init__(self, kinds: dict[str, type[serializers.Serializer]], **kwargs) -> None:
        self.kinds = kinds
        self.default_type = kwargs.pop("default_type", None)
        self.noun = kwargs.pop("noun", "parts")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_an_object")
        kind = data.get("type", self.default_type)
        if not isinstance(kind, str) or kind not in self.kinds:
            raise serializers.ValidationError(
                {"type": [f"{self.noun} of type {kind!r} are not supported."]}
            )
        serializer = self.kinds[kind](data=data)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return {"type": kind, **serializer.validated_data}


class TextOrPartsField(serializers.ListField):
    """Content: a string, or a list of typed parts."""

    default_error_messages = {"not_a_list": "must be a string or a list of parts."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        return super().to_internal_value(data)


class MetadataField(serializers.DictField):
    """OpenAI's `metadata`: up to 16 string pairs, kept on the audit record."""

    default_error_messages = {
        "not_a_dict": "must be an object.",
        "pairs": "at most 16 string pairs (keys 64, values 512 characters).",
    }

    def to_internal_value(self, data):
        pairs = super().to_internal_value(data)
        if len(pairs) > 16 or not all(
            isinstance(key, str) and isinstance(value, str) and len(key) <= 64 and len(value) <= 512
            for key, value in pairs.items()
        ):
            self.fail("pairs")
        return pairs


class ToolChoiceField(serializers.Field):
    """`tool_choice`: none, auto, required, or one function by name (chat's form
    `{"type": "function", "function": {"name": ...}}`, or the Responses API's `{"type": "function",
    "name": ...}`), read as the name of that function or the keyword."""

    default_error_messages = {
        "invalid": 'must be none, auto, required or {"type": "function", "function": {"name": ...}}.'
    }

    def to_internal_value(self, data):
        if data in ("none", "auto", "required"):
            return data
        if isinstance(data, dict) and data.get("type") == "function":
            function = data.get("function")
            name = function.get("name") if isinstance(function, dict) else data.get("name")
            if isinstance(name, str):
                return {"name": name}
        self.fail("invalid")

    def to_representation(self, value):
        return value


def tools_for_choice(tools: list | None, choice) -> list | None:
    """The tools as far as Ollama can follow `tool_choice`: none sends no tools, a named function
    only that one; auto and required send them all (Ollama cannot force a call)."""
    if choice is None or choice in ("auto", "required"):
        return tools
    if choice == "none":
        return None
    chosen = [tool for tool in tools or [] if tool["function"]["name"] == choice["name"]]
    if not chosen:
        raise serializers.ValidationError(
            {"tool_choice": [f"no tool named {choice['name']!r} among the tools."]}
        )
    return chosen


def think_of_effort(effort: str | None):
    """OpenAI's reasoning effort as Ollama's think: off, or a level for models that take one."""
    if effort is None:
        return None
    return False if effort in ("none", "minimal") else effort


REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high"]
OPTION_NAMES = frozenset(OptionsSerializer().fields)


def sampling_options(data: dict, max_tokens: int | None = None) -> dict:
    """OpenAI's sampling parameters as Ollama options (the shared names checked by Ollama's own
    bounds), with Ollama's other options (top_k, min_p, mirostat, ...) taken from the top level or
    an `options` object, and the token limit as num_predict."""
    extra = data.get("options")
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise serializers.ValidationError({"options": ["must be an object."]})
    asked = {
        key: value
        for key, value in {**extra, **data}.items()
        if key in OPTION_NAMES and value is not None
    }
    serializer = OptionsSerializer(data=asked)
    serializer.is_valid(raise_exception=True)
    options = dict(serializer.validated_data)
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    return options
