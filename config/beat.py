"""The beat process's Celery app: it only sends the periodic tasks, by name, on their schedule, and
runs none of them, so it loads no Django app — the settings it needs and Celery, about a third of
the memory of a process that loads Corral.

    celery -A config.beat beat

The schedule, broker and queues are the ones the workers read (config.settings.processes)."""

import logging.config

from celery import Celery
from celery.signals import setup_logging

from config.settings import processes

# No Django fixup: it would set Django up (every app, every model) when beat starts.
app = Celery("corral", fixups=[])
app.config_from_object(processes, namespace="CELERY")
app.conf.imports = ()  # the task modules are the workers' to import, never beat's


@setup_logging.connect(weak=False)
def log_as_corral_does(**kwargs) -> None:
    # JSON lines like every other process (LOGGING of the settings), not Celery's own format
    logging.config.dictConfig(processes.LOGGING)
