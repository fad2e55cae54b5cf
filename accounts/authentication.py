import hmac

from django.conf import settings
from rest_framework import authentication, exceptions

from accounts import tokens
from accounts.models import ApiToken
from accounts.selectors import token_standing
from accounts.services import token_touch
from common.process_cache import ProcessCache
from common.request_info import client_ip

# A valid token, its user (with limits), team and standing (the tokens it was made with, its owner's
# teams), by the digest of its secret: the lookup is most of what authenticating costs. Emptied when
# one of those changes (accounts.apps). Unknown and wrong secrets are never kept.
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
        checked = checked_tokens.get_or_load(digest, lambda: _load_checked(secret, digest))
        problem = checked.standing.problem(checked)
        if problem:
            raise exceptions.AuthenticationFailed(problem)
        token_touch(
            token=checked,
            ip=client_ip(request),
            interval_seconds=settings.CORRAL_TOKEN_TOUCH_INTERVAL,
        )
        return checked.user, checked

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="corral"'


def _load_checked(secret: str, digest: str) -> ApiToken:
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
    token.standing = token_standing(token=token)
    return token
