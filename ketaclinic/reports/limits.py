"""The limits report: every soft-limit override and hard-limit refusal of one clinic in a period,
by prescriber, protocol and limit kind, as a page and as CSV; and every drug-library change proposed
or reviewed in the period, with what it changed, who proposed it and who approved it. Admins and auditors
(``reports.limits``); a cross-app page, since it reads the orders, the patients and the library.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ketaclinic.accounts.access import ClinicRequest, clinic_view
from ketaclinic.audit.actions import record
from ketaclinic.protocols import limits
from ketaclinic.protocols.actions import library_changes
from ketaclinic.protocols.models import DrugLibrary, LimitEvent, PlanStatus
from ketaclinic.web import csv_cell, date_range


def _period(request: ClinicRequest) -> tuple[datetime, datetime, str, str, str]:
    """The report's days: a bad or impossible date (2025-02-30, 9999-12-31) is said, never a 500."""
    start_d, end_d, problem = date_range(request, 30)
    start = timezone.make_aware(datetime.combine(start_d, time.min))
    end = timezone.make_aware(datetime.combine(end_d + timedelta(days=1), time.min))
    return start, end, start_d.isoformat(), end_d.isoformat(), problem


@clinic_view("reports.limits")
def limits_report(request: ClinicRequest) -> HttpResponse:
    start, end, from_s, to_s, problem = _period(request)
    events = LimitEvent.in_clinic(request.clinic).filter(at__gte=start, at__lt=end)
    event_filter = request.GET.get("event", "")
    if event_filter in ("override", "refusal"):
        events = events.filter(event=event_filter)
    events = events.select_related("user", "patient", "protocol", "library", "order")
    csv_wanted = request.GET.get("format") == "csv"
    # The report names patients (MRNs) and prescribers: reading it is audited like a chart read.
    record(
        "report.limits_export" if csv_wanted else "report.limits_view",
        clinic=request.clinic,
        detail={"from": from_s, "to": to_s, "event": event_filter},
        request=request,
    )
    if csv_wanted:
        return _limits_csv(events, from_s, to_s)
    rows = list(events[:1000])
    by_user = (
        events.values("user__username", "event").annotate(n=Count("id")).order_by("user__username", "event")
    )
    by_protocol = (
        events.values("protocol__name", "event").annotate(n=Count("id")).order_by("protocol__name", "event")
    )
    by_kind = Counter((r.kind, r.event) for r in rows)
    library_versions = (
        DrugLibrary.in_clinic(request.clinic)
        .filter(Q(created_at__gte=start, created_at__lt=end) | Q(reviewed_at__gte=start, reviewed_at__lt=end))
        .select_related("created_by", "reviewed_by", "based_on")
        .prefetch_related("entries__product", "based_on__entries__product")
        .order_by("-version")[:100]
    )
    ctx = {
        "library_changes": [(v, library_changes(v) if v.based_on_id else []) for v in library_versions],
        "events": rows,
        "by_user": list(by_user),
        "by_protocol": list(by_protocol),
        "by_kind": sorted((limits.KINDS[k].label, e, n) for (k, e), n in by_kind.items()),
        "from": from_s,
        "to": to_s,
        "event_filter": event_filter,
        "plan_statuses": PlanStatus,
        "problem": problem,
    }
    return render(request, "protocols/limits_report.html", ctx, status=400 if problem else 200)


def _limits_csv(events: Any, from_s: str, to_s: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="limit-events-{from_s}-to-{to_s}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "at",
            "event",
            "user",
            "protocol",
            "patient_mrn",
            "order_id",
            "library_version",
            "limit",
            "severity",
            "value",
            "limit_value",
            "unit",
            "message",
            "reason",
        ]
    )
    for e in events.iterator():
        writer.writerow(
            [
                timezone.localtime(e.at).isoformat(),
                e.event,
                e.user.username,
                e.protocol.name if e.protocol_id else "",
                e.patient.mrn if e.patient_id else "",
                e.order_id or "",
                e.library.version if e.library_id else "",
                e.kind,
                e.severity,
                e.value.normalize(),
                e.limit_value.normalize(),
                e.unit,
                e.message,
                csv_cell(e.reason),
            ]
        )
    return response
