"""Seed the shared product catalogue (protocols.catalog.PRODUCTS) so every clinic can stock it."""

from __future__ import annotations

from decimal import Decimal

from django.db import migrations

# A copy, not an import: a migration must keep meaning what it meant when it was written.
PRODUCTS = [
    ("ketamine-10", "Ketamine HCl injection 10 mg/mL", "racemic", "vial", Decimal("10"), None),
    ("ketamine-50", "Ketamine HCl injection 50 mg/mL", "racemic", "vial", Decimal("50"), None),
    ("ketamine-100", "Ketamine HCl injection 100 mg/mL", "racemic", "vial", Decimal("100"), None),
    (
        "esketamine-28",
        "Esketamine nasal spray, 28 mg device (2 sprays)",
        "esketamine",
        "nasal device",
        None,
        Decimal("28"),
    ),
]


def seed(apps, schema_editor):
    Product = apps.get_model("protocols", "Product")
    for code, name, drug, form, conc, device in PRODUCTS:
        Product.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "drug": drug,
                "form": form,
                "concentration_mg_per_ml": conc,
                "concentration_basis": "base",
                "device_mg": device,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("protocols", "0001_library_protocols_plans_orders")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
