"""Corral as production runs it, started on this machine for a bench: PostgreSQL and Redis (the local
servers; a fresh database), gunicorn with deploy/gunicorn.conf.py and the production settings, a
Celery worker (gevent pool, beat inside it), an OTLP receiver, and the Ollama double as the upstream in its
own process."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.support import manage, pids_named, rss_mb, tree, wait_up
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
UPSTREAM = "llama3.2:latest"
REPLY = " ".join(["token"] * 20)


@dataclass
class Stack:
    env: dict
    logs: Path
    ollama: str
    corral: str
    token: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)  # every web node's URL; corral is the first

    def start(
        self, name: str, command: list[str], extra: dict | None = None, *, env: dict | None = None
    ) -> subprocess.Popen:
        """A process of the bench, with Corral's environment (plus `extra`) unless given `env`."""
        process = subprocess.Popen(
            command, cwd=ROOT, env={**(self.env if env is None else env), **(extra or {})},
            stdout=(self.logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.processes[name] = process
        return process

    def double(self, name: str, port: int, chunk_delay: float = 0.0) -> str:
        """An Ollama double answering 20 tokens, `chunk_delay` seconds apart."""
        self.start(name, [PYTHON, "-m", "tests.support.ollama_double", "--port", str(port),
                          "--model", UPSTREAM, "--reply", REPLY, "--chunk-delay", str(chunk_delay)])  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_up(f"{url}/api/version")
        return url

    def point_default_backend(self, url: str) -> None:
        manage(
            self.env, "shell", "-c",
            f"from gateway.models import Backend; Backend.objects.filter(name='default')"
            f".update(base_url='{url}', follows_ollama_host=False)",
        )  # fmt: skip
        # Corral's processes keep a resolved route for CORRAL_ROUTE_CACHE_SECONDS.
        time.sleep(float(self.env["CORRAL_ROUTE_CACHE_SECONDS"]) + 1)

    def corral_pids(self) -> dict[str, list[int]]:
        web = [
            pid
            for name, p in self.processes.items()
            if name.startswith("web")
            for pid in tree(p.pid)
        ]
        return {"web": web, "celery": tree(self.processes["celery"].pid)}

    def rss(self) -> dict:
        pids = self.corral_pids()
        return {
            "web": rss_mb(pids["web"]),
            "celery": rss_mb(pids["celery"]),
            "all_pss": rss_mb(pids["web"] + pids["celery"], "Pss"),
        }

    def parts(self) -> dict:
        """Every part of the stack, for CpuBudget."""
        return {
            "Corral web": lambda: self.corral_pids()["web"],
            "Celery worker (and beat)": lambda: self.corral_pids()["celery"],
            "PostgreSQL": lambda: pids_named("postgres"),
            "Redis": lambda: pids_named("redis-server"),
            "Ollama double": lambda: tree(self.processes["ollama"].pid),
            "OTLP receiver": lambda: tree(self.processes["otlp"].pid),
        }


@contextlib.contextmanager
def production_stack(
    workers: int = 2, route_cache_seconds: float = 5.0, nodes: int = 1
) -> Iterator[Stack]:
    """The stack, as production runs it (a short bench lets routes be re-read sooner), with `nodes`
    web nodes of `workers` gunicorn workers each (what a load balancer spreads calls over)."""
    logs = Path(tempfile.mkdtemp(prefix="corral-bench-"))
    database = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/corral_bench"
    )
    if database.startswith("postgres"):
        name = database.rsplit("/", 1)[1]
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name],
            check=True,
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    ollama_port, otlp_port, corral_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CORRAL_ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database,
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "OLLAMA_HOST": f"http://127.0.0.1:{ollama_port}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_SERVICE_NAME": "corral-bench",
        "WEB_CONCURRENCY": str(workers),
        "CORRAL_BIND": f"127.0.0.1:{corral_port}",
        # limits are checked on every call (atomic Redis), set high enough never to refuse
        "CORRAL_USER_REQUESTS_PER_MINUTE": "100000000",
        "CORRAL_USER_TOKENS_PER_DAY": "100000000000",
        "CORRAL_ROUTE_CACHE_SECONDS": str(route_cache_seconds),
    }
    stack = Stack(env, logs, env["OLLAMA_HOST"], f"http://127.0.0.1:{corral_port}")
    try:
        stack.double("ollama", ollama_port)
        stack.start("otlp", [PYTHON, "-m", "tests.support.otlp_receiver", "--port", str(otlp_port), "--quiet"])  # fmt: skip
        subprocess.run(["redis-cli", "-n", "13", "flushdb"], check=True, capture_output=True)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        manage(env, "sync_models")
        stack.token = manage(env, "issue_token", "bench", "--create-user", "--team", "bench")
        stack.start("web", [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"])
        stack.nodes.append(stack.corral)
        for number in range(2, nodes + 1):
            port = free_port()
            stack.start(f"web-{number}", [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
                        {"CORRAL_BIND": f"127.0.0.1:{port}"})  # fmt: skip
            stack.nodes.append(f"http://127.0.0.1:{port}")
        stack.start("celery", [PYTHON, "-m", "celery", "-A", "config", "worker", "--pool", "gevent",
                               "--concurrency", "100", "--loglevel", "WARNING"])  # fmt: skip
        for node in stack.nodes:
            wait_up(f"{node}/healthz")
        yield stack
    finally:
        # Corral's processes first, each waited for, and the upstream and the collector they talk
        # to last: a web worker flushes its last spans as it exits, and a collector already gone
        # would send them to the outbox and fill the log with export errors.
        for process in reversed(stack.processes.values()):
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        print(f"logs in {logs}")
