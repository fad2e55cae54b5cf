"""What a Responses API request asks for, read into the pipeline's ChatRequest: `input` items as
Ollama's messages after the conversation so far (from `previous_response_id`), tools, tool_choice,
text.format and reasoning."""

import uuid
from typing import Any

from django.conf import settings
from rest_framework import serializers

from audit.selectors import audit_record_list_for_user
from common.errors import NotFound
from gateway.api.fields import (
    RequestSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictDictField,
    StrictIntegerField,
)
from gateway.api.openai.fields import (
    REASONING_EFFORTS,
    DataURLImageField,
    MetadataField,
    NullIsAbsent,
    TextOrPartsField,
    ToolArgumentsField,
    ToolChoiceField,
    TypedObjectField,
    sampling_options,
    think_of_effort,
    tools_for_choice,
)
from gateway.api.openai.serializers import TextPart, text_and_images, text_field
from gateway.pipeline import ChatRequest

UNSUPPORTED = {
    "background": "background runs are not supported; call without it (or use /api/v1/completions)",
    "conversation": "server-side conversations are not supported; use previous_response_id",
    "prompt": "stored prompts are not supported",
}


def record_id_of(response_id: str) -> str:
    hex_part = response_id.removeprefix("resp_")
    try:
        return str(uuid.UUID(hex=hex_part))
    except ValueError:
        raise NotFound(f"previous_response_id: no response '{response_id}'") from None


class InputImagePart(RequestSerializer):
    image_url = DataURLImageField(source="image")


class RefusalPart(RequestSerializer):
    refusal = text_field(source="text")


PARTS = {
    "input_text": TextPart,
    "output_text": TextPart,
    "text": TextPart,
    "input_image": InputImagePart,
    "refusal": RefusalPart,
}


def content_field(**kwargs) -> TextOrPartsField:
    return TextOrPartsField(child=TypedObjectField(PARTS), max_length=256, **kwargs)


class MessageItem(NullIsAbsent, RequestSerializer):
    role = serializers.ChoiceField(choices=["system", "developer", "user", "assistant"])
    content = content_field()


class FunctionCallItem(NullIsAbsent, RequestSerializer):
    call_id = text_field()
    name = StrictCharField(max_length=200)
    arguments = ToolArgumentsField(required=False, default=dict)


class FunctionCallOutputItem(NullIsAbsent, RequestSerializer):
    call_id = text_field()
    output = content_field(required=False, default="")


class ReasoningItem(RequestSerializer):
    """The model's earlier reasoning: accepted, not sent back to Ollama."""


ITEMS = {
    "message": MessageItem,
    "function_call": FunctionCallItem,
    "function_call_output": FunctionCallOutputItem,
    "reasoning": ReasoningItem,
}


def input_messages(items: list[dict]) -> list[dict]:
    """Input items as Ollama's messages: a turn's parallel function calls in one assistant
    message, each output named by the function its call id belonged to."""
    messages: list[dict] = []
    call_names: dict[str, str] = {}
    for item in items:
        if item["type"] == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            text, images = text_and_images(item["content"])
            message: dict[str, Any] = {"role": role, "content": text}
            if images:
                message["images"] = images
            messages.append(message)
        elif item["type"] == "function_call":
            call_names[item["call_id"]] = item["name"]
            call = {"function": {"name": item["name"], "arguments": item["arguments"]}}
            if messages and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif item["type"] == "function_call_output":
            message = {"role": "tool", "content": text_and_images(item["output"])[0]}
            if item["call_id"] in call_names:
                message["tool_name"] = call_names[item["call_id"]]
            messages.append(message)
    return messages


class FunctionToolSerializer(NullIsAbsent, RequestSerializer):
    type = serializers.ChoiceField(
        choices=["function"],
        error_messages={"invalid_choice": "only function tools are supported, not {input!r}."},
    )
    name = StrictCharField(max_length=200)
    description = text_field(required=False)
    parameters = StrictDictField(required=False)

    def validate(self, attrs):
        function = {
            key: attrs[key] for key in ("name", "description", "parameters") if key in attrs
        }
        return {"type": "function", "function": function}


class FormatSerializer(RequestSerializer):
    type = serializers.ChoiceField(choices=["text", "json_object", "json_schema"])
    schema = StrictDictField(required=False)

    def validate(self, attrs):
        if attrs["type"] == "json_schema":
            if "schema" not in attrs:
                raise serializers.ValidationError({"schema": ["is required."]})
            return attrs["schema"]
        return "json" if attrs["type"] == "json_object" else None


class TextSerializer(NullIsAbsent, RequestSerializer):
    format = FormatSerializer(required=False)


class ReasoningSerializer(NullIsAbsent, RequestSerializer):
    effort = serializers.ChoiceField(choices=REASONING_EFFORTS, required=False)


class ResponsesSerializer(NullIsAbsent, RequestSerializer):
    """`POST /v1/responses`, read as {"request": ChatRequest}. Its context has the request, whose
    user's own audit records hold what `previous_response_id` continues."""

    model = StrictCharField(max_length=200)
    input = TextOrPartsField(
        child=TypedObjectField(ITEMS, default_type="message", noun="items"),
        allow_empty=False,
        max_length=settings.CORRAL_MAX_MESSAGES,
    )
    instructions = text_field(required=False)
    previous_response_id = text_field(required=False)
    stream = StrictBooleanField(required=False, default=False)
    tools = FunctionToolSerializer(many=True, required=False, max_length=settings.CORRAL_MAX_TOOLS)
    tool_choice = ToolChoiceField(required=False)
    text = TextSerializer(required=False)
    reasoning = ReasoningSerializer(required=False)
    metadata = MetadataField(required=False, default=dict)
    max_output_tokens = StrictIntegerField(required=False, min_value=1)
    # checked here by Ollama's bounds, sent as options
    temperature = serializers.JSONField(required=False)
    top_p = serializers.JSONField(required=False)

    def to_internal_value(self, data):
        for field, why in UNSUPPORTED.items():
            if isinstance(data, dict) and data.get(field):
                raise serializers.ValidationError({field: [f"{why}."]})
        return super().to_internal_value(data)

    def validate(self, attrs):
        asked = attrs["input"]
        messages = (
            [{"role": "user", "content": asked}]
            if isinstance(asked, str)
            else input_messages(asked)
        )
        instructions = attrs.get("instructions")
        if "previous_response_id" in attrs:
            earlier = history(self.context["request"], attrs["previous_response_id"], instructions)
            messages = [*earlier, *messages]
        if instructions:
            messages = [{"role": "system", "content": instructions}, *messages]
        if not messages:
            raise serializers.ValidationError({"input": ["must not be empty."]})
        sampled = {key: self.initial_data[key] for key in ("temperature", "top_p") if key in attrs}
        request = ChatRequest(
            model=attrs["model"],
            messages=messages,
            stream=attrs["stream"],
            options=sampling_options(sampled, attrs.get("max_output_tokens")),
            format=attrs.get("text", {}).get("format"),
            tools=tools_for_choice(attrs.get("tools"), attrs.get("tool_choice")),
            think=thinking(attrs.get("reasoning")),
            tool_choice=self.initial_data.get("tool_choice"),
            metadata=attrs["metadata"],
        )
        return {"request": request}


def thinking(reasoning: dict | None):
    """`reasoning` asks a thinking model to think (how hard, or not at all)."""
    if reasoning is None:
        return None
    effort = reasoning.get("effort")
    return True if effort is None else think_of_effort(effort)


def history(request, previous_id: str, instructions: str | None) -> list[dict]:
    """The conversation so far, from the caller's own audit record of that response. Images of
    earlier turns are not in the trail (only their digests), nor redacted text; the earlier
    instructions are not carried over when new ones are given."""
    record = (
        audit_record_list_for_user(user=request.user)
        .filter(id=record_id_of(previous_id), user=request.user, status="succeeded")
        .first()
    )
    if record is None:
        raise NotFound(f"previous_response_id: no response '{previous_id}'")
    history = [
        {key: value for key, value in message.items() if key != "images"}
        for message in record.messages
        if not (instructions and message.get("role") == "system")
    ]
    answer: dict[str, Any] = {"role": "assistant", "content": record.completion}
    if record.tool_calls:
        answer["tool_calls"] = record.tool_calls
    return [*history, answer]
