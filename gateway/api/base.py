from rest_framework.authentication import SessionAuthentication

from accounts.authentication import BearerTokenAuthentication
from accounts.limits import limits_peek, scopes_for
from accounts.models import ApiToken

# The native API's chat and call records also answer the web chat, signed in with its session
# (DRF's session authentication enforces CSRF on every write).
NATIVE_AUTHENTICATION = [BearerTokenAuthentication, SessionAuthentication]


class RateLimitHeadersMixin:
    """X-RateLimit-* on every token-authenticated response: from the call's own admission when the
    view ran the pipeline (`request.corral_meta`), else as the limits stand now."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        meta = getattr(request, "corral_meta", None)
        if meta is not None:
            state = meta.rate
        # `_auth`, not `auth`: reading `auth` would authenticate again when authentication failed
        # with an error that is not DRF's own (the database away), and raise outside the handler.
        elif isinstance(token := getattr(request, "_auth", None), ApiToken):
            state = limits_peek(scopes=scopes_for(user=request.user, token=token, team=token.team))
        else:
            state = None
        if state is not None:
            for header, value in state.headers().items():
                if header not in response:
                    response[header] = value
        return response
