"""How many streams does one Corral worker hold open at once?

Starts the Ollama double (holding every answer after its first token), starts Corral under gunicorn
with the worker class given, opens N streams at once and counts how many received their first token
while all of them were still open. Then releases the double and checks every stream finished.

    .venv/bin/python bench/streams_held.py --streams 1000 --worker-class gevent
    .venv/bin/python bench/streams_held.py --streams 200 --worker-class gthread --threads 32
"""

import argparse
import asyncio
import os
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

MODEL = "llama3.2:latest"


async def open_stream(client: httpx.AsyncClient, url: str, token: str, got_first: list) -> bool:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True}
    async with client.stream(
        "POST", url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        if response.status_code != 200:
            return False
        first = True
        async for line in response.aiter_lines():
            if first and line.startswith('data: {"delta"'):
                got_first.append(time.monotonic())
                first = False
            if line == "event: done":
                return True
    return False


async def run_streams(base: str, token: str, streams: int, double: OllamaDouble, wait: float):
    got_first: list[float] = []
    limits = httpx.Limits(max_connections=streams + 10)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        tasks = [
            asyncio.create_task(open_stream(client, f"{base}/api/v1/chat", token, got_first))
            for _ in range(streams)
        ]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(got_first) < streams:
            await asyncio.sleep(0.1)
        held = len(got_first)
        double.release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = {type(r).__name__ for r in results if isinstance(r, BaseException)}
    if errors:
        print("client errors:", ", ".join(sorted(errors)))
    finished = sum(1 for r in results if r is True)
    return held, finished


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--worker-class", default="gevent")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=32, help="for gthread")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for first tokens")
    parser.add_argument("--short", action="store_true", help="50 streams (the test suite)")
    args = parser.parse_args()
    if args.short:
        args.streams = 50

    double = OllamaDouble(models=[MODEL]).start()
    double.reply = "first second"
    double.hold_after = 1
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CORRAL_ENV_FILE": "",
            "SECRET_KEY": "bench",
            "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3"),
            "OLLAMA_HOST": double.url,
            "OTEL_SDK_DISABLED": "true",
            "CORRAL_BIND": "127.0.0.1:8123",
            "WEB_CONCURRENCY": str(args.workers),
            "CORRAL_ACCESS_LOG": "",
        }
        manage(env, "migrate", "--noinput")
        manage(env, "sync_models")
        token = manage(env, "issue_token", "bench", "--create-user")
        command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
        command += ["--worker-class", args.worker_class]
        if args.worker_class == "gthread":
            command += ["--threads", str(args.threads)]
        server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        base = "http://127.0.0.1:8123"
        try:
            wait_up(f"{base}/healthz")
            started = time.monotonic()
            held, finished = asyncio.run(run_streams(base, token, args.streams, double, args.wait))
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
            double.stop()
    label = args.worker_class + (
        f" threads={args.threads}" if args.worker_class == "gthread" else ""
    )
    print(
        f"{label}, workers={args.workers}: {held}/{args.streams} streams open at once, "
        f"{finished}/{args.streams} finished, {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()
