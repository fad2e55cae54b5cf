"""Finalizations the database could not take when their call ended, kept in Redis until it can.

A call that ran while PostgreSQL went away still has its record (opened at the start, status
running); its outcome (status, answer, tokens, timing) waits here and is written by the beat task
`audit.replay_finalizations` once the database is back, with the time the call really ended."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import InterfaceError, OperationalError

from audit.services import audit_record_finalize
from common.redis import get_redis

logger = logging.getLogger(__name__)

SPOOL_KEY = "corral:audit:finalize-spool"


def finalization_spool(*, record_id: str, finished_at: datetime, **fields: Any) -> bool:
    """Keep a finalization for later; False if Redis is away too (the record stays running and the
    interrupted sweeper closes it: nothing is lost silently, the log line says what happened)."""
    payload = {"record_id": record_id, "finished_at": finished_at.isoformat(), **fields}
    try:
        get_redis().rpush(SPOOL_KEY, json.dumps(payload))
    except Exception:
        logger.error(
            "audit record %s: database and Redis both unavailable, its outcome (%s) is lost",
            record_id,
            fields.get("status"),
        )
        return False
    logger.warning("audit record %s: database unavailable, outcome kept for replay", record_id)
    return True


def finalizations_replay(limit: int = 1000) -> int:
    """Write spooled finalizations in the order they were made; stops at the first database error
    and puts that one back first in line. Returns how many were written."""
    client = get_redis()
    written = 0
    for _ in range(limit):
        raw = client.lpop(SPOOL_KEY)
        if raw is None:
            break
        payload = json.loads(raw)
        try:
            audit_record_finalize(
                **{**payload, "finished_at": datetime.fromisoformat(payload["finished_at"])}
            )
        except (OperationalError, InterfaceError):
            client.lpush(SPOOL_KEY, raw)
            break
        written += 1
    return written


def finalizations_waiting() -> int:
    return get_redis().llen(SPOOL_KEY)
