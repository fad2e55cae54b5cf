"""OpenAI request bodies (chat, text completions, embeddings) read into the pipeline's requests:
Ollama's messages, options, format and tools.

A malformed body is a 400 in OpenAI's shape naming the field (`messages[2].content[0].image_url:
...`), never a 500, and the work one body may ask for is bounded (messages, parts, tools,
embedding inputs, nesting of tool arguments) like in every other door. Fields Corral does not use
are ignored, as OpenAI-compatible servers ignore them; what it cannot do is refused by name."""

from django.conf import settings
from rest_framework import serializers

from gateway.api.fields import (
    ROLES,
    EmbeddingInputField,
    RequestSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictDictField,
    StrictIntegerField,
    ThinkField,
    ToolFunctionSerializer,
)
from gateway.api.openai.fields import (
    REASONING_EFFORTS,
    DataURLImageField,
    NullIsAbsent,
    TextOrPartsField,
    ToolArgumentsField,
    ToolChoiceField,
    TypedObjectField,
    sampling_options,
    think_of_effort,
    tools_for_choice,
)
from gateway.pipeline import ChatRequest, EmbedRequest, GenerateRequest

MAX_CONTENT_PARTS = 256


def text_field(**kwargs) -> StrictCharField:
    return StrictCharField(allow_blank=True, trim_whitespace=False, **kwargs)


class TextPart(RequestSerializer):
    text = text_field()


class ImagePart(RequestSerializer):
    image_url = DataURLImageField(source="image")


def text_and_images(content) -> tuple[str, list[str]]:
    """Content (a string, or parts read as {"text"} or {"image"}) as Ollama's text and images."""
    if isinstance(content, str):
        return content, []
    texts = [part["text"] for part in content if "text" in part]
    return "".join(texts), [part["image"] for part in content if "image" in part]


class FunctionCallSerializer(NullIsAbsent, RequestSerializer):
    name = StrictCharField(max_length=200)
    arguments = ToolArgumentsField(required=False, default=dict)


class ToolCallSerializer(NullIsAbsent, RequestSerializer):
    id = text_field(required=False)
    function = FunctionCallSerializer()


class MessageSerializer(NullIsAbsent, RequestSerializer):
    role = serializers.ChoiceField(choices=[*ROLES, "developer"])
    content = TextOrPartsField(
        child=TypedObjectField({"text": TextPart, "image_url": ImagePart}),
        required=False,
        default="",
        max_length=MAX_CONTENT_PARTS,
    )
    tool_calls = ToolCallSerializer(many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS)
    tool_call_id = text_field(required=False)
    name = text_field(required=False)


def ollama_messages(messages: list[dict]) -> list[dict]:
    """Chat messages in Ollama's form: a tool's answer is named by the function its call id
    belonged to (Ollama matches tool answers by name, OpenAI by id)."""
    call_names: dict[str, str] = {}
    converted = []
    for message in messages:
        role = "system" if message["role"] == "developer" else message["role"]
        text, images = text_and_images(message["content"])
        out: dict = {"role": role, "content": text}
        if images:
            out["images"] = images
        if role == "assistant" and message.get("tool_calls"):
            out["tool_calls"] = []
            for call in message["tool_calls"]:
                function = call["function"]
                if "id" in call:
                    call_names[call["id"]] = function["name"]
                out["tool_calls"].append(
                    {"function": {"name": function["name"], "arguments": function["arguments"]}}
                )
        if role == "tool":
            name = call_names.get(message.get("tool_call_id", "")) or message.get("name")
            if name:
                out["tool_name"] = name
        converted.append(out)
    return converted


class OpenAIToolFunctionSerializer(NullIsAbsent, ToolFunctionSerializer):
    pass


class ToolSerializer(NullIsAbsent, RequestSerializer):
    type = serializers.ChoiceField(choices=["function"])
    function = OpenAIToolFunctionSerializer()


class JSONSchemaSerializer(RequestSerializer):
    schema = StrictDictField()


class ResponseFormatSerializer(RequestSerializer):
    """`response_format` as Ollama's format: nothing, "json", or the schema."""

    type = serializers.ChoiceField(choices=["text", "json_object", "json_schema"])
    json_schema = JSONSchemaSerializer(required=False)

    def validate(self, attrs):
        if attrs["type"] == "json_schema":
            if "json_schema" not in attrs:
                raise serializers.ValidationError({"json_schema": ["is required."]})
            return attrs["json_schema"]["schema"]
        return "json" if attrs["type"] == "json_object" else None


class StreamOptionsSerializer(NullIsAbsent, RequestSerializer):
    include_usage = StrictBooleanField(required=False, default=False)


class SampledSerializer(NullIsAbsent, RequestSerializer):
    """What chat and text completions share: the model, streaming, one choice, and sampling."""

    model = StrictCharField(max_length=200)
    stream = StrictBooleanField(required=False, default=False)
    stream_options = StreamOptionsSerializer(required=False)
    n = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=1,
        error_messages={"max_value": "only 1 is supported."},
    )
    max_tokens = StrictIntegerField(required=False, min_value=1)
    max_completion_tokens = StrictIntegerField(required=False, min_value=1)

    def sampling(self, attrs) -> dict:
        limit = attrs.get("max_completion_tokens") or attrs.get("max_tokens")
        return sampling_options(self.initial_data, limit)

    @staticmethod
    def include_usage(attrs) -> bool:
        return attrs.get("stream_options", {}).get("include_usage", False)


class ChatCompletionSerializer(SampledSerializer):
    """`POST /v1/chat/completions`, read as {"request": ChatRequest, "include_usage": bool}."""

    messages = MessageSerializer(
        many=True, allow_empty=False, max_length=settings.CORRAL_MAX_MESSAGES
    )
    tools = ToolSerializer(many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS)
    tool_choice = ToolChoiceField(required=False)
    response_format = ResponseFormatSerializer(required=False)
    reasoning_effort = serializers.ChoiceField(choices=REASONING_EFFORTS, required=False)
    # Ollama's own (and vLLM's) name, sent by clients in their extra body.
    think = ThinkField(required=False)
    user = text_field(required=False)

    def validate(self, attrs):
        think = (
            attrs["think"] if "think" in attrs else think_of_effort(attrs.get("reasoning_effort"))
        )
        request = ChatRequest(
            model=attrs["model"],
            messages=ollama_messages(attrs["messages"]),
            stream=attrs["stream"],
            options=self.sampling(attrs),
            format=attrs.get("response_format"),
            tools=tools_for_choice(attrs.get("tools"), attrs.get("tool_choice")),
            think=think,
            tool_choice=self.initial_data.get("tool_choice"),  # recorded as the caller sent it
            metadata={"user": attrs["user"]} if "user" in attrs else {},
        )
        return {"request": request, "include_usage": self.include_usage(attrs)}


class PromptField(serializers.Field):
    default_error_messages = {
        "invalid": "must be a string (or a list of one; token arrays and batches are not "
        "supported)."
    }

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, str):
            self.fail("invalid")
        return data


class CompletionSerializer(SampledSerializer):
    """`POST /v1/completions` (a prompt in, text out), read as {"request": GenerateRequest,
    "include_usage": bool}. What Ollama cannot do is refused by name, not silently ignored."""

    prompt = PromptField()
    suffix = text_field(required=False)
    echo = StrictBooleanField(
        required=False,
        error_messages={"invalid": "returning the prompt with the completion is not supported."},
    )
    logprobs = serializers.JSONField(required=False)
    best_of = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=1,
        error_messages={"max_value": "only 1 is supported."},
    )

    def validate_echo(self, value):
        if value:
            raise serializers.ValidationError(
                "returning the prompt with the completion is not supported."
            )
        return value

    def validate_logprobs(self, value):
        raise serializers.ValidationError("log probabilities are not supported.")

    def validate(self, attrs):
        request = GenerateRequest(
            model=attrs["model"],
            prompt=attrs["prompt"],
            suffix=attrs.get("suffix") or None,
            stream=attrs["stream"],
            options=self.sampling(attrs),
        )
        return {"request": request, "include_usage": self.include_usage(attrs)}


class EmbeddingSerializer(NullIsAbsent, RequestSerializer):
    """`POST /v1/embeddings`, read as {"request": EmbedRequest, "encoding_format": ...}."""

    model = StrictCharField(max_length=200)
    input = EmbeddingInputField()
    encoding_format = serializers.ChoiceField(choices=["float", "base64"], default="float")
    dimensions = StrictIntegerField(required=False, min_value=1)
    user = text_field(required=False)

    def validate(self, attrs):
        request = EmbedRequest(
            model=attrs["model"], input=attrs["input"], dimensions=attrs.get("dimensions")
        )
        return {"request": request, "encoding_format": attrs["encoding_format"]}
