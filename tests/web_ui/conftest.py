"""The browser tests' world: one chromium and one Corral under gunicorn (gevent) for the whole
package, with the Ollama double behind it."""

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from accounts.services import membership_ensure
from tests.support import processes
from tests.web_ui.browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SHOTS, signed_in


@pytest.fixture(scope="package")
def chromium():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (.ci/run does)"
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # synchronous all the same.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="package")
def server(django_db_setup, django_db_blocker, otlp_receiver, tmp_path_factory):
    # tests.settings: production settings with plain-HTTP cookies and static files found in place.
    with django_db_blocker.unblock():
        env = processes.corral_env(otlp_receiver.endpoint, DJANGO_SETTINGS_MODULE="tests.settings")
    with processes.web(env, tmp_path_factory.mktemp("web")) as base:
        yield base


@pytest.fixture
def person(team, route, redis_client):
    user = get_user_model().objects.create_user("pat", password=PASSWORD)
    membership_ensure(team=team, user=user)
    return user


@pytest.fixture
def page(chromium, server, person):
    page = signed_in(chromium, server)
    yield page
    page.context.close()
    assert page.problems == []
