"""What the Ollama double's "model" says: deterministic answers a test can predict.

A model asked with tools calls the one the test set, then answers from the tool's result; asked for a
`format`, it answers JSON that matches it (a JSON schema's instance, or an object for "json"), as Ollama's
constrained decoding guarantees."""

import json

_MAX_DEPTH = 8


def last_content(messages: list[dict], role: str) -> str | None:
    for message in reversed(messages):
        if message.get("role") == role:
            return message.get("content") or ""
    return None


def wants_tool_call(messages: list[dict]) -> bool:
    """A tool's result is answered in words: that is how a tool loop ends."""
    return bool(messages) and messages[-1].get("role") != "tool"


def text_answer(messages: list[dict], reply: str | None) -> str:
    if reply is not None:
        return reply
    if messages and messages[-1].get("role") == "tool":
        return f"The tool said: {messages[-1].get('content') or ''}"
    return f"You said: {last_content(messages, 'user') or ''}"


def formatted(answer_format, text: str) -> str:
    """The answer under `format`: "json" gets an object holding the text, a schema its instance."""
    if answer_format == "json":
        return json.dumps({"response": text})
    if isinstance(answer_format, dict):
        return json.dumps(instance_of(answer_format, answer_format, text))
    return text


def instance_of(schema: dict, root: dict, text: str, depth: int = 0, name: str = ""):
    """A value that validates against `schema`: enums and consts first, then defaults and examples,
    else one built from the type (strings are the answer text, or the property's name)."""
    if depth > _MAX_DEPTH or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return instance_of(_resolve(schema["$ref"], root), root, text, depth + 1, name)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return instance_of(options[0], root, text, depth + 1, name)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            key: instance_of(sub, root, text, depth + 1, key) for key, sub in properties.items()
        }
    if kind == "array":
        count = max(schema.get("minItems", 1), 1)
        return [instance_of(schema.get("items") or {}, root, text, depth + 1, name)] * count
    if kind == "integer":
        return int(schema.get("minimum", 42))
    if kind == "number":
        return float(schema.get("minimum", 4.2))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return name or text


def _resolve(reference: str, root: dict) -> dict:
    node = root
    for part in reference.removeprefix("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def tokens(text: str) -> list[str]:
    """Split like a tokenizer would stream: words with their following space."""
    pieces, current = [], ""
    for char in text:
        current += char
        if char == " ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def count_prompt(messages: list[dict]) -> int:
    return sum(len(tokens(m.get("content") or "")) + 4 for m in messages)
