"""On PostgreSQL: the retention purge blanks the model's thinking too, and only blanks it."""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION corral_audit_record_guard() RETURNS trigger AS $$
DECLARE
    -- A BEFORE trigger sees generated columns (search_vector) as NULL in NEW: never compare them.
    sealing_columns text[] := ARRAY['content_hash', 'chain_seq', 'chain_hash', 'search_vector'];
    content_columns text[] := ARRAY['messages', 'completion', 'thinking', 'tool_calls', 'tools',
                                    'metadata', 'content_purged_at', 'search_vector'];
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
       AND NEW.messages = '[]'::jsonb AND NEW.completion = '' AND NEW.thinking = ''
       AND NEW.tool_calls IS NULL AND NEW.tools IS NULL AND NEW.metadata = '{}'::jsonb THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit record % is final and cannot be changed', OLD.id;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0011_thinking_and_request_fields")]

    # Going back leaves the function as it is: it still refuses what 0010's refused.
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
