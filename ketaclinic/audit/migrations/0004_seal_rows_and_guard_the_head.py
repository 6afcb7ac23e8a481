"""Seal the clinical rows already stored, and on PostgreSQL guard the head row and appends.

Rows written before row seals existed are sealed as they stand now (``audit verify`` can only vouch
for them from here on). On PostgreSQL the triggers of 0002 refused UPDATE, DELETE and TRUNCATE of
entries; these also refuse:

- an entry whose number is not the head's plus one or whose previous hash is not the head's
  (a backdated or out-of-band append);
- moving the head other than one entry forward, onto the entry just appended; deleting it.

TRUNCATE of the head is left to privileges: the application's role is not granted it, and it
cannot switch these triggers off when it does not own the tables (``ketaclinic db roles``,
docs/operations.md). The test suite truncates every table between transactional tests.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations
from django.utils import timezone

CLINICAL_APPS = ("patients", "protocols", "infusions", "ledger")  # as ketaclinic.audit.rows

CREATE = """
CREATE OR REPLACE FUNCTION audit_entry_append_in_order() RETURNS trigger AS $$
DECLARE head RECORD;
BEGIN
    SELECT seq, hash INTO head FROM audit_audithead WHERE id = 1;
    IF head IS NULL OR NEW.seq <> head.seq + 1 OR NEW.prev_hash <> head.hash THEN
        RAISE EXCEPTION 'audit_auditentry is append-only: entry % does not follow the head', NEW.seq;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_entry_append_in_order
    BEFORE INSERT ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_in_order();

CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq = OLD.seq + 1
       AND NEW.hash = (SELECT hash FROM audit_auditentry WHERE seq = NEW.seq) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_audithead moves one entry forward only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_head_forward_only
    BEFORE UPDATE OR DELETE ON audit_audithead
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_entry_append_in_order ON audit_auditentry;
DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_audithead;
DROP FUNCTION IF EXISTS audit_entry_append_in_order();
DROP FUNCTION IF EXISTS audit_head_forward_only();
"""


def seal_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    from ketaclinic.audit.seal import row_seal

    RowSeal = apps.get_model("audit", "RowSeal")
    now, key, db = timezone.now(), settings.AUDIT_KEY, schema_editor.connection.alias
    for label in CLINICAL_APPS:
        for model in apps.get_app_config(label).get_models():
            fields = sorted(f.attname for f in model._meta.concrete_fields)
            name, pk = model._meta.label_lower, model._meta.pk.attname
            seals = [
                RowSeal(
                    object_type=name,
                    object_id=str(row[pk]),
                    fields=",".join(fields),
                    seal=row_seal(key, name, str(row[pk]), fields, row),
                    sealed_at=now,
                )
                for row in model._base_manager.using(db).values(*fields).iterator(chunk_size=2000)
            ]
            RowSeal.objects.using(db).bulk_create(seals, batch_size=500)


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_seals"),
        ("patients", "0001_initial"),
        ("protocols", "0002_seed_products"),
        ("infusions", "0005_observation_withdrawal"),
        ("ledger", "0002_append_only_trigger"),
    ]
    operations = [
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
        migrations.RunPython(forwards, backwards),
    ]
