"""Production settings with the few changes a test run needs; DEBUG stays off."""

import os

os.environ["CORRAL_ENV_FILE"] = ""  # a developer's .env must not leak into the tests
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from config.settings import *  # noqa: F403

STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Serve static files from the apps, as DEBUG would, without a collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests change routes and backends between calls and expect the next call to see it; a server
# started to prove that a change reaches a process holding a checked token sets a real TTL.
CORRAL_ROUTE_CACHE_SECONDS = 0
CORRAL_TOKEN_CACHE_SECONDS = int(os.environ.get("CORRAL_TEST_TOKEN_CACHE_SECONDS", "0"))
