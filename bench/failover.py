"""Two Ollama servers behind one route: how calls spread by weight, and what a backend going down
costs the callers.

Starts two Ollama doubles (gpu-a weight 3, gpu-b weight 1, same priority) and Corral under gunicorn
(gevent, production config), then sends N non-streaming chats at the given concurrency, three times:
both healthy; gpu-a refusing connections (its URL pointed at a closed port, as a stopped server);
gpu-a back after one health check. Reports the split, errors, latency p50/p99 and how many calls
tried the dead backend before its circuit opened.

    .venv/bin/python bench/failover.py --calls 400 --concurrency 16
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import manage, wait_up  # noqa: E402
from tests.support.ollama_double import OllamaDouble  # noqa: E402

MODEL = "llama3.2"
UPSTREAM = "llama3.2:latest"


async def _calls(base: str, token: str, calls: int, concurrency: int) -> tuple[list, int]:
    latencies: list[float] = []
    errors = 0
    gate = asyncio.Semaphore(concurrency)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Why is the sky blue?"}]}
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one() -> None:
            nonlocal errors
            async with gate:
                started = time.perf_counter()
                response = await client.post(
                    f"{base}/api/v1/chat", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200

        await asyncio.gather(*(one() for _ in range(calls)))
    return latencies, errors


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--short", action="store_true", help="40 calls, 8 at a time (the test suite)"
    )
    args = parser.parse_args()
    if args.short:
        args.calls, args.concurrency = 40, 8

    gpus = {name: OllamaDouble(models=[UPSTREAM]).start() for name in ("gpu-a", "gpu-b")}
    tmp = tempfile.mkdtemp(prefix="corral-bench-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CORRAL_ENV_FILE": "",
        "SECRET_KEY": "bench",
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3"),
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "OTEL_SDK_DISABLED": "true",
        "CORRAL_BIND": "127.0.0.1:8124",
        "WEB_CONCURRENCY": "1",
        "CORRAL_ACCESS_LOG": "",
    }
    os.environ.update(env)
    manage(env, "migrate", "--noinput")
    import django

    django.setup()
    from django.conf import settings

    from accounts.services import token_issue, user_create
    from audit.models import AuditRecord
    from common.redis import get_redis
    from gateway.backends.health import backends_health_check
    from gateway.models import Backend, ModelRoute
    from gateway.services import route_create, route_target_add

    get_redis().flushdb()
    backends = {
        name: Backend.objects.update_or_create(name=name, defaults={"base_url": double.url})[0]
        for name, double in gpus.items()
    }
    ModelRoute.objects.filter(name=MODEL).update(name=f"{MODEL}-before-{time.time_ns()}")
    route = route_create(name=MODEL, backend=backends["gpu-a"], upstream_model=UPSTREAM, weight=3)
    route_target_add(route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM)
    _, token = token_issue(user=user_create(username=f"bench-{time.time_ns()}"), name="bench")

    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = "http://127.0.0.1:8124"
    try:
        wait_up(f"{base}/healthz")
        asyncio.run(_calls(base, token, 20, 4))  # warm up

        def phase(label: str) -> None:
            for double in gpus.values():
                double.requests.clear()
            since = time.time()
            latencies, errors = asyncio.run(_calls(base, token, args.calls, args.concurrency))
            records = AuditRecord.objects.filter(started_at__gte=_aware(since))
            tried_twice = sum(1 for r in records if len(r.upstream_attempts) > 1)
            split = ", ".join(f"{name} {len(d.requests)}" for name, d in gpus.items())
            print(
                f"{label}: {split}; errors {errors}; calls that failed over {tried_twice}; "
                f"latency p50 {_percentile(latencies, 50):.1f} ms, "
                f"p99 {_percentile(latencies, 99):.1f} ms"
            )

        # Corral's processes keep a resolved route for CORRAL_ROUTE_CACHE_SECONDS: a changed URL
        # (standing in for a server that stops or comes back) reaches them after that.
        settled = settings.CORRAL_ROUTE_CACHE_SECONDS + 1
        phase("both healthy        ")
        Backend.objects.filter(name="gpu-a").update(base_url=_closed_port_url())
        time.sleep(settled)
        phase("gpu-a refusing      ")
        Backend.objects.filter(name="gpu-a").update(base_url=gpus["gpu-a"].url)
        time.sleep(settled)
        backends_health_check()
        time.sleep(1.5)  # each process re-reads the circuits at most once a second
        phase("gpu-a back (checked)")
    finally:
        server.terminate()
        server.wait(timeout=30)
        for double in gpus.values():
            double.stop()


def _aware(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


if __name__ == "__main__":
    main()
