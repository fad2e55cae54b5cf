"""Less for PostgreSQL to do on every call's two writes.

Three indexes go: user and team had one each beside the (user, -started_at) and (team,
-started_at) indexes that serve every read of them, and trace_id had a LIKE index (varchar_pattern_ops)
beside its own, for a column only ever looked up whole. Each was one more index entry at the INSERT
and another at the finalizing UPDATE.

The search column's trigger no longer parses the messages twice. At the INSERT it makes the vector of
the prompt; the finalizing UPDATE, which leaves the prompt as it was, adds the outcome's words to that
vector instead of parsing everything again. The messages hold a conversation's whole history, often
the longest text of the record. Any other change of the searched text (the retention purge)
computes the vector anew, as before."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

_ALL_TEXT = """to_tsvector('simple',
        coalesce(NEW.username, '') || ' ' || coalesce(NEW.model, '') || ' ' ||
        coalesce(NEW.error_message, '') || ' ' || coalesce(NEW.thinking, '') || ' ' ||
        coalesce(NEW.completion, '') || ' ' || coalesce(NEW.messages::text, ''))"""

FORWARD = f"""
CREATE OR REPLACE FUNCTION corral_audit_search_vector() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.search_vector IS NOT NULL
       AND NEW.username = OLD.username AND NEW.model = OLD.model
       AND NEW.messages IS NOT DISTINCT FROM OLD.messages
       AND OLD.error_message = '' AND OLD.thinking = '' AND OLD.completion = '' THEN
        NEW.search_vector := OLD.search_vector || to_tsvector('simple',
            coalesce(NEW.error_message, '') || ' ' || coalesce(NEW.thinking, '') || ' ' ||
            coalesce(NEW.completion, ''));
    ELSE
        NEW.search_vector := {_ALL_TEXT};
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

BACKWARD = f"""
CREATE OR REPLACE FUNCTION corral_audit_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector := {_ALL_TEXT};
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_sso"),
        ("audit", "0018_admin_action_sign_in"),
        ("gateway", "0011_default_backend_follows_ollama_host"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditrecord",
            name="team",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_records",
                to="accounts.team",
            ),
        ),
        migrations.AlterField(
            model_name="auditrecord",
            name="trace_id",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AlterField(
            model_name="auditrecord",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_records",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="auditrecord",
            index=models.Index(fields=["trace_id"], name="audit_trace"),
        ),
        migrations.RunPython(forward, backward),
    ]
