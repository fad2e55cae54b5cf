"""The people's pages: sign in, models, API tokens (secret shown once) and usage."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import ApiToken
from accounts.services import membership_ensure, team_get_or_create, token_issue, user_create
from audit.models import AdminAction
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(team):
    user = get_user_model().objects.create_user("pat", password="a long passphrase 42")
    membership_ensure(team=team, user=user)
    return user


@pytest.fixture
def browser(person):
    client = Client()
    client.force_login(person)
    return client


@pytest.mark.parametrize("path", ["/", "/models/", "/tokens/", "/usage/"])
def test_pages_need_a_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_sign_in_with_a_password(client, person):
    page = client.get("/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    wrong = client.post("/login/", {"username": "pat", "password": "nope"})
    assert b"do not match" in wrong.content
    right = client.post("/login/", {"username": "pat", "password": "a long passphrase 42"})
    assert right.status_code == 302 and right["Location"] == "/"
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_models_page_lists_the_models_of_the_persons_teams(browser, route):
    page = browser.get("/models/").content.decode()
    assert MODEL in page and "Team Research" in page


def test_create_a_token_the_secret_is_shown_once(browser, person, team):
    response = browser.post("/tokens/", {"name": "notebook", "team": team.pk})
    assert response.status_code == 302, "a reload must not post again"
    page = browser.get(response["Location"]).content.decode()
    token = ApiToken.objects.get(name="notebook")
    assert token.user == person and token.team == team
    secret_start = page.index('id="new-secret">') + len('id="new-secret">')
    secret = page[secret_start : page.index("</code>", secret_start)]
    assert secret.startswith(token.prefix)
    again = browser.get("/tokens/").content.decode()
    assert token.prefix in again and secret not in again
    assert AdminAction.objects.filter(action="create", actor=person).exists()


def test_a_token_only_for_ones_own_team(browser):
    other = team_get_or_create(slug="finance")
    response = browser.post("/tokens/", {"name": "x", "team": other.pk})
    assert response.status_code == 200
    assert not ApiToken.objects.filter(name="x").exists()


def test_revoke_own_token_not_someone_elses(browser, person):
    mine, _ = token_issue(user=person, name="mine")
    bob = user_create(username="bob")
    theirs, _ = token_issue(user=bob, name="theirs")
    asked = browser.get(f"/tokens/{mine.pk}/revoke").content.decode()
    assert "Revoke “mine”?" in asked and mine.revoked_at is None
    browser.post(f"/tokens/{mine.pk}/revoke")
    response = browser.post(f"/tokens/{theirs.pk}/revoke")
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert response.status_code == 404


def test_usage_page_shows_calls_and_limits(browser, person, team, route, redis_client):
    team.tokens_per_day = 1000
    team.save()
    _, secret = token_issue(user=person, name="t", team=team)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    api.post(
        "/api/v1/chat",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
    )
    page = browser.get("/usage/").content.decode()
    assert MODEL in page and "Tokens today" in page and "of 1000" in page


def test_staff_manage_users_in_the_admin(admin_client):
    assert admin_client.get("/admin/auth/user/").status_code == 200
    assert admin_client.get("/admin/accounts/userlimits/add/").status_code == 200


def test_a_record_page_is_for_those_who_may_read_the_record(browser, person, team, route):
    _, secret = token_issue(user=person, name="t", team=team)
    question = {"model": route.name, "messages": [{"role": "user", "content": "hi"}]}
    answer = Client().post(
        "/api/v1/chat",
        question,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    record_id = answer.json()["id"]
    assert "You said: hi" in browser.get(f"/records/{record_id}/").content.decode()
    stranger = Client()
    stranger.force_login(user_create(username="mallory"))
    assert stranger.get(f"/records/{record_id}/").status_code == 404


def test_the_streaming_preview_renders_like_the_answer_for_signed_in_people(browser, client):
    html = browser.post("/render", {"text": "**bold** <img src=x onerror=alert(1)>"}).json()["html"]
    assert "<strong>bold</strong>" in html and "<img" not in html
    assert browser.post("/render", {"text": "x" * (256 * 1024 + 1)}).status_code == 413
    gone = client.post("/render", {"text": "hi"}, HTTP_ACCEPT="application/json")
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthenticated"
