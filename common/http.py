API_PREFIXES = ("/api/", "/ollama/", "/v1/")


def wants_json(request) -> bool:
    """API paths, and the web pages' own fetch calls (which ask for JSON)."""
    return request.path.startswith(API_PREFIXES) or "application/json" in request.headers.get(
        "Accept", ""
    )
