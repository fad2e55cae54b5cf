"""What Corral's OpenAPI schema describes: its own contract under /api/v1/, exactly as the views
enforce it (schemathesis checks the two against each other, tests/test_schema_fuzz.py). The Ollama-
and OpenAI-compatible doors speak those projects' wire formats, documented by them."""

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers

# Answers any operation may give besides its own, all in the contract's error shape.
ERRORS = {
    "400": "invalid_request: the body is not valid JSON, a field or a query parameter is wrong",
    "401": "unauthenticated: missing, unknown, revoked or expired token",
    "404": "not_found: no such object among yours",
    "413": "request_too_large: the body is over the configured limit",
    "429": "rate_limited or quota_exceeded, with Retry-After",
    "503": "limits_unavailable or database_unavailable: a service Corral needs is away",
}


def only_the_native_api(endpoints: list) -> list:
    """drf-spectacular preprocessing hook: keep the endpoints of the native API."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


def document_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: every operation lists the errors it can answer with
    (those an operation documents itself are kept as they are)."""
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            parameters = {parameter["name"] for parameter in operation.get("parameters", [])}
            has_body = "requestBody" in operation
            statuses = ["401", "429", "503"]
            if has_body or parameters:
                statuses.append("400")
            if "{" in path or "cursor" in parameters:
                statuses.append("404")
            if has_body:
                statuses.append("413")
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(
                    status,
                    {
                        "description": ERRORS[status],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result


class StrictInputExtension(OpenApiSerializerExtension):
    """Input serializers that refuse unknown fields say so: additionalProperties is false."""

    target_class = "gateway.api.fields.RejectUnknownFields"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        # drf-spectacular leaves out the bounds of nested lists; the validation has them.
        for name, field in force_instance(self.target).fields.items():
            if not isinstance(field, serializers.ListSerializer | serializers.ListField):
                continue
            bounds = schema["properties"][name]
            if field.min_length is not None:
                bounds["minItems"] = field.min_length
            elif not field.allow_empty:
                bounds["minItems"] = 1
            if field.max_length is not None:
                bounds["maxItems"] = field.max_length
        return schema


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
    """A string that may not be blank needs a character other than whitespace (DRF trims it)."""

    target_class = "gateway.api.fields.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if not self.target.allow_blank:
            schema.setdefault("minLength", 1)
            schema["pattern"] = r"\S" if self.target.trim_whitespace else "."
        return schema
