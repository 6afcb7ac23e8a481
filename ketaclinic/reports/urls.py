from __future__ import annotations

from django.urls import path

from ketaclinic.reports import audit, ledger, limits, start

# The paths and names are those the pages had in their first home (bookmarks and links keep working).
urlpatterns = [
    path("audit/", audit.audit_list, name="audit-list"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
    path("audit/verify/", audit.audit_verify, name="audit-verify"),
    path("protocols/reports/limits/", limits.limits_report, name="protocols-limits-report"),
    path("ledger/reports/", ledger.ledger_report, name="ledger-report"),
    path("start/", start.admin_start, name="admin-start"),
]
