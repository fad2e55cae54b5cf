"""Streaming exports of audit records as CSV or JSON lines, in flat memory at any size."""

import csv
import io
import json
from collections.abc import Iterator

from django.db.models import QuerySet

from audit.models import AuditRecord

COLUMNS = [
    "id",
    "started_at",
    "finished_at",
    "username",
    "team_slug",
    "token_prefix",
    "client_ip",
    "user_agent",
    "surface",
    "operation",
    "model",
    "upstream_model",
    "backend_name",
    "stream",
    "status",
    "error_code",
    "error_message",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttft_ms",
    "trace_id",
    "span_id",
    "conversation_id",
    "options",
    "messages",
    "completion",
    "thinking",
    "think",
    "keep_alive",
    "tool_choice",
    "tool_calls",
    "content_hash",
    "chain_seq",
    "chain_hash",
    "content_purged_at",
]
JSON_COLUMNS = {"options", "messages", "tool_calls", "think", "tool_choice"}
CHUNK = 2000


def _values(queryset: QuerySet[AuditRecord]) -> Iterator[dict]:
    # values() with iterator(): one chunk of plain rows in memory at a time, no model instances.
    return queryset.order_by("started_at", "id").values(*COLUMNS).iterator(chunk_size=CHUNK)


# A spreadsheet runs a cell that starts with one of these as a formula (=cmd|'/c calc'!A1 ...).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """A value as a CSV cell that a spreadsheet shows and never runs."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_csv(queryset: QuerySet[AuditRecord]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield flush()
    for row in _values(queryset):
        writer.writerow(
            [
                _cell(json.dumps(row[c], ensure_ascii=False) if c in JSON_COLUMNS else row[c])
                for c in COLUMNS
            ]
        )
        yield flush()


def export_jsonl(queryset: QuerySet[AuditRecord]) -> Iterator[str]:
    for row in _values(queryset):
        yield json.dumps(row, ensure_ascii=False, default=str) + "\n"


EXPORTERS = {"csv": export_csv, "jsonl": export_jsonl}
