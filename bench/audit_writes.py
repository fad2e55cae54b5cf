"""What one PostgreSQL bounds: audit records written per second, as calls write them.

    .venv/bin/python bench/audit_writes.py                 # 1, 2 and 4 writers, 10 s each
    .venv/bin/python bench/audit_writes.py --short         # 1 and 2 writers, 1 s (the test suite)
    .venv/bin/python bench/audit_writes.py --turns 10      # each call carrying a 10-exchange history
    .venv/bin/python bench/audit_writes.py --callers 8     # 8 calls in flight in each writer

Each writer is a process that does what every call does to the audit trail, through Corral's own
services: open the record (INSERT, status running, the request's messages and options) and finalize
it (UPDATE with the answer, the usage and the timing), each committed on its own, back to back;
with `--callers N`, N threads of each writer do so at once, as the calls in flight in one web
worker do, and their writes share statements (audit.grouped). The
database is a fresh one on 127.0.0.1 (`corral_bench_writes`). Reported per run: records per second,
PostgreSQL's CPU per record (all its processes), the WAL it wrote per record, and from these the
ceiling one PostgreSQL core puts on Corral's calls — the figure docs/performance.md uses; then what
sealing all of them (as beat does) costs PostgreSQL per record.
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import cpu_seconds, pids_named  # noqa: E402

DATABASE = "corral_bench_writes"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant for the finance team."},
    {"role": "user", "content": "Summarise the open invoices of November by customer. " * 4},
]
PREFIX = "crl_bench000"
ANSWER = "Here is the summary of the open invoices by customer. " * 12


def conversation(turns: int) -> list[dict]:
    """The messages of a call: the question, after `turns` earlier exchanges (a chat client sends
    the whole history with every call)."""
    history = []
    for turn in range(turns):
        history += [
            {"role": "user", "content": f"And for week {turn} of November? " * 4},
            {"role": "assistant", "content": ANSWER},
        ]
    return [MESSAGES[0], *history, MESSAGES[1]]


def setup(url: str) -> None:
    os.environ.update(
        DATABASE_URL=url,
        CORRAL_ENV_FILE="",
        SECRET_KEY="bench-" + "x" * 50,
        OTEL_SDK_DISABLED="true",
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


def writer(
    url: str, seconds: float, turns: int, callers: int, ready, start, counts, finish
) -> None:
    setup(url)
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import Team
    from audit.services import audit_record_finalize, audit_record_open

    user = get_user_model().objects.get(username="bench")
    team = Team.objects.get(slug="bench")
    messages = conversation(turns)
    ready.release()
    start.wait()
    deadline = time.monotonic() + seconds
    written = [0] * callers

    def call(index: int) -> None:
        while time.monotonic() < deadline:
            record_id = uuid.uuid4()
            audit_record_open(
                record_id=record_id, started_at=timezone.now(), user=user, team=team,
                token_prefix=PREFIX, client_ip="10.1.2.3", user_agent="bench/1.0",
                surface="openai", operation="chat", model="llama3.2",
                upstream_model="llama3.2:latest", backend_id=None, backend_name="default",
                stream=False, options={"temperature": 0.2}, request_format=None, tools=None,
                messages=messages, metadata={}, conversation_id="", trace_id=uuid.uuid4().hex,
                span_id=uuid.uuid4().hex[:16],
            )  # fmt: skip
            audit_record_finalize(
                record_id=record_id, status="succeeded", completion=ANSWER, finish_reason="stop",
                prompt_tokens=61, completion_tokens=120, latency_ms=900, ttft_ms=80,
            )  # fmt: skip
            written[index] += 1

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts.put(sum(written))
    finish.wait()  # its PostgreSQL backends (and the CPU they used) live until it is measured


def wal_lsn(url: str) -> int:
    out = subprocess.run(
        ["psql", url, "-Atc", "SELECT pg_current_wal_lsn() - '0/0'"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.strip())


def run(url: str, writers: int, seconds: float, turns: int, callers: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    ready, start, finish, counts = ctx.Semaphore(0), ctx.Event(), ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(
            target=writer, args=(url, seconds, turns, callers, ready, start, counts, finish)
        )
        for _ in range(writers)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    postgres_before, wal_before = cpu_seconds(pids_named("postgres")), wal_lsn(url)
    started = time.monotonic()
    start.set()
    written = sum(counts.get() for _ in workers)
    elapsed = time.monotonic() - started
    postgres = cpu_seconds(pids_named("postgres")) - postgres_before
    wal = wal_lsn(url) - wal_before
    finish.set()
    for worker in workers:
        worker.join()
    return {
        "writers": writers,
        "per_second": written / elapsed,
        "pg_cpu_ms": postgres * 1000 / written,
        "wal_kb": wal / 1024 / written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--writers", default="1,2,4", help="writer processes, one run each")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--turns", type=int, default=0, help="earlier exchanges each call's messages carry"
    )
    parser.add_argument(
        "--callers", type=int, default=1, help="calls in flight in each writer (threads)"
    )
    parser.add_argument("--short", action="store_true", help="1 s runs, 1 and 2 writers")
    args = parser.parse_args()
    if args.short:
        args.writers, args.seconds = "1,2", 1
    url = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DATABASE], check=True
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DATABASE], check=True)
    setup(url)
    from django.core.management import call_command

    from accounts.services import team_get_or_create, user_create

    call_command("migrate", verbosity=0)
    user_create(username="bench")
    team_get_or_create(slug="bench")

    rows = [
        run(url, int(n), args.seconds, args.turns, args.callers) for n in args.writers.split(",")
    ]
    size = len(json.dumps(conversation(args.turns)))
    print(
        f"\naudit records written (INSERT + UPDATE, each committed; messages of {size:,} characters"
        f", {args.turns} earlier exchanges; {args.callers} in flight per writer), "
        f"{os.cpu_count()} cores:"
    )
    print(
        f"{'writers':>8s}{'records/s':>11s}{'PostgreSQL CPU ms/record':>26s}{'WAL KB/record':>15s}"
    )
    for row in rows:
        print(
            f"{row['writers']:8d}{row['per_second']:11.0f}{row['pg_cpu_ms']:26.2f}"
            f"{row['wal_kb']:15.1f}"
        )
    # what the beat's sealer then costs PostgreSQL per record (hash chain, rollups, the stamp)
    from audit.chain import audit_chain_seal

    before, own, sealed = cpu_seconds(pids_named("postgres")), time.process_time(), 0
    while done := audit_chain_seal():
        sealed += done
    own = (time.process_time() - own) * 1000 / max(sealed, 1)
    sealing = (cpu_seconds(pids_named("postgres")) - before) * 1000 / max(sealed, 1)
    print(
        f"sealing them afterwards: {sealed:,} records, PostgreSQL CPU {sealing:.2f} ms/record, "
        f"the sealer's own {own:.2f} ms/record"
    )
    cheapest = min(row["pg_cpu_ms"] for row in rows)
    print(
        f"one PostgreSQL core writes at most ~{1000 / cheapest:,.0f} calls' records a second "
        f"(its CPU alone; {min(row['wal_kb'] for row in rows):.1f} KB of WAL each)"
    )


if __name__ == "__main__":
    main()
