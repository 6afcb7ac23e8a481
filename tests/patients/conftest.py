"""Helpers for the patient-page tests (personas come from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def registration():
    """A complete, valid registration form post; tests change one field to make it bad."""
    return {
        "mrn": "A-2001",
        "given_name": "Jonas",
        "family_name": "Berg",
        "date_of_birth": "1979-11-23",
        "sex": "male",
        "phone": "555-0199",
        "email": "jonas@example.org",
        "address": "1 Main St",
        "emergency_contact_name": "Eva Berg",
        "emergency_contact_phone": "555-0198",
        "emergency_contact_relation": "spouse",
        "escort_name": "Eva Berg",
        "escort_phone": "555-0198",
        "height": "180",
        "height_unit": "cm",
        "weight": "82.5",
        "weight_unit": "kg",
        "indications": ["trd", "chronic_pain"],
        "chronic_pain_type": "neuropathic",
        "indication_other": "",
        "allergies": "penicillin",
        "pregnancy_status": "not_applicable",
    }
