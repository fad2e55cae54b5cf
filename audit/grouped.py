"""Calls that write their audit records at the same moment share one statement.

Every call writes its record before it is served and finalizes it when it ends, and in a busy
process several do so at once. A statement costs the web worker a pooled connection, a send and a
wait for the reply, and costs PostgreSQL a parse, a plan and a commit that waits for the WAL to
reach the disk, whatever its size. So the callers of one process queue their rows: whichever finds
nobody writing writes what is queued (its own row first) in one statement and hands the rest on to
the next in line; the others wait. No caller waits for a timer or returns before its row is
committed: a lone caller writes at once, exactly as before, and one whose process dies while it
waits has been served nothing. A caller already holding a pooled connection writes alone with it.

A group the database refuses is not all refused: when the statement fails on a row (a constraint,
a value), each caller writes its own row alone and meets its own error; when the database cannot be
reached, every caller of the group gets that error at once, as each would alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import InterfaceError, OperationalError, connections

Row = TypeVar("Row")
Result = TypeVar("Result")

# Rows per statement: a burst's queue drains in statements of this many.
MAX_ROWS = 100

_WAITING, _DONE, _ALONE, _LEAD, _FAILED = range(5)


class _Entry:
    __slots__ = ("error", "ready", "result", "row", "state")

    def __init__(self, row: Any) -> None:
        self.row = row
        self.state = _WAITING
        self.ready = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class Grouped(Generic[Row, Result]):
    """One process's queue for one statement (threads and greenlets alike). `write(alias, rows)`
    runs the statement for several rows and returns each row's result, in order; `width` is how
    many parameters a row takes (the database's limit on a statement's parameters bounds a
    group)."""

    def __init__(self, write: Callable[[str, list[Row]], list[Result]], width: int) -> None:
        self._write = write
        self._width = width
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []
        self._writing = False

    def submit(self, alias: str, row: Row) -> Result:
        """Write one row; committed when this returns."""
        own = connections[alias]
        if own.in_atomic_block or own.connection is not None:
            # Part of the caller's transaction, which only its own connection may write; or the
            # caller holds a pooled connection already: it writes with it, and never waits for a
            # writer who may be waiting for that very connection (with the pool's every connection
            # held by waiting callers, the process would stall until the pool's queue timed out).
            return self._write(alias, [row])[0]
        entry = _Entry(row)
        with self._lock:
            self._queue.append(entry)
            lead = not self._writing
            self._writing = True
        if not lead:
            entry.ready.wait()
        if entry.state in (_WAITING, _LEAD):
            self._write_group(alias)
        if entry.state == _ALONE:
            return self._write(alias, [row])[0]
        if entry.state == _FAILED:
            error = entry.error
            raise type(error)(*error.args) from error
        return entry.result

    def _write_group(self, alias: str) -> None:
        """Write the head of the queue (the caller's own row first), then wake its rows and the
        next writer."""
        most = MAX_ROWS
        if limit := connections[alias].features.max_query_params:
            most = max(min(most, limit // self._width), 1)
        with self._lock:
            group = self._queue[:most]
            del self._queue[:most]
        state, error, results = _ALONE, None, [None] * len(group)
        try:
            results = self._write(alias, [entry.row for entry in group])
            state = _DONE
        except (OperationalError, InterfaceError) as exc:
            # The database away, or the pool's queue did not drain: each would meet it alone.
            state, error = _FAILED, exc
        except Exception:  # noqa: S110 - a row the statement refused: each is written alone
            pass
        finally:
            # Whatever ended the statement (a killed greenlet too), no row is left waiting.
            with self._lock:
                successor = self._queue[0] if self._queue else None
                if successor is not None:
                    successor.state = _LEAD
                else:
                    self._writing = False
            for entry, result in zip(group, results, strict=True):
                entry.state, entry.result, entry.error = state, result, error
                entry.ready.set()
            if successor is not None:
                successor.ready.set()
