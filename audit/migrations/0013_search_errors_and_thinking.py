"""On PostgreSQL: the full-text search also finds a record by its error message and the model's
thinking (reviewers look for "timeout" or a backend's complaint as often as for a prompt's words).
A generated column's expression cannot be altered, so the column and its index are made again."""

from django.db import migrations

FORWARD = r"""
DROP INDEX IF EXISTS audit_search_vector;
ALTER TABLE audit_auditrecord DROP COLUMN search_vector;
ALTER TABLE audit_auditrecord ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('simple',
        coalesce(username, '') || ' ' || coalesce(model, '') || ' ' ||
        coalesce(error_message, '') || ' ' || coalesce(thinking, '') || ' ' ||
        coalesce(completion, '') || ' ' || coalesce(messages::text, ''))
) STORED;
CREATE INDEX audit_search_vector ON audit_auditrecord USING gin (search_vector);
"""

BACKWARD = r"""
DROP INDEX IF EXISTS audit_search_vector;
ALTER TABLE audit_auditrecord DROP COLUMN search_vector;
ALTER TABLE audit_auditrecord ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('simple',
        coalesce(username, '') || ' ' || coalesce(model, '') || ' ' ||
        coalesce(completion, '') || ' ' || coalesce(messages::text, ''))
) STORED;
CREATE INDEX audit_search_vector ON audit_auditrecord USING gin (search_vector);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0012_purge_blanks_thinking")]

    operations = [migrations.RunPython(forward, backward)]
