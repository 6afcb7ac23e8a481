"""API tokens get a scope and an expiry. Tokens issued before keep their role's reach (scope "role")
and expire 90 days after this migration runs (the callable default is evaluated once for them)."""

from django.db import migrations, models

import ketaclinic.accounts.models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_must_change_password"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(default=ketaclinic.accounts.models._token_expiry),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[
                    ("role", "everything the role may do"),
                    ("read", "read only"),
                    ("observations", "a bedside device: record observations"),
                ],
                default="role",
                max_length=16,
            ),
        ),
    ]
