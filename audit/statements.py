"""The two writes every call makes to the audit trail, as SQL built once from the model.

The ORM builds a model instance for the INSERT and compiles its 44 columns afresh on every call,
and compiles the finalizing UPDATE likewise: about half of the two writes' CPU in a web worker
(340 → 175 µs for the INSERT, measured in one process against PostgreSQL). The statements here are
made from `AuditRecord._meta`, so a new field is written without touching this module, and each
value still goes through its field's `get_db_prep_save` for the connection at hand (JSON, UUIDs and
datetimes as PostgreSQL or SQLite want them). They run through Django's cursor wrapper: its error
translation, execute wrappers and connection handling (the pool) are those of any query. On
PostgreSQL they are written with `$1` placeholders and sent as written (the backend's
`raw_cursor()`, common.postgresql): psycopg neither parses them nor quotes their values into the
text, and prepares those a connection runs often."""

import re
from functools import cache, lru_cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import Field, Model
from django.db.models.fields import NOT_PROVIDED


def _sent_as_written(alias: str) -> bool:
    return hasattr(connections[alias], "raw_cursor")


def _cursor(alias: str):
    connection = connections[alias]
    return connection.raw_cursor() if _sent_as_written(alias) else connection.cursor()


def _numbered(sql: str, alias: str) -> str:
    """`%s` placeholders as `$1`, `$2`... where statements are sent as written. Only quoted names
    and placeholders make up the text, so every `%s` in it is a placeholder."""
    if not _sent_as_written(alias):
        return sql
    numbers = iter(range(1, sql.count("%s") + 1))
    return re.sub("%s", lambda _: f"${next(numbers)}", sql)


# A statement's text per number of rows (a group's 100 rows of 44 columns are ~18 KB of text):
# the sizes seen most are kept.
@lru_cache(maxsize=32)
def _insert(model: type[Model], alias: str, rows: int = 1) -> tuple[str, tuple[Field, ...]]:
    fields = tuple(model._meta.concrete_fields)
    # Their value is made by save(), which this INSERT does not run.
    made_by_save = [
        f.name for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    if made_by_save:
        raise ImproperlyConfigured(f"{model.__name__}.{made_by_save[0]}: insert_row cannot fill it")
    quote = connections[alias].ops.quote_name
    row = "({})".format(", ".join(["%s"] * len(fields)))
    # Only the model's own table and column names, quoted by the backend, go into the text; every
    # value is a parameter.
    sql = "INSERT INTO {} ({}) VALUES {}".format(  # noqa: S608
        quote(model._meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join([row] * rows),
    )
    return _numbered(sql, alias), fields


@cache
def _attnames(model: type[Model]) -> frozenset[str]:
    return frozenset(field.attname for field in model._meta.concrete_fields)


@cache
def _update(
    model: type[Model], alias: str, columns: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, tuple[Field, ...]]:
    meta = model._meta
    fields = tuple(meta.get_field(name) for name in columns + where)
    quote = connections[alias].ops.quote_name
    sql = "UPDATE {} SET {} WHERE {}".format(  # noqa: S608
        quote(meta.db_table),
        ", ".join(f"{quote(field.column)} = %s" for field in fields[: len(columns)]),
        " AND ".join(f"{quote(field.column)} = %s" for field in fields[len(columns) :]),
    )
    return sql, fields


def row_params(model: type[Model], values: dict[str, Any], alias: str) -> list[Any]:
    """One row's parameters for insert_row / insert_rows: `values` by attribute name (`user_id`),
    the fields' defaults for the rest, each prepared for the connection."""
    _, fields = _insert(model, alias)
    if unknown := values.keys() - _attnames(model):
        raise TypeError(f"{model.__name__} has no field {sorted(unknown)[0]!r}")
    connection = connections[alias]
    params = []
    for field in fields:
        value = values.get(field.attname, NOT_PROVIDED)
        if value is NOT_PROVIDED:
            value = field.get_default()
        params.append(field.get_db_prep_save(value, connection))
    return params


def insert_rows(model: type[Model], rows: list[list[Any]], alias: str) -> None:
    """INSERT rows of `model` (each row's parameters from row_params) in one statement."""
    sql, _ = _insert(model, alias, len(rows))
    with _cursor(alias) as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def insert_row(model: type[Model], values: dict[str, Any]) -> None:
    """INSERT one row of `model`: `values` by attribute name (`user_id`), the fields' defaults for
    the rest. No model instance, no `save()`: only for a model whose `save()` adds nothing."""
    alias = router.db_for_write(model)
    insert_rows(model, [row_params(model, values, alias)], alias)


@lru_cache(maxsize=32)
def _update_many(
    model: type[Model], alias: str, columns: tuple[str, ...], where: tuple[str, ...], rows: int
) -> str:
    """UPDATE ... FROM (VALUES ...): one statement for several rows' own values, returning the
    first `where` column of each row it changed (PostgreSQL)."""
    meta = model._meta
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in columns + where]

    def typed(index: int) -> str:
        # The column's type without its length: a value too long fails as it would alone,
        # instead of being cut to fit by the explicit cast.
        kind = re.sub(r"\(\d+\)$", "", fields[index].cast_db_type(connection))
        return f"CAST(v.c{index} AS {kind})"

    # v's columns are named by position: a column both set and matched (status) appears twice.
    row = "({})".format(", ".join(["%s"] * len(fields)))
    sets = [f"{quote(fields[i].column)} = {typed(i)}" for i in range(len(columns))]
    match = [f"t.{quote(fields[i].column)} = {typed(i)}" for i in range(len(columns), len(fields))]
    sql = "UPDATE {} AS t SET {} FROM (VALUES {}) AS v ({}) WHERE {} RETURNING t.{}".format(  # noqa: S608
        quote(meta.db_table),
        ", ".join(sets),
        ", ".join([row] * rows),
        ", ".join(f"c{i}" for i in range(len(fields))),
        " AND ".join(match),
        quote(fields[len(columns)].column),
    )
    return _numbered(sql, alias)


def update_params(
    model: type[Model], values: dict[str, Any], where: dict[str, Any], alias: str
) -> list[Any]:
    """One row's parameters for update_rows / update_many: `values`, then `where`, each prepared
    for the connection."""
    _, fields = _update(model, alias, tuple(values), tuple(where))
    connection = connections[alias]
    given = (*values.values(), *where.values())
    return [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, given, strict=True)
    ]


def update_many(
    model: type[Model],
    rows: list[list[Any]],
    alias: str,
    columns: tuple[str, ...],
    where: tuple[str, ...],
) -> set:
    """UPDATE each row (its parameters from update_params); the values of the first `where` field
    of the rows it changed. One statement on PostgreSQL (as the database returns the values); one
    UPDATE per row elsewhere (SQLite has no `VALUES` list with named columns to join against)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        sql, _ = _update(model, alias, columns, where)
        changed = set()
        with connection.cursor() as cursor:
            for row in rows:
                cursor.execute(sql, row)
                if cursor.rowcount:
                    changed.add(row[len(columns)])
        return changed
    sql = _update_many(model, alias, columns, where, len(rows))
    with _cursor(alias) as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        return {key for (key,) in cursor.fetchall()}


def update_rows(model: type[Model], values: dict[str, Any], where: dict[str, Any]) -> int:
    """UPDATE `model`'s rows whose fields equal `where`, setting `values` (both by field name);
    how many rows changed."""
    alias = router.db_for_write(model)
    sql, _ = _update(model, alias, tuple(values), tuple(where))
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, update_params(model, values, where, alias))
        return cursor.rowcount
