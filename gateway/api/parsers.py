import re
from io import BytesIO

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from common.errors import InvalidRequest, RequestTooLarge

# Deeper than any real request, shallow enough for every recursive step after parsing.
MAX_DEPTH = 32
# NUL and lone surrogates reach a parsed string only through a \u escape (raw bytes cannot carry
# them in valid UTF-8 JSON), so the strings are searched only when the body has such an escape.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class LimitedJSONParser(JSONParser):
    """JSON bodies up to CORRAL_MAX_REQUEST_BYTES; larger ones are refused before they are read.

    Every door parses with it, so what no part of Corral can hold is refused here, with a 400:
    a body that is not a JSON object, nesting deeper than MAX_DEPTH, and strings with NUL or
    unpaired surrogate characters, which PostgreSQL cannot store and UTF-8 cannot encode."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CORRAL_MAX_REQUEST_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"request body is {declared} bytes; the limit is {limit} bytes")
        body = b""
        if stream is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge(f"request body is larger than the limit of {limit} bytes")
            stream = BytesIO(body)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"nested more than {MAX_DEPTH} levels deep") from None
        if not isinstance(data, dict):
            raise InvalidRequest("the request body must be a JSON object")
        check_strings = _SUSPECT_ESCAPE.search(body) is not None
        _check(data, depth=0, check_strings=check_strings, path="body")
        return data


def check_nesting(value, path: str) -> None:
    """The nesting bound for JSON that arrives inside a string (OpenAI's tool arguments)."""
    _check(value, depth=0, check_strings=True, path=path)


def _check(value, *, depth: int, check_strings: bool, path: str) -> None:
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"request body is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if key.isprintable() else path
            if check_strings:
                _check_string(key, where)
            _check(item, depth=depth + 1, check_strings=check_strings, path=where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, depth=depth + 1, check_strings=check_strings, path=f"{path}[{index}]")
    elif check_strings and isinstance(value, str):
        _check_string(value, path)


def _check_string(text: str, path: str) -> None:
    if "\x00" in text:
        raise InvalidRequest(f"{path}: NUL characters (\\u0000) are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"{path}: unpaired surrogate characters (\\ud800-\\udfff) are not allowed"
        ) from None
