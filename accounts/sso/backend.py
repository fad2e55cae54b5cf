"""mozilla-django-oidc's backend with what a gateway's sign-in needs on top: endpoints from the
discovery document, the ID token checked in full (signature, algorithm, issuer, audience, expiry,
issue time, with a bounded clock skew), the person found by subject, and their groups applied."""

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.sso import CONNECT_SESSION_KEY
from accounts.sso.discovery import provider_metadata
from accounts.sso.errors import SignInRefused
from accounts.sso.services import sso_sign_in


def _discovered(name: str) -> property:
    return property(lambda self: provider_metadata()[name])


class SignInBackend(OIDCAuthenticationBackend):
    # Read from the discovery document when a sign-in needs them: Django makes a backend for every
    # request that loads a signed-in person, and those must not wait on (or fail with) the provider.
    OIDC_OP_TOKEN_ENDPOINT = _discovered("token_endpoint")
    OIDC_OP_USER_ENDPOINT = _discovered("userinfo_endpoint")
    OIDC_OP_JWKS_ENDPOINT = _discovered("jwks_uri")

    def __init__(self, *args, **kwargs):
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None  # the provider's keys come from its jwks_uri
        self.UserModel = get_user_model()

    def get_payload_data(self, token, key):
        # The library checks the signature and the expiry only; the issuer and the audience say
        # the token was made by this provider for Corral, not for another of its clients.
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=provider_metadata()["issuer"],
                leeway=settings.CORRAL_OIDC_CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _token_refused("expired", "it has expired", exc) from exc
        except jwt.ImmatureSignatureError as exc:
            raise _token_refused("not_yet_valid", "it is not valid yet", exc) from exc
        except jwt.InvalidSignatureError as exc:
            raise _token_refused("bad_signature", "its signature does not verify", exc) from exc
        except jwt.InvalidAudienceError as exc:
            raise _token_refused(
                "wrong_audience", "it was made for another application", exc
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise _token_refused("wrong_issuer", "another provider made it", exc) from exc
        except jwt.PyJWTError as exc:
            raise _token_refused("invalid_token", "it is malformed", exc) from exc

    def get_userinfo(self, access_token, id_token, payload):
        userinfo = super().get_userinfo(access_token, id_token, payload)
        # OpenID Connect Core 1.0, 5.3.2: the UserInfo answer is about the token's subject, or it
        # must not be used (it could describe someone else).
        if userinfo.get("sub") != payload["sub"]:
            raise SignInRefused(
                "userinfo_mismatch",
                "The identity provider described another person than the one who signed in.",
                detail=f"id token sub {payload['sub']!r}, userinfo sub {userinfo.get('sub')!r}",
                status=400,
            )
        return {**payload, **userinfo}

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        return sso_sign_in(issuer=payload["iss"], claims=claims, connect=self._connecting())

    def _connecting(self):
        """The signed-in account whose owner asked (a form post, accounts.sso.views.connect) to
        sign in with the provider from now on: never just whoever happens to be signed in, or a
        page could make a person finish a sign-in that ties someone else's provider account to
        theirs."""
        asked = self.request.session.pop(CONNECT_SESSION_KEY, None)
        user = getattr(self.request, "user", None)
        if asked is not None and user is not None and user.is_authenticated and user.pk == asked:
            return user
        return None


def _token_refused(code: str, why: str, exc: Exception) -> SignInRefused:
    return SignInRefused(
        code,
        f"The identity provider's answer could not be trusted: {why}. Start the sign-in again; if "
        "it keeps happening, tell an administrator.",
        detail=str(exc),
        status=400,
    )
