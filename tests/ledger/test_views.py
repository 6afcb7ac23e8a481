"""The ledger's pages through the test client: the forms call the actions, refusals come back as
400 with the reason and nothing written, the reports and their CSV are audited, bad dates never 500."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.ledger.models import Discrepancy, EntryKind, LedgerEntry
from tests.conftest import PASSWORD
from tests.ledger.test_actions import run_pump


def test_a_clinic_admin_starts_on_the_admin_start_page(login, clinic_admin, nurse, ledger):
    response = login(clinic_admin).get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("admin-start")
    start = login(clinic_admin).get(reverse("admin-start"))
    assert b"Open drug discrepancies" in start.content
    page = login(clinic_admin).get(reverse("ledger-home"))
    assert b"Open discrepancies" in page.content and b"Ketamine HCl injection 10 mg/mL, 20 mL" in page.content
    assert login(nurse).get(reverse("home"))["Location"] == reverse("patients-list")


def test_draw_and_close_out_through_the_pages(client, iv_session, ledger, vial, nurse, prescriber, clinic_a):
    client.force_login(nurse)
    chair = client.get(reverse("infusions-chair", args=[iv_session.pk]))
    assert reverse("ledger-session", args=[iv_session.pk]).encode() in chair.content
    url = reverse("ledger-session-draw", args=[iv_session.pk])
    body = {"container": vial.pk, "ml": "5", "key": "form-key-1"}
    assert client.post(url, body).status_code == 302
    assert client.post(url, body).status_code == 302  # a second tap of the same form
    assert LedgerEntry.objects.filter(kind=EntryKind.DRAW).count() == 1
    page = client.get(reverse("ledger-session", args=[iv_session.pk]))
    assert b"50.00 mg" in page.content and b"C-00001" in page.content
    assert AuditEntry.objects.filter(action="ledger.session_view", patient_id=iv_session.patient_id).exists()

    run_pump(nurse, clinic_a, iv_session)
    close = reverse("ledger-session-close-out", args=[iv_session.pk])
    wrong = client.post(
        close, {"wasted": "1.5", "witness_username": prescriber.username, "witness_password": "x"}
    )
    assert wrong.status_code == 400 and b"username or password is wrong" in wrong.content
    assert not LedgerEntry.objects.filter(kind=EntryKind.WASTE).exists()
    right = client.post(
        close, {"wasted": "1.5", "witness_username": prescriber.username, "witness_password": PASSWORD}
    )
    assert right.status_code == 302
    page = client.get(reverse("ledger-session", args=[iv_session.pk]))
    assert b"Balanced" in page.content and b"administered 35.00 mg" in page.content


def test_a_refused_receipt_keeps_what_was_typed(login, clinic_admin, ledger):
    client = login(clinic_admin)
    response = client.post(
        reverse("ledger-receive"),
        {
            "invoice_number": "INV-77",
            "supplier_name": "Acme",
            "supplier_address": "1 Way",
            "supplier_registration": "RA1234567",
            "received_on": "2026-01-01",
            "product": ledger["vials"].pk,
            "lot_number": "Z9",
            "expires_on": "2027-01-01",
            "containers_ordered": "2",
            "containers_received": "2",
            "location": ledger["safe"].pk,
        },
    )
    assert response.status_code == 400
    assert b"check digit should be 3" in response.content and b'value="INV-77"' in response.content


def test_the_count_page_opens_a_discrepancy(login, nurse, prescriber, ledger):
    c1, c2 = ledger["receipt"].containers.order_by("number")
    client = login(nurse)
    url = reverse("ledger-count-new") + f"?location={ledger['safe'].pk}"
    assert c1.label.encode() in client.get(url).content
    response = client.post(
        url,
        {
            "location": ledger["safe"].pk,
            "kind": "daily",
            f"counted_{c1.pk}": "20",
            f"counted_{c2.pk}": "18",
            "witness_username": prescriber.username,
            "witness_password": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert Discrepancy.objects.get().container == c2


@pytest.mark.parametrize(
    "kind", ["receipts", "administrations", "inventories", "disposals", "losses", "entries"]
)
def test_every_report_renders_and_exports_audited(login, clinic_admin, ledger, kind):
    client = login(clinic_admin)
    page = client.get(reverse("ledger-report"), {"kind": kind})
    assert page.status_code == 200
    export = client.get(reverse("ledger-report"), {"kind": kind, "format": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0]  # the header
    if kind == "receipts":
        assert rows[1][1] == "Ketamine (racemic)" and rows[1][10] == "RA1234563" and rows[1][4] == "2"
    if kind == "entries":
        assert len(rows) == 3  # the two receipt entries
    audited = AuditEntry.objects.filter(action="ledger.report_export", user=clinic_admin).last()
    assert audited.detail["kind"] == kind and audited.detail["rows"] == len(rows) - 1


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-02-30",
        "from=2025-13-01",
        "from=0000-00-00",
        "to=9999-12-31",
        "from=2026-05-01&to=2026-01-01",
    ],
)
def test_bad_report_dates_are_a_clear_400_not_a_500(login, clinic_admin, ledger, query):
    response = login(clinic_admin).get(reverse("ledger-report") + "?" + query)
    assert response.status_code == 400 and b'role="alert"' in response.content
    assert login(clinic_admin).get(reverse("ledger-signals") + "?" + query).status_code == 400


def test_an_auditor_reads_the_reports_but_not_the_signals(login, auditor, ledger):
    client = login(auditor)
    assert client.get(reverse("ledger-report")).status_code == 200
    assert client.get(reverse("ledger-signals")).status_code == 403


def test_the_administrations_report_reads_in_a_fixed_number_of_queries(
    login, clinic_admin, iv_session, ledger, vial, nurse, prescriber, clinic_a, django_assert_max_num_queries
):
    from ketaclinic.ledger import actions
    from tests.ledger.conftest import sign

    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    actions.close_out(user=nurse, clinic=clinic_a, session=iv_session, wasted="1.5", witness=sign(prescriber))
    from django.utils import timezone

    from ketaclinic.ledger.queries import report

    day = timezone.localtime(timezone.now(), clinic_a.tz).date()
    with django_assert_max_num_queries(2):
        header, rows = report(clinic_a, "administrations", day, day)
    assert header[7:10] == ["drawn mg", "administered mg", "wasted mg"]
    assert len(rows) == 1 and [str(v) for v in rows[0][7:10]] == ["50.00", "35.00", "15.00"]
    assert rows[0][2] == "Lopez, Maria (A-1001)"
