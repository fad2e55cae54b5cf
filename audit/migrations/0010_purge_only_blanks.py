"""On PostgreSQL: the retention purge may only blank content (what audit_verify also requires of a
purged record), and checkpoints are never changed or deleted."""

from django.db import migrations

FORWARD = r"""
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
       AND (to_jsonb(NEW) - content_columns) = (to_jsonb(OLD) - content_columns)
       AND NEW.messages = '[]'::jsonb AND NEW.completion = '' AND NEW.tool_calls IS NULL
       AND NEW.tools IS NULL AND NEW.metadata = '{}'::jsonb THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit record % is final and cannot be changed', OLD.id;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION corral_audit_checkpoint_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are never changed or deleted';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_checkpoint_guard
    BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION corral_audit_checkpoint_guard();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS audit_checkpoint_guard ON audit_auditcheckpoint;
DROP FUNCTION IF EXISTS corral_audit_checkpoint_guard();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0009_checkpoints")]

    operations = [migrations.RunPython(forward, backward)]
