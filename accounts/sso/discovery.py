"""The provider's discovery document (OpenID Connect Discovery 1.0), read from the issuer and kept
for CORRAL_OIDC_DISCOVERY_SECONDS: endpoints and the keys' address are never set by hand, so a
provider that moves them is followed."""

import threading
import time

import requests
from django.conf import settings

from accounts.sso.errors import SignInRefused

_lock = threading.Lock()
_kept: dict[str, tuple[float, dict]] = {}

# What a sign-in needs from the document (end_session_endpoint is optional: not every provider
# offers to end its session).
REQUIRED = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


def provider_metadata() -> dict:
    issuer = settings.CORRAL_OIDC_ISSUER
    kept = _kept.get(issuer)
    if kept and time.monotonic() - kept[0] < settings.CORRAL_OIDC_DISCOVERY_SECONDS:
        return kept[1]
    with _lock:
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            metadata = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SignInRefused(
                "provider_unreachable",
                "Corral could not reach the identity provider. Try again in a minute; if it "
                "persists, tell an administrator.",
                detail=f"{url}: {exc}",
                status=502,
            ) from exc
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer it came from,
        # or a document planted elsewhere could send the keys' address anywhere.
        missing = [key for key in REQUIRED if not metadata.get(key)]
        if metadata.get("issuer", "").rstrip("/") != issuer or missing:
            raise SignInRefused(
                "provider_misconfigured",
                "The identity provider's configuration does not match Corral's. Tell an "
                "administrator.",
                detail=f"{url}: issuer {metadata.get('issuer')!r}, missing {missing}",
                status=502,
            )
        _kept[issuer] = (time.monotonic(), metadata)
    return metadata


def forget() -> None:
    _kept.clear()
