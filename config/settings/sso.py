"""Single sign-on with the company's OpenID Connect provider (mozilla-django-oidc underneath), and
whether passwords still sign people in. Off unless CORRAL_OIDC_ISSUER is set."""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.settings.django import AUTHENTICATION_BACKENDS, env
from config.settings.security import CONTENT_SECURITY_POLICY

# The issuer as the provider names itself; its discovery document is read from
# <issuer>/.well-known/openid-configuration (endpoints and keys are never configured by hand).
CORRAL_OIDC_ISSUER = env.str("CORRAL_OIDC_ISSUER", default="").rstrip("/")
CORRAL_SSO_ENABLED = bool(CORRAL_OIDC_ISSUER)
# The button's words: "Sign in with <name>".
CORRAL_OIDC_PROVIDER_NAME = env.str("CORRAL_OIDC_PROVIDER_NAME", default="single sign-on")
# The claim that lists the person's groups (Keycloak, Okta and Authentik: "groups"; Entra ID sends
# group object ids in "groups", or app roles in "roles").
CORRAL_OIDC_GROUPS_CLAIM = env.str("CORRAL_OIDC_GROUPS_CLAIM", default="groups")
CORRAL_OIDC_USERNAME_CLAIM = env.str("CORRAL_OIDC_USERNAME_CLAIM", default="preferred_username")
# How far the provider's clock may be from Corral's when the ID token's times are checked.
CORRAL_OIDC_CLOCK_SKEW_SECONDS = env.int("CORRAL_OIDC_CLOCK_SKEW_SECONDS", default=60)
# People whose groups match no rule: "refuse" them, or "allow" them in with the default access of a
# person in no team.
CORRAL_OIDC_UNMAPPED = env.str("CORRAL_OIDC_UNMAPPED", default="refuse")
if CORRAL_OIDC_UNMAPPED not in ("refuse", "allow"):
    raise ImproperlyConfigured("CORRAL_OIDC_UNMAPPED must be 'refuse' or 'allow'")
# A single sign-on's session lasts this long; then the person signs in again, and their groups at
# the provider are read again (what the provider took away meanwhile is taken away then).
CORRAL_OIDC_SESSION_HOURS = env.float("CORRAL_OIDC_SESSION_HOURS", default=12)
# How long the provider's discovery document is kept before it is read again.
CORRAL_OIDC_DISCOVERY_SECONDS = env.int("CORRAL_OIDC_DISCOVERY_SECONDS", default=3600)
# Passwords may be switched off once single sign-on works (a superuser can switch them back on).
CORRAL_PASSWORD_SIGN_IN = env.bool("CORRAL_PASSWORD_SIGN_IN", default=True)

# mozilla-django-oidc's own settings, from the ones above
OIDC_RP_CLIENT_ID = env.str("CORRAL_OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("CORRAL_OIDC_CLIENT_SECRET", default="")
OIDC_RP_SCOPES = env.str("CORRAL_OIDC_SCOPES", default="openid email profile")
OIDC_RP_SIGN_ALGO = env.str("CORRAL_OIDC_SIGN_ALGO", default="RS256")
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # the hint for the provider's sign-out
OIDC_TIMEOUT = env.float("CORRAL_OIDC_TIMEOUT", default=10.0)
OIDC_AUTHENTICATION_CALLBACK_URL = "sso-callback"

if CORRAL_SSO_ENABLED:
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "CORRAL_OIDC_ISSUER is set: CORRAL_OIDC_CLIENT_ID and CORRAL_OIDC_CLIENT_SECRET are "
            "required too"
        )
    # The SSO backend is a ModelBackend too: permissions keep working with passwords switched off.
    AUTHENTICATION_BACKENDS = [
        *(AUTHENTICATION_BACKENDS if CORRAL_PASSWORD_SIGN_IN else []),
        "accounts.sso.backend.SignInBackend",
    ]
    # Signing out is a form post answered by a redirect to the provider's sign-out page, which a
    # browser lets a form lead to only when form-action names the provider's origin.
    _issuer = urlsplit(CORRAL_OIDC_ISSUER)
    CONTENT_SECURITY_POLICY = {
        **CONTENT_SECURITY_POLICY,
        "DIRECTIVES": {
            **CONTENT_SECURITY_POLICY["DIRECTIVES"],
            "form-action": [
                *CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"],
                f"{_issuer.scheme}://{_issuer.netloc}",
                *env.list("CORRAL_OIDC_SIGN_OUT_ORIGINS", default=[]),
            ],
        },
    }
elif not CORRAL_PASSWORD_SIGN_IN:
    raise ImproperlyConfigured(
        "CORRAL_PASSWORD_SIGN_IN=false needs single sign-on (CORRAL_OIDC_ISSUER): nobody could sign in"
    )
