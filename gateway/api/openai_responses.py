"""OpenAI's Responses API, `POST /v1/responses`, on the same chat pipeline: what the OpenAI SDK's
`responses.create`, LangChain's `use_responses_api`, pydantic-ai's OpenAIResponsesModel and
`litellm.responses` call.

Text and item inputs (messages, function calls and their outputs), `instructions`, function tools and
`tool_choice`, `text.format` for structured output, `reasoning` as Ollama's `think` with the reasoning
returned as a reasoning item, usage, and the documented stream events. A response's id is its audit
record's: `previous_response_id` continues a conversation from the caller's own records (Corral keeps
every exchange, whatever `store` says); anyone else's id is not found. What Ollama cannot do (built-in
tools, background runs, server-side conversations) is a 400 that names it."""

import json
import time
import uuid
from typing import Any

from django.conf import settings
from rest_framework.response import Response

from audit.models import AuditRecord
from audit.selectors import audit_record_list_for_user
from gateway.api import openai_requests
from gateway.api.caller import caller_from_request
from gateway.api.openai_door import OpenAIView, event_stream, model_name
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.pipeline import CallMeta, ChatRequest, ChatResult, chat_stream, complete

UNSUPPORTED = {
    "background": "background runs are not supported; call without it (or use /api/v1/completions)",
    "conversation": "server-side conversations are not supported; use previous_response_id",
    "prompt": "stored prompts are not supported",
}


def _response_id(record_id: str) -> str:
    return "resp_" + record_id.replace("-", "")


def _record_id(response_id: str) -> str:
    hex_part = response_id.removeprefix("resp_")
    try:
        return str(uuid.UUID(hex=hex_part))
    except ValueError:
        raise NotFound(f"previous_response_id: no response '{response_id}'") from None


def _item_id(kind: str) -> str:
    return f"{kind}_{uuid.uuid4().hex[:24]}"


# --- reading the request ---------------------------------------------------------------------------


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


def _input_messages(data: dict) -> list[dict]:
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


def _history(request, previous_id: str, instructions: bool) -> list[dict]:
    """The conversation so far, from the caller's own audit record of that response. Images of
    earlier turns are not in the trail (only their digests), nor redacted text."""
    record = (
        audit_record_list_for_user(user=request.user)
        .filter(id=_record_id(previous_id), user=request.user, status="succeeded")
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


def _tools(data: dict) -> list | None:
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


def _tool_choice(data: dict):
    """Responses' tool_choice ({"type": "function", "name": ...}) in the chat form."""
    choice = data.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _format(data: dict):
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


def _think(data: dict):
    reasoning = data.get("reasoning")
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise InvalidRequest("reasoning: must be an object.")
    effort = reasoning.get("effort")
    return True if effort is None else openai_requests.think({"reasoning_effort": effort})


def _options(data: dict) -> dict:
    options = openai_requests.options(
        {key: data.get(key) for key in ("temperature", "top_p") if key in data}
    )
    limit = openai_requests.number(data, "max_output_tokens", int)
    if limit is not None:
        options["num_predict"] = limit
    return options


# --- writing the response ---------------------------------------------------------------------------


def _function_call(call: dict, status: str = "completed") -> dict:
    return {
        "id": _item_id("fc"),
        "type": "function_call",
        "call_id": f"call_{uuid.uuid4().hex[:24]}",
        "name": call["function"]["name"],
        "arguments": json.dumps(call["function"].get("arguments", {})),
        "status": status,
    }


def _message(item_id: str, text: str, status: str = "completed") -> dict:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": []}] if text else [],
    }


def _reasoning(item_id: str, text: str) -> dict:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
    }


def _usage(result: ChatResult) -> dict:
    return {
        "input_tokens": result.usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": result.usage.completion_tokens,
        # Ollama counts the thinking with the answer and does not report it apart.
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": result.usage.total_tokens,
    }


class _Shape:
    """The parts of a response that echo the request."""

    def __init__(self, data: dict, model: str, created: float) -> None:
        self.base = {
            "object": "response",
            "created_at": created,
            "model": model,
            "error": None,
            "incomplete_details": None,
            "instructions": data.get("instructions"),
            "metadata": data.get("metadata") or {},
            "parallel_tool_calls": True,
            "temperature": data.get("temperature"),
            "top_p": data.get("top_p"),
            "max_output_tokens": data.get("max_output_tokens"),
            "previous_response_id": data.get("previous_response_id"),
            "tool_choice": data.get("tool_choice") or "auto",
            "tools": data.get("tools") or [],
            "text": data.get("text") or {"format": {"type": "text"}},
            "reasoning": data.get("reasoning"),
            # Corral keeps every exchange in its audit trail, whatever the request's `store` says.
            "store": True,
        }

    def response(self, response_id: str, status: str, output: list, **extra) -> dict:
        return {**self.base, "id": response_id, "status": status, "output": output, **extra}

    def finished(self, result: ChatResult, output: list) -> dict:
        incomplete = result.done_reason == "length"
        return self.response(
            _response_id(result.id),
            "incomplete" if incomplete else "completed",
            output,
            incomplete_details={"reason": "max_output_tokens"} if incomplete else None,
            usage=_usage(result),
            completed_at=time.time(),
        )


def _output(result: ChatResult) -> list[dict]:
    output = []
    if result.thinking:
        output.append(_reasoning(_item_id("rs"), result.thinking))
    output += [_function_call(call) for call in result.tool_calls or []]
    if result.content or not output:
        output.append(_message(_item_id("msg"), result.content))
    return output


def _sse_event(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


class _EventWriter:
    """The documented stream: lifecycle events around output items, each opened, filled by deltas
    and closed, in order; every event numbered."""

    def __init__(self, shape: _Shape) -> None:
        self.shape = shape
        self.sequence = 0
        self.output: list[dict] = []
        self.open: dict | None = None  # the reasoning or message item being streamed
        self.text = ""

    def event(self, kind: str, **fields) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return _sse_event(payload)

    def start(self, response_id: str):
        pending = self.shape.response(response_id, "in_progress", [])
        yield self.event("response.created", response=pending)
        yield self.event("response.in_progress", response=pending)

    def _open(self, kind: str):
        index = len(self.output)
        if kind == "reasoning":
            item = {"id": _item_id("rs"), "type": "reasoning", "summary": [], "content": []}
            part = {"type": "reasoning_text", "text": ""}
        else:
            item = _message(_item_id("msg"), "", status="in_progress")
            part = {"type": "output_text", "text": "", "annotations": []}
        self.open, self.text = {"kind": kind, "item": item, "index": index}, ""
        self.output.append(item)
        yield self.event("response.output_item.added", output_index=index, item=item)
        yield self.event(
            "response.content_part.added",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=part,
        )

    def close(self):
        if self.open is None:
            return
        kind, item, index = self.open["kind"], self.open["item"], self.open["index"]
        common = {"item_id": item["id"], "output_index": index, "content_index": 0}
        if kind == "reasoning":
            done = _reasoning(item["id"], self.text)
            part = done["content"][0]
            yield self.event("response.reasoning_text.done", **common, text=self.text)
        else:
            done = _message(item["id"], self.text)
            part = {"type": "output_text", "text": self.text, "annotations": []}
            yield self.event("response.output_text.done", **common, text=self.text, logprobs=[])
        yield self.event("response.content_part.done", **common, part=part)
        self.output[index] = done
        yield self.event("response.output_item.done", output_index=index, item=done)
        self.open = None

    def delta(self, kind: str, text: str):
        if self.open is None or self.open["kind"] != kind:
            yield from self.close()
            yield from self._open(kind)
        self.text += text
        common = {"item_id": self.open["item"]["id"], "output_index": self.open["index"]}
        if kind == "reasoning":
            yield self.event("response.reasoning_text.delta", **common, content_index=0, delta=text)
        else:
            yield self.event(
                "response.output_text.delta", **common, content_index=0, delta=text, logprobs=[]
            )

    def function_call(self, call: dict):
        yield from self.close()
        index = len(self.output)
        item = _function_call(call)
        self.output.append(item)
        yield self.event(
            "response.output_item.added",
            output_index=index,
            item={**item, "arguments": "", "status": "in_progress"},
        )
        common = {"item_id": item["id"], "output_index": index}
        yield self.event(
            "response.function_call_arguments.delta", **common, delta=item["arguments"]
        )
        yield self.event(
            "response.function_call_arguments.done",
            **common,
            name=item["name"],
            arguments=item["arguments"],
        )
        yield self.event("response.output_item.done", output_index=index, item=item)


def _stream(events, shape: _Shape, response_id: str):
    writer = _EventWriter(shape)
    yield from writer.start(response_id)
    try:
        for event in events:
            if isinstance(event, ChatResult):
                yield from writer.close()
                if not writer.output:  # an empty answer is still a message
                    yield from writer.delta("message", "")
                    yield from writer.close()
                response = shape.finished(event, writer.output)
                yield writer.event(f"response.{response['status']}", response=response)
                return
            if event.thinking:
                yield from writer.delta("reasoning", event.thinking)
            if event.content:
                yield from writer.delta("message", event.content)
            for call in event.tool_calls or []:
                yield from writer.function_call(call)
    except GatewayError as exc:
        yield writer.event("error", code=exc.code, message=exc.message, param=None)


class ResponsesView(OpenAIView):
    def post(self, request):
        data = self.body()
        for field, why in UNSUPPORTED.items():
            if data.get(field):
                raise InvalidRequest(f"{field}: {why}.")
        model = model_name(data)
        stream = openai_requests.stream(data)
        instructions = data.get("instructions")
        if instructions is not None:
            instructions = openai_requests.string(instructions, "instructions")
        messages = _input_messages(data)
        previous = data.get("previous_response_id")
        if previous is not None:
            previous = openai_requests.string(previous, "previous_response_id")
            messages = [*_history(request, previous, bool(instructions)), *messages]
        if instructions:
            messages = [{"role": "system", "content": instructions}, *messages]
        if not messages:
            raise InvalidRequest("input: must not be empty.")
        chat_request = ChatRequest(
            model=model,
            messages=messages,
            stream=stream,
            options=_options(data),
            format=_format(data),
            tools=openai_requests.tools_for_choice(
                {"tool_choice": _tool_choice(data)}, _tools(data)
            ),
            think=_think(data),
            tool_choice=data.get("tool_choice"),
            metadata=openai_requests.string_metadata(data.get("metadata")),
        )
        meta = request.corral_meta = CallMeta()
        caller = caller_from_request(request, surface=AuditRecord.Surface.OPENAI)
        shape = _Shape(data, model, time.time())
        opened: list[str] = []
        meta.on_open = opened.append
        events = chat_stream(caller=caller, request=chat_request, meta=meta)
        if stream:
            return event_stream(
                events, lambda all_events: _stream(all_events, shape, _response_id(opened[0]))
            )
        result = complete(events)
        return Response(shape.finished(result, _output(result)))
