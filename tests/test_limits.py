"""Rate limits and token quotas per token, user and team, against real Redis."""

import logging
import threading

import pytest

from accounts.limits import Admission, Scope, limits_acquire, limits_remaining, limits_settle
from accounts.models import ApiToken, UserLimits
from audit.models import AuditRecord
from common import redis as corral_redis
from common.errors import QuotaExceeded, RateLimited
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _clean_redis(redis_client):
    yield


def set_token_limits(**limits) -> ApiToken:
    token = ApiToken.objects.get()
    for field, value in limits.items():
        setattr(token, field, value)
    token.save()
    return token


def admissions_at_once(count: int, scopes: list[Scope], reserve: int = 0) -> tuple[int, int]:
    """`count` threads asking for admission at the same instant: (admitted, refused)."""
    admitted, refused = [], []
    barrier = threading.Barrier(count)

    def call() -> None:
        barrier.wait()
        try:
            admitted.append(limits_acquire(scopes=scopes, reserve=reserve))
        except (RateLimited, QuotaExceeded):
            refused.append(1)

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(admitted), len(refused)


def test_fifty_parallel_admissions_against_a_limit_of_ten_admit_exactly_ten():
    assert admissions_at_once(50, [Scope("token", 4242, 10, None, None)]) == (10, 40)


def test_a_call_refused_by_one_scope_counts_in_none():
    tight, loose = Scope("token", 1, 1, None, None), Scope("team", 2, 100, None, None)
    limits_acquire(scopes=[tight, loose])
    with pytest.raises(RateLimited):
        limits_acquire(scopes=[tight, loose])
    state = limits_acquire(scopes=[loose]).rate
    assert state.remaining == 98  # 2 admitted by the team scope, not 3


def test_rate_limit_answers_429_with_retry_after_and_headers(api, route):
    set_token_limits(requests_per_minute=2)
    first = api.post("/api/v1/chat", GOOD, format="json")
    assert first.status_code == 200
    assert (first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == ("2", "1")
    assert 0 < int(first["X-RateLimit-Reset"]) <= 61
    assert api.post("/api/v1/chat", GOOD, format="json")["X-RateLimit-Remaining"] == "0"
    refused = api.post("/api/v1/chat", GOOD, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "2 requests per minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert refused["X-RateLimit-Remaining"] == "0"
    # The refusal is on the record too (who tried what), final at once, with no model asked.
    record = AuditRecord.objects.order_by("-started_at").first()
    assert (record.status, record.error_code) == ("refused", "rate_limited")
    assert record.backend_name == "" and record.prompt_tokens == 0 and record.finished_at


def test_headers_on_responses_that_are_not_calls(api, route):
    set_token_limits(requests_per_minute=5)
    api.post("/api/v1/chat", GOOD, format="json")
    models = api.get("/api/v1/models")
    assert (models["X-RateLimit-Limit"], models["X-RateLimit-Remaining"]) == ("5", "4")
    assert api.get("/api/v1/calls")["X-RateLimit-Limit"] == "5"


def test_user_and_team_limits_apply_across_tokens(api, route, user, team):
    UserLimits.objects.create(user=user, requests_per_minute=1)
    assert api.post("/api/v1/chat", GOOD, format="json").status_code == 200
    refused = api.post("/api/v1/chat", GOOD, format="json")
    assert refused.status_code == 429 and "this user" in refused.json()["error"]["message"]
    UserLimits.objects.all().delete()
    team.requests_per_minute = 1
    team.save()
    corral_redis.get_redis().flushdb()
    assert api.post("/api/v1/chat", GOOD, format="json").status_code == 200
    assert "this team" in api.post("/api/v1/chat", GOOD, format="json").json()["error"]["message"]


def test_a_stream_that_crosses_the_quota_finishes_and_the_next_call_is_refused(api, route, ollama):
    set_token_limits(tokens_per_day=10)
    ollama.reply = "one two three four five six seven eight nine ten eleven twelve"
    response = api.post("/api/v1/chat", {**GOOD, "stream": True}, format="json")
    text = b"".join(response.streaming_content).decode()
    assert "event: done" in text and "twelve" in text  # finished, although it crossed the quota
    refused = api.post("/api/v1/chat", GOOD, format="json")
    assert refused.status_code == 429
    body = refused.json()["error"]
    assert body["code"] == "quota_exceeded" and "10 tokens per day" in body["message"]
    assert 0 < int(refused["Retry-After"]) <= 86401


def test_monthly_quota_and_usage_report(api, route, ollama):
    set_token_limits(tokens_per_month=1000, requests_per_minute=50)
    for _ in range(2):
        api.post("/api/v1/chat", GOOD, format="json")
    usage = api.get("/api/v1/usage").json()
    record = AuditRecord.objects.first()
    per_call = record.prompt_tokens + record.completion_tokens
    assert usage["days"] == [
        {
            "day": record.started_at.date().isoformat(),
            "model": MODEL,
            "calls": 2,
            "prompt_tokens": 2 * record.prompt_tokens,
            "completion_tokens": 2 * record.completion_tokens,
            "total_tokens": 2 * per_call,
        }
    ]
    token_limits = next(limit for limit in usage["limits"] if limit["scope"] == "token")
    assert token_limits["tokens_this_month"] == 2 * per_call
    assert token_limits["tokens_remaining_this_month"] == 1000 - 2 * per_call
    assert token_limits["requests_this_minute"] == 2
    assert token_limits["requests_remaining"] == 48
    assert {limit["scope"] for limit in usage["limits"]} == {"token", "user", "team"}


def test_usage_rejects_a_bad_window(api):
    response = api.get("/api/v1/usage", {"days": "x"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_settling_counts_every_scope():
    scopes = [Scope("token", 7, None, 100, None), Scope("team", 8, None, None, 1000)]
    limits_settle(scopes=scopes, admission=Admission(), tokens=60)
    admitted = limits_acquire(scopes=scopes, reserve=30)
    limits_settle(scopes=scopes, admission=admitted, tokens=60)
    with pytest.raises(Exception) as refused:
        limits_acquire(scopes=scopes)
    assert refused.value.code == "quota_exceeded"


def test_admission_reserves_and_the_end_settles(redis_client):
    scopes = [Scope("token", 9, None, 100, None)]
    first = limits_acquire(scopes=scopes, reserve=80)
    assert int(redis_client.get(first.quota_keys[0])) == 80
    second = limits_acquire(scopes=scopes, reserve=80)  # 80 < 100: admitted, now 160
    with pytest.raises(QuotaExceeded):
        limits_acquire(scopes=scopes, reserve=80)  # over: refused, nothing reserved
    assert int(redis_client.get(first.quota_keys[0])) == 160
    limits_settle(scopes=scopes, admission=first, tokens=10)
    limits_settle(scopes=scopes, admission=second, tokens=15)
    assert int(redis_client.get(first.quota_keys[0])) == 25


def test_concurrent_calls_overshoot_a_quota_by_at_most_one_reservation():
    """Fifty calls at the same instant, each reserving 50 against a quota of 60."""
    scopes = [Scope("token", 4343, None, 60, None)]
    # 0 -> 50 -> 100: the second crosses, no third is let in
    assert admissions_at_once(50, scopes, reserve=50) == (2, 48)


@pytest.fixture
def redis_down(settings):
    corral_redis.get_redis.cache_clear()
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    yield
    corral_redis.get_redis.cache_clear()


def test_redis_down_fails_closed_by_default_and_says_so(api, route, redis_down, caplog):
    set_token_limits(requests_per_minute=100)
    with caplog.at_level(logging.ERROR, logger="accounts.limits"):
        response = api.post("/api/v1/chat", GOOD, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "limits_unavailable"
    assert response["Retry-After"] == "5"
    assert any("fail closed" in r.getMessage() for r in caplog.records)
    # refused, and still a call on the record
    record = AuditRecord.objects.get()
    assert (record.status, record.error_code) == ("refused", "limits_unavailable")


def test_redis_down_can_fail_open(api, route, redis_down, settings, caplog):
    settings.CORRAL_LIMITS_FAIL_OPEN = True
    set_token_limits(requests_per_minute=100, tokens_per_day=1000)
    with caplog.at_level(logging.WARNING, logger="accounts.limits"):
        response = api.post("/api/v1/chat", GOOD, format="json")
    assert response.status_code == 200
    assert any("fail open" in r.getMessage() for r in caplog.records)
    assert any("could not settle" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_a_stream_cut_after_its_first_chunk_is_charged_its_prompt(api, route, ollama):
    """Attack 4b: a streamed call cut after the first chunk was charged 0 prompt tokens (a
    3,000-word prompt cost 5 tokens)."""
    token = set_token_limits(tokens_per_day=1_000_000)
    prompt = " ".join(["word"] * 3000)
    ollama.hold_after = 1
    response = api.post(
        "/api/v1/chat",
        {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": prompt}]},
        format="json",
    )
    stream = iter(response.streaming_content)
    assert b"delta" in next(stream)
    response.close()  # the client goes away
    ollama.release.set()
    record = AuditRecord.objects.get()
    assert record.status == "client_disconnected"
    assert record.prompt_tokens >= 3000  # counted locally: Ollama's count never came
    scopes = [Scope("token", token.pk, None, 1_000_000, None)]
    assert limits_remaining(scopes=scopes)[0].tokens_today >= 3000
