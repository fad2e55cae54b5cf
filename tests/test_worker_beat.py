"""Beat runs inside every Celery worker (config.worker_beat) and exactly one of them sends the
periodic tasks: the one holding RedBeat's lock in Redis. Real worker processes against the tests'
Redis and database: which worker sends is read from their logs, and the sealing of the audit chain
(a periodic task) shows the schedule at work."""

import contextlib
import signal

import pytest

from audit.models import AuditRecord
from tests.support import processes
from tests.support.audit_records import record
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SENDS = "Sending due task audit-seal-chain"


def env_of(otlp_receiver, *, seal: int, interval: int, lock: int) -> dict:
    """Workers sealing every `seal` seconds, their beats waking at least every `interval`, a lock
    not extended free after `lock`."""
    return processes.corral_env(
        otlp_receiver.endpoint,
        AUDIT_SEAL_SECONDS=str(seal),
        CORRAL_BEAT_INTERVAL_SECONDS=str(interval),
        CORRAL_BEAT_LOCK_SECONDS=str(lock),
    )


@pytest.fixture
def beat_env(otlp_receiver, redis_client):
    return env_of(otlp_receiver, seal=1, interval=1, lock=3)


def sends(log) -> int:
    return log.read_text().count(SENDS)


def sealed(user, team) -> bool:
    """A record finalized now is sealed into the chain by the periodic task."""
    record_id = record(user, team)
    return wait_for(
        lambda: AuditRecord.objects.filter(pk=record_id, chain_seq__isnull=False).exists(),
        timeout=30,
    )


def test_two_workers_one_sends_and_the_other_takes_over_when_it_dies(
    beat_env, tmp_path, user, team
):
    with (
        processes.worker(beat_env, tmp_path, "first") as first,
        processes.worker(beat_env, tmp_path, "second"),
    ):
        logs = {"first": tmp_path / "first.log", "second": tmp_path / "second.log"}
        assert wait_for(lambda: sum(sends(log) for log in logs.values()) >= 3, timeout=30)
        # one beat sends, the other waits for the lock: never the task twice a second
        senders = [name for name, log in logs.items() if sends(log)]
        assert senders == ["first"], {name: sends(log) for name, log in logs.items()}
        assert sealed(user, team)

        processes.kill_hard(first)  # as a lost node would: no chance to release the lock
        before = sends(logs["second"])
        assert wait_for(lambda: sends(logs["second"]) > before + 2, timeout=30), logs[
            "second"
        ].read_text()
        assert sealed(user, team)


def test_a_worker_stopping_hands_the_lock_over_at_once(
    otlp_receiver, redis_client, tmp_path, user, team
):
    # A lock that would only expire after ten minutes: the standby can only send this test's
    # tasks if the holder released it as it stopped. Its beat sleeps up to four seconds between
    # sends, longer than the rest of the worker takes to stop: the worker waits for it.
    env = env_of(otlp_receiver, seal=4, interval=5, lock=600)
    holder_log, standby_log = tmp_path / "holder.log", tmp_path / "standby.log"
    with contextlib.ExitStack() as workers:
        holder = workers.enter_context(processes.worker(env, tmp_path, "holder"))
        assert wait_for(lambda: sends(holder_log) >= 1, timeout=30), holder_log.read_text()
        workers.enter_context(processes.worker(env, tmp_path, "standby"))
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
        assert "beat: Releasing lock" in holder_log.read_text()
        assert wait_for(lambda: sends(standby_log) >= 1, timeout=30), standby_log.read_text()
        assert sealed(user, team)


def test_beat_comes_back_when_redis_loses_its_data(beat_env, tmp_path, redis_client, user, team):
    """A Redis restarted without persistence (or flushed) loses the lock and the schedule; the
    beat that held them starts again, writes the schedule again and keeps sending."""
    with processes.worker(beat_env, tmp_path):
        log = tmp_path / "celery.log"
        assert wait_for(lambda: sends(log) >= 2, timeout=30)
        redis_client.flushdb()
        before = sends(log)
        assert wait_for(lambda: sends(log) > before + 3, timeout=30), log.read_text()
        assert sealed(user, team)
