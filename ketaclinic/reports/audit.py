"""The audit trail in the app: browse and filter one clinic's entries, export them, check the chain.

Only clinic admins and auditors (``audit.view``) get here, and only their own clinic's entries:
every query starts from ``AuditEntry.objects.filter(clinic=request.clinic)``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from ketaclinic.accounts.access import ClinicRequest, clinic_view
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.audit.actions import record, verify_trail
from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients.models import Patient
from ketaclinic.web import csv_cell, is_htmx

PAGE_SIZE = 50
EARLIEST = date(2000, 1, 1)  # the reports' earliest day (as web.date_range): no entry is older


class AuditFilterForm(forms.Form):
    user = forms.ChoiceField(required=False, label="User")
    action = forms.ChoiceField(required=False, label="Action")
    patient = forms.CharField(required=False, max_length=32, label="Patient MRN")
    patient_id = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    date_from = forms.DateField(
        required=False, label="From (date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To (date, inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, data: Any, clinic: Clinic) -> None:
        super().__init__(data)
        self.clinic = clinic
        usernames = (
            Membership.in_clinic(clinic).order_by("user__username").values_list("user__username", flat=True)
        )
        self.fields["user"].choices = [("", "Anyone")] + [(u, u) for u in usernames]  # type: ignore[attr-defined]
        actions = (
            AuditEntry.objects.filter(clinic=clinic)
            .order_by("action")
            .values_list("action", flat=True)
            .distinct()
        )
        self.fields["action"].choices = [("", "Any action")] + [(a, a) for a in actions]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("date_from", "date_to"):
            value = data.get(name)
            if value is not None and not EARLIEST <= value <= timezone.localdate() + timedelta(days=366):
                self.add_error(
                    name, f"{value.isoformat()} is out of range ({EARLIEST.isoformat()} to next year)."
                )
                data[name] = None
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        mrn = (data.get("patient") or "").strip()
        if mrn:
            found = (
                Patient.in_clinic(self.clinic).filter(mrn__iexact=mrn).values_list("pk", flat=True).first()
            )
            if found is None:
                self.add_error("patient", f"No patient with MRN {mrn} in this clinic.")
            data["patient_id"] = found
        return data


def filtered_entries(clinic: Clinic, data: dict[str, Any]) -> models.QuerySet[AuditEntry]:
    """This clinic's entries matching the cleaned filter; dates are days in the clinic's zone."""
    qs = AuditEntry.objects.filter(clinic=clinic)
    if data.get("user"):
        qs = qs.filter(username=data["user"])
    if data.get("action"):
        qs = qs.filter(action=data["action"])
    if data.get("patient_id") is not None:
        qs = qs.filter(patient_id=data["patient_id"])
    if data.get("date_from"):
        qs = qs.filter(at__gte=datetime.combine(data["date_from"], time.min, tzinfo=clinic.tz))
    if data.get("date_to"):
        end = data["date_to"] + timedelta(days=1)
        qs = qs.filter(at__lt=datetime.combine(end, time.min, tzinfo=clinic.tz))
    return qs


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@clinic_view("audit.view")
def audit_list(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    form = AuditFilterForm(request.GET or None, clinic)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    if form.is_bound and form.errors:
        entries = AuditEntry.objects.none()
    else:
        entries = filtered_entries(clinic, data).order_by("-seq")
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    # Browsing the trail reads who did what to which patient: it leaves its own trace, after the
    # page was read (the next look shows it).
    filters = {k: str(v) for k, v in data.items() if v not in (None, "")}
    record("audit.view", clinic=clinic, detail={"filters": filters, "page": page.number}, request=request)
    patient_ids = {e.patient_id for e in page.object_list if e.patient_id is not None}
    mrns = dict(Patient.in_clinic(clinic).filter(pk__in=patient_ids).values_list("pk", "mrn"))
    ctx: dict[str, Any] = {
        "form": form,
        "page": page,
        "rows": [(e, mrns.get(e.patient_id, "") if e.patient_id else "") for e in page.object_list],
        "query": _query_without_page(request),
    }
    template = "audit/_entries.html" if is_htmx(request) else "audit/list.html"
    return render(request, template, ctx, status=422 if form.errors else 200)


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "seq",
    "time",
    "time_utc",
    "username",
    "action",
    "object_type",
    "object_id",
    "patient_mrn",
    "detail",
    "client_addr",
    "hash",
]


def _csv_rows(clinic: Clinic, entries: models.QuerySet[AuditEntry]) -> Iterator[list[Any]]:
    yield CSV_HEADER
    mrns = dict(Patient.in_clinic(clinic).values_list("pk", "mrn"))
    for e in entries.iterator(chunk_size=2000):
        row = [
            e.seq,
            e.at.astimezone(clinic.tz).isoformat(),
            e.at.astimezone(UTC).isoformat(),
            e.username,
            e.action,
            e.object_type,
            e.object_id,
            mrns.get(e.patient_id, "") if e.patient_id is not None else "",
            json.dumps(e.detail, sort_keys=True, ensure_ascii=False),
            e.client_addr,
            e.hash,
        ]
        yield [csv_cell(v) for v in row]


@clinic_view("audit.view")  # type: ignore[arg-type]  # a streaming response is not an HttpResponse
def audit_export(request: ClinicRequest) -> HttpResponseBase:
    clinic = request.clinic
    form = AuditFilterForm(request.GET or None, clinic)
    if form.is_bound and not form.is_valid():
        ctx: dict[str, Any] = {"form": form, "page": None, "rows": [], "query": ""}
        return render(request, "audit/list.html", ctx, status=422)
    data = form.cleaned_data if form.is_bound else {}
    entries = filtered_entries(clinic, data).order_by("seq")
    with transaction.atomic():
        # An export is a bulk read of the trail, so it leaves its own trace.
        filters = {k: v for k, v in data.items() if v not in (None, "")}
        record("audit.export", clinic=clinic, detail={"filters": filters}, request=request)
    writer = csv.writer(_Echo())
    stamp = timezone.localdate().strftime("%Y%m%d")
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _csv_rows(clinic, entries)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-{clinic.slug}-{stamp}.csv"'
    return response


@clinic_view("audit.view")
def audit_verify(request: ClinicRequest) -> HttpResponse:
    report = verify_trail()
    last = AuditEntry.objects.order_by("-seq").values("seq", "at").first()
    ctx = {"report": report, "last": last, "checked_at": timezone.now()}
    return render(request, "audit/verify.html", ctx, status=200)
