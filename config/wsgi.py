import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Every process that serves requests traces them: `manage.py runserver` starts tracing here, in the
# process that serves; under gunicorn each worker's post_worker_init hook starts it after the fork,
# as the master (which loads this module when it preloads the application) must export nothing.
from gateway import tracing  # noqa: E402  (after Django is set up)

if not os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/"):
    tracing.start()
