import os

from celery import Celery
from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

from config.settings import processes
from config.worker_beat import WorkerBeat
from gateway import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Celery runs Django's system checks as a worker starts, and the URL checks import the URL conf:
# every view, the API schema, the sign-in pages, in a process that serves none of them (143 -> 127
# MB RSS at idle). The checks run where they belong: at `manage.py migrate` before every start
# (bin/run, compose, the Kubernetes migrate Job) and in CI.
os.environ.setdefault("CELERY_SKIP_CHECKS", "true")

app = Celery("corral")
app.config_from_object("django.conf:settings", namespace="CELERY")
# RedBeat looks its settings up without Django's CELERY_ prefix (it finds prefixed ones, but warns
# at every start that it had not).
app.conf.update(processes.REDBEAT)
app.autodiscover_tasks()
app.steps["worker"].add(WorkerBeat)


@worker_process_init.connect(weak=False)
def start_tracing(**kwargs) -> None:
    # prefork: in each child, after the fork
    tracing.start()


@worker_init.connect(weak=False)
def start_tracing_in_a_single_process(sender=None, **kwargs) -> None:
    # gevent, threads and solo pools run tasks in the worker process itself, which never forks
    # and sends no worker_process_init; prefork's parent must not start threads before forking.
    pool = getattr(sender, "pool_cls", None)
    if pool is not None and not getattr(pool, "__module__", "").endswith(".prefork"):
        tracing.start()


@worker_process_shutdown.connect(weak=False)
@worker_shutdown.connect(weak=False)
def flush_tracing(**kwargs) -> None:
    tracing.shutdown()
