"""The audit review at scale: N audit records in PostgreSQL, the admin list with a filter and a search,
and a full CSV export.

    .venv/bin/python bench/audit_admin.py --records 1000000

Creates (or reuses with --reuse) the database `corral_bench_audit` on 127.0.0.1, fills it with SQL
(generate_series: realistic users, teams, models, statuses and text; sealed, and counted into the
usage rollups as the sealer would), then times the admin changelist and the usage dashboard
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

# What each column of a generated record holds, as SQL over n (1..count), u (a user) and t (a team).
# Columns not named here are left NULL or given the model's default, so a column added later does not
# break the fill (one without either is named in the error).
FILL_VALUES = {
    "id": "gen_random_uuid()",
    "started_at": "now() - (n * interval '2 seconds')",
    "finished_at": "now() - (n * interval '2 seconds') + interval '800 milliseconds'",
    "user_id": "u.id",
    "username": "u.username",
    "team_id": "t.id",
    "team_slug": "t.slug",
    "token_prefix": "'crl_bench000'",
    "client_ip": "'10.1.2.3'",
    "user_agent": "'bench/1.0'",
    "surface": "(ARRAY['api', 'ollama', 'openai', 'web', 'async'])[1 + n % 5]",
    "operation": "'chat'",
    "model": "(ARRAY['llama3.2', 'qwen3:8b', 'mistral', 'gemma3', 'phi4'])[1 + n % 5]",
    "upstream_model": "'llama3.2:latest'",
    "backend_name": "'default'",
    "stream": "n % 2 = 0",
    "messages": "jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'question ' || n"
    " || ' about ' || (ARRAY['invoices', 'kubernetes', 'holidays', 'python', 'contracts'])[1 + n % 5]))",
    "completion": "'answer ' || n || ' explaining ' || (ARRAY['tax rules', 'pods and nodes', "
    "'leave policy', 'decorators', 'clauses'])[1 + n % 5]",
    "status": "CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'succeeded' END",
    "error_code": "CASE WHEN n % 50 = 0 THEN 'upstream_error' ELSE '' END",
    "finish_reason": "'stop'",
    "prompt_tokens": "20 + n % 200",
    "completion_tokens": "50 + n % 500",
    "latency_ms": "300 + n % 3000",
    "ttft_ms": "40 + n % 400",
    "trace_id": "md5(n::text)",
    "span_id": "substr(md5(n::text), 1, 16)",
    # sealed, as the beat's sealer leaves records (a position only: the bench never verifies)
    "chain_seq": "n",
}


def fill_statement(count: int, connection) -> tuple[str, list]:
    """INSERT ... SELECT of `count` generated audit records, with every NOT NULL column filled."""
    from audit.models import AuditRecord

    columns, values, params = [], [], []
    for field in AuditRecord._meta.concrete_fields:
        if field.column in FILL_VALUES:
            columns.append(field.column)
            values.append(FILL_VALUES[field.column].replace("%", "%%"))
        elif not field.null:
            if not field.has_default() and not field.empty_strings_allowed:
                raise SystemExit(f"bench/audit_admin.py: give the fill a value for {field.column}")
            columns.append(field.column)
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    # The SQL is this module's own constants; only the count comes from outside, as an int.
    sql = f"""
INSERT INTO audit_auditrecord ({", ".join(columns)})
SELECT {", ".join(values)}
FROM generate_series(1, {int(count)}) AS n
JOIN LATERAL (SELECT id, username FROM auth_user ORDER BY id OFFSET (n %% 50) LIMIT 1) u ON true
JOIN LATERAL (SELECT id, slug FROM accounts_team ORDER BY id OFFSET (n %% 5) LIMIT 1) t ON true
"""  # noqa: S608
    return sql, params


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
    parser.add_argument("--database", default=DATABASE, help="created afresh unless --reuse")
    parser.add_argument(
        "--no-export", action="store_true", help="time the pages only (at 10M the CSV is 4 GB)"
    )
    parser.add_argument(
        "--short", action="store_true", help="2,000 records, 2 requests a page (the test suite)"
    )
    args = parser.parse_args()
    if args.short:
        args.records, args.requests = 2_000, 2

    url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CORRAL_ENV_FILE": "",
        "SECRET_KEY": "bench",
        "OTEL_SDK_DISABLED": "true",
        "ALLOWED_HOSTS": "testserver,localhost",
        "CORRAL_ACCESS_LOG_LEVEL": "WARNING",
    }
    if not args.reuse:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", args.database],
            check=True,
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", args.database], check=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.models import Team
    from audit.rollups import rollups_rebuild

    call_command("migrate", verbosity=0)
    # Served as in production: DEBUG off, whitenoise's manifest of collected static files.
    call_command("collectstatic", interactive=False, verbosity=0)
    User = get_user_model()
    if not args.reuse:
        started = time.monotonic()
        User.objects.bulk_create([User(username=f"user{i:02d}") for i in range(50)])
        Team.objects.bulk_create([Team(slug=f"team{i}", name=f"Team {i}") for i in range(5)])
        with connection.cursor() as cursor:
            cursor.execute(*fill_statement(args.records, connection))
            cursor.execute("ANALYZE audit_auditrecord")
        print(f"filled {args.records:,} audit records in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        rollups_rebuild()
        print(f"usage rollups counted from them in {time.monotonic() - started:.1f} s")
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

    if args.no_export:
        return
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
