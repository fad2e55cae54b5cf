"""The sign-in's protocol against the OpenID provider on loopback: every answer that cannot be
trusted (a changed or re-used state, a replayed code, a token signed with another key, expired or
made for another client, UserInfo about someone else, another sign-in's nonce) ends on a clear page
and in the admin action log; passwords can be switched off; sign-out ends the provider's session."""

import pytest
import requests
from django.contrib.auth import get_user_model

from audit.models import AdminAction
from tests.support.oidc_provider import Misbehaviour
from tests.support.sso import BACKEND, Flow, refused, sign_in, signed_in_as

pytestmark = pytest.mark.django_db


def test_a_tampered_or_reused_state_is_refused(client, provider, teams):
    provider.person("pat", ["corral-red"])
    flow = Flow(client, "pat")
    refused(flow.finish(flow.callback.replace(flow.state, flow.state[:-2] + "xx")), "bad_state")
    assert signed_in_as(client) is None
    assert flow.finish().status_code == 302  # the real answer still works once...
    client.logout()
    refused(flow.finish(), "bad_state")  # ...and never again
    assert AdminAction.objects.filter(action="refuse", after__reason="bad_state").count() == 2


def test_a_code_replayed_into_another_sign_in_is_refused(client, provider, teams):
    provider.person("pat", ["corral-red"])
    stolen = Flow(client, "pat")
    assert stolen.finish().status_code == 302
    attacker = client.__class__()
    own = Flow(attacker, "pat")
    response = own.finish(own.callback.replace(own.code, stolen.code))
    refused(response, "code_refused")
    assert signed_in_as(attacker) is None


@pytest.mark.parametrize(
    "misbehaviour, code",
    [
        ({"rogue_key": True}, "bad_signature"),
        ({"id_token_age": 3600}, "expired"),
        ({"audience": "another-client"}, "wrong_audience"),
        ({"userinfo_sub": "someone-else"}, "userinfo_mismatch"),
        ({"nonce": "the-nonce-of-another-sign-in"}, "untrusted_answer"),
    ],
)
def test_an_answer_the_provider_signed_wrongly_is_refused(
    client, provider, teams, misbehaviour, code
):
    provider.person("pat", ["corral-red"])
    provider.misbehave = Misbehaviour(**misbehaviour)
    refused(sign_in(client, "pat"), code)
    assert signed_in_as(client) is None
    assert not get_user_model().objects.filter(username="pat").exists()
    assert AdminAction.objects.get(action="refuse").after["reason"] == code


def test_the_clock_skew_allowed_is_bounded(client, provider, teams, settings):
    settings.CORRAL_OIDC_CLOCK_SKEW_SECONDS = 60
    provider.person("pat", ["corral-red"])
    provider.misbehave.id_token_age = 300 + 30  # expired 30 s ago by the provider's clock
    assert sign_in(client, "pat").status_code == 302
    client.logout()
    provider.misbehave.id_token_age = 300 + 90
    refused(sign_in(client, "pat"), "expired")


def test_the_provider_saying_no_or_being_down_ends_on_a_clear_page(client, provider, settings):
    provider.person("pat", ["corral-red"])
    flow = Flow(client, "pat")
    said = client.get(
        "/sso/callback",
        {"error": "access_denied", "state": flow.state, "error_description": "Not in this app"},
    )
    assert said.status_code == 403
    assert "did not sign you in: Not in this app" in said.content.decode()
    # anyone can write such a link: without a sign-in this browser started, no words of theirs
    forged = client.get(
        "/sso/callback",
        {"error": "access_denied", "state": "x", "error_description": "Call +1 555 0100 now"},
    )
    assert forged.status_code == 403 and "555" not in forged.content.decode()
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"
    refused(Flow(client, "pat").finish(), "client_refused", status=502)
    settings.CORRAL_OIDC_ISSUER = "http://127.0.0.1:9"
    refused(client.get("/sso/start"), "provider_unreachable", status=502)


def test_passwords_can_be_switched_off(client, provider, settings):
    get_user_model().objects.create_user("local", password="a long passphrase 42")
    settings.CORRAL_PASSWORD_SIGN_IN = False
    settings.AUTHENTICATION_BACKENDS = [BACKEND]
    page = client.get("/login/").content.decode()
    assert "Sign in with Loopback" in page and 'name="password"' not in page
    response = client.post("/login/", {"username": "local", "password": "a long passphrase 42"})
    assert response.status_code == 403 and signed_in_as(client) is None
    admin = client.get("/admin/login/?next=/admin/audit/")
    assert admin.status_code == 302 and admin["Location"] == "/login/?next=%2Fadmin%2Faudit%2F"


@pytest.mark.parametrize(
    "asked, landed",
    [("/usage/", "/usage/"), ("https://evil.example/", "/"), ("//evil.example/x", "/")],
)
def test_after_sign_in_the_person_goes_where_they_were_headed_but_never_elsewhere(
    client, provider, teams, asked, landed
):
    provider.person("pat", ["corral-red"])
    response = Flow(client, "pat", next_url=asked).finish()
    assert response.status_code == 302 and response["Location"] == landed


def test_the_sign_in_page_offers_the_provider_beside_the_password(client, provider):
    page = client.get("/login/?next=/usage/").content.decode()
    assert 'href="/sso/start?next=/usage/"' in page and 'name="password"' in page
    assert "Sign in with Loopback" in client.get("/admin/login/").content.decode()


def test_signing_out_ends_the_providers_session_too(client, provider, teams):
    pat = provider.person("pat", ["corral-red"])
    sign_in(client, "pat")
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{provider.issuer}/logout?id_token_hint=")
    assert signed_in_as(client) is None
    back = requests.get(response["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == "http://testserver/login/"
    assert provider.ended_sessions == [pat.sub]
