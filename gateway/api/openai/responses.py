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

from rest_framework.response import Response

from common.errors import GatewayError
from gateway.api.openai.base import OpenAIView, event_stream
from gateway.api.openai.responses_input import ResponsesSerializer
from gateway.pipeline import ChatResult, chat_stream, complete


def _response_id(record_id: str) -> str:
    return "resp_" + record_id.replace("-", "")


def _item_id(kind: str) -> str:
    return f"{kind}_{uuid.uuid4().hex[:24]}"


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
    # Ollama's own /v1/responses puts the thinking in the summary, which is what clients show
    # (LangChain, pydantic-ai, LiteLLM); the same text is the raw reasoning content gpt-oss style
    # clients read. There is no separate summarizer: both are the model's own words.
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}],
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
        else:
            item = _message(_item_id("msg"), "", status="in_progress")
        self.open, self.text = {"kind": kind, "item": item, "index": index}, ""
        self.output.append(item)
        yield self.event("response.output_item.added", output_index=index, item=item)
        common = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            # the thinking streams as the summary's text, as Ollama's own door streams it
            part = {"type": "summary_text", "text": ""}
            yield self.event(
                "response.reasoning_summary_part.added", **common, summary_index=0, part=part
            )
        else:
            part = {"type": "output_text", "text": "", "annotations": []}
            yield self.event("response.content_part.added", **common, content_index=0, part=part)

    def close(self):
        if self.open is None:
            return
        kind, item, index = self.open["kind"], self.open["item"], self.open["index"]
        common = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            done = _reasoning(item["id"], self.text)
            common["summary_index"] = 0
            yield self.event("response.reasoning_summary_text.done", **common, text=self.text)
            yield self.event(
                "response.reasoning_summary_part.done", **common, part=done["summary"][0]
            )
        else:
            done = _message(item["id"], self.text)
            part = {"type": "output_text", "text": self.text, "annotations": []}
            common["content_index"] = 0
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
            yield self.event(
                "response.reasoning_summary_text.delta", **common, summary_index=0, delta=text
            )
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
        chat_request = self.validated(ResponsesSerializer)["request"]
        caller, meta = self.call()
        shape = _Shape(request.data, chat_request.model, time.time())
        opened: list[str] = []
        meta.on_open = opened.append
        events = chat_stream(caller=caller, request=chat_request, meta=meta)
        if chat_request.stream:
            return event_stream(
                events, lambda all_events: _stream(all_events, shape, _response_id(opened[0]))
            )
        result = complete(events)
        return Response(shape.finished(result, _output(result)))
