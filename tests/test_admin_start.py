"""A first admin on an empty clinic is told what is missing and why (issue 11); a clinic set up
through the real actions shows no checklist, only the drug dashboard."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from ketaclinic.reports.start import checklist


def test_an_empty_clinic_lists_every_step_with_its_reason(login, clinic_a, clinic_admin):
    page = login(clinic_admin).get(reverse("admin-start")).content.decode()
    assert 'id="setup-checklist"' in page and "This clinic is not ready to treat yet" in page
    steps = checklist(clinic_a)
    assert [s.done for s in steps] == [False] * 6
    assert "Record the DEA registration" in page and "nothing is received or drawn" in page
    assert reverse("protocols-library") in page and reverse("patients-consent-texts") in page


def test_a_clinic_set_up_shows_no_checklist(login, clinic_a, clinic_admin, nurse, prescriber):
    from ketaclinic.patients import actions as patients
    from ketaclinic.protocols import actions as protocols
    from tests.ledger.conftest import keep_ledger

    protocols.create_default_library(clinic_admin, clinic_a)
    protocols.copy_protocol(clinic_admin, clinic_a, source_template="iv-racemic-depression", name="IV")
    patients.create_consent_text(
        user=clinic_admin, clinic=clinic_a, title="Consent", version="1", body="...",
        effective_from=timezone.localdate(),
    )  # fmt: skip
    assert [s.done for s in checklist(clinic_a)] == [True, True, True, True, False, False]
    keep_ledger(clinic_a, clinic_admin, [clinic_admin, nurse])
    assert all(s.done for s in checklist(clinic_a))
    page = login(clinic_admin).get(reverse("admin-start")).content.decode()
    assert 'id="setup-checklist"' not in page and "Open drug discrepancies" in page


def test_only_the_admin_has_the_start_page(login, nurse, auditor):
    assert login(nurse).get(reverse("admin-start")).status_code == 403
    assert login(auditor).get(reverse("admin-start")).status_code == 403
