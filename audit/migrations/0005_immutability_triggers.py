"""On PostgreSQL the database itself refuses to change a finalized audit record or an admin action.

Allowed on a finalized record: sealing it into the chain once (chain fields from empty to set) and the
retention purge (content fields blanked, content_purged_at set, nothing else). Nothing is ever deleted.
TRUNCATE (a test database being emptied) is not a row event and is not affected.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION corral_audit_record_guard() RETURNS trigger AS $$
DECLARE
    sealing_columns text[] := ARRAY['content_hash', 'chain_seq', 'chain_hash'];
    content_columns text[] := ARRAY['messages', 'completion', 'tool_calls', 'tools', 'metadata',
                                    'content_purged_at'];
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

CREATE TRIGGER audit_record_guard
    BEFORE UPDATE OR DELETE ON audit_auditrecord
    FOR EACH ROW EXECUTE FUNCTION corral_audit_record_guard();

CREATE OR REPLACE FUNCTION corral_admin_action_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the admin action log is never changed';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER admin_action_guard
    BEFORE UPDATE OR DELETE ON audit_adminaction
    FOR EACH ROW EXECUTE FUNCTION corral_admin_action_guard();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS audit_record_guard ON audit_auditrecord;
DROP FUNCTION IF EXISTS corral_audit_record_guard();
DROP TRIGGER IF EXISTS admin_action_guard ON audit_adminaction;
DROP FUNCTION IF EXISTS corral_admin_action_guard();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_integrity")]

    operations = [migrations.RunPython(forward, backward)]
