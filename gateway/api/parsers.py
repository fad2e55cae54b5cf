from io import BytesIO

from django.conf import settings
from rest_framework.parsers import JSONParser

from gateway.errors import RequestTooLarge


class LimitedJSONParser(JSONParser):
    """JSON bodies up to CORRAL_MAX_REQUEST_BYTES; larger ones are refused before they are read."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CORRAL_MAX_REQUEST_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"request body is {declared} bytes; the limit is {limit} bytes")
        if stream is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge(f"request body is larger than the limit of {limit} bytes")
            stream = BytesIO(body)
        return super().parse(stream, media_type, parser_context)
