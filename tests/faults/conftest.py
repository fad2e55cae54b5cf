"""The `stack` fixture: gunicorn (gevent) as production runs it, with Ollama, PostgreSQL, Redis and the
collector each reached through a TCP relay the tests cut and restore."""

import pytest
from django.db import connection

from gateway.models import Backend
from tests.faults.stack import Stack
from tests.support import processes
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def stack(otlp_receiver, ollama, route, token, tmp_path, redis_client):
    settings = connection.settings_dict
    collector_port = int(otlp_receiver.endpoint.rsplit(":", 1)[1])
    with (
        TcpProxy("127.0.0.1", ollama._server.server_address[1]) as upstream,
        TcpProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)) as database,
        TcpProxy("127.0.0.1", 6379) as redis,
        TcpProxy("127.0.0.1", collector_port) as collector,
    ):
        Backend.objects.update(
            base_url=f"http://127.0.0.1:{upstream.port}", first_token_timeout=1.0
        )
        env = processes.corral_env(
            f"http://127.0.0.1:{collector.port}",
            DATABASE_URL=processes.database_url().replace(
                f":{settings['PORT'] or 5432}/", f":{database.port}/"
            ),
            REDIS_URL=f"redis://127.0.0.1:{redis.port}/15",
            # a failing backend is taken out after 3 failed calls; back in rotation after 1 s
            CORRAL_BREAKER_COOLDOWN="1",
            CORRAL_ROUTE_CACHE_SECONDS="0",
            CORRAL_TOKEN_CACHE_SECONDS="0",
            CORRAL_AUDIT_REPLAY_SECONDS="1",
            CORRAL_AUDIT_SWEEP_SECONDS="1",
            # a collector that does not answer hands its spans to the outbox after 1 s
            OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1",
            CORRAL_OTLP_SWEEP_SECONDS="1",
            DATABASE_POOL_TIMEOUT="2",
            # limits are checked in Redis on every call (without limits Redis is not needed)
            CORRAL_USER_REQUESTS_PER_MINUTE="10000",
        )
        with processes.web_process(env, tmp_path) as (base, web):
            relays = {
                "ollama": upstream,
                "database": database,
                "redis": redis,
                "collector": collector,
            }
            stack = Stack(base, token, otlp_receiver, ollama, relays)
            stack.env, stack.log_dir, stack.web = env, tmp_path, web
            yield stack
        otlp_receiver.status, otlp_receiver.retry_after = 200, None
