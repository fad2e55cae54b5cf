"""OpenAI request bodies read into the pipeline's terms (Ollama's messages, options, format, tools).

Every value is type-checked where it is read: a malformed body is a 400 in OpenAI's shape, never a
500, and the work one body may ask for is bounded (messages, tools, embedding inputs, nesting of
tool arguments) like in every other door."""

import base64
import binascii
import json

from django.conf import settings

from common.errors import InvalidRequest
from gateway.api.fields import OptionsSerializer
from gateway.api.parsers import check_nesting

ROLES = ("system", "user", "assistant", "tool")
MAX_CONTENT_PARTS = 256


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: must be an object.")
    return value


def _list(value, where: str, most: int, *, empty: bool = True) -> list:
    if not isinstance(value, list) or (not empty and not value):
        raise InvalidRequest(f"{where}: must be a {'' if empty else 'non-empty '}list.")
    if len(value) > most:
        raise InvalidRequest(f"{where}: at most {most} items ({len(value)} sent).")
    return value


def _string(value, where: str, *, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: must be a string.")
    return value


def string(value, where: str) -> str:
    return _string(value, where)


def bounded_list(value, where: str, most: int | None = None) -> list:
    """A non-empty list of at most `most` items (by default, as many as messages may be)."""
    return _list(value, where, most or settings.CORRAL_MAX_MESSAGES, empty=False)


def string_metadata(value) -> dict[str, str]:
    """OpenAI's `metadata` (string pairs), as the audit record keeps it."""
    if value is None:
        return {}
    pairs = _object(value, "metadata")
    if len(pairs) > 16 or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
        for k, v in pairs.items()
    ):
        raise InvalidRequest("metadata: at most 16 string pairs (keys 64, values 512 characters).")
    return dict(pairs)


def number(data: dict, key: str, kind=(int, float)):
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidRequest(f"{key}: must be a number.")
    return value


def options(data: dict) -> dict:
    """OpenAI's sampling parameters as Ollama options, with Ollama's own (top_k, min_p,
    mirostat, ...) taken from the top level or an `options` object, as clients send them in
    their extra body."""
    result = ollama_options(data)
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = number(data, key)
        if value is not None:
            result[key] = value
    seed = number(data, "seed", int)
    if seed is not None:
        result["seed"] = seed
    max_tokens = number(data, "max_completion_tokens", int) or number(data, "max_tokens", int)
    if max_tokens is not None:
        result["num_predict"] = max_tokens
    stop = data.get("stop")
    if stop is not None:
        stop = [stop] if isinstance(stop, str) else stop
        if (
            not isinstance(stop, list)
            or len(stop) > 16
            or not all(isinstance(s, str) for s in stop)
        ):
            raise InvalidRequest("stop: must be a string or a list of up to 16 strings.")
        result["stop"] = stop
    return result


def ollama_options(data: dict) -> dict:
    fields = OptionsSerializer().fields
    extra = data.get("options")
    extra = _object(extra, "options") if extra is not None else {}
    asked = {
        key: value
        for key, value in {**extra, **data}.items()
        if key in fields and key not in OPENAI_NAMED and value is not None
    }
    serializer = OptionsSerializer(data=asked)
    if not serializer.is_valid():
        name, problems = next(iter(serializer.errors.items()))
        raise InvalidRequest(f"{name}: {problems[0]}")
    return dict(serializer.validated_data)


# OpenAI's own names for options, read (and checked) by options() itself.
OPENAI_NAMED = {"temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "stop"}


def choice_count(data: dict) -> None:
    if data.get("n") not in (None, 1):
        raise InvalidRequest("n: only 1 choice is supported.")


def stream(data: dict) -> bool:
    value = data.get("stream")
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest("stream: must be true or false.")
    return bool(value)


def think(data: dict):
    """`reasoning_effort` (OpenAI) or `think` (Ollama, vLLM-style extra body) as Ollama's think:
    true/false, or a level for models that take one."""
    value = data.get("think")
    if value is not None:
        if not isinstance(value, bool | str):
            raise InvalidRequest("think: must be true, false or low, medium, high.")
        return value
    effort = data.get("reasoning_effort")
    if effort is None:
        return None
    if effort in ("none", "minimal"):
        return False
    if effort in ("low", "medium", "high"):
        return effort
    raise InvalidRequest("reasoning_effort: must be none, minimal, low, medium or high.")


def tools_for_choice(data: dict, offered: list | None) -> list | None:
    """`tool_choice` as far as Ollama can follow it: none sends no tools, a named function only
    that one; auto and required send them all (Ollama cannot force a call)."""
    choice = data.get("tool_choice")
    if choice is None or choice in ("auto", "required"):
        return offered
    if choice == "none":
        return None
    name = None
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise InvalidRequest(
            'tool_choice: must be none, auto, required or {"type": "function", "function": '
            '{"name": ...}}.'
        )
    chosen = [tool for tool in offered or [] if tool["function"].get("name") == name]
    if not chosen:
        raise InvalidRequest(f"tool_choice: no tool named {name!r} among the tools.")
    return chosen


def response_format(data: dict):
    value = data.get("response_format")
    if value is None:
        return None
    kind = _object(value, "response_format").get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = _object(value.get("json_schema") or {}, "response_format.json_schema").get(
            "schema"
        )
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format: json_schema.schema must be an object.")
        return schema
    raise InvalidRequest("response_format: type must be text, json_object or json_schema.")


def include_usage(data: dict) -> bool:
    stream_options = data.get("stream_options")
    if stream_options is None:
        return False
    value = _object(stream_options, "stream_options").get("include_usage")
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest("stream_options.include_usage: must be true or false.")
    return bool(value)


def _image(part: dict, where: str) -> str:
    image_url = part.get("image_url")
    return image_data(image_url.get("url") if isinstance(image_url, dict) else image_url, where)


def image_data(url, where: str) -> str:
    """The base64 data of an image sent as a data URL (the only kind Corral can pass to Ollama)."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise InvalidRequest(f"{where}: images must be data URLs (data:image/...;base64,...).")
    data = url.split(";base64,", 1)[1]
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{where}: the image's data is not base64.") from None
    return data


def _content(content, where: str) -> tuple[str, list[str]]:
    """A message's content (a string or a list of parts) as Ollama's text and images."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for index, part in enumerate(_list(content, where, MAX_CONTENT_PARTS)):
        at = f"{where}[{index}]"
        kind = _object(part, at).get("type")
        if kind == "text":
            texts.append(_string(part.get("text"), f"{at}.text"))
        elif kind == "image_url":
            images.append(_image(part, at))
        else:
            raise InvalidRequest(f"{at}: unsupported part {kind!r}.")
    return "".join(texts), images


def tool_arguments(text, where: str) -> dict:
    """A tool call's arguments, a JSON string in OpenAI's format (an object in Ollama's)."""
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        raise InvalidRequest(f"{where}: must be a JSON string.")
    try:
        arguments = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidRequest(f"{where}: must be a JSON string of an object.") from None
    if not isinstance(arguments, dict):
        raise InvalidRequest(f"{where}: must be a JSON string of an object.")
    check_nesting(arguments, where)
    return arguments


def _tool_calls(calls, where: str, names: dict[str, str]) -> list[dict]:
    converted = []
    for index, call in enumerate(_list(calls, where, settings.CORRAL_MAX_TOOLS)):
        at = f"{where}[{index}]"
        function = _object(_object(call, at).get("function"), f"{at}.function")
        name = _string(function.get("name"), f"{at}.function.name")
        arguments = tool_arguments(function.get("arguments"), f"{at}.function.arguments")
        call_id = call.get("id")
        if call_id is not None:
            names[_string(call_id, f"{at}.id")] = name
        converted.append({"function": {"name": name, "arguments": arguments}})
    return converted


def messages(data: dict) -> list[dict]:
    items = _list(data.get("messages"), "messages", settings.CORRAL_MAX_MESSAGES, empty=False)
    tool_names: dict[str, str] = {}
    converted = []
    for index, message in enumerate(items):
        where = f"messages[{index}]"
        role = _object(message, where).get("role")
        role = "system" if role == "developer" else role
        if role not in ROLES:
            raise InvalidRequest(f"{where}.role: {role!r} is not a valid role.")
        text, images = _content(message.get("content"), f"{where}.content")
        out: dict = {"role": role, "content": text}
        if images:
            out["images"] = images
        if role == "assistant" and message.get("tool_calls"):
            out["tool_calls"] = _tool_calls(
                message["tool_calls"], f"{where}.tool_calls", tool_names
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            name = message.get("name")
            if call_id is not None:
                call_id = _string(call_id, f"{where}.tool_call_id")
            if name is not None:
                name = _string(name, f"{where}.name")
            name = tool_names.get(call_id or "") or name
            if name:
                out["tool_name"] = name
        converted.append(out)
    return converted


def tools(data: dict) -> list | None:
    value = data.get("tools")
    if value is None:
        return None
    for index, tool in enumerate(_list(value, "tools", settings.CORRAL_MAX_TOOLS)):
        where = f"tools[{index}]"
        if _object(tool, where).get("type") != "function":
            raise InvalidRequest(f"{where}.type: must be function.")
        function = _object(tool.get("function"), f"{where}.function")
        _string(function.get("name"), f"{where}.function.name")
        parameters = function.get("parameters")
        if parameters is not None:
            _object(parameters, f"{where}.function.parameters")
    return value


def embedding_inputs(data: dict) -> list[str]:
    raw = data.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise InvalidRequest(
            "input: must be a string or a list of strings (token arrays are not supported)."
        )
    return _list(inputs, "input", settings.CORRAL_MAX_EMBEDDING_INPUTS)
