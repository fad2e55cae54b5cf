"""How the processes run: Celery (queues, routes, time limits, the beat schedule) and logging."""

import logging

from kombu import Queue

from config.settings.corral import CORRAL_HEALTH_CHECK_SECONDS, CORRAL_TOTAL_TIMEOUT
from config.settings.django import DEBUG, REDIS_URL, env

# --- Celery -------------------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# task modules that are not an app's tasks.py, which autodiscovery finds by itself
CELERY_IMPORTS = ("gateway.completions.tasks",)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A message a dead worker held goes back to the queue after this long (acks_late + Redis broker).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# A worker takes every queue unless told otherwise (`celery worker -Q completions` for a dedicated one).
CELERY_TASK_QUEUES = [Queue(name) for name in ("default", "completions", "callbacks", "telemetry")]
CELERY_TASK_ROUTES = {
    "gateway.run_completion": {"queue": "completions"},
    "gateway.deliver_callback": {"queue": "callbacks"},
    "gateway.otlp_*": {"queue": "telemetry"},
}
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=int(CORRAL_TOTAL_TIMEOUT) + 120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int(
    "CELERY_TASK_SOFT_TIME_LIMIT", default=int(CORRAL_TOTAL_TIMEOUT) + 60
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every worker runs beat (config.worker_beat); RedBeat keeps the schedule and a lock in Redis, so
# one of them sends the periodic tasks. A beat wakes at least every BEAT_MAX_LOOP_INTERVAL seconds
# to extend the lock (two Redis round trips), and a stopping worker waits for that wake to release
# it; a worker gone without releasing it is replaced once it expires.
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = env.float("CORRAL_BEAT_INTERVAL_SECONDS", default=1.0)
# RedBeat's own settings, by its own names (config.celery hands them over)
REDBEAT = {
    "redbeat_redis_url": REDIS_URL,
    "redbeat_redis_options": {},
    "redbeat_key_prefix": "corral:beat:",
    "redbeat_lock_timeout": env.int("CORRAL_BEAT_LOCK_SECONDS", default=25),
}
CELERY_BEAT_SCHEDULE = {
    "otlp-sweep": {
        "task": "gateway.otlp_sweep",
        "schedule": env.float("CORRAL_OTLP_SWEEP_SECONDS", default=10.0),
    },
    "backends-health-check": {
        "task": "gateway.backends_health_check",
        "schedule": CORRAL_HEALTH_CHECK_SECONDS,
    },
    "audit-replay-finalizations": {
        "task": "audit.replay_finalizations",
        "schedule": env.float("CORRAL_AUDIT_REPLAY_SECONDS", default=10.0),
    },
    "audit-seal-chain": {
        "task": "audit.seal_chain",
        "schedule": env.float("AUDIT_SEAL_SECONDS", default=10.0),
    },
    "audit-purge-content": {
        "task": "audit.purge_content",
        "schedule": 3600.0,
    },
    "audit-mark-interrupted": {
        "task": "audit.mark_interrupted",
        "schedule": env.float("CORRAL_AUDIT_SWEEP_SECONDS", default=300.0),
    },
}

# --- Logging ------------------------------------------------------------------------------------

# JSON lines (one object per line, with request_id, trace_id and span_id) unless LOG_FORMAT=plain;
# plain text is the default only for a DEBUG instance on a developer's terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "common.log_context.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s "
            "[request_id=%(request_id)s trace_id=%(trace_id)s]"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s %(span_id)s "
            "%(process)d",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # one INFO line per upstream request is noise at gateway volumes
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # the access line of every request (CORRAL_ACCESS_LOG_LEVEL=WARNING silences it)
        "corral.access": {"level": env.str("CORRAL_ACCESS_LOG_LEVEL", default="INFO")},
    },
}
# Python's warnings become log lines (JSON too) instead of bare text on stderr.
logging.captureWarnings(True)
# Celery keeps Django's logging (JSON, with the trace id of the task's span) instead of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
