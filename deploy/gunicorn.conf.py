"""Gunicorn for Corral: gevent workers, so each open stream costs a greenlet, not a thread.

A team holds hundreds of long streams open at once. A sync or gthread worker ties up one OS thread
per open stream; gevent holds thousands per worker process, and the pipeline's blocking code (the
ollama client, psycopg 3, redis-py) yields to other greenlets on every socket wait.
"""

import os

wsgi_app = "gateway.wsgi:application"
bind = os.environ.get("CORRAL_BIND", "0.0.0.0:8000")
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Open connections (and so streams) one worker holds at once.
worker_connections = int(os.environ.get("CORRAL_WORKER_CONNECTIONS", "1000"))
# For gevent workers this is the heartbeat deadline of a worker, not a limit on a request's length.
timeout = 30
graceful_timeout = int(os.environ.get("CORRAL_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = os.environ.get("CORRAL_ACCESS_LOG", "-") or None  # empty: no access log
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    # The fork-safe point for gevent workers: after the fork (exporter threads never live in the
    # master) and after gevent's monkey-patching (post_fork runs before it), so the exporters'
    # threads and locks are the patched, cooperative kind.
    from gateway import tracing

    tracing.start()


def worker_exit(server, worker):
    from gateway import tracing

    tracing.shutdown()
