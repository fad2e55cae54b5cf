"""Calls spread over a route's backends by weight and by calls in flight, and routes kept per process."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditRecord
from gateway.backends.circuit import backend_states, inflight_enter
from gateway.models import ModelRoute
from gateway.selectors import resolved_routes
from tests.routing.calls import chat, served

pytestmark = pytest.mark.django_db


def test_weights_are_honoured_over_many_calls(api, spread_route, gpus):
    for _ in range(200):
        assert chat(api).status_code == 200
    counts = served(gpus)
    # 3:1 over 200 calls: 150 expected on gpu-a, sd ~6; the fallback priority gets nothing
    assert 120 <= counts["gpu-a"] <= 180, counts
    assert counts["gpu-a"] + counts["gpu-b"] == 200 and counts["gpu-c"] == 0, counts


def test_a_backend_with_more_calls_in_flight_gets_fewer(api, pair_route, backends, gpus):
    # equal weights, but ten calls in flight on gpu-a (as long streams of this process would hold
    # them): it only gets the calls for which both weighted draws named it, a quarter, not half
    for _ in range(10):
        inflight_enter(backend_id=backends["gpu-a"].pk)
    for _ in range(100):
        assert chat(api).status_code == 200
    counts = served(gpus)
    assert 8 <= counts["gpu-a"] <= 42 and counts["gpu-b"] >= 58, counts
    # our own calls left no in-flight entry behind
    assert backend_states([backends["gpu-b"].pk])[backends["gpu-b"].pk].inflight == 0
    assert backend_states([backends["gpu-a"].pk])[backends["gpu-a"].pk].inflight == 10


def test_each_process_keeps_resolved_routes_for_a_while(api, pair_route, backends, settings):
    settings.CORRAL_ROUTE_CACHE_SECONDS = 60
    resolved_routes.clear()
    with CaptureQueriesContext(connection) as first:
        assert chat(api).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert chat(api).status_code == 200
    # the route, its targets and its allowed teams come from memory the second time: what is left
    # is the token (with its user, limits and team) and its owner's teams (the token cache is off
    # in the tests), opening and finalizing the audit record
    assert len(first.captured_queries) >= 7
    assert len(second.captured_queries) == 4, [q["sql"][:60] for q in second.captured_queries]
    assert not any("gateway_routetarget" in q["sql"] for q in second.captured_queries)

    # a change made in this process is seen by the next call
    ModelRoute.objects.get().targets.filter(backend__name="gpu-a").delete()
    assert chat(api).status_code == 200
    record = AuditRecord.objects.order_by("-started_at").first()
    assert record.backend_name == "gpu-b"
    resolved_routes.clear()
