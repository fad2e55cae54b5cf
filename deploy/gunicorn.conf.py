"""Gunicorn for Corral: gevent workers, so each open stream costs a greenlet, not a thread.

A team holds hundreds of long streams open at once. A sync or gthread worker ties up one OS thread
per open stream; gevent holds thousands per worker process, and the pipeline's blocking code (the
ollama client, psycopg 3, redis-py) yields to other greenlets on every socket wait.
"""

import os

from gunicorn import glogging

wsgi_app = "config.wsgi:application"
bind = os.environ.get("CORRAL_BIND", "0.0.0.0:8000")
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Open connections (and so streams) one worker holds at once.
worker_connections = int(os.environ.get("CORRAL_WORKER_CONNECTIONS", "1000"))
# For gevent workers this is the heartbeat deadline of a worker, not a limit on a request's length.
timeout = 30
graceful_timeout = int(os.environ.get("CORRAL_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Corral writes its own access line (logger corral.access, with request and trace ids); gunicorn's
# is off unless CORRAL_ACCESS_LOG names a file or "-".
accesslog = os.environ.get("CORRAL_ACCESS_LOG") or None
errorlog = "-"
if os.environ.get("LOG_FORMAT", "json") == "json" and os.environ.get("DEBUG", "").lower() not in (
    "1",
    "true",
    "yes",
    "on",
):
    # gunicorn's own lines (boot, worker restarts) as JSON lines too, like the application's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s %(process)d",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
                "static_fields": {"request_id": "", "trace_id": "", "span_id": ""},
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # with a logging config gunicorn always emits access lines: keep them only when asked
            "gunicorn.access": {
                "handlers": ["console"] if accesslog else [],
                "level": "INFO" if accesslog else "CRITICAL",
                "propagate": False,
            },
        },
    }
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The master loads Corral once and forks its workers from it: Django, the libraries and the
# loaded objects are then pages the workers share until one writes them, instead of a copy per
# worker (measured: the idle stack 357 → 299 MB PSS). A release restarts the master: a HUP
# re-forks workers from the code already loaded.
preload_app = os.environ.get("CORRAL_PRELOAD_APP", "true").lower() in ("1", "true", "yes", "on")
if preload_app:
    # The application's imports must see gevent's socket, ssl and threading, as they do when a
    # gevent worker loads it after patching itself; gunicorn's master runs patched just as well.
    from gevent import monkey

    monkey.patch_all()


def pre_fork(server, worker):
    # What the master loaded goes to the collector's permanent generation before each fork, so a
    # worker's collections never write to those objects' headers (which would copy their pages).
    import gc

    gc.freeze()


class Logger(glogging.Logger):
    """gunicorn's logger, building its access line only when one is asked for: with a logging
    config (logconfig_dict above) gunicorn otherwise builds every request's line, headers and
    environ included, and then drops it below the CRITICAL level (1.3 % of a worker's CPU)."""

    def access(self, resp, req, environ, request_time):
        if accesslog:
            super().access(resp, req, environ, request_time)


logger_class = Logger


def post_worker_init(worker):
    # The fork-safe point for gevent workers: after the fork (exporter threads never live in the
    # master) and after gevent's monkey-patching (post_fork runs before it), so the exporters'
    # threads and locks are the patched, cooperative kind.
    import gc

    from gateway import tracing

    tracing.start()
    # Everything loaded so far (Django, the URL conf, the models, the libraries) lives as long as
    # the worker: moved out of the collector's generations, a full collection no longer walks
    # those hundreds of thousands of objects (measured: the worker's time in GC about 40 % lower).
    gc.collect()
    gc.freeze()


def worker_exit(server, worker):
    from gateway import tracing

    tracing.shutdown()
