"""Actions never see the request, yet every audit entry a request causes records its client's
address (``audit.middleware.ClientAddressMiddleware``); outside a request there is none."""

from __future__ import annotations

from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import actions
from ketaclinic.patients.models import Patient


def test_a_write_through_a_page_records_the_client_address(login, nurse, registration):
    client = login(nurse)
    response = client.post(reverse("patients-register"), registration, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302
    patient = Patient.objects.get(mrn=registration["mrn"])
    entry = AuditEntry.objects.filter(object_id=str(patient.pk), action__startswith="patient.").latest("seq")
    assert entry.client_addr == "203.0.113.7"
    assert entry.username == nurse.username


def test_the_address_does_not_outlive_its_request(login, nurse, clinic_a, registration):
    login(nurse).post(reverse("patients-register"), registration, REMOTE_ADDR="203.0.113.7")
    # The same action called afterwards outside any request (the CLI, the worker, the demo).
    patient = actions.register_patient(
        user=nurse, clinic=clinic_a, data=registration | {"mrn": "A-2002", "not_duplicate": True}
    )
    entry = AuditEntry.objects.filter(object_id=str(patient.pk), action__startswith="patient.").latest("seq")
    assert entry.client_addr == ""
