import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

app = Celery("corral")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def start_tracing(**kwargs) -> None:
    from gateway import tracing

    tracing.start()


@worker_process_shutdown.connect(weak=False)
def flush_tracing(**kwargs) -> None:
    from gateway import tracing

    tracing.shutdown()
