"""Every bench in its short mode (seconds, small N), so a change that breaks a bench breaks the
build; the full runs stay manual (bench/README.md). Figures are printed, never asserted: only that
each bench ran to its end and reported what it measures."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]
needs_postgresql = pytest.mark.skipif(
    not POSTGRESQL, reason="this bench measures PostgreSQL (as CI and production run)"
)


def run_bench(name: str, *args: str, **env: str) -> str:
    # The benches make their own databases: never the suite's.
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, f"bench/{name}.py", "--short", *args],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(done.stdout)
    return done.stdout


def test_streams_held():
    assert "50/50 streams open at once, 50/50 finished" in run_bench("streams_held")


def test_failover():
    out = run_bench("failover")
    assert "both healthy" in out and "gpu-a refusing" in out and "gpu-a back" in out
    assert "errors 0" in out


def test_otlp_outage():
    assert "missing 0, duplicates 0" in run_bench("otlp_outage")


@needs_postgresql
def test_audit_admin():
    out = run_bench("audit_admin", "--database", "corral_bench_audit_short")
    assert "usage dashboard, 7 days" in out and "audit_export --format csv: 2,000 rows" in out


@needs_postgresql
@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is needed (.ci/run installs it)")
def test_production():
    out = run_bench(
        "production",
        BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:5432/corral_bench_short",
    )
    for part in ("P1 one at a time", "floor GET /healthz", "P2 concurrency 16", "P3 60 streams"):
        assert part in out, out
    assert "P4 60 streams opened at once" in out and "Corral served 60, refused 0" in out, out
    assert "P6 soak" in out, out


@needs_postgresql
@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is needed (.ci/run installs it)")
def test_versus_litellm():
    """LiteLLM's proxy, pinned in its own virtualenv (installed once per machine), beside Corral."""
    out = run_bench(
        "versus_litellm",
        BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:5432/corral_bench_short",
    )
    assert "Corral /v1 / LiteLLM: calls/s c16" in out, out
    # each gateway's CPU per call, at concurrency 1 and 16
    assert re.search(r"^LiteLLM .* \d+\.\d\d, \d+\.\d\d ms$", out, re.MULTILINE), out
    assert re.search(r"^Corral /v1 .* \d+\.\d\d, \d+\.\d\d ms$", out, re.MULTILINE), out
    assert "LiteLLM      served 50/50" in out and "Corral /v1   served 50/50" in out, out
    # the whole machine's CPU per call, part by part, and what twice LiteLLM's rate would leave
    assert re.search(r"^Corral /v1 +\d+\.\d\d ms \(\d+ % busy\): .*PostgreSQL \d", out, re.M), out
    assert re.search(r"^Twice LiteLLM's calls/s at c16, \d+/s on \d+ cores, leaves", out, re.M), out


@needs_postgresql
@pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("nginx")),
    reason="wrk and nginx (.ci/run installs them)",
)
def test_scale_out():
    out = run_bench(
        "scale_out", BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:5432/corral_bench_short"
    )
    assert "web nodes behind nginx" in out, out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["1", "2"] and all(row[-1] == "0" for row in rows), out


@needs_postgresql
def test_audit_writes():
    # each call carrying a short history, four in flight in each writer (their writes grouped)
    out = run_bench("audit_writes", "--turns", "2", "--callers", "4")
    assert "records/s" in out and "one PostgreSQL core writes at most" in out, out
    assert "2 earlier exchanges; 4 in flight per writer" in out, out
