"""The audit review at scale: N audit records in PostgreSQL, the admin list with a filter and a search,
and a full CSV export.

    .venv/bin/python bench/audit_admin.py --records 1000000

Creates (or reuses with --reuse) the database `corral_bench_audit` on 127.0.0.1, fills it with SQL
(generate_series: realistic users, teams, models, statuses and text), then times the admin changelist
through Django's full request stack (middleware, session auth, admin) and runs `audit_export` in a
child process, reporting its wall time and peak memory.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "corral_bench_audit"

FILL = """
INSERT INTO audit_auditrecord (
    id, started_at, finished_at, user_id, username, team_id, team_slug, token_prefix, client_ip,
    user_agent, surface, operation, model, upstream_model, backend_name, stream, options,
    request_format, tools, messages, metadata, conversation_id, completion, tool_calls, status,
    error_code, error_message, finish_reason, prompt_tokens, completion_tokens, latency_ms, ttft_ms,
    trace_id, span_id, content_hash, chain_hash
)
SELECT
    gen_random_uuid(),
    now() - (n * interval '2 seconds'),
    now() - (n * interval '2 seconds') + interval '800 milliseconds',
    u.id, u.username, t.id, t.slug, 'crl_bench000', '10.1.2.3', 'bench/1.0',
    (ARRAY['api', 'ollama', 'openai', 'web', 'async'])[1 + n % 5],
    'chat',
    (ARRAY['llama3.2', 'qwen3:8b', 'mistral', 'gemma3', 'phi4'])[1 + n % 5],
    'llama3.2:latest', 'default', n % 2 = 0, '{}'::jsonb, NULL, NULL,
    jsonb_build_array(jsonb_build_object('role', 'user', 'content',
        'question ' || n || ' about ' || (ARRAY['invoices', 'kubernetes', 'holidays', 'python', 'contracts'])[1 + n % 5])),
    '{}'::jsonb, '',
    'answer ' || n || ' explaining ' || (ARRAY['tax rules', 'pods and nodes', 'leave policy', 'decorators', 'clauses'])[1 + n % 5],
    NULL,
    CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
    CASE WHEN n % 50 = 0 THEN 'upstream_error' ELSE '' END, '', 'stop',
    20 + n % 200, 50 + n % 500, 300 + n % 3000, 40 + n % 400,
    md5(n::text), substr(md5(n::text), 1, 16), '', ''
FROM generate_series(1, %(count)s) AS n
JOIN LATERAL (SELECT id, username FROM auth_user ORDER BY id OFFSET (n % 50) LIMIT 1) u ON true
JOIN LATERAL (SELECT id, slug FROM accounts_team ORDER BY id OFFSET (n % 5) LIMIT 1) t ON true
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--reuse", action="store_true", help="keep an already filled database")
    args = parser.parse_args()

    url = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CORRAL_ENV_FILE": "",
        "SECRET_KEY": "bench",
        "OTEL_SDK_DISABLED": "true",
        "ALLOWED_HOSTS": "testserver,localhost",
    }
    if not args.reuse:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DATABASE], check=True
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DATABASE], check=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.models import Team

    call_command("migrate", verbosity=0)
    # Served as in production: DEBUG off, whitenoise's manifest of collected static files.
    call_command("collectstatic", interactive=False, verbosity=0)
    User = get_user_model()
    if not args.reuse:
        started = time.monotonic()
        User.objects.bulk_create([User(username=f"user{i:02d}") for i in range(50)])
        Team.objects.bulk_create([Team(slug=f"team{i}", name=f"Team {i}") for i in range(5)])
        with connection.cursor() as cursor:
            cursor.execute(FILL.replace("%(count)s", str(int(args.records))))
            cursor.execute("ANALYZE audit_auditrecord")
        print(f"filled {args.records:,} audit records in {time.monotonic() - started:.0f} s")
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)

    changelist, dashboard = "/admin/audit/auditrecord/", "/admin/audit/auditrecord/dashboard/"
    pages = {
        "list, no filter": (changelist, {}),
        "filter status=failed": (changelist, {"status__exact": "failed"}),
        "filter model + search 'kubernetes'": (
            changelist,
            {"model__exact": "qwen3:8b", "q": "kubernetes"},
        ),
        "filter status=failed + search 'invoices'": (
            changelist,
            {"status__exact": "failed", "q": "invoices"},
        ),
        "search 'answer 123456'": (changelist, {"q": "answer 123456"}),
        "usage dashboard, 7 days": (dashboard, {"days": "7"}),
    }
    print(f"admin pages, {args.requests} requests each (p50 / p95 / max, ms):")
    for label, (url, query) in pages.items():
        client.get(url, query)  # warm
        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url, query)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        print(
            f"  {label:45s} {statistics.median(timings):7.1f} / {percentile(timings, 0.95):7.1f} /"
            f" {max(timings):7.1f}"
        )

    target = Path("/tmp/corral-audit-export.csv")
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "manage.py", "audit_export", "--format", "csv", "--output", str(target)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        check=True,
    )
    elapsed = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = sum(1 for _ in target.open()) - 1
    print(
        f"audit_export --format csv: {rows:,} rows, {target.stat().st_size / 1e6:.0f} MB in {elapsed:.1f} s, "
        f"peak RSS of the exporting process {peak_mb:.0f} MB (exit {child.returncode})"
    )


if __name__ == "__main__":
    main()
