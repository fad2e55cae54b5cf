import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Every process that serves requests traces them: gunicorn's workers load this module after their
# fork (their post_worker_init hook starts it too), `manage.py runserver` in the process that
# serves. start() runs once per process.
from gateway import tracing  # noqa: E402  (after Django is set up)

tracing.start()
