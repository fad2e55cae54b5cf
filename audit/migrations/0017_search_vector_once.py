"""On PostgreSQL: the search column is computed when a record's searched text is written (opened,
finalized, purged), not on every update. As a stored generated column it was computed again when
the sealer stamped the record, which changes none of that text: a third of its cost, for nothing.
The values already there stay (DROP EXPRESSION keeps them); a trigger keeps them from now on."""

from django.db import migrations

FORWARD = r"""
ALTER TABLE audit_auditrecord ALTER COLUMN search_vector DROP EXPRESSION;
CREATE FUNCTION corral_audit_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector := to_tsvector('simple',
        coalesce(NEW.username, '') || ' ' || coalesce(NEW.model, '') || ' ' ||
        coalesce(NEW.error_message, '') || ' ' || coalesce(NEW.thinking, '') || ' ' ||
        coalesce(NEW.completion, '') || ' ' || coalesce(NEW.messages::text, ''));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_search_vector
    BEFORE INSERT OR UPDATE OF username, model, error_message, thinking, completion, messages
    ON audit_auditrecord FOR EACH ROW EXECUTE FUNCTION corral_audit_search_vector();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS audit_search_vector ON audit_auditrecord;
DROP FUNCTION IF EXISTS corral_audit_search_vector();
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


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0016_usage_rollups")]

    operations = [migrations.RunPython(forward, backward)]
