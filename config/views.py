"""The project's error pages: the contract's JSON for API calls and the pages' own fetches,
Django's pages otherwise."""

from django.http import JsonResponse
from django.views import csrf, defaults

from common.http import wants_json


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
