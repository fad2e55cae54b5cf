"""Rate limits and token quotas per token, user and team, enforced atomically in Redis.

Requests per minute use a sliding window (a sorted set of request times per scope); one Lua script
checks every scope and records the request in all of them, or in none. Token quotas are per-day and
per-month counters. A call is admitted while a counter is under its quota and reserves what it may
cost (its prompt, counted locally, and the most its answer may take) in the same script; when it
ends the reservation is settled with what it really used. So calls made at the same moment cannot
outrun a quota: together they overshoot it by at most one call's reservation.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.models import ApiToken, Team, UserLimits
from accounts.selectors import token_ancestors
from common.errors import LimitsUnavailable, QuotaExceeded, RateLimited
from common.redis import get_redis

logger = logging.getLogger(__name__)

WINDOW_MS = 60_000
PREFIX = "corral"


@dataclass(frozen=True)
class Scope:
    kind: str  # token | user | team
    id: int
    requests_per_minute: int | None
    tokens_per_day: int | None
    tokens_per_month: int | None

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class RateState:
    """The tightest requests-per-minute limit after this request, for the X-RateLimit-* headers."""

    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


def _user_scope(user) -> Scope:
    # Token authentication loads the row with the user (select_related); others ask for it.
    # (the user may be a session's lazy proxy: ask the model's descriptor, not type(user))
    if get_user_model().limits.is_cached(user):
        limits = getattr(user, "limits", None)
    else:
        limits = UserLimits.objects.filter(user=user).first()
    if limits is not None:
        return Scope(
            "user",
            user.pk,
            limits.requests_per_minute,
            limits.tokens_per_day,
            limits.tokens_per_month,
        )
    return Scope(
        "user",
        user.pk,
        settings.CORRAL_USER_REQUESTS_PER_MINUTE,
        settings.CORRAL_USER_TOKENS_PER_DAY,
        settings.CORRAL_USER_TOKENS_PER_MONTH,
    )


def _token_scope(token: ApiToken) -> Scope:
    return Scope(
        "token", token.pk, token.requests_per_minute, token.tokens_per_day, token.tokens_per_month
    )


def scopes_for(*, user, token: ApiToken | None, team: Team | None) -> list[Scope]:
    """Every limit a call is held to: the token's and those of the tokens it was made with (a token
    minted with a token shares its parent's allowance, it does not get a fresh one), the person's
    and the team's."""
    scopes = []
    if token is not None:
        standing = getattr(token, "standing", None)
        ancestors = standing.ancestors if standing else token_ancestors(token=token)
        scopes += [_token_scope(t) for t in (token, *ancestors)]
    scopes.append(_user_scope(user))
    if team is not None:
        scopes.append(
            Scope(
                "team",
                team.pk,
                team.requests_per_minute,
                team.tokens_per_day,
                team.tokens_per_month,
            )
        )
    return scopes


def _rate_key(scope: Scope) -> str:
    return f"{PREFIX}:rpm:{scope.name}"


def _quota_key(scope: Scope, period: str, now: datetime) -> str:
    # YYYYMMDD / YYYYMM, as strftime would write them at a fraction of its cost (several per call)
    stamp = now.year * 100 + now.month
    if period == "day":
        stamp = stamp * 100 + now.day
    return f"{PREFIX}:tokens:{scope.name}:{period}:{stamp}"


def resets_at(period: str, now: datetime) -> datetime:
    """When a day's or a month's token quota starts again (quotas count by UTC day and month)."""
    if period == "day":
        return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def _seconds_until_reset(period: str, now: datetime) -> int:
    return max(int((resets_at(period, now) - now).total_seconds()) + 1, 1)


# KEYS: n_rate sliding-window keys, then quota counter keys.
# ARGV: now_ms, window_ms, member, n_rate, reserve, rate limits..., quota limits..., quota key TTLs...
# Returns {0, limit, remaining, reset_ms} when admitted (limit -1: no rate limit),
# {1, key_index, retry_ms} when a rate limit refuses, {2, key_index, used} when a quota does.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local member = ARGV[3]
local n_rate = tonumber(ARGV[4])
local reserve = tonumber(ARGV[5])
for i = n_rate + 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[5 + i]) then
    return {2, i, used}
  end
end
local counts = {}
for i = 1, n_rate do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= tonumber(ARGV[5 + i]) then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return {1, i, tonumber(oldest[2]) + window - now}
  end
  counts[i] = count
end
for i = n_rate + 1, #KEYS do
  redis.call('INCRBY', KEYS[i], reserve)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[5 + #KEYS - n_rate + i]))
end
local best_limit, best_remaining, best_reset = -1, -1, 0
for i = 1, n_rate do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
  local limit = tonumber(ARGV[5 + i])
  local remaining = limit - counts[i] - 1
  if best_limit == -1 or remaining < best_remaining then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    best_limit, best_remaining, best_reset = limit, remaining, tonumber(oldest[2]) + window - now
  end
end
return {0, best_limit, best_remaining, best_reset}
"""


# KEYS: the counters to change; ARGV: each one's delta, then each one's TTL. One command instead of
# a MULTI of two per counter: a sixth of the client's work for the three scopes' day and month.
_SETTLE = """
local n = #KEYS
for i = 1, n do
  redis.call('INCRBY', KEYS[i], ARGV[i])
  redis.call('EXPIRE', KEYS[i], ARGV[n + i])
end
"""


def _redis_failed(exc: Exception) -> None:
    if settings.CORRAL_LIMITS_FAIL_OPEN:
        logger.warning(
            "limits: Redis unavailable, admitting the call unchecked (fail open): %s", exc
        )
        return
    logger.error("limits: Redis unavailable, refusing the call (fail closed): %s", exc)
    raise LimitsUnavailable(
        "rate limits and quotas cannot be checked right now; try again shortly", retry_after=5
    ) from exc


@dataclass(frozen=True)
class Admission:
    """A call let in: the rate state for its headers, and what it reserved against which quota
    counters (settled when it ends)."""

    rate: RateState | None = None
    reserved: int = 0
    quota_keys: tuple[str, ...] = ()
    at: datetime | None = None  # the counters are those of this moment's day and month


QUOTA_TTL = {"day": 2 * 86400, "month": 32 * 86400}


def limits_acquire(*, scopes: list[Scope], reserve: int = 0) -> Admission:
    """Admit one call, reserving `reserve` tokens against every quota, or raise RateLimited /
    QuotaExceeded (429) or LimitsUnavailable (503)."""
    now = datetime.now(UTC)
    rated = [s for s in scopes if s.requests_per_minute is not None]
    quotas = [
        (scope, period, limit)
        for scope in scopes
        for period, limit in (("day", scope.tokens_per_day), ("month", scope.tokens_per_month))
        if limit is not None
    ]
    if not rated and not quotas:
        return Admission(at=now)
    quota_keys = [_quota_key(s, p, now) for s, p, _ in quotas]
    keys = [_rate_key(s) for s in rated] + quota_keys
    args = [int(now.timestamp() * 1000), WINDOW_MS, uuid.uuid4().hex, len(rated), max(reserve, 0)]
    args += [s.requests_per_minute for s in rated] + [limit for _, _, limit in quotas]
    args += [QUOTA_TTL[period] for _, period, _ in quotas]
    try:
        result = get_redis().eval(_ACQUIRE, len(keys), *keys, *args)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        _redis_failed(exc)
        return Admission(at=now)
    outcome = int(result[0])
    if outcome == 1:
        scope = rated[int(result[1]) - 1]
        retry = max(int(result[2]) // 1000 + 1, 1)
        raise RateLimited(
            f"rate limit of {scope.requests_per_minute} requests per minute for this "
            f"{scope.kind} reached; retry in {retry} s",
            retry_after=retry,
            headers=RateState(scope.requests_per_minute, 0, retry).headers(),
        )
    if outcome == 2:
        scope, period, limit = quotas[int(result[1]) - len(rated) - 1]
        retry = _seconds_until_reset(period, now)
        raise QuotaExceeded(
            f"token quota of {limit} tokens per {period} for this {scope.kind} is used up "
            f"({int(result[2])} used, calls in progress included); it resets in {retry} s",
            retry_after=retry,
        )
    rate = None
    if int(result[1]) != -1:
        rate = RateState(int(result[1]), int(result[2]), max(int(result[3]) // 1000, 0) + 1)
    return Admission(rate, max(reserve, 0) if quota_keys else 0, tuple(quota_keys), now)


def limits_check(*, scopes: list[Scope]) -> None:
    """Refuse as limits_acquire would (429, or 503 with Redis away), counting nothing: for work
    accepted now and run later, whose run is admitted (and counted) on its own."""
    try:
        states = limits_remaining(scopes=scopes)
    except LimitsUnavailable as exc:
        _redis_failed(exc)
        return
    now = datetime.now(UTC)
    for scope, state in zip(scopes, states, strict=True):
        limit = scope.requests_per_minute
        if limit is not None and state.requests_this_minute >= limit:
            raise RateLimited(
                f"rate limit of {limit} requests per minute for this {scope.kind} reached",
                retry_after=WINDOW_MS // 1000,
            )
        for period, quota, used in (
            ("day", scope.tokens_per_day, state.tokens_today),
            ("month", scope.tokens_per_month, state.tokens_this_month),
        ):
            if quota is not None and used >= quota:
                retry = _seconds_until_reset(period, now)
                raise QuotaExceeded(
                    f"token quota of {quota} tokens per {period} for this {scope.kind} is used "
                    f"up ({used} used); it resets in {retry} s",
                    retry_after=retry,
                )


def limits_settle(*, scopes: list[Scope], admission: Admission, tokens: int) -> None:
    """Count a finished call's real usage on every scope's day and month counters (the ones the
    usage report reads, quota or not), replacing what it reserved where it reserved."""
    at = admission.at or datetime.now(UTC)
    changes = []
    for scope in scopes:
        for period, ttl in QUOTA_TTL.items():
            key = _quota_key(scope, period, at)
            delta = tokens - admission.reserved if key in admission.quota_keys else tokens
            if delta:
                changes.append((key, delta, ttl))
    if not changes:
        return
    try:
        get_redis().eval(
            _SETTLE,
            len(changes),
            *(key for key, _, _ in changes),
            *(delta for _, delta, _ in changes),
            *(ttl for _, _, ttl in changes),
        )
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # The call already happened; its usage stays in the audit trail.
        logger.error("limits: could not settle %d tokens (Redis unavailable): %s", tokens, exc)


@dataclass(frozen=True)
class Remaining:
    scope: str
    requests_per_minute: int | None
    requests_this_minute: int
    tokens_per_day: int | None
    tokens_today: int
    tokens_per_month: int | None
    tokens_this_month: int


def limits_remaining(*, scopes: list[Scope]) -> list[Remaining]:
    """Where each scope stands now (reads only)."""
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.zcount(_rate_key(scope), now_ms - WINDOW_MS, "+inf")
                pipe.get(_quota_key(scope, "day", now))
                pipe.get(_quota_key(scope, "month", now))
            values = pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise LimitsUnavailable("usage counters cannot be read right now", retry_after=5) from exc
    return [
        Remaining(
            scope=scope.kind,
            requests_per_minute=scope.requests_per_minute,
            requests_this_minute=int(values[3 * i] or 0),
            tokens_per_day=scope.tokens_per_day,
            tokens_today=int(values[3 * i + 1] or 0),
            tokens_per_month=scope.tokens_per_month,
            tokens_this_month=int(values[3 * i + 2] or 0),
        )
        for i, scope in enumerate(scopes)
    ]


def limits_peek(*, scopes: list[Scope]) -> RateState | None:
    """The tightest rate limit as it stands, without counting a request (for non-call responses)."""
    rated = [s for s in scopes if s.requests_per_minute is not None]
    if not rated:
        return None
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for scope in rated:
                pipe.zcount(_rate_key(scope), now_ms - WINDOW_MS, "+inf")
                pipe.zrangebyscore(_rate_key(scope), now_ms - WINDOW_MS, "+inf", 0, 1, True)
            values = pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError):
        return None
    states = []
    for index, scope in enumerate(rated):
        count, oldest = values[2 * index], values[2 * index + 1]
        reset_ms = int(oldest[0][1]) + WINDOW_MS - now_ms if oldest else 0
        states.append(
            RateState(
                scope.requests_per_minute, scope.requests_per_minute - count, reset_ms // 1000 + 1
            )
        )
    return min(states, key=lambda state: state.remaining)
