from django.http import JsonResponse
from django.views import defaults

API_PREFIXES = ("/api/", "/ollama/", "/v1/")


def _wants_json(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def json_not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": "not_found", "message": f"no such endpoint: {request.path}"}},
            status=404,
        )
    return defaults.page_not_found(request, exception)


def json_server_error(request):
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": "internal_error", "message": "internal error"}}, status=500
        )
    return defaults.server_error(request)
