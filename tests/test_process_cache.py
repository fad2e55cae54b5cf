"""A value the process caches is loaded once when a burst asks for it at the same moment (a thousand
streams opened with one token were a thousand token lookups), without giving a caller a value read
before a change it came after. Real threads and the real Redis generation."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

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
