"""The clinic admin's start page: what is left to set up before the clinic can treat anyone, and
the controlled-substance dashboard (open discrepancies, sessions awaiting close-out, loss reports
due). A cross-app page: it reads the accounts, the drug library, the consent texts, the protocols
and the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from ketaclinic.accounts.access import ClinicRequest, clinic_view
from ketaclinic.accounts.models import Clinic, Membership, Role
from ketaclinic.ledger import queries as ledger
from ketaclinic.ledger.models import Registration, StockProduct, StorageLocation
from ketaclinic.patients.actions import clinic_today
from ketaclinic.patients.models import ConsentText
from ketaclinic.protocols.models import DrugLibrary, Protocol


@dataclass(frozen=True)
class Step:
    done: bool
    title: str
    why: str
    url: str


def checklist(clinic: Clinic) -> list[Step]:
    """What a clinic needs before its first patient, in the order a new admin does it."""
    roles = set(Membership.objects.filter(clinic=clinic, is_active=True).values_list("role", flat=True))
    today = clinic_today(clinic)
    reg = Registration.in_clinic(clinic).first()
    return [
        Step(
            Role.PRESCRIBER in roles and Role.NURSE in roles,
            "Add the clinical staff",
            "a prescriber signs screenings, plans and orders; a nurse runs the chair and witnesses",
            reverse("accounts-users"),
        ),
        Step(
            DrugLibrary.objects.filter(clinic=clinic).exists(),
            "Create the drug library",
            "the hard and soft limits every order and every rate change at the chair is checked against",
            reverse("protocols-library"),
        ),
        Step(
            Protocol.objects.filter(clinic=clinic, retired_at__isnull=True).exists(),
            "Copy a protocol from the templates",
            "plans and orders follow a protocol of the clinic",
            reverse("protocols-list"),
        ),
        Step(
            ConsentText.objects.filter(clinic=clinic).exists(),
            "Add the consent text",
            "no session starts without the patient's signed consent to the current text",
            reverse("patients-consent-texts"),
        ),
        Step(
            reg is not None and reg.expires_on >= today,
            "Record the DEA registration",
            "ketamine is Schedule III: nothing is received or drawn without a registration in force",
            reverse("ledger-setup"),
        ),
        Step(
            StorageLocation.in_clinic(clinic).exists() and StockProduct.in_clinic(clinic).exists(),
            "Set up the safe and the stocked products",
            "every vial is received into a location and drawn by its keyholders",
            reverse("ledger-setup"),
        ),
    ]


@clinic_view("users.manage")
def admin_start(request: ClinicRequest) -> HttpResponse:
    clinic = request.clinic
    steps = checklist(clinic)
    ctx = {
        "steps": steps,
        "setup_done": all(s.done for s in steps),
        "discrepancies": list(ledger.open_discrepancies(clinic)),
        "awaiting": ledger.awaiting_closeout(clinic),
        "losses": list(ledger.open_losses(clinic)),
    }
    return render(request, "reports/start.html", ctx)
