"""Spans made while the collector is down: how long until all are delivered once it is back?

Produces N spans (GenAI-shaped, at a steady rate) through Corral's exporter stack while the OTLP
receiver answers 503, so they go to the durable outbox; then the receiver answers 200 and a real
Celery worker (with beat sweeping every second) re-sends them. Reports the time from the collector's
return until the last span arrived, and how many are missing or duplicated.

    .venv/bin/python bench/otlp_outage.py --spans 10000
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import manage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="spans per second while down")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--short", action="store_true", help="500 spans (the test suite)")
    args = parser.parse_args()
    if args.short:
        args.spans, args.timeout = 500, 60.0

    tmp = tempfile.mkdtemp(prefix="corral-bench-")
    from tests.support.otlp_receiver import OtlpReceiver

    receiver = OtlpReceiver().start()
    receiver.status = 503
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CORRAL_ENV_FILE": "",
        "SECRET_KEY": "bench",
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3"),
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.endpoint}/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1",
        "CORRAL_OTLP_SWEEP_SECONDS": "1",
    }
    os.environ.update(env)
    manage(env, "migrate", "--noinput")

    import django

    django.setup()
    import redis
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from gateway.models import OtlpBatch
    from gateway.tracing import queue_size
    from gateway.tracing.durable import DurableSpanExporter

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    OtlpBatch.objects.all().delete()
    provider = TracerProvider()
    exporter = DurableSpanExporter(OTLPSpanExporter(timeout=1))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=queue_size()))
    tracer = provider.get_tracer("bench")

    started = time.monotonic()
    for index in range(args.spans):
        with tracer.start_as_current_span(f"chat bench-{index}") as span:
            span.set_attributes(
                {
                    "gen_ai.system": "Ollama",
                    "gen_ai.request.model": "llama3.2",
                    "gen_ai.prompt.0.content": "a prompt of a realistic length " * 8,
                    "gen_ai.completion.0.content": "an answer of a realistic length " * 16,
                    "gen_ai.usage.input_tokens": 64,
                    "gen_ai.usage.output_tokens": 128,
                }
            )
        pause = started + (index + 1) / args.rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    provider.force_flush()
    produced_in = time.monotonic() - started
    stored = sum(OtlpBatch.objects.values_list("span_count", flat=True))
    print(f"produced {args.spans} spans in {produced_in:.1f} s while the collector answered 503")
    print(f"outbox: {OtlpBatch.objects.count()} batches, {stored} spans")

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "2",
         "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3)  # the worker is up and has tried the batches once against the 503
        receiver.status = 200
        back = time.monotonic()

        def delivered() -> set[str]:
            return {s.name for s in receiver.spans if s.name.startswith("chat bench-")}

        while len(delivered()) < args.spans and time.monotonic() - back < args.timeout:
            time.sleep(0.1)
        elapsed = time.monotonic() - back
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        provider.shutdown()
        receiver.stop()
    names = [s.name for s in receiver.spans if s.name.startswith("chat bench-")]
    missing = args.spans - len(set(names))
    duplicates = len(names) - len(set(names))
    print(
        f"collector back: all delivered in {elapsed:.1f} s; "
        f"missing {missing}, duplicates {duplicates}, batches pending "
        f"{OtlpBatch.objects.filter(status='pending').count()}"
    )


if __name__ == "__main__":
    main()
