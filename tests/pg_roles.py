"""Serving PostgreSQL as production does: the application's role, migrated by the owner.

``serve`` refuses production on a role that could switch the audit trail's triggers off (a
superuser, as the suite connects). Tests that start ``serve`` give it the application's role and
the suite's role as the owner that migrates and grants (``ketaclinic db roles``). On SQLite the
environment is returned as it is.
"""

from __future__ import annotations

import dj_database_url

APP_ROLE = "ketaclinic_test_app"


def serve_env(env: dict[str, str]) -> dict[str, str]:
    url = env.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return env
    cfg = dj_database_url.parse(url)
    app = f"postgres://{APP_ROLE}@{cfg['HOST']}:{cfg['PORT'] or 5432}/{cfg['NAME']}"
    return env | {"DATABASE_URL": app, "KETACLINIC_MIGRATE_DATABASE_URL": url}
