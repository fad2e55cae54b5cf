"""A value the process caches is loaded once when a burst asks for it at the same moment (a thousand
streams opened with one token were a thousand token lookups), without giving a caller a value read
before a change it came after, and without waiting while holding what the load needs; the token
such a cache holds is stamped once for a burst. Real threads, the real database and Redis."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import ApiToken
from accounts.services import token_issue, token_touch
from common.process_cache import ProcessCache

CALLERS = 20


@pytest.fixture
def cache(settings):
    settings.CORRAL_TEST_CACHE_SECONDS = 60
    return ProcessCache("CORRAL_TEST_CACHE_SECONDS", max_entries=10)


def _at_once(function) -> list:
    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(lambda _: function(), range(CALLERS)))


def test_a_burst_for_a_missing_value_loads_it_once(cache):
    loads = []

    def load():
        loads.append(1)
        time.sleep(0.3)  # a query waiting for a pooled connection
        return "token"

    assert _at_once(lambda: cache.get_or_load("key", load)) == ["token"] * CALLERS
    assert len(loads) == 1


def test_when_the_load_fails_the_waiting_callers_load_for_themselves(cache):
    loads = []

    def load():
        loads.append(1)
        if len(loads) == 1:
            time.sleep(0.3)
            raise ConnectionError("the first caller's connection broke")
        return "token"

    def call():
        try:
            return cache.get_or_load("key", load)
        except ConnectionError:
            return "failed"

    answers = _at_once(call)
    assert answers.count("failed") == 1
    assert answers.count("token") == CALLERS - 1


def test_a_caller_after_a_change_in_this_process_does_not_get_the_value_read_before_it(cache):
    release = threading.Event()
    values = iter(["before the revocation", "after the revocation"])

    def load():
        value = next(values)
        if value == "before the revocation":
            release.wait(5)
        return value

    with ThreadPoolExecutor(1) as pool:
        early = pool.submit(cache.get_or_load, "key", load)
        time.sleep(0.1)  # the early caller is loading
        cache.clear()  # what a save or delete in this process does (clear_on_change)
        assert cache.get_or_load("key", load) == "after the revocation"
        release.set()
        assert early.result() == "before the revocation"
    # and the early value, read before the change, was not kept
    assert cache.get_or_load("key", lambda: "reloaded") == "after the revocation"


@pytest.mark.django_db(transaction=True)
def test_a_caller_holding_a_database_connection_does_not_wait_for_another_load(cache):
    """The leader's load needs a connection the waiting caller holds (a pool of one): had the
    caller waited for the load, neither would go on (a burst's callers held every pooled
    connection of a process and waited, stalled until the pool's queue timed out)."""
    released = threading.Event()

    def leader_load():
        released.wait(5)  # its query waits for the connection the other caller holds
        return "token" if released.is_set() else "stalled"

    def holder():
        connection.ensure_connection()  # a pooled connection, as after stamping the token's use
        try:
            return cache.get_or_load("key", lambda: "token")
        finally:
            connection.close()
            released.set()

    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(cache.get_or_load, "key", leader_load)
        time.sleep(0.1)  # the leader is loading
        assert pool.submit(holder).result(timeout=10) == "token"
        assert leader.result(timeout=10) == "token"


@pytest.mark.django_db(transaction=True)
def test_the_calls_of_a_burst_sharing_a_cached_token_stamp_its_last_use_once(user, team):
    """The cached token is one object for every call of the process: the first call to find its
    stamp old writes it, and the calls that come while that write is on its way find it fresh."""
    token_issue(user=user, name="burst", team=team)
    shared = ApiToken.objects.get(name="burst")  # never used: no stamp yet
    writes = []
    first_write_sent = threading.Event()

    def slow_first_write(execute, sql, params, many, context):
        if sql.startswith("UPDATE"):
            writes.append(sql)
            if len(writes) == 1:
                first_write_sent.set()
                time.sleep(0.3)  # the write on its way
        return execute(sql, params, many, context)

    def call(_):
        with connection.execute_wrapper(slow_first_write):
            token_touch(token=shared, ip="10.0.0.1", interval_seconds=60)
        connection.close()

    with ThreadPoolExecutor(1) as first:
        first.submit(call, 0)
        assert first_write_sent.wait(5)
        with ThreadPoolExecutor(CALLERS) as pool:
            list(pool.map(call, range(CALLERS)))
    assert len(writes) == 1
    assert ApiToken.objects.get(pk=shared.pk).last_used_ip == "10.0.0.1"
