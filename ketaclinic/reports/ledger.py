"""The inspection reports of the controlled-substance ledger: receipts, administrations and
wastage, inventories and counts, destructions and reverse distribution, losses, and every entry;
any date range; as a printable page and as CSV. Clinic admins and auditors (inspectors,
``ledger.report``); every view and export is audited, since the rows name patients.
"""

from __future__ import annotations

import csv

from django.http import HttpResponse
from django.shortcuts import render

from ketaclinic.accounts.access import ClinicRequest, clinic_view
from ketaclinic.audit.actions import record
from ketaclinic.ledger import queries
from ketaclinic.ledger.models import Registration
from ketaclinic.patients.actions import clinic_today
from ketaclinic.web import csv_cell, date_range


@clinic_view("ledger.report")
def ledger_report(request: ClinicRequest) -> HttpResponse:
    kind = request.GET.get("kind", "administrations")
    if kind not in queries.REPORTS:
        kind = "administrations"
    first, last, problem = date_range(request, 30, clinic_today(request.clinic))
    header, rows = queries.report(request.clinic, kind, first, last)
    fmt = "csv" if request.GET.get("format") == "csv" else "page"
    record(
        "ledger.report_export" if fmt == "csv" else "ledger.report_view",
        user=request.user,
        clinic=request.clinic,
        detail={"kind": kind, "from": first.isoformat(), "to": last.isoformat(), "rows": len(rows)},
    )
    if fmt == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        name = f"ledger-{kind}-{request.clinic.slug}-{first.isoformat()}-to-{last.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        writer = csv.writer(response)
        writer.writerow(header)
        writer.writerows([[csv_cell(v) for v in row] for row in rows])
        return response
    ctx = {
        "kind": kind,
        "title": queries.REPORTS[kind],
        "reports": queries.REPORTS,
        "header": header,
        "rows": rows,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "problem": problem,
        "registration": Registration.in_clinic(request.clinic).first(),
    }
    return render(request, "ledger/report.html", ctx, status=400 if problem else 200)
