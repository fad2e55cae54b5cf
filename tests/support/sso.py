"""Single sign-on in the tests: the loopback provider as Corral's, and the flow's redirects
followed with Django's test client on Corral's side and a real HTTP client on the provider's."""

from urllib.parse import parse_qs, urlsplit

import requests

from accounts.models import Membership
from accounts.sso import discovery
from tests.support.oidc_provider import Provider

CLIENT_ID, CLIENT_SECRET = "corral", "corral-client-secret"
BACKEND = "accounts.sso.backend.SignInBackend"


def use_provider(settings, provider: Provider, *, corral: str = "http://testserver") -> None:
    """Corral's settings as CORRAL_OIDC_* set to the provider would make them."""
    provider.client(CLIENT_ID, CLIENT_SECRET, corral)
    settings.CORRAL_OIDC_ISSUER = provider.issuer
    settings.CORRAL_SSO_ENABLED = True
    settings.CORRAL_OIDC_PROVIDER_NAME = "Loopback"
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
    discovery.forget()


def local(url: str) -> str:
    """The path and query of a URL on Corral, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class Flow:
    """One sign-in: Corral sends the browser to the provider, the person signs in there, and the
    provider sends the browser back with a code and the state."""

    def __init__(
        self, client, username: str, password: str = "provider pass", next_url: str = ""
    ) -> None:
        self.client = client
        start = client.get("/sso/start", {"next": next_url} if next_url else {})
        assert start.status_code == 302, start
        self.authorize = start["Location"]
        self.state = parse_qs(urlsplit(self.authorize).query)["state"][0]
        answer = requests.post(
            self.authorize, data={"username": username, "password": password},
            allow_redirects=False, timeout=10,
        )  # fmt: skip
        assert answer.status_code == 302, answer.text
        self.callback = local(answer.headers["Location"])
        self.code = parse_qs(urlsplit(self.callback).query)["code"][0]

    def finish(self, callback: str | None = None):
        return self.client.get(callback or self.callback)


def sign_in(client, username: str):
    return Flow(client, username).finish()


def roles_of(user) -> dict[str, str]:
    return dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))


def signed_in_as(client) -> str | None:
    response = client.get("/tokens/")
    return response.context["user"].username if response.status_code == 200 else None


def refused(response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.content[:500]
    page = response.content.decode()
    assert "Sign-in refused" in page and f"<code>{code}</code>" in page
