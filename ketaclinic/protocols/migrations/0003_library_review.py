"""The two-person rule for drug-library changes: a version is proposed, then approved by another.

Versions written before the rule are in force as they were: they are marked approved, reviewed by
nobody, with a note that says so, and their row seals are renewed to cover the new columns.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

BEFORE_THE_RULE = "in force before library changes needed a second person's approval"


def mark_existing_approved(apps, schema_editor):  # type: ignore[no-untyped-def]
    from ketaclinic.audit.seal import row_seal

    db = schema_editor.connection.alias
    DrugLibrary = apps.get_model("protocols", "DrugLibrary")
    RowSeal = apps.get_model("audit", "RowSeal")
    DrugLibrary.objects.using(db).update(status="approved", review_note=BEFORE_THE_RULE)
    fields = sorted(f.attname for f in DrugLibrary._meta.concrete_fields)
    name, now = DrugLibrary._meta.label_lower, timezone.now()
    for row in DrugLibrary.objects.using(db).values(*fields):
        RowSeal.objects.using(db).update_or_create(
            object_type=name,
            object_id=str(row["id"]),
            defaults={
                "fields": ",".join(fields),
                "seal": row_seal(settings.AUDIT_KEY, name, str(row["id"]), fields, row),
                "sealed_at": now,
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("protocols", "0002_seed_products"),
        ("audit", "0004_seal_rows_and_guard_the_head"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="druglibrary",
            name="review_note",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="druglibrary",
            name="reviewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="druglibrary",
            name="reviewed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="druglibrary",
            name="status",
            field=models.CharField(
                choices=[
                    ("proposed", "awaiting review"),
                    ("approved", "approved"),
                    ("rejected", "rejected"),
                    ("withdrawn", "withdrawn"),
                ],
                default="proposed",
                max_length=10,
            ),
        ),
        migrations.RunPython(mark_existing_approved, migrations.RunPython.noop),
    ]
