"""Corral settings. Everything comes from the environment, read once, in these modules in turn:
Django's own, Corral's, the processes' (Celery and logging), the security headers, and single
sign-on."""

from config.settings.corral import *  # noqa: F403
from config.settings.django import *  # noqa: F403
from config.settings.processes import *  # noqa: F403
from config.settings.security import *  # noqa: F403
from config.settings.sso import *  # noqa: F403
