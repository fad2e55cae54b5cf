import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
# The URL conf, and with it every view, the API schema and the sign-in pages (~280 modules), loads
# now rather than on each worker's first request: in gunicorn's preloading master that makes them
# pages every worker shares instead of a copy each.
get_resolver().url_patterns  # noqa: B018

# Every process that serves requests traces them: `manage.py runserver` starts tracing here, in the
# process that serves; under gunicorn each worker's post_worker_init hook starts it after the fork,
# as the master (which loads this module when it preloads the application) must export nothing.
from gateway import tracing  # noqa: E402  (after Django is set up)

if not os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/"):
    tracing.start()
