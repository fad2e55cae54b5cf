"""PostgreSQL full-text search over who, which model and the text of the exchange, with a GIN index,
so the admin's search stays fast at millions of records. (SQLite searches with LIKE instead.)"""

from django.db import migrations

FORWARD = r"""
ALTER TABLE audit_auditrecord ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('simple',
        coalesce(username, '') || ' ' || coalesce(model, '') || ' ' ||
        coalesce(completion, '') || ' ' || coalesce(messages::text, ''))
) STORED;
CREATE INDEX audit_search_vector ON audit_auditrecord USING gin (search_vector);

CREATE OR REPLACE FUNCTION corral_audit_record_guard() RETURNS trigger AS $$
DECLARE
    -- A BEFORE trigger sees generated columns (search_vector) as NULL in NEW: never compare them.
    sealing_columns text[] := ARRAY['content_hash', 'chain_seq', 'chain_hash', 'search_vector'];
    content_columns text[] := ARRAY['messages', 'completion', 'tool_calls', 'tools', 'metadata',
                                    'content_purged_at', 'search_vector'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit records are never deleted (record %)', OLD.id;
    END IF;
    IF OLD.status = 'running' THEN
        RETURN NEW;
    END IF;
    IF OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL
       AND (to_jsonb(NEW) - sealing_columns) = (to_jsonb(OLD) - sealing_columns) THEN
        RETURN NEW;
    END IF;
    IF OLD.content_purged_at IS NULL AND NEW.content_purged_at IS NOT NULL
       AND (to_jsonb(NEW) - content_columns) = (to_jsonb(OLD) - content_columns) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit record % is final and cannot be changed', OLD.id;
END;
$$ LANGUAGE plpgsql;
"""

BACKWARD = r"""
DROP INDEX IF EXISTS audit_search_vector;
ALTER TABLE audit_auditrecord DROP COLUMN IF EXISTS search_vector;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_immutability_triggers")]

    operations = [migrations.RunPython(forward, backward)]
