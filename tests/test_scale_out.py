"""Corral scaled out on this machine as docker-compose runs it: three gunicorn web nodes over one
PostgreSQL and one Redis, behind nginx with deploy/nginx/corral-proxy.conf. What a node knows, every
node knows: a limit or a quota holds across the nodes, a revoked token stops on each of them at once
(not when its cache expires), the address a client writes in X-Forwarded-For is not believed, and
sealers started together seal (and count) each record once."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings as django_settings

from accounts.models import ApiToken
from accounts.services import token_issue, token_revoke
from audit.models import AuditRecord, UsageRollup
from tests.support import processes
from tests.support.load_balancer import load_balancer
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
        reason="several processes writing at once: PostgreSQL, as production runs it",
    ),
]
NODES = 3


@pytest.fixture
def cluster(otlp_receiver, route, tmp_path, redis_client):
    """(the balancer's URL, each node's URL, each node's log)."""
    env = processes.corral_env(
        otlp_receiver.endpoint,
        CORRAL_TRUSTED_PROXIES="1",
        # only the shared invalidation can make a node forget a token or a route this soon
        CORRAL_TOKEN_CACHE_SECONDS="300",
        CORRAL_ROUTE_CACHE_SECONDS="300",
    )
    with (
        processes.web_nodes(env, tmp_path, NODES) as nodes,
        load_balancer(nodes, tmp_path) as balancer,
    ):
        yield balancer, nodes, [tmp_path / f"node-{i}.log" for i in range(NODES)]


def chat(base: str, secret: str, **headers) -> httpx.Response:
    return processes.post_chat(base, secret, "hello", headers=headers)


def test_calls_spread_over_the_nodes_and_limits_and_quotas_hold_across_them(cluster, user, team):
    balancer, _, logs = cluster
    token, secret = token_issue(user=user, name="paced", team=team)
    ApiToken.objects.filter(pk=token.pk).update(requests_per_minute=7)
    # what a client writes in X-Forwarded-For is not believed: the record has what nginx saw
    answers = [chat(balancer, secret, **{"X-Forwarded-For": "203.0.113.9"}) for _ in range(12)]
    assert [a.status_code for a in answers] == [200] * 7 + [429] * 5
    assert AuditRecord.objects.get(id=answers[0].json()["id"]).client_ip == "127.0.0.1"
    assert all(a.json()["error"]["code"] == "rate_limited" for a in answers[7:])
    for log in logs:  # each node served some of them
        assert '"POST /api/v1/chat 200"' in log.read_text(), log.name

    quota, quota_secret = token_issue(user=user, name="daily", team=team)
    ApiToken.objects.filter(pk=quota.pk).update(tokens_per_day=1)
    assert chat(balancer, quota_secret).status_code == 200  # checked before, settled after
    with ThreadPoolExecutor(6) as pool:
        refused = list(pool.map(lambda _: chat(balancer, quota_secret), range(6)))
    assert [r.status_code for r in refused] == [429] * 6
    assert {r.json()["error"]["code"] for r in refused} == {"quota_exceeded"}


def test_a_revoked_token_stops_on_every_node_at_once(cluster, user, team):
    _, nodes, _ = cluster
    token, secret = token_issue(user=user, name="soon revoked", team=team)
    for node in nodes:  # every node has checked the token and keeps it for 300 s
        assert chat(node, secret).status_code == 200
    token_revoke(token=token)

    def refused_everywhere() -> bool:
        return all(chat(node, secret).status_code == 401 for node in nodes)

    assert wait_for(refused_everywhere, timeout=5, interval=0.2)


SEAL = "from audit.tasks import seal_chain; print(seal_chain())"


def test_sealers_started_together_seal_each_record_once(cluster, token):
    balancer, _, _ = cluster
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: chat(balancer, token), range(120)))
    assert {a.status_code for a in answers} == {200}
    env = processes.corral_env("http://127.0.0.1:9", OTEL_SDK_DISABLED="true")
    command = [sys.executable, "manage.py", "shell", "-c", SEAL]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    sealers = [subprocess.Popen(command, cwd=processes.ROOT, env=env, **pipes) for _ in range(3)]
    results = [sealer.communicate(timeout=120) for sealer in sealers]
    assert [sealer.returncode for sealer in sealers] == [0, 0, 0], results
    assert sum(int(out.strip().splitlines()[-1]) for out, _ in results) == 120
    # verified where the checkpoints' signing key is (the processes' SECRET_KEY)
    verify = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"], cwd=processes.ROOT, env=env, **pipes
    )
    assert verify.returncode == 0 and "OK: 120 sealed records verified" in verify.stdout, verify
    assert sum(UsageRollup.objects.values_list("calls", flat=True)) == 120
