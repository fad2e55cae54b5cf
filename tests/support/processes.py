"""Corral's own processes for end-to-end tests: gunicorn (gevent) and a Celery worker (beat inside)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from django.db import connection

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database, as the child processes must reach it."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user = settings["USER"] or "postgres"
        host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
        return f"postgres://{user}@{host}:{port}/{settings['NAME']}"
    return f"sqlite:///{settings['NAME']}"


def corral_env(otlp_endpoint: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CORRAL_ENV_FILE": "",
        "SECRET_KEY": "e2e-secret",
        "DATABASE_URL": database_url(),
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "ALLOWED_HOSTS": "127.0.0.1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_SERVICE_NAME": "corral-e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        # A worker killed by a test (or at a test's end, below) cannot release its beat lock:
        # the next worker's beat would wait out production's 25 s before sending anything.
        "CORRAL_BEAT_LOCK_SECONDS": "4",
        **extra,
    }


@contextlib.contextmanager
def running(command: list[str], env: dict, log_path: Path, *, graceful: bool = True):
    """The process, started with its output in `log_path`; stopped as the block ends with SIGTERM
    (waiting for it), or at once with SIGKILL unless `graceful`."""
    with log_path.open("w") as log:
        # A session of its own, so a test can kill the process with all its children at once.
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None and not graceful:
                kill_hard(process)
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def web(env: dict, log_dir: Path, name: str = "gunicorn"):
    """gunicorn with the production config; yields the base URL once /healthz answers."""
    with web_process(env, log_dir, name) as (base, _):
        yield base


def _gunicorn(env: dict, log_dir: Path, name: str) -> tuple[list[str], dict, Path, str]:
    """What starts one web node: its command, environment, log file and base URL."""
    port = free_port()
    env = {
        **env,
        "CORRAL_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": env.get("CORRAL_TEST_WEB_WORKERS", "1"),
        "CORRAL_ACCESS_LOG": env.get("CORRAL_ACCESS_LOG", ""),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
    return command, env, log_dir / f"{name}.log", f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def web_process(env: dict, log_dir: Path, name: str = "gunicorn"):
    """As web(), yielding the base URL and the gunicorn master process (its log: `name`.log)."""
    command, env, log, base = _gunicorn(env, log_dir, name)
    with running(command, env, log) as process:
        assert wait_until_healthy(base), log.read_text()
        yield base, process


@contextlib.contextmanager
def web_nodes(env: dict, log_dir: Path, count: int):
    """`count` web nodes (logs node-0.log, ...), started together; yields their base URLs once
    every one answers."""
    with contextlib.ExitStack() as stack:
        nodes = []
        for number in range(count):
            command, node_env, log, base = _gunicorn(env, log_dir, f"node-{number}")
            stack.enter_context(running(command, node_env, log))
            nodes.append((base, log))
        for base, log in nodes:
            assert wait_until_healthy(base), log.read_text()
        yield [base for base, _ in nodes]


def wait_until_healthy(base: str, timeout: float = 30) -> bool:
    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return wait_for(up, timeout=timeout)


@contextlib.contextmanager
def worker(env: dict, log_dir: Path, name: str = "celery"):
    """A Celery worker as in production (one process, tasks as greenlets of a gevent pool, beat
    inside it), against the tests' Redis database; its log is `name`.log. Yields the process.

    Killed as the block ends: a warm shutdown takes ~3.5 s, most of it Celery's consumer loop
    finishing its two-second drain of Redis, and the suite starts dozens of workers.
    What a killed worker leaves in Redis goes with the test's flush (`redis_client`), its beat
    lock within CORRAL_BEAT_LOCK_SECONDS; tests/test_worker_beat.py plays the warm shutdown."""
    worker_command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "gevent",
        "--concurrency",
        "20",
        "--loglevel",
        "INFO",
        "--hostname",
        f"{name}@%h",
    ]
    log = log_dir / f"{name}.log"
    with running(worker_command, env, log, graceful=False) as process:
        # Tests flush the Redis database, and with it kombu's queue bindings: a task sent before
        # the worker has declared its queues again would be dropped. Wait until it is ready.
        assert wait_for(lambda: " ready." in log.read_text(), timeout=60), log.read_text()
        yield process


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL a process and its children, as an OOM killer or a lost node would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def post_chat(
    base: str, token: str, content: str, headers: dict | None = None, **extra
) -> httpx.Response:
    """One native-API chat call over the wire (with more request headers, if given)."""
    from tests.conftest import MODEL

    return httpx.post(
        f"{base}/api/v1/chat",
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        json={"model": MODEL, "messages": [{"role": "user", "content": content}], **extra},
        timeout=60,
    )
