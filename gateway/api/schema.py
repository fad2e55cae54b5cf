"""What Corral's OpenAPI schema describes: its own contract under /api/v1/. The Ollama- and
OpenAI-compatible doors speak those projects' wire formats, documented by them."""


def only_the_native_api(endpoints: list) -> list:
    """drf-spectacular preprocessing hook: keep the endpoints of the native API."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
