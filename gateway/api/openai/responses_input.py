"""What a Responses API request asks for, in the pipeline's terms: `input` items as Ollama's
messages, the conversation so far from `previous_response_id`, tools, tool_choice, text.format and
reasoning."""

import uuid
from typing import Any

from django.conf import settings

from audit.selectors import audit_record_list_for_user
from common.errors import InvalidRequest, NotFound
from gateway.api.openai import requests as openai_requests

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


def _text_of(content, where: str, images: list[str]) -> str:
    """A message's content: a string, or input_text / output_text / input_image parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: must be a string or a list of parts.")
    texts = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"{at}: must be an object.")
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            texts.append(openai_requests.string(part.get("text"), f"{at}.text"))
        elif kind == "input_image":
            url = part.get("image_url")
            images.append(openai_requests.image_data(url, at))
        elif kind == "refusal":
            texts.append(openai_requests.string(part.get("refusal"), f"{at}.refusal"))
        else:
            raise InvalidRequest(f"{at}: parts of type {kind!r} are not supported.")
    return "".join(texts)


def input_messages(data: dict) -> list[dict]:
    """`input` (a string or a list of items) as Ollama's messages."""
    raw = data.get("input")
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    items = openai_requests.bounded_list(raw, "input")
    messages: list[dict] = []
    call_names: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where}: must be an object.")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            role = "system" if role == "developer" else role
            if role not in ("system", "user", "assistant"):
                raise InvalidRequest(f"{where}.role: {role!r} is not a valid role.")
            images: list[str] = []
            message = {"role": role, "content": _text_of(item.get("content"), where, images)}
            if images:
                message["images"] = images
            messages.append(message)
        elif kind == "function_call":
            name = openai_requests.string(item.get("name"), f"{where}.name")
            call_id = openai_requests.string(item.get("call_id"), f"{where}.call_id")
            arguments = openai_requests.tool_arguments(item.get("arguments"), f"{where}.arguments")
            call_names[call_id] = name
            call = {"function": {"name": name, "arguments": arguments}}
            if messages and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
                messages[-1].setdefault("tool_calls", []).append(call)  # parallel calls, one turn
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = openai_requests.string(item.get("call_id"), f"{where}.call_id")
            output = item.get("output")
            text = output if isinstance(output, str) else _text_of(output, f"{where}.output", [])
            message = {"role": "tool", "content": text}
            if call_id in call_names:
                message["tool_name"] = call_names[call_id]
            messages.append(message)
        elif kind == "reasoning":
            continue  # the model's earlier reasoning: not sent back to Ollama
        else:
            raise InvalidRequest(f"{where}.type: items of type {kind!r} are not supported.")
    return messages


def history(request, previous_id: str, instructions: bool) -> list[dict]:
    """The conversation so far, from the caller's own audit record of that response. Images of
    earlier turns are not in the trail (only their digests), nor redacted text."""
    record = (
        audit_record_list_for_user(user=request.user)
        .filter(id=record_id_of(previous_id), user=request.user, status="succeeded")
        .first()
    )
    if record is None:
        raise NotFound(f"previous_response_id: no response '{previous_id}'")
    history = []
    for message in record.messages:
        if instructions and message.get("role") == "system":
            continue  # instructions are not carried over from the previous response
        history.append({k: v for k, v in message.items() if k != "images"})
    answer: dict[str, Any] = {"role": "assistant", "content": record.completion}
    if record.tool_calls:
        answer["tool_calls"] = record.tool_calls
    return [*history, answer]


def tools(data: dict) -> list | None:
    raw = data.get("tools")
    if raw is None:
        return None
    tools = []
    for index, tool in enumerate(
        openai_requests.bounded_list(raw, "tools", settings.CORRAL_MAX_TOOLS)
    ):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise InvalidRequest(f"{where}.type: only function tools are supported, not {kind!r}.")
        function = {"name": openai_requests.string(tool.get("name"), f"{where}.name")}
        if tool.get("description") is not None:
            function["description"] = openai_requests.string(
                tool["description"], f"{where}.description"
            )
        if tool.get("parameters") is not None:
            if not isinstance(tool["parameters"], dict):
                raise InvalidRequest(f"{where}.parameters: must be an object.")
            function["parameters"] = tool["parameters"]
        tools.append({"type": "function", "function": function})
    return tools


def tool_choice(data: dict):
    """Responses' tool_choice ({"type": "function", "name": ...}) in the chat form."""
    choice = data.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def text_format(data: dict):
    text = data.get("text")
    if text is None:
        return None
    if not isinstance(text, dict):
        raise InvalidRequest("text: must be an object.")
    spec = text.get("format")
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InvalidRequest("text.format: must be an object.")
    kind = spec.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema" and isinstance(spec.get("schema"), dict):
        return spec["schema"]
    raise InvalidRequest(
        "text.format: type must be text, json_object or json_schema (with a schema)."
    )


def think(data: dict):
    reasoning = data.get("reasoning")
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise InvalidRequest("reasoning: must be an object.")
    effort = reasoning.get("effort")
    return True if effort is None else openai_requests.think({"reasoning_effort": effort})


def options(data: dict) -> dict:
    options = openai_requests.options(
        {key: data.get(key) for key in ("temperature", "top_p") if key in data}
    )
    limit = openai_requests.number(data, "max_output_tokens", int)
    if limit is not None:
        options["num_predict"] = limit
    return options
