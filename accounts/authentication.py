import hmac

from django.conf import settings
from rest_framework import authentication, exceptions

from accounts import tokens
from accounts.models import ApiToken
from accounts.services import token_touch
from gateway.process_cache import ProcessCache
from gateway.request_info import client_ip

# A valid token, its user (with limits) and team, by the digest of its secret: the lookup is most
# of what authenticating costs. Emptied when a token, user, limits or team changes (accounts.apps).
# Unknown and wrong secrets are never kept.
checked_tokens = ProcessCache("CORRAL_TOKEN_CACHE_SECONDS", max_entries=10_000)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer crl_...` with a personal API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("invalid API token") from None
        return self._authenticate_secret(request, secret)

    def _authenticate_secret(self, request, secret: str):
        digest = tokens.digest(secret)
        token = checked_tokens.get(digest)
        if token is None:
            prefix = tokens.split_prefix(secret)
            token = (
                ApiToken.objects.select_related("user", "user__limits", "team")
                .filter(prefix=prefix)
                .first()
                if prefix
                else None
            )
            # Compare digests in constant time; a wrong token and an unknown one look the same.
            expected = token.secret_hash if token else "0" * 64
            if not hmac.compare_digest(expected, digest) or token is None:
                raise exceptions.AuthenticationFailed("invalid API token")
            checked_tokens.put(digest, token)
        if not token.is_active:
            raise exceptions.AuthenticationFailed("API token is expired or revoked")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("the token's user is deactivated")
        token_touch(
            token=token,
            ip=client_ip(request),
            interval_seconds=settings.CORRAL_TOKEN_TOUCH_INTERVAL,
        )
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="corral"'
