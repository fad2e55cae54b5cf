"""Schemathesis over Corral's own OpenAPI schema, against the real server (gunicorn, production
settings) with a valid token: every operation, generated valid and invalid input, every check."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from accounts.models import ApiToken
from accounts.services import token_issue
from tests.conftest import MODEL
from tests.support import processes

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.fixture
def server(otlp_receiver, route, tmp_path):
    with processes.web(processes.corral_env(otlp_receiver.endpoint), tmp_path) as base:
        yield base


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    server, token, user, team, tmp_path
):
    own = ApiToken.objects.get()
    spare, _ = token_issue(user=user, name="spare", team=team)
    auth = {"Authorization": f"Bearer {token}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    call = httpx.post(f"{server}/api/v1/chat", json=body, headers=auth).json()
    job = httpx.post(f"{server}/api/v1/completions", json=body, headers=auth).json()
    env = {
        **os.environ,
        "CORRAL_FUZZ_TEAM": team.slug,
        "CORRAL_FUZZ_SPARE_TOKEN": str(spare.id),
        "CORRAL_FUZZ_CALL": call["id"],
        "CORRAL_FUZZ_COMPLETION": job["id"],
        "CORRAL_FUZZ_MODEL": MODEL,
    }
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(Path(__file__).parent / "schemathesis.toml"),
        "run",
        f"{server}/api/v1/schema",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        "50",
        "--seed",
        "1",
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Selected: 11/11" in run.stdout and "Tested: 11" in run.stdout
    # the run's own token was never revoked: every phase ran authenticated
    own.refresh_from_db()
    spare.refresh_from_db()
    assert own.revoked_at is None and spare.revoked_at is not None
