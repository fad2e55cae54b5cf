from django.http import JsonResponse
from django.views import csrf, defaults

API_PREFIXES = ("/api/", "/ollama/", "/v1/")


def wants_json(request) -> bool:
    """API paths, and the web pages' own fetch calls (which ask for JSON)."""
    return request.path.startswith(API_PREFIXES) or "application/json" in request.headers.get(
        "Accept", ""
    )


def csrf_failure(request, reason=""):
    """A fetch whose CSRF token no longer holds (the session ended in another tab) gets the
    contract's error, which the chat explains; a form post gets Django's page."""
    if wants_json(request):
        return JsonResponse(
            {
                "error": {
                    "code": "forbidden",
                    "message": "the page's security token has expired: reload the page",
                }
            },
            status=403,
        )
    return csrf.csrf_failure(request, reason)


def json_not_found(request, exception=None):
    if wants_json(request):
        return JsonResponse(
            {"error": {"code": "not_found", "message": f"no such endpoint: {request.path}"}},
            status=404,
        )
    return defaults.page_not_found(request, exception)


def json_server_error(request):
    if wants_json(request):
        return JsonResponse(
            {"error": {"code": "internal_error", "message": "internal error"}}, status=500
        )
    return defaults.server_error(request)
